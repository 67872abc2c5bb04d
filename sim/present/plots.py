"""The pictures of a run: what soft locks prevent and what they cost, readable at a glance.

Every `plot_*` function takes a `Results` (a run just finished or loaded from its folder) and
returns a matplotlib `Figure` built without pyplot, so nothing global changes and a notebook can
show it inline; `save` writes it as a PNG. `PLOTS` lists the files each results folder
gets, with the caption the HTML report shows under each. Pictures of several runs side by side
are `sim.present.compare`'s.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from sim.present.formatting import (
    byte_unit,
    format_count,
    format_percent,
    format_rate,
    format_seconds,
    plural,
    seconds_unit,
)
from sim.protocols.registry import names
from sim.protocols.registry import protocol as registered
from sim.results import Results

DPI = 100
MAX_PANELS = 8
"""Most volumes drawn in the PCPI timeline; the ones with premature deletions come first."""
MAX_LINES = 10
"""Most lines in one axis (lag per relationship, space per volume); the largest are kept."""
MAX_LEGEND_ENTRIES = 16
"""Most entries in one legend; past it the legend lists the first ones and says how many it left out."""
MAX_LABELLED_NODES = 40
"""Above this many appliances and routers the topology drops link and mirror labels."""

REBASELINED = "tab:red"
CLEAN = "tab:green"
OUTAGE_COLOURS = ("0.78", "#f2c894", "#a9cde8", "#b9dcb0", "#d6bfe4", "#e8b4b4")
"""Tints of link outage bands, one per link (by name order), so overlapping outages stay apart."""
HARD_LOCK = "0.45"
PREMATURE = "red"
AUTODELETE = "tab:purple"


def protocol_colour(protocol: str) -> str:
    """The colour of a protocol in every chart: its registered colour, or a stable pick from
    matplotlib's cycle for a protocol this checkout does not register (a loaded run's)."""
    if protocol in names():
        return registered(protocol).colour
    return f"C{zlib.crc32(protocol.encode()) % 10}"


def save(fig: Figure, path: Path) -> None:
    """Write `fig` as a PNG (whatever the file name ends with)."""
    fig.savefig(path, dpi=DPI, format="png")


# -- shared pieces --------------------------------------------------------------------


def outages(results: Results) -> list[tuple[str, float, float]]:
    """(link, start_s, end_s) of every link outage in the run, from link_down/link_up events."""
    events = results.events
    end_of_run = float(results.summary["duration_s"])
    downs = events[events["event"] == "link_down"]
    ups = events[events["event"] == "link_up"]
    spans = []
    for row in downs.itertuples(index=False):
        if pd.notna(row.value):
            end = float(row.time_s) + float(row.value)
        else:
            later = ups[(ups["component"] == row.component) & (ups["time_s"] >= row.time_s)]["time_s"]
            end = float(later.min()) if len(later) else end_of_run
        spans.append((str(row.component), float(row.time_s), min(end, end_of_run)))
    return spans


def shade_outages(ax: Axes, spans: list[tuple[str, float, float]], scale: float) -> None:
    """Bands over the time axis where a link was down, a tint per link, labelled once per link."""
    tints = {link: OUTAGE_COLOURS[i % len(OUTAGE_COLOURS)] for i, link in enumerate(sorted({s[0] for s in spans}))}
    labelled: set[str] = set()
    for link, start, end in spans:
        ax.axvspan(start / scale, end / scale, color=tints[link], alpha=0.55, linewidth=0, zorder=0,
                   label=None if link in labelled else f"link {link} down")
        labelled.add(link)


def horizontal_spans(ax: Axes, rows: ArrayLike, starts: ArrayLike, ends: ArrayLike, **style: Any) -> None:
    """Horizontal spans at heights `rows` from `starts` to `ends` (a span with a NaN end or row is
    not drawn), as one line broken by NaN gaps: one path for matplotlib to lay out and draw, where
    `Axes.hlines` makes a path per span (a PCPI timeline of 100,000 PCPIs took seconds)."""
    rows, starts, ends = (np.asarray(values, dtype=float) for values in (rows, starts, ends))
    gaps = np.full(len(rows), np.nan)
    ax.plot(np.column_stack([starts, ends, gaps]).ravel(), np.column_stack([rows, rows, gaps]).ravel(),
            solid_capstyle="butt", **style)


def empty(ax: Axes, message: str) -> None:
    """An axis that says why there is nothing to draw, instead of an empty frame."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def largest(values: pd.Series, limit: int) -> list[str]:
    """The `limit` components with the largest values (ties by name), returned in name order."""
    ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return sorted(name for name, _ in ranked)


