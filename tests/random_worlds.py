"""Random worlds: a hypothesis strategy that draws a whole scenario as a YAML-ready dict.

A world models a small storage estate: 2 to 8 appliances (and up to two routers) on a
connected network of links from 10 Mbit/s to 10 Gbit/s with 0-100 ms latency, sometimes
with scheduled outages; one or two writable head volumes, sometimes with qtrees and
space-pressure autodelete; cron snapshot policies on the heads; and a random forest of
mirrors below them (chains, trees, fan-outs), volume and qtree mirrors mixed, including
qtree destinations that feed further mirrors and volume mirrors below qtree hops; some
mirrors retire, some volumes carry application holds, some appliances are tight on space.

The strategy draws the structure first (appliances, network tree, heads, the mirror
forest), then the parameters, and every choice shrinks towards the simplest world: no
routers, extra links, outages, qtrees, autodelete, holds, retirements or tight capacity;
volume mirrors from the first head; hourly schedules; one day; the coarsest sampling.
Every drawn document passes `sim.scenario.load_scenario` and runs in well under a second.
"""

from __future__ import annotations

import io
import math
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

APPLIANCES = tuple("ABCDEFGH")
ROUTERS = ("R1", "R2")
HEADS = ("db", "home")
QTREES = ("q1", "q2", "q3")
MIB = 2**20
GIB = 2**30

SCHEDULES = (
    "0 * * * *",
    "*/5 * * * *",
    "*/10 * * * *",
    "*/15 * * * *",
    "*/30 * * * *",
    "7 * * * *",
    "15 * * * *",
    "30 * * * *",
    "45 * * * *",
    "0 */2 * * *",
    "20 */4 * * *",
    "0 */6 * * *",
    "0 0 * * *",
)
"""Cron schedules worlds draw from, simplest (hourly on the hour) first."""

BANDWIDTHS = ("1Gbit/s", "10Gbit/s", "100Mbit/s", "10Mbit/s", "500Mbit/s")
"""Link bandwidths, the shrink target first."""

SAMPLE_INTERVALS = ("6h", "3h", "2h", "1h")
"""Time-series sampling, coarsest first: worlds are checked on tables and KPIs, not plots."""

LEASES = (None, "2h", "6h", "12h", "2d")
"""Protocol `lease`'s lock lifetime (None: the scenario default, one day)."""

MAX_MIRRORS = 8


