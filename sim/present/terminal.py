"""What the terminal prints about runs: a verdict line per protocol and the KPI table
(`sim.present.compare.kpi_table`) as text. Every number goes through `sim.present.formatting`,
like report.html's; the CSV keeps the raw numbers."""

from __future__ import annotations

import pandas as pd

from sim.present.formatting import format_kpi, outcome

COLUMN_GAP = 2
"""Spaces between the columns of a terminal table."""


def verdict_lines(summaries: dict[str, dict]) -> list[str]:
    """One line per run label (e.g. protocol), labels aligned:
    `softlock: 0 premature deletions, 0 re-baselines; locks pinned 1.29 TiB·h, peak 430 GiB; 0 failed writes,
    0 autodeletes`."""
    width = max((len(label) for label in summaries), default=0) + 1
    return [f"{label + ':':<{width}} {outcome(s['kpis'])}" for label, s in summaries.items()]


def format_kpi_table(table: pd.DataFrame) -> str:
    """The table as text in storage units, numbers right-aligned: five protocols fit in 100 columns."""
    header = ["kpi", *map(str, table.columns)]
    rows = [[str(name), *(format_kpi(str(name), value) for value in table.loc[name])] for name in table.index]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    gap = " " * COLUMN_GAP

    def line(cells: list[str]) -> str:
        return gap.join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))]).rstrip()
    return "\n".join(line(cells) for cells in [header, *rows])

