"""A run's results in one object, from memory or from its results folder.

`load("results/quickstart/softlock-seed42")` gives a `Results` with the summary and every
table as a DataFrame, so a notebook or a script loads a run in one call. The plots and the
HTML report read this object too, whether the run just finished or was written long ago.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.model import RunResult

TABLES = ("events", "transfers", "pcpis", "locks", "timeseries")
"""The tables every run writes, as `<name>.parquet`."""

SUMMARY_FILE = "summary.json"
SCENARIO_FILE = "scenario.json"
"""The resolved scenario (units in seconds, bytes, bytes/s), as plain JSON."""


class ResultsError(ValueError):
    """A path that is not a complete cascadesim results folder."""


@dataclass(frozen=True)
class Results:
    """One run: `summary` (the summary.json dict), the tables, and the resolved scenario.

    `scenario` is the scenario as plain data (`Scenario.model_dump(mode="json", by_alias=True)`)
    or None for a folder written before scenarios were saved. `path` is the folder it was
    loaded from, None for a run still in memory.
    """

    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    scenario: dict[str, Any] | None = None
    path: Path | None = None

    @property
    def events(self) -> pd.DataFrame:
        """time_s, event, component, pcpi_id, value, detail."""
        return self.tables["events"]

    @property
    def transfers(self) -> pd.DataFrame:
        """relationship, start_s, end_s, bytes, kind, base_pcpi_id, pcpi_id, aborted."""
        return self.tables["transfers"]

    @property
    def pcpis(self) -> pd.DataFrame:
        """One row per PCPI per volume holding it, with arrival, deletion, reason and `premature`."""
        return self.tables["pcpis"]

    @property
    def locks(self) -> pd.DataFrame:
        """One row per lock per volume: type, locking_dataset, via, hops, created_s, set_s, released_s."""
        return self.tables["locks"]

    @property
    def timeseries(self) -> pd.DataFrame:
        """Tidy samples: time_s, metric, component, value."""
        return self.tables["timeseries"]

    @property
    def kpis(self) -> dict[str, float]:
        """The scalar outcomes of the run (summary["kpis"])."""
        return self.summary["kpis"]

    @property
    def title(self) -> str:
        """`<scenario>, protocol <p>, seed <n>`: what every plot of this run is about."""
        s = self.summary
        return f"{s['scenario']}, protocol {s['protocol']}, seed {s['seed']}"

    @classmethod
    def from_run(cls, result: RunResult) -> Results:
        """The results of a run that just finished, with its scenario as plain data."""
        return cls(summary=result.summary, tables=dict(result.tables),
                   scenario=result.scenario.model_dump(mode="json", by_alias=True))


def load(path: str | Path) -> Results:
    """Read a results folder written by `cascadesim run` or `compare` (or its summary.json).

    Raises `ResultsError` naming what is missing when `path` is not such a folder.
    """
    folder = Path(path)
    if folder.name == SUMMARY_FILE and folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such results folder (expected e.g. results/quickstart/softlock-seed42)")
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        runs = sorted(p.parent.name for p in folder.glob(f"*/{SUMMARY_FILE}"))
        hint = f"; it holds the runs {', '.join(runs)}" if runs else ""
        raise ResultsError(f"{folder} is not a cascadesim results folder: no {SUMMARY_FILE}{hint}")
    missing = [f"{name}.parquet" for name in TABLES if not (folder / f"{name}.parquet").is_file()]
    if missing:
        raise ResultsError(f"{folder} is not a complete results folder: missing {', '.join(missing)}")
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as err:
        raise ResultsError(f"{summary_path}: cannot read the summary: {err}") from None
    if not isinstance(summary, dict) or "kpis" not in summary:
        raise ResultsError(f"{summary_path} is not a cascadesim summary (no `kpis`)")
    tables = {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
    scenario_path = folder / SCENARIO_FILE
    scenario = json.loads(scenario_path.read_text()) if scenario_path.is_file() else None
    return Results(summary=summary, tables=tables, scenario=scenario, path=folder)
