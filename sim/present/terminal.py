"""What the terminal prints about runs: a verdict line per protocol and a KPI table with a
column per protocol. Every number goes through `sim.present.formatting`, like report.html's; the CSV
keeps the raw numbers."""

from __future__ import annotations

import pandas as pd

from sim.present.formatting import format_kpi, outcome
from sim.scenario import KPIS

COLUMN_GAP = 2
"""Spaces between the columns of a terminal table."""


def verdict_lines(summaries: dict[str, dict]) -> list[str]:
    """One line per run label (e.g. protocol), labels aligned:
    `softlock: 0 premature deletions, 0 re-baselines; locks pinned 1.29 TiB·h; 0 failed writes, 0 autodeletes`."""
    width = max((len(label) for label in summaries), default=0) + 1
    return [f"{label + ':':<{width}} {outcome(s['kpis'])}" for label, s in summaries.items()]


def kpi_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """KPIs as rows (those every summary reports, in the order of `KPIS`, then any others), one
    column per run label (e.g. protocol); raw numbers, as the CSV holds them."""
    reported = [set(s["kpis"]) for s in summaries.values()]
    common = set.intersection(*reported) if reported else set()
    first = next(iter(summaries.values()), {"kpis": {}})["kpis"]
    names = [k for k in KPIS if k in common] + [k for k in first if k in common and k not in KPIS]
    return pd.DataFrame({label: {k: s["kpis"][k] for k in names} for label, s in summaries.items()}, index=names)


def format_kpi_table(table: pd.DataFrame) -> str:
    """The table as text in storage units, numbers right-aligned: five protocols fit in 100 columns."""
    header = ["kpi", *map(str, table.columns)]
    rows = [[str(name), *(format_kpi(str(name), value) for value in table.loc[name])] for name in table.index]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    gap = " " * COLUMN_GAP

    def line(cells: list[str]) -> str:
        return gap.join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))]).rstrip()
    return "\n".join(line(cells) for cells in [header, *rows])