def legend_outside(ax: Axes, **kwargs: Any) -> None:
    """A legend right of the axis, so it never hides data, of at most `MAX_LEGEND_ENTRIES`
    entries (the last one then says how many more the axis draws), so it always fits."""
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > MAX_LEGEND_ENTRIES:
        hidden = len(handles) - MAX_LEGEND_ENTRIES + 1
        handles = [*handles[:MAX_LEGEND_ENTRIES - 1], Line2D([], [], linestyle="none")]
        labels = [*labels[:MAX_LEGEND_ENTRIES - 1], f"... {hidden} more not listed"]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0.0, **kwargs)


def start_time_axes(ax: Axes, results: Results, series: pd.DataFrame) -> tuple[float, float, str, list[str]]:
    """Shade the outages and pick the components of `series` to draw (the largest values):
    returns (run duration in s, time scale, time unit, component names)."""
    duration = float(results.summary["duration_s"])
    scale, unit = seconds_unit(duration)
    shade_outages(ax, outages(results), scale)
    return duration, scale, unit, largest(series.groupby("component")["value"].max(), MAX_LINES)


def finish_time_axes(ax: Axes, end: float, unit: str, ylabel: str, note: str) -> None:
    """Axes from zero to the end of the run, labels, an optional note of what was left out, legend."""
    if note:
        ax.text(0.01, 0.98, note, transform=ax.transAxes, va="top", fontsize=8, color="0.3")
    ax.set_xlim(0, end)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel(ylabel)
    legend_outside(ax)


def metric(results: Results, name: str) -> pd.DataFrame:
    """Rows of one time-series metric, sorted by component and time."""
    ts = results.timeseries
    return ts[ts["metric"] == name].sort_values(["component", "time_s"], kind="stable")


# -- topology -------------------------------------------------------------------------


def topology_layout(scenario: dict[str, Any], graph: nx.Graph) -> dict[str, tuple[float, float]] | None:
    """Left-to-right positions: a mirror's destination one column right of its source, and in
    each column the nodes in the depth-first order of the mirror tree, so branches do not cross.
    Routers sit between the columns of their neighbours. None when mirrors between appliances
    form a cycle (then a force layout is used)."""
    flow = nx.DiGraph()
    flow.add_nodes_from(sorted(scenario["appliances"]))
    flow.add_edges_from((m["source"].partition(":")[0], m["destination"].partition(":")[0])
                        for m in scenario["mirrors"])
    flow.remove_edges_from(list(nx.selfloop_edges(flow)))
    if not nx.is_directed_acyclic_graph(flow):
        return None
    column: dict[str, float] = {}
    for node in nx.topological_sort(flow):
        column[node] = max((column[p] + 1 for p in flow.predecessors(node)), default=0.0)
    order: list[str] = []
    for head in sorted(n for n in flow if flow.in_degree(n) == 0):
        order += [n for n in nx.dfs_preorder_nodes(flow, head, sort_neighbors=sorted) if n not in order]
    for router in sorted(scenario["routers"]):
        ends = [column[n] for n in graph.neighbors(router) if n in column]
        column[router] = round(2 * sum(ends) / len(ends)) / 2 if ends else 0.0
        order.append(router)
    by_column: dict[float, list[str]] = {}
    for node in order:
        by_column.setdefault(column[node], []).append(node)
    return {node: (x, (len(nodes) - 1) / 2 - i) for x, nodes in by_column.items() for i, node in enumerate(nodes)}


