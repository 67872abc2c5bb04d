"""The same scenario and seed under several protocols, side by side: the KPI table (raw numbers,
as `compare`'s CSV holds them and the terminal prints them) and the comparison figure.

Both take run summaries by label (e.g. protocol), so they compare runs in memory and runs
loaded from their folders alike.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.observe.kpis import BY_NAME, COMPARE_ORDER, NAMES
from sim.present.formatting import format_count, format_number, unit_scale
from sim.present.plots import protocol_colour


def kpi_table(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every KPI as a row, in the registry's order (`sim.observe.kpis`), one column per run label
    (e.g. protocol); raw numbers, as the CSV holds them."""
    return pd.DataFrame({label: {k: s["kpis"][k] for k in NAMES} for label, s in summaries.items()}, index=list(NAMES))


COMPARE_PANELS: tuple[tuple[str, str, str], ...] = tuple(
    (name, BY_NAME[name].label or name, BY_NAME[name].unit) for name in COMPARE_ORDER)
"""(kpi, title, unit) of each small multiple, in the registry's compare order."""


def plot_compare(summaries: dict[str, dict[str, Any]], title: str) -> Figure:
    """The same scenario and seed under each protocol: one small chart per outcome of
    `COMPARE_PANELS` (re-baselines, premature deletions, bytes sent, lock space overhead, max
    lag, autodeletes, failed writes, their bytes and gap PCPIs), one bar per protocol in its
    fixed colour; then the trade-off (`draw_tradeoff`): re-baselines and gap PCPIs against
    the space held to prevent them, one point per protocol."""
    protocols = list(summaries)
    panels = len(COMPARE_PANELS) + len(TRADEOFF_PANELS)
    cols = panels if panels <= 5 else -(-panels // 2)
    rows = -(-panels // cols)
    fig = Figure(figsize=(3.0 * cols, 3.4 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    fig.suptitle(title)
    colours = [protocol_colour(p) for p in protocols]
    for ax, (kpi, name, unit) in zip(axes, COMPARE_PANELS):
        raw = [float(summaries[p]["kpis"][kpi]) for p in protocols]
        scale, label = unit_scale(unit, max(raw))
        values = [v / scale for v in raw]
        bars = ax.bar(protocols, values, color=colours, edgecolor="0.2")
        ax.bar_label(bars, labels=[format_count(v) if unit == "count" else format_number(v) for v in values], fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(label)
        ax.set_ylim(0, max(values) * 1.18 or 1.0)  # counts of 0 everywhere still get a readable axis
        if unit == "count":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelrotation=30 if len(protocols) > 3 else 0, labelsize=8)
    for ax, kpi in zip(axes[len(COMPARE_PANELS):], TRADEOFF_PANELS):
        draw_tradeoff(ax, summaries, kpi)
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig


TRADEOFF_PANELS: tuple[str, ...] = ("rebaselines", "gap_pcpis")
"""What safety buys, each drawn against what it costs (`draw_tradeoff`)."""

TRADEOFF_COST = "lock_space_byte_hours"
"""What safety costs: snapshot space held past retention by locks and vetoes, over time."""


def draw_tradeoff(ax: Axes, summaries: dict[str, dict[str, Any]], kpi: str) -> None:
    """One point per protocol: `kpi` (re-baselines or gap PCPIs: what went wrong) against the
    space it held past retention to prevent it. Down and left is better; a strategy that buys
    safety with space sits down and right."""
    cost = [float(s["kpis"][TRADEOFF_COST]) for s in summaries.values()]
    scale, unit = unit_scale(BY_NAME[TRADEOFF_COST].unit, max(cost))
    at: dict[tuple[float, float], list[str]] = {}
    width = max(cost) / scale * 0.05 or 1.0
    for (protocol, summary), spent in zip(summaries.items(), cost):
        point = (spent / scale, float(summary["kpis"][kpi]))
        ax.scatter(*point, s=60, color=protocol_colour(protocol), edgecolor="0.2", zorder=3)
        near = next((p for p in at if p[1] == point[1] and abs(p[0] - point[0]) < width), point)
        at.setdefault(near, []).append(protocol)
    for point, protocols in at.items():  # protocols with (nearly) the same outcome share one label
        ax.annotate(", ".join(protocols), point, textcoords="offset points", xytext=(6, 5), fontsize=8)
    ax.set_title(f"{BY_NAME[kpi].label or kpi} vs space held", fontsize=10)
    ax.set_xlabel(f"{BY_NAME[TRADEOFF_COST].label} ({unit})")
    ax.set_ylabel(BY_NAME[kpi].label or kpi)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    top = max(y for _x, y in at)
    ax.set_ylim(0, top * 1.25 or 1.0)
    right = max(x for x, _y in at)
    ax.set_xlim(-0.05 * (right or 1.0), (right or 1.0) * 1.35)


def plot_tradeoff(summaries: dict[str, dict[str, Any]], title: str) -> Figure:
    """The trade-off alone: re-baselines and gap PCPIs against space held, one point per protocol."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    fig.suptitle(title)
    for ax, kpi in zip(fig.subplots(1, len(TRADEOFF_PANELS)), TRADEOFF_PANELS):
        draw_tradeoff(ax, summaries, kpi)
    return fig
