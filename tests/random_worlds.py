"""Random worlds: a hypothesis strategy that draws a whole scenario as a YAML-ready dict.

A world models a small storage estate: 2 to 8 appliances (and up to two routers) on a
connected network of links from 10 Mbit/s to 10 Gbit/s with 0-100 ms latency, sometimes
with scheduled outages; one or two writable head volumes, sometimes with qtrees and
space-pressure autodelete at any commitment; cron snapshot policies on the heads; and a
random forest of mirrors below them (chains, trees, fan-outs), volume, qtree and vault
mirrors mixed, including qtree destinations that feed further mirrors and volume mirrors below
qtree and vault hops; retention is keep-N or, sometimes, a rule of a tool's grammar (on
policies and on vaults, some vaults with a name filter); some mirrors retire, some volumes
carry application holds, some appliances are tight on space (down to 0.1 % over their live
data, so destinations run out of room).

Faults, each with a modest probability: a mirror's break policy (`on_break`: stall, abort or
resume, back-offs of seconds to minutes, one to six attempts); transfer slots
(`max_transfers` 1-3) on an appliance; an appliance's crash windows, and random crashes
(MTBF 2-48 h, MTTR 1-240 min, exponential, Weibull or lognormal repairs); autodelete on a
vault's destination; random link failures (MTBF 2-48 h, MTTR 1-240 min, each repair family)
and link bandwidth schedules; a mirror's throttle; faults of the lock sets (`faults.messages`:
loss up to 50 %, extra delays, duplicates, reordering); re-points (`faults.repoints`) of a volume or vault mirror whose source is
a volume-mirror image to a volume upstream of that source in its lineage (never a retired
one, never after the mirror's own retirement, never on the destination's appliance: what
`sim.scenario.validate` accepts); and administrators' releases (`faults.releases`) of retired
volume and vault mirrors (not of qtree mirrors: the model does not find those yet).

Shrinking. The structure is drawn first: how many appliances, then a network tree, routers
and extra links, heads, snapshot policies, mirrors and holds, each as a list of entities
that carries its own parameters (a mirror's schedule and retirement, a link's bandwidth and
outages), so that hypothesis deletes an entity with everything that belongs to it. A
mirror's source is named by volume id (see `MIRROR_SLOTS`), so deleting another mirror
leaves it reading the same volume; other choices among what exists (a link's far end, a
destination appliance) are small integers read modulo the number of options, so a world
stays valid whatever was deleted before them. Everything shrinks towards the simplest world:
one head on A, a volume mirror to B, a star network of 1 Gbit/s links without latency, no
routers, extra links, outages, qtrees, autodelete, holds, retirements or tight capacity,
no fault of any kind, hourly schedules, one day, the coarsest sampling.
Every drawn document passes `sim.scenario.load_scenario` and runs in well under a second.

The same worlds whatever ran before. Hypothesis sometimes draws a constant it found in the
source of a local module that `sys.modules` holds at the time, so the worlds a derandomized
search draws would depend on which of `sim`'s modules earlier tests happened to import (a new
test file once made CI's check that the strategy draws each feature lose one). Importing every
module of `sim` here, before any world is drawn, makes the worlds depend on the code alone.
"""

from __future__ import annotations

import importlib
import io
import math
import pkgutil
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

import sim


def _import_every_sim_module() -> None:
    """Import every module of `sim` (not `__main__`, which runs the command line, nor the
    compiled build's folder, whose modules load through `sim.native`)."""
    for module in pkgutil.walk_packages(sim.__path__, "sim."):
        if not module.name.endswith(".__main__") and not module.name.startswith("sim._native"):
            importlib.import_module(module.name)


_import_every_sim_module()