def plot_topology(results: Results) -> Figure:
    """Appliances (boxes) and routers (circles) joined by network links labelled with bandwidth
    and latency, mean utilisation and busy fraction (exact time integrals of the rate
    allocated on the link, from summary.json), and outages (dashed links);
    curved arrows are mirror relationships from source to destination, red when the
    relationship had to re-baseline, green when it did not."""
    scenario = results.scenario
    graph = nx.Graph()
    graph.add_nodes_from(sorted(scenario["appliances"]))
    graph.add_nodes_from(sorted(scenario["routers"]))
    for link in scenario["links"]:
        graph.add_edge(*link["between"])
    layered = topology_layout(scenario, graph)
    if layered is None:
        pos = nx.spring_layout(graph, seed=1)
        rows = columns = max(3, round(graph.number_of_nodes() ** 0.5))
    else:
        pos = layered
        rows = round(max(y for _x, y in pos.values()) * 2) + 1
        columns = len({x for x, _y in pos.values()})
    fig = Figure(figsize=(min(max(10, 2.8 * columns), 26), min(3.2 + 1.3 * rows, 14)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Topology and mirror outcomes - {results.title}")
    labelled = graph.number_of_nodes() <= MAX_LABELLED_NODES
    routers = sorted(scenario["routers"])
    appliances = sorted(scenario["appliances"])
    node_size = 1400 if labelled else 120

    usage = results.summary["links"]
    went_down = {name for name, used in usage.items() if used["outages"]}
    outage_links = [tuple(link["between"]) for link in scenario["links"] if "-".join(link["between"]) in went_down]
    steady_links = [tuple(link["between"]) for link in scenario["links"] if "-".join(link["between"]) not in went_down]
    nx.draw_networkx_edges(graph, pos, edgelist=steady_links, ax=ax, width=2.0, edge_color="0.55")
    nx.draw_networkx_edges(graph, pos, edgelist=outage_links, ax=ax, width=2.0, edge_color="0.55", style="dashed")
    nx.draw_networkx_nodes(graph, pos, nodelist=appliances, ax=ax, node_shape="s", node_color="#cfe2f3",
                           edgecolors="0.2", node_size=node_size)
    if routers:
        nx.draw_networkx_nodes(graph, pos, nodelist=routers, ax=ax, node_shape="o", node_color="0.9",
                               edgecolors="0.4", node_size=node_size * 0.6)
    if labelled:
        nx.draw_networkx_labels(graph, pos, ax=ax, font_size=10, font_weight="bold")
        for link in scenario["links"]:  # above the link, so mirror arrows below it stay clear
            used = usage["-".join(link["between"])]
            text = (f"{format_rate(link['bandwidth'])}, {format_seconds(link['latency'])}\n"
                    f"used {format_percent(used['mean_utilisation'])}, busy {format_percent(used['busy_fraction'])}")
            if used["outages"]:
                text += f"\n{plural(used['outages'], 'outage')}, up {format_percent(used['availability'])}"
            (x0, y0), (x1, y1) = pos[link["between"][0]], pos[link["between"][1]]
            ax.annotate(text, ((x0 + x1) / 2, (y0 + y1) / 2), xytext=(0, 5), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8, bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})

    relationships = results.summary["relationships"]
    mirrors = nx.MultiDiGraph()
    mirrors.add_nodes_from(graph.nodes)
    seen: dict[tuple[str, str], int] = {}
    for m in scenario["mirrors"]:
        src, dst = m["source"].partition(":")[0], m["destination"].partition(":")[0]
        if src == dst:
            continue
        rebaselines = relationships[f"{m['source']}->{m['destination']}"]["rebaselines"]
        nth = seen[(src, dst)] = seen.get((src, dst), -1) + 1
        rad = 0.35 + 0.15 * nth
        colour = REBASELINED if rebaselines else CLEAN
        nx.draw_networkx_edges(mirrors, pos, edgelist=[(src, dst)], ax=ax, edge_color=colour, width=2.5,
                               arrows=True, arrowstyle="-|>", arrowsize=22, node_size=node_size,
                               node_shape="s", connectionstyle=f"arc3,rad={rad}")
        if labelled:
            volume = m["destination"].partition(":")[2]
            text = f"{volume}: {plural(rebaselines, 're-baseline')}"
            nx.draw_networkx_edge_labels(mirrors, pos, edge_labels={(src, dst, 0): text}, ax=ax, font_size=8,
                                         font_color=colour, connectionstyle=f"arc3,rad={rad}",
                                         bbox={"boxstyle": "round", "fc": "white", "ec": colour})
    ax.legend(handles=[
        Line2D([], [], color="0.55", lw=2, label="network link"),
        Line2D([], [], color="0.55", lw=2, ls="--", label="link with outages"),
        Line2D([], [], color=CLEAN, lw=2.5, marker=">", label="mirror, no re-baseline"),
        Line2D([], [], color=REBASELINED, lw=2.5, marker=">", label="mirror that re-baselined"),
    ], loc="lower center", bbox_to_anchor=(0.5, -0.02), ncol=4, fontsize=8, frameon=False)
    xs, ys = np.array([xy[0] for xy in pos.values()]), np.array([xy[1] for xy in pos.values()])
    pad_x = max(0.12 * np.ptp(xs), 0.3)
    pad_y = max(0.2 * np.ptp(ys), 0.15 * np.ptp(xs) / max(columns - 1, 1) * 2, 0.3)  # room for arrows and labels
    ax.set_xlim(xs.min() - pad_x, xs.max() + pad_x)
    ax.set_ylim(ys.min() - pad_y, ys.max() + pad_y)
    ax.set_axis_off()
    return fig


# -- PCPI timeline ---------------------------------------------------------------------


HOLDER_PALETTE = ("tab:orange", "tab:cyan", "tab:olive", "tab:pink", "tab:brown", "gold", "tab:blue", "tab:purple")
OTHER_HOLDERS = "0.65"
"""Colour of the soft locks of the holders past the palette's size, drawn together as "others"."""


def _holder_colours(locks: pd.DataFrame) -> dict[str, str]:
    """A colour per soft-lock holder (locking dataset): the holders with the most locks get the
    palette's colours, one each; every other holder gets `OTHER_HOLDERS`."""
    counts = locks.loc[locks["type"] != "hard", "locking_dataset"].dropna().astype(str).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {h: HOLDER_PALETTE[i] if i < len(HOLDER_PALETTE) else OTHER_HOLDERS for i, (h, _n) in enumerate(ranked)}


def _holder_groups(colours: dict[str, str], holders: set[str], what: str) -> list[tuple[list[str], str, str]]:
    """(holders, colour, legend label) to draw: each holder with a colour of its own, then the
    others of `holders` together in grey, as "`what` N other datasets"."""
    groups = [([h], colour, f"{what} {h}") for h, colour in sorted(colours.items())
              if h in holders and colour != OTHER_HOLDERS]
    others = sorted(h for h in holders if colours.get(h, OTHER_HOLDERS) == OTHER_HOLDERS)
    if others:
        groups.append((others, OTHER_HOLDERS, f"{what} {plural(len(others), 'other dataset')}"))
    return groups


def plot_pcpi_timeline(results: Results) -> Figure:
    """Per volume, each PCPI is a thin blue line from arrival to deletion; thick spans over it show
    while it was locked, grey for the hard lock of a relationship's base and one colour per soft-lock
    holder (the downstream dataset that needs it). A red cross marks a premature deletion, a purple
    triangle an autodelete; tinted bands are link outages."""
    pcpis, locks = results.pcpis, results.locks
    duration = float(results.summary["duration_s"])
    scale, unit = seconds_unit(duration)
    premature = pcpis[pcpis["premature"].astype(bool)]
    all_volumes = sorted(pcpis["volume"].unique())
    broken = set(premature["volume"].unique())
    first = sorted(broken) + [v for v in all_volumes if v not in broken]
    volumes = sorted(first[:MAX_PANELS])
    fig = Figure(figsize=(12, 1.2 + 2.4 * max(len(volumes), 1)), layout="constrained")
    axes = fig.subplots(max(len(volumes), 1), 1, sharex=True, squeeze=False)[:, 0]
    shown = f" (first {len(volumes)} of {len(all_volumes)} volumes)" if len(volumes) < len(all_volumes) else ""
    fig.suptitle(f"PCPI lifetimes and who locked them - {results.title}{shown}")
    if not volumes:
        empty(axes[0], "no PCPIs in this run")
        return fig
    colours = _holder_colours(locks[locks["volume"].isin(volumes)])
    spans = outages(results)
    events = results.events
    rebaselines = events[events["event"] == "rebaseline"]
    rebaselines = rebaselines.assign(destination=rebaselines["component"].str.split("->").str[-1])
    for ax, volume in zip(axes, volumes):
        rows = pcpis[pcpis["volume"] == volume].sort_values(["arrived_s", "pcpi_id"], kind="stable")
        order = pd.Series(np.arange(len(rows)), index=rows["pcpi_id"].to_numpy())
        shade_outages(ax, spans, scale)
        horizontal_spans(ax, order.to_numpy(), rows["arrived_s"] / scale, rows["deleted_s"].fillna(duration) / scale,
                         color="tab:blue", linewidth=0.6, label="PCPI retained")
        held = locks[locks["volume"] == volume]
        hard = held[held["type"] == "hard"]
        if len(hard):
            horizontal_spans(ax, hard["pcpi_id"].map(order), hard["set_s"] / scale,
                             hard["released_s"].fillna(duration) / scale, color=HARD_LOCK, linewidth=2.0,
                             label="hard lock (relationship base)")
        soft = held[held["type"] != "hard"]
        for holders, colour, label in _holder_groups(colours, set(soft["locking_dataset"].astype(str)), "soft lock for"):
            group = soft[soft["locking_dataset"].isin(holders)]
            horizontal_spans(ax, group["pcpi_id"].map(order), group["set_s"] / scale,
                             group["released_s"].fillna(duration) / scale, color=colour, linewidth=3.0, alpha=0.85,
                             label=label)
        bad = rows[rows["premature"].astype(bool)]
        if len(bad):
            ax.plot(bad["deleted_s"] / scale, bad["pcpi_id"].map(order), "x", color=PREMATURE, markersize=11, mew=2.5,
                    label=f"premature deletion ({len(bad)})")
        for k, at in enumerate(rebaselines.loc[rebaselines["destination"] == volume, "time_s"]):
            ax.axvline(at / scale, color=REBASELINED, linestyle=":", linewidth=2,
                       label=None if k else "re-baseline received (full re-send)")
        auto = rows[rows["reason"] == "autodelete"]
        if len(auto):
            ax.plot(auto["deleted_s"] / scale, auto["pcpi_id"].map(order), "v", color=AUTODELETE, markersize=6,
                    label=f"autodelete ({len(auto)})")
        ax.set_ylabel("PCPI (arrival order)")
        ax.set_title(f"{volume}: {len(rows)} PCPIs", fontsize=10, loc="left")
        ax.set_xlim(0, duration / scale)
        legend_outside(ax)
    axes[-1].set_xlabel(f"simulated time ({unit})")
    return fig


# -- lag ---------------------------------------------------------------------------------


def plot_lag(results: Results) -> Figure:
    """Lag (recovery point) of each mirror destination over time: now minus the creation time of
    its newest PCPI. Tinted bands are link outages (one tint per link); a dotted line marks where a
    re-baseline completed."""
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Lag (RPO) per destination - {results.title}")
    lag = metric(results, "lag_s")
    if lag.empty:
        empty(ax, "no lag samples (no mirror relationship delivered a PCPI)")
        return fig
    duration, scale, unit, names = start_time_axes(ax, results, lag)
    lag_scale, lag_unit = seconds_unit(float(lag["value"].max()))
    events = results.events
    rebaselines = events[events["event"] == "rebaseline"]
    for i, name in enumerate(names):
        rows = lag[lag["component"] == name]
        ax.plot(rows["time_s"] / scale, rows["value"] / lag_scale, color=f"C{i}", linewidth=1.2, label=name)
        for k, at in enumerate(rebaselines.loc[rebaselines["component"] == name, "time_s"]):
            ax.axvline(at / scale, color=f"C{i}", linestyle=":", linewidth=2,
                       label=None if k else f"re-baseline of {name} done")
    hidden = lag["component"].nunique() - len(names)
    finish_time_axes(ax, duration / scale, unit, f"lag ({lag_unit})",
                     f"{hidden} more relationships with smaller lag not drawn" if hidden else "")
    return fig


# -- space ------------------------------------------------------------------------------


def plot_space(results: Results) -> Figure:
    """Snapshot space per volume over time (solid) and the part held only because locks pin old
    PCPIs (dashed, same colour); purple triangles mark autodeletes, tinted bands link outages."""
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Snapshot space per volume - {results.title}")
    space = metric(results, "snapshot_space_bytes")
    held = metric(results, "lock_held_bytes")
    if space.empty:
        empty(ax, "no snapshot space samples")
        return fig
    duration, scale, unit, names = start_time_axes(ax, results, space)
    byte_scale, byte_name = byte_unit(float(space["value"].max()))
    events = results.events
    autodeletes = events[events["event"] == "autodelete"]
    for i, name in enumerate(names):
        rows = space[space["component"] == name]
        ax.plot(rows["time_s"] / scale, rows["value"] / byte_scale, color=f"C{i}", linewidth=1.3, label=name)
        locked = held[held["component"] == name]
        if len(locked) and locked["value"].max() > 0:
            ax.plot(locked["time_s"] / scale, locked["value"] / byte_scale, color=f"C{i}", linewidth=1.3,
                    linestyle="--", label=f"{name}: held by locks")
        hits = autodeletes[autodeletes["component"] == name]
        if len(hits):
            at = np.interp(hits["time_s"], rows["time_s"], rows["value"])
            ax.plot(hits["time_s"] / scale, at / byte_scale, "v", color=AUTODELETE, markersize=8,
                    label=f"{name}: autodelete ({len(hits)})")
    hidden = space["component"].nunique() - len(names)
    finish_time_axes(ax, duration / scale, unit, f"snapshot space ({byte_name})",
                     f"{hidden} smaller volumes not drawn" if hidden else "")
    return fig


# -- lock propagation --------------------------------------------------------------------


def propagation_delays(locks: pd.DataFrame) -> pd.DataFrame:
    """One row per soft lock that travelled: `holder` (the volume it is set on), `locking_dataset`,
    `hops` and `delay_s`, the locks table's `propagation_s`. Rows where it is empty (a lock moved
    to the next candidate because its PCPI went) did not travel and are left out."""
    soft = locks[(locks["type"] != "hard") & locks["propagation_s"].notna()]
    delay = soft["propagation_s"]
    return pd.DataFrame({"holder": soft["volume"].astype(str).to_numpy(),
                         "locking_dataset": soft["locking_dataset"].astype(str).to_numpy(),
                         "hops": soft["hops"].astype(int).to_numpy(),
                         "delay_s": delay.astype(float).to_numpy()})


def plot_lock_propagation(results: Results) -> Figure:
    """How long a soft lock takes to be in force, by how many hops it travelled: one box per hop
    count (median, quartiles, whiskers at 1.5 IQR) with every lock as a dot coloured by the
    dataset that needs it (as in the PCPI timeline); n, p50 and p95 under each box."""
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Soft-lock propagation delay by hops - {results.title}")
    delays = propagation_delays(results.locks)
    if delays.empty:
        empty(ax, f"no soft locks in this run (protocol {results.summary['protocol']})")
        return fig
    hops = sorted(delays["hops"].unique())
    groups = [delays.loc[delays["hops"] == h, "delay_s"].to_numpy() for h in hops]
    ax.boxplot(groups, positions=hops, widths=0.5, showfliers=False, medianprops={"color": "black"})
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(delays))
    colours = _holder_colours(results.locks)
    for datasets, colour, label in _holder_groups(colours, set(delays["locking_dataset"]), "lock for"):
        mine = delays["locking_dataset"].isin(datasets).to_numpy()
        ax.plot(delays["hops"].to_numpy()[mine] + jitter[mine], delays["delay_s"].to_numpy()[mine], "o",
                color=colour, alpha=0.6, markersize=4, markeredgewidth=0, label=label)
    for h, values in zip(hops, groups):
        ax.annotate(f"n={format_count(len(values))}\np50 {format_seconds(float(np.median(values)))}\n"
                    f"p95 {format_seconds(float(np.percentile(values, 95)))}",
                    (h, 0), xycoords=("data", "axes fraction"), xytext=(0, -30), textcoords="offset points",
                    ha="center", va="top", fontsize=8)
    positive = delays.loc[delays["delay_s"] > 0, "delay_s"]
    if len(positive) and positive.max() / positive.min() > 100:
        ax.set_yscale("symlog", linthresh=float(positive.min()))
    ax.set_xticks(hops, [str(h) for h in hops])
    ax.set_xlim(min(hops) - 0.6, max(hops) + 0.6)
    ax.set_xlabel("hops from the locking dataset to the holder", labelpad=62)
    ax.set_ylabel("delay: created at the tail -> set (s)")
    legend_outside(ax)
    return fig


