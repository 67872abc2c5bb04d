"""Terminal tables of runs' KPIs (the plots are in `sim.plots`, the HTML page in `sim.html_report`)."""

from __future__ import annotations

import pandas as pd

from sim.scenario import KPIS


def kpi_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """KPIs as rows, one column per run label (e.g. protocol)."""
    return pd.DataFrame({label: {k: s["kpis"][k] for k in KPIS} for label, s in summaries.items()})


def format_kpi_table(table: pd.DataFrame) -> str:
    """Readable text of a KPI table: integers without decimals, bytes and lags rounded."""
    def cell(value: float) -> str:
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.1f}"
    return table.map(cell).to_string()