def _mostly(draw: st.DrawFn, never_out_of: int, label: str) -> bool:
    """True in about one draw of `never_out_of` (shrinks to False): for the optional parts of
    a world that should be present sometimes, not half the time."""
    return draw(st.integers(0, never_out_of - 1), label=label) == never_out_of - 1


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A whole scenario as a YAML-ready dict (protocol `none`; the caller switches it)."""
    # -- structure: appliances, network tree, heads, mirror forest --------------------------
    appliances = list(APPLIANCES[: draw(st.integers(2, len(APPLIANCES)), label="appliances")])
    routers = list(ROUTERS[: draw(st.integers(0, len(ROUTERS)), label="routers")])
    nodes = appliances + routers
    order = [nodes[0], *draw(st.permutations(nodes[1:]), label="tree order")]
    edges: list[tuple[str, str]] = []
    for i, node in enumerate(order[1:], start=1):
        parent = order[draw(st.integers(0, i - 1), label="tree parent")]
        edges.append((parent, node))
    linked = {frozenset(e) for e in edges}
    missing = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:] if frozenset((a, b)) not in linked]
    if missing:
        extra = draw(st.lists(st.sampled_from(missing), max_size=2, unique=True), label="extra links")
        edges += extra

    heads: dict[str, dict[str, Any]] = {}
    layout: dict[str, tuple[float, dict[str, float]]] = {}
    """Every volume (heads and mirror destinations): size in bytes and qtree shares."""
    for name in HEADS[: draw(st.integers(1, len(HEADS)), label="heads")]:
        appliance = draw(st.sampled_from(appliances), label="head appliance")
        volume = f"{appliance}:/vol/{name}"
        qtree_count = draw(st.integers(1, len(QTREES)), label="qtrees") if _mostly(draw, 2, "has qtrees") else 0
        shares = {q: draw(st.integers(5, 100 // qtree_count), label="share %") / 100 for q in QTREES[:qtree_count]}
        size = draw(st.integers(1, 1024), label="size GiB")
        heads[volume] = {"size": f"{size}GiB"}
        if shares:
            heads[volume]["qtrees"] = {q: {"share": s} for q, s in shares.items()}
        layout[volume] = (float(size * GIB), shares)

    mirrors: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, MAX_MIRRORS), label="mirrors")):
        sources = list(layout)
        source = sources[draw(st.integers(0, len(sources) - 1), label="mirror source")]
        source_appliance = source.partition(":")[0]
        size, qtrees = layout[source]
        kind = "qtree" if qtrees and _mostly(draw, 2, "qtree mirror") else "volume"
        others = [a for a in appliances if a != source_appliance]
        appliance = draw(st.sampled_from(others), label="mirror destination appliance")
        volume = f"{appliance}:/vol/m{i}"
        if kind == "volume":
            mirrors.append({"source": source, "destination": volume, "type": "volume"})
            layout[volume] = (size, dict(qtrees))
        else:
            qtree = draw(st.sampled_from(sorted(qtrees)), label="mirrored qtree")
            mirrors.append({"source": f"{source}/{qtree}", "destination": f"{volume}/{qtree}", "type": "qtree"})
            layout[volume] = (size * qtrees[qtree], {qtree: 1.0})

    # -- parameters ------------------------------------------------------------------------
    days = draw(st.integers(1, 3), label="days")
    duration_min = days * 24 * 60
    links: list[dict[str, Any]] = []
    for a, b in edges:
        link: dict[str, Any] = {"between": [a, b], "bandwidth": draw(st.sampled_from(BANDWIDTHS), label="bandwidth"),
                                "latency": f"{draw(st.integers(0, 100), label='latency ms')}ms"}
        if _mostly(draw, 4, "has outages"):
            link["outages"] = [{"at": f"{draw(st.integers(0, duration_min - 1), label='outage at min')}m",
                                "for": f"{draw(st.integers(1, 36 * 60), label='outage min')}m"}
                               for _ in range(draw(st.integers(1, 2), label="outages"))]
        links.append(link)

    for volume, spec in heads.items():
        size_bytes = layout[volume][0]
        per_mille = draw(st.integers(1, 100), label="change per mille of size per hour")
        rate_mib = max(1, math.ceil(size_bytes * per_mille / 1000 / MIB))
        spec["change_rate"] = f"{rate_mib}MiB/h"
        variability = draw(st.integers(0, 100), label="change variability %") if _mostly(draw, 2, "variable") else 0
        if variability:
            spec["change_variability"] = variability / 100
        if _mostly(draw, 3, "has autodelete"):
            trigger_mib = rate_mib * draw(st.integers(1, 8), label="autodelete trigger hours")
            target_mib = max(1, trigger_mib * draw(st.integers(50, 100), label="autodelete target %") // 100)
            spec["autodelete"] = {"commitment": draw(st.sampled_from(("try", "disrupt", "destroy")), label="commitment"),
                                  "trigger": f"{trigger_mib}MiB", "target": f"{target_mib}MiB"}

    policies: dict[str, dict[str, Any]] = {}
    head_names = list(heads)
    for p in range(draw(st.integers(0, 2), label="snapshot policies") if head_names else 0):
        covered = draw(st.lists(st.sampled_from(head_names), min_size=1, max_size=len(head_names), unique=True),
                       label="policy volumes")
        policies[f"snap{p}"] = {"schedule": draw(st.sampled_from(SCHEDULES), label="policy schedule"),
                                "label": f"snap{p}", "keep": draw(st.integers(1, 10), label="keep"),
                                "volumes": covered}

    for mirror in mirrors:
        mirror["schedule"] = draw(st.sampled_from(SCHEDULES), label="mirror schedule")
        if _mostly(draw, 5, "retires"):
            mirror["retire_at"] = f"{draw(st.integers(1, duration_min - 1), label='retire at min')}m"

    holds: list[dict[str, Any]] = []
    if _mostly(draw, 3, "has holds"):
        labels = [p["label"] for p in policies.values()] + ["mirror", "qtree_mirror"]
        for k in range(draw(st.integers(1, 3), label="holds")):
            holds.append({"volume": draw(st.sampled_from(list(layout)), label="held volume"),
                          "label": draw(st.sampled_from(labels), label="held label"),
                          "owner": f"app{k}", "for": f"{draw(st.integers(1, 24), label='hold hours')}h"})

    used: dict[str, float] = {a: 0.0 for a in appliances}
    for volume, (size_bytes, _qtrees) in layout.items():
        used[volume.partition(":")[0]] += size_bytes
    capacities: dict[str, dict[str, str]] = {}
    for appliance in appliances:
        if used[appliance] == 0:
            capacities[appliance] = {"capacity": "1TiB"}
            continue
        tight = _mostly(draw, 4, "tight capacity")
        headroom_pct = draw(st.integers(1, 30), label="headroom %") if tight else 300
        capacities[appliance] = {"capacity": f"{math.ceil(used[appliance] * (1 + headroom_pct / 100) / MIB) + 1}MiB"}

    document: dict[str, Any] = {
        "name": "random_world",
        "seed": draw(st.integers(0, 2**32 - 1), label="seed"),
        "duration": f"{days}d",
        "protocol": "none",
        "sample_interval": draw(st.sampled_from(SAMPLE_INTERVALS), label="sample interval"),
    }
    lease = draw(st.sampled_from(LEASES), label="lease")
    if lease is not None:
        document["lease"] = lease
    document["appliances"] = capacities
    if routers:
        document["routers"] = routers
    document["links"] = links
    document["volumes"] = heads
    if policies:
        document["snapshot_policies"] = policies
    document["mirrors"] = mirrors
    if holds:
        document["holds"] = holds
    return document


def world_yaml(document: dict[str, Any]) -> str:
    """The world as a scenario file's text (block style, keys in drawing order)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()