APPLIANCES = tuple("ABCDEFGH")
ROUTERS = ("R1", "R2")
HEADS = ("db", "home")
QTREES = ("q1", "q2", "q3")
MIB = 2**20
GIB = 2**30
PICK = st.integers(0, 15)
"""A choice among whatever exists when it is read (taken modulo their number); shrinks to the first."""

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
MIRROR_SLOTS = 62
"""Volume ids: 0 and 1 are the heads, 2 + slot a mirror's destination (slot < MIRROR_SLOTS).
A mirror names its source by id, so deleting another mirror while shrinking leaves it
reading the same volume."""


def sometimes(strategy: st.SearchStrategy, one_in: int, default: Any = None, *, times: int = 1) -> st.SearchStrategy:
    """`strategy` in about `times` draws of `one_in`, else `default`, the shrink target: the
    optional parts of a world are present as often as that, whatever hypothesis favours."""
    return st.integers(0, one_in - 1).flatmap(lambda i: strategy if i >= one_in - times else st.just(default))


@st.composite
def _link(draw: st.DrawFn) -> dict[str, Any]:
    """A link's parameters: bandwidth, latency and up to two outages (as minute offsets and
    lengths; outage starts are read modulo the run's length)."""
    outages = draw(sometimes(st.lists(st.tuples(st.integers(0, 3 * 24 * 60 - 1), st.integers(1, 36 * 60)),
                                      min_size=1, max_size=2), 8, default=[]))
    return {"bandwidth": draw(st.sampled_from(BANDWIDTHS)), "latency": f"{draw(st.integers(0, 100))}ms",
            "outages": outages,
            "failures": draw(sometimes(st.tuples(st.integers(2, 48), st.integers(1, 240), st.sampled_from(REPAIRS)), 12)),
            "bandwidth_schedule": draw(sometimes(st.lists(st.tuples(st.sampled_from(SCHEDULES),
                                                                    st.sampled_from(BANDWIDTHS)),
                                                          min_size=1, max_size=2), 10, default=[]))}


@st.composite
def _head(draw: st.DrawFn) -> dict[str, Any]:
    """A writable volume's appliance choice and parameters."""
    shares = draw(sometimes(st.lists(st.integers(5, 33), min_size=1, max_size=len(QTREES)), 2, default=[]))
    return {
        "appliance": draw(PICK),
        "size_gib": draw(st.integers(1, 1024)),
        "shares_pct": shares,
        "change_per_mille_per_hour": draw(st.integers(1, 100)),
        "variability_pct": draw(sometimes(st.integers(1, 100), 2, default=0)),
        "autodelete": draw(sometimes(st.tuples(st.sampled_from(("try", "disrupt", "destroy")),
                                               st.integers(1, 16), st.integers(50, 100)), 3)),
    }


GRAMMAR_RULES: tuple[Any, ...] = (
    {"last_n": 3},
    {"grid": "1x1h(keep=all) | 6x1h | 2x1d"},
    {"grid": "2x30m | 4x2h", "regex": "^snap0"},
    [{"last_n": 2}, {"not_replicated": True}],
    {"sanoid": {"count": 4, "period": "1h"}},
    {"znapzend": "2h=>15min,1d=>2h"},
    {"btrbk": {"preserve_min": "2h", "preserve": "6h 2d"}},
    {"thinner": "3,1h1d"},
)
"""Retention rules of the tools' grammars a world may draw, for policies and vaults."""


def _retention(draw: st.DrawFn, keep_max: int) -> dict[str, Any]:
    """`keep: N` (most often) or a rule of a tool's grammar, as the policy or vault fields."""
    rule = draw(sometimes(st.sampled_from(GRAMMAR_RULES), 3))
    return {"retention": rule} if rule is not None else {"keep": draw(st.integers(1, keep_max))}


@st.composite
def _policy(draw: st.DrawFn) -> dict[str, Any]:
    """A snapshot policy: schedule, retention, and which heads it covers (bit mask)."""
    return {"schedule": draw(st.sampled_from(SCHEDULES)), **_retention(draw, 10), "heads": draw(st.integers(1, 3))}


