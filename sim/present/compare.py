"""The same scenario and seed under several protocols, side by side: the KPI table (raw numbers,
as `compare`'s CSV holds them and the terminal prints them) and the comparison figure.

Both take run summaries by label (e.g. protocol), so they compare runs in memory and runs
loaded from their folders alike.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
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
    fixed colour."""
    protocols = list(summaries)
    cols = len(COMPARE_PANELS) if len(COMPARE_PANELS) <= 5 else -(-len(COMPARE_PANELS) // 2)
    rows = -(-len(COMPARE_PANELS) // cols)
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
    for ax in axes[len(COMPARE_PANELS):]:
        ax.set_visible(False)
    return fig