PLOTS: tuple[tuple[str, Callable[[Results], Figure], str], ...] = (
    ("topology.png", plot_topology,
     "Network links (bandwidth, latency; dashed with outages) and mirror relationships, red where one re-baselined."),
    ("pcpi_timeline.png", plot_pcpi_timeline,
     "Every PCPI's life per volume; thick spans show who locked it; red crosses are premature deletions."),
    ("lag.png", plot_lag,
     "Lag (RPO) of each destination over time; tinted bands are link outages, dotted lines completed re-baselines."),
    ("space.png", plot_space,
     "Snapshot space per volume (solid) and the part held by locks (dashed); triangles are autodeletes."),
    ("lock_propagation.png", plot_lock_propagation,
     "Delay from a soft lock's creation at the tail until it is in force, by hops travelled."),
)
"""(file name, figure function, caption) of every plot in a results folder, in report order."""
TABLELESS_PLOTS = frozenset({"topology.png"})
"""The plots drawn from the summary and the resolved scenario alone: the only ones a run that
kept no tables (`--tables kpis`, `simulate(scenario, tables=False)`) can draw."""


def plots_of(results: Results) -> tuple[tuple[str, Callable[[Results], Figure], str], ...]:
    """The entries of `PLOTS` that `results` can draw: every one, or only `TABLELESS_PLOTS`
    when the run kept no tables."""
    return tuple(plot for plot in PLOTS if results.tables or plot[0] in TABLELESS_PLOTS)


def write_plots(results: Results, folder: Path, after_each: Callable[[], None] | None = None) -> None:
    """Write every plot `results` can draw (`plots_of`) into `folder`, calling `after_each` after each one."""
    for name, draw, _caption in plots_of(results):
        save(draw(results), folder / name)
        if after_each is not None:
            after_each()