@st.composite
def _mirror(draw: st.DrawFn) -> dict[str, Any]:
    """A mirror's choices (its destination's id and appliance, its source's id, qtree or
    volume, which qtree), schedule and retirement (minutes into the run, read modulo its
    length)."""
    return {"slot": draw(st.integers(0, MIRROR_SLOTS - 1)), "source": draw(st.integers(0, MIRROR_SLOTS + 1)),
            "qtree": draw(sometimes(st.just(True), 2, default=False)), "which_qtree": draw(PICK),
            "vault": draw(sometimes(st.just(True), 3, default=False)), "vault_retention": _retention(draw, 30),
            "vault_filter": draw(sometimes(st.just("^snap0"), 4)),
            "destination": draw(PICK), "schedule": draw(st.sampled_from(SCHEDULES)),
            "retire_min": draw(sometimes(st.integers(1, 3 * 24 * 60 - 1), 8)),
            "release_after_min": draw(sometimes(st.integers(0, 24 * 60), 2)),
            "on_break": draw(sometimes(_on_break(), 4)),
            "throttle": draw(sometimes(st.sampled_from(("100Mbit/s", "10Mbit/s", "1Gbit/s")), 6)),
            "vault_autodelete": draw(sometimes(st.tuples(st.sampled_from(("try", "disrupt", "destroy")),
                                                         st.integers(1, 100), st.integers(50, 100)), 4))}


BREAK_POLICIES = ("abort", "resume", "stall")
"""A mirror's `on_break` policy when one is drawn (no `on_break`, the default stall, is the shrink target)."""


@st.composite
def _on_break(draw: st.DrawFn) -> dict[str, Any]:
    """A break policy with small back-offs and few attempts, so that retries and failures
    happen within a run."""
    return {"policy": draw(st.sampled_from(BREAK_POLICIES)), "retry_after": f"{draw(st.integers(1, 600))}s",
            "backoff": draw(st.sampled_from((2.0, 1.0, 1.5, 4.0))), "backoff_cap": f"{draw(st.integers(1, 120))}m",
            "attempts": draw(st.integers(1, 6))}


@st.composite
def _messages(draw: st.DrawFn) -> dict[str, Any]:
    """Faults of the lock sets: loss, an extra delay, duplicates, reordering (each sometimes,
    and all four together in a third of the worlds that have message faults: hypothesis's
    draws are far from independent, and the four together are what stress the sequence
    numbers most)."""
    every = draw(sometimes(st.just(True), 3, default=False))
    spec: dict[str, Any] = {"loss": draw(st.sampled_from((0.1, 0.3, 0.5) if every else (0.1, 0.0, 0.3, 0.5)))}
    delay = draw(st.tuples(st.integers(1, 600), st.sampled_from(REPAIRS)) if every
                 else sometimes(st.tuples(st.integers(1, 600), st.sampled_from(REPAIRS)), 2))
    if delay is not None:
        spec["delay"] = {"mean": f"{delay[0]}s", **delay[1]}
    rates = st.sampled_from((0.1, 0.5))
    spec["duplicate"] = draw(rates if every else sometimes(rates, 2, default=0.0))
    spec["reorder"] = draw(rates if every else sometimes(rates, 2, default=0.0))
    return spec


REPAIRS: tuple[dict[str, Any], ...] = (
    {"distribution": "exponential"},
    {"distribution": "weibull", "shape": 1.5},
    {"distribution": "weibull", "shape": 0.7},
    {"distribution": "lognormal", "shape": 1.0},
)
"""Repair-time families of random crashes, the scenario default first."""


