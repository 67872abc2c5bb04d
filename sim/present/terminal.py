"""What the terminal prints about runs: a verdict line per protocol and the KPI table
(`sim.present.compare.kpi_table`) as text. Every number goes through `sim.present.formatting`,
like report.html's; the CSV keeps the raw numbers."""

from __future__ import annotations

import pandas as pd

from sim.present.formatting import format_kpi, outcome

TABLE_WIDTH = 100
"""Columns the KPI table may take in a terminal."""
COLUMN_GAP = 2
"""Spaces between the columns of a terminal table."""


def verdict_lines(summaries: dict[str, dict]) -> list[str]:
    """One line per run label (e.g. protocol), labels aligned:
    `softlock: 0 premature deletions, 0 re-baselines; locks pinned 1.29 TiB·h, peak 430 GiB; 0 failed writes,
    0 autodeletes`."""
    width = max((len(label) for label in summaries), default=0) + 1
    return [f"{label + ':':<{width}} {outcome(s['kpis'])}" for label, s in summaries.items()]


def format_kpi_table(table: pd.DataFrame, width: int = TABLE_WIDTH) -> str:
    """The table as text in storage units, numbers right-aligned, within `width` columns: when
    the runs do not fit side by side, they are printed in blocks of as many as fit, one below
    the other (each block repeats the KPI names), separated by a blank line."""
    names = [str(name) for name in table.index]
    cells = {str(column): [format_kpi(str(name), value) for name, value in table[column].items()]
             for column in table.columns}
    first = max(len(name) for name in [*names, "kpi"])
    gap = " " * COLUMN_GAP
    blocks: list[list[str]] = [[]]
    used = first
    for column, values in cells.items():
        wide = COLUMN_GAP + max(len(column), *(len(v) for v in values))
        if blocks[-1] and used + wide > width:
            blocks.append([])
            used = first
        blocks[-1].append(column)
        used += wide
    texts = []
    for block in blocks:
        widths = [max(len(column), *(len(v) for v in cells[column])) for column in block]
        lines = [gap.join(["kpi".ljust(first), *(c.rjust(w) for c, w in zip(block, widths))]).rstrip()]
        for i, name in enumerate(names):
            lines.append(gap.join([name.ljust(first), *(cells[c][i].rjust(w) for c, w in zip(block, widths))]).rstrip())
        texts.append("\n".join(lines))
    return "\n\n".join(texts)