@st.composite
def _appliance_faults(draw: st.DrawFn) -> dict[str, Any]:
    """An appliance's transfer slots, crash windows (minute offsets, read modulo the run's
    length, and lengths) and random crashes (MTBF in hours, MTTR in minutes, repair family)."""
    return {
        "max_transfers": draw(sometimes(st.integers(1, 3), 6)),
        "crashes": draw(sometimes(st.lists(st.tuples(st.integers(0, 3 * 24 * 60 - 1), st.integers(1, 12 * 60)),
                                           min_size=1, max_size=2), 16, default=[])),
        "random": draw(sometimes(st.tuples(st.integers(2, 48), st.integers(1, 240), st.sampled_from(REPAIRS)), 20)),
    }


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A whole scenario as a YAML-ready dict (protocol `none`; the caller switches it)."""
    appliances = list(APPLIANCES[: draw(st.integers(2, len(APPLIANCES)))])
    days = draw(st.integers(1, 3))
    duration_min = days * 24 * 60

    # Network: a tree over the appliances, routers spliced into its links, extra links.
    tree = draw(st.lists(st.tuples(PICK, _link()), min_size=len(APPLIANCES) - 1, max_size=len(APPLIANCES) - 1))
    edges: list[tuple[str, str, dict[str, Any]]] = [
        (appliances[pick % i], node, link) for i, (node, (pick, link)) in enumerate(zip(appliances[1:], tree), start=1)]
    routers: list[str] = []
    for router, (pick, link) in zip(ROUTERS, draw(st.lists(st.tuples(PICK, _link()), max_size=len(ROUTERS)))):
        a, b, split = edges.pop(pick % len(edges))
        edges += [(a, router, split), (router, b, link)]
        routers.append(router)
    nodes = appliances + routers
    for pick_a, pick_b, link in draw(st.lists(st.tuples(PICK, PICK, _link()), max_size=2)):
        a, b = nodes[pick_a % len(nodes)], nodes[pick_b % len(nodes)]
        if a != b and not any({a, b} == {x, y} for x, y, _ in edges):
            edges.append((a, b, link))
    links, failing = [], []
    for a, b, link in edges:
        spec: dict[str, Any] = {"between": [a, b], "bandwidth": link["bandwidth"], "latency": link["latency"]}
        if link["outages"]:
            spec["outages"] = [{"at": f"{at % duration_min}m", "for": f"{length}m"} for at, length in link["outages"]]
        if link["bandwidth_schedule"]:
            spec["bandwidth_schedule"] = [{"schedule": cron, "bandwidth": rate}
                                          for cron, rate in link["bandwidth_schedule"]]
        links.append(spec)
        if link["failures"] is not None:
            mtbf_h, mttr_min, repair = link["failures"]
            failure: dict[str, Any] = {"between": [a, b], "mtbf": f"{mtbf_h}h", "mttr": f"{mttr_min}m"}
            if repair["distribution"] != "exponential":
                failure["repair"] = repair
            failing.append(failure)

    # Heads, then the mirror forest below them. Volumes by id (see MIRROR_SLOTS); `layout`:
    # every volume's size and qtree shares.
    heads: dict[str, dict[str, Any]] = {}
    layout: dict[str, tuple[float, dict[str, float]]] = {}
    by_id: dict[int, str] = {}
    second = draw(sometimes(_head(), 5, times=2))
    for vid, (name, head) in enumerate(zip(HEADS, [draw(_head()), *([second] if second else [])])):
        volume = by_id[vid] = f"{appliances[head['appliance'] % len(appliances)]}:/vol/{name}"
        size_bytes = float(head["size_gib"] * GIB)
        rate_mib = max(1, math.ceil(size_bytes * head["change_per_mille_per_hour"] / 1000 / MIB))
        spec = heads[volume] = {"size": f"{head['size_gib']}GiB", "change_rate": f"{rate_mib}MiB/h"}
        if head["variability_pct"]:
            spec["change_variability"] = head["variability_pct"] / 100
        shares = {q: pct / 100 for q, pct in zip(QTREES, head["shares_pct"])}
        if shares:
            spec["qtrees"] = {q: {"share": share} for q, share in shares.items()}
        if head["autodelete"] is not None:
            commitment, quarter_hours, target_pct = head["autodelete"]
            trigger_mib = max(1, rate_mib * quarter_hours // 4)
            spec["autodelete"] = {"commitment": commitment, "trigger": f"{trigger_mib}MiB",
                                  "target": f"{max(1, trigger_mib * target_pct // 100)}MiB"}
        layout[volume] = (size_bytes, shares)

    def volume_at_or_below(vid: int) -> str:
        """The existing volume with the largest id not above `vid` (head 0 always exists)."""
        return by_id[max(i for i in by_id if i <= vid)]

    policies: dict[str, dict[str, Any]] = {}
    for p, policy in enumerate(draw(sometimes(st.lists(_policy(), min_size=1, max_size=2), 4, [], times=3))):
        covered = [volume for bit, volume in enumerate(heads) if policy["heads"] >> bit & 1] or list(heads)[:1]
        rule = {k: policy[k] for k in ("keep", "retention") if k in policy}
        policies[f"snap{p}"] = {"schedule": policy["schedule"], "label": f"snap{p}", **rule, "volumes": covered}

    mirrors: list[dict[str, Any]] = []
    releases: list[dict[str, Any]] = []
    image_of: dict[str, str] = {}  # a volume-mirror destination -> its source (the lineages)
    for choice in draw(st.lists(_mirror(), min_size=1, max_size=MAX_MIRRORS)):
        source = volume_at_or_below(choice["source"])
        slot = next(s % MIRROR_SLOTS for s in range(choice["slot"], choice["slot"] + MIRROR_SLOTS)
                    if 2 + s % MIRROR_SLOTS not in by_id)
        size_bytes, qtrees = layout[source]
        others = [a for a in appliances if a != source.partition(":")[0]]
        volume = by_id[2 + slot] = f"{others[choice['destination'] % len(others)]}:/vol/m{slot}"
        if choice["qtree"] and qtrees:
            qtree = sorted(qtrees)[choice["which_qtree"] % len(qtrees)]
            mirror = {"source": f"{source}/{qtree}", "destination": f"{volume}/{qtree}", "type": "qtree"}
            layout[volume] = (size_bytes * qtrees[qtree], {qtree: 1.0})
        elif choice["vault"]:
            drawn = choice["vault_retention"]
            mirror = {"source": source, "destination": volume, "type": "vault",
                      "retention": drawn.get("retention", {"keep": drawn.get("keep")})}
            if choice["vault_filter"] is not None:
                mirror["filter"] = choice["vault_filter"]
            if choice["vault_autodelete"] is not None:
                commitment, per_mille, target_pct = choice["vault_autodelete"]
                trigger_mib = max(1, math.ceil(size_bytes * per_mille / 1000 / MIB))
                mirror["autodelete"] = {"commitment": commitment, "trigger": f"{trigger_mib}MiB",
                                        "target": f"{max(1, trigger_mib * target_pct // 100)}MiB"}
            layout[volume] = (size_bytes, dict(qtrees))
        else:
            mirror = {"source": source, "destination": volume, "type": "volume"}
            layout[volume] = (size_bytes, dict(qtrees))
            image_of[volume] = source
        mirror["schedule"] = choice["schedule"]
        if choice["on_break"] is not None:
            mirror["on_break"] = choice["on_break"]
        if choice["throttle"] is not None:
            mirror["throttle"] = choice["throttle"]
        if choice["retire_min"] is not None:
            retire_min = 1 + choice["retire_min"] % (duration_min - 1)
            mirror["retire_at"] = f"{retire_min}m"
            if (choice["release_after_min"] is not None and retire_min + choice["release_after_min"] < duration_min
                    and mirror["type"] != "qtree"):  # a qtree mirror's release does not run yet (the report)
                releases.append({"destination": mirror["destination"],
                                 "at": f"{retire_min + choice['release_after_min']}m"})
        mirrors.append(mirror)

    # Re-points: a volume or vault mirror whose source is a volume-mirror image takes a volume
    # upstream of that source in its lineage, neither retired by then (nor the mirror).
    retired_min = {m["destination"]: int(m["retire_at"][:-1]) for m in mirrors if "retire_at" in m}
    repoints: list[dict[str, Any]] = []
    for pick, upstream_pick, at in draw(sometimes(st.lists(st.tuples(PICK, PICK, st.integers(1, 3 * 24 * 60 - 1)),
                                                           min_size=1, max_size=3), 2, default=[])):
        at %= duration_min
        movable = [m for m in mirrors if m["type"] != "qtree" and m["source"] in image_of]
        if not movable:
            break
        mirror = movable[pick % len(movable)]
        upstream = [image_of[mirror["source"]]]
        while upstream[-1] in image_of:
            upstream.append(image_of[upstream[-1]])
        new_source = upstream[upstream_pick % len(upstream)]
        if (retired_min.get(mirror["destination"], duration_min) > at and retired_min.get(new_source, duration_min) > at
                and new_source.partition(":")[0] != mirror["destination"].partition(":")[0]
                and not any(r["destination"] == mirror["destination"] and r["at"] == f"{at}m" for r in repoints)):
            repoints.append({"destination": mirror["destination"], "source": new_source, "at": f"{at}m"})

    labels = [p["label"] for p in policies.values()] + ["mirror", "qtree_mirror"]
    holds = [{"volume": list(layout)[volume % len(layout)], "label": labels[label % len(labels)],
              "owner": f"app{k}", "for": f"{hours}h"}
             for k, (volume, label, hours) in enumerate(draw(sometimes(
                 st.lists(st.tuples(PICK, PICK, st.integers(1, 24)), min_size=1, max_size=3), 3, default=[])))]

    # Capacity: live data plus headroom, ample (300 %) unless the appliance is drawn tight.
    used = dict.fromkeys(appliances, 0.0)
    for volume, (size_bytes, _qtrees) in layout.items():
        used[volume.partition(":")[0]] += size_bytes
    headroom = draw(st.lists(sometimes(st.integers(1, 300), 4, default=3000),
                             min_size=len(APPLIANCES), max_size=len(APPLIANCES)))
    capacities: dict[str, dict[str, Any]] = {
        a: {"capacity": f"{math.ceil(used[a] * (1 + per_mille / 1000) / MIB) + 1}MiB" if used[a] else "1TiB"}
        for a, per_mille in zip(appliances, headroom)}
    crashing: dict[str, dict[str, Any]] = {}
    for a, faults in zip(appliances, draw(st.lists(_appliance_faults(), min_size=len(APPLIANCES),
                                                   max_size=len(APPLIANCES)))):
        if faults["max_transfers"] is not None:
            capacities[a]["max_transfers"] = faults["max_transfers"]
        spec: dict[str, Any] = {}
        if faults["crashes"]:
            spec["crashes"] = [{"at": f"{at % duration_min}m", "for": f"{length}m"} for at, length in faults["crashes"]]
        if faults["random"] is not None:
            mtbf_h, mttr_min, repair = faults["random"]
            spec.update({"mtbf": f"{mtbf_h}h", "mttr": f"{mttr_min}m"})
            if repair["distribution"] != "exponential":
                spec["repair"] = repair
        if spec:
            crashing[a] = spec

    document: dict[str, Any] = {
        "name": "random_world",
        "seed": draw(st.integers(0, 2**32 - 1)),
        "duration": f"{days}d",
        "protocol": "none",
        "sample_interval": draw(st.sampled_from(SAMPLE_INTERVALS)),
    }
    lease = draw(st.sampled_from(LEASES))
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
    faults: dict[str, Any] = {}
    if failing:
        faults["links"] = failing
    messages = draw(sometimes(_messages(), 5))
    if messages is not None:
        faults["messages"] = messages
    if crashing:
        faults["appliances"] = crashing
    if repoints:
        faults["repoints"] = repoints
    if releases:
        faults["releases"] = releases
    if faults:
        document["faults"] = faults
    return document


def world_yaml(document: dict[str, Any]) -> str:
    """The world as a scenario file's text (keys in drawing order, short lists inline)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()
