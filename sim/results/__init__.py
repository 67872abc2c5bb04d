"""A run's results in one object, from memory or from its results folder.

`load("results/quickstart/softlock-seed42")` gives a `Results` with the summary and every
table as a DataFrame, so a notebook or a script loads a run in one call. The plots and the
HTML report read this object too, whether the run just finished or was written long ago.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim.results.run import Results

TABLES = ("events", "transfers", "pcpis", "locks", "timeseries")
"""The tables every run writes, as `<name>.parquet`."""

SUMMARY_FILE = "summary.json"
SCENARIO_FILE = "scenario.json"
"""The resolved scenario (units in seconds, bytes, bytes/s), as plain JSON."""
COMPLETE_FILE = "complete.json"
"""Written last into a results folder: the format and every file's size. Its presence says the
writer finished; `load` refuses a folder without it or missing a file it lists."""


class ResultsError(ValueError):
    """A path that is not a complete cascadesim results folder."""


def _folder_of(path: str | Path) -> Path:
    folder = Path(path)
    if folder.name == SUMMARY_FILE and folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such results folder (expected e.g. results/quickstart/softlock-seed42)")
    return folder


def _check_complete(folder: Path) -> list[str]:
    """The files `folder`'s completion marker lists; raise `ResultsError` unless it has the
    marker and every file it lists, at the size it lists."""
    marker = folder / COMPLETE_FILE
    if not marker.is_file():
        if (folder / SUMMARY_FILE).is_file():
            raise ResultsError(f"{folder} is not a complete results folder: no {COMPLETE_FILE} (its writer was "
                               f"interrupted, or it was written by a cascadesim before 0.2; run it again)")
        runs = sorted(p.parent.name for p in folder.glob(f"*/{COMPLETE_FILE}"))
        hint = f"; it holds the runs {', '.join(runs)}" if runs else ""
        raise ResultsError(f"{folder} is not a cascadesim results folder: no {SUMMARY_FILE}{hint}")
    try:
        listed = json.loads(marker.read_text())["files"]
        sizes = {str(name): int(size) for name, size in listed.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ResultsError(f"{marker}: cannot read the completion marker: {err}") from None
    required = [SUMMARY_FILE, SCENARIO_FILE, *(f"{name}.parquet" for name in TABLES)]
    missing = [name for name in [*required, *sizes] if not (folder / name).is_file()]
    if missing:
        raise ResultsError(f"{folder} is not a complete results folder: missing {', '.join(dict.fromkeys(missing))}")
    changed = [name for name, size in sizes.items() if (folder / name).stat().st_size != size]
    if changed:
        raise ResultsError(f"{folder} is not a complete results folder: {', '.join(changed)} changed since it was written")
    return sorted(sizes)


def load_summary(path: str | Path) -> dict[str, Any]:
    """The summary.json of a complete results folder (or of the folder of that file).

    Raises `ResultsError` naming what is missing when `path` is not such a folder."""
    folder = _folder_of(path)
    _check_complete(folder)
    summary_path = folder / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as err:
        raise ResultsError(f"{summary_path}: cannot read the summary: {err}") from None
    if not isinstance(summary, dict) or "kpis" not in summary:
        raise ResultsError(f"{summary_path} is not a cascadesim summary (no `kpis`)")
    return summary


def load(path: str | Path) -> Results:
    """Read a results folder written by `cascadesim run` or `compare` (or its summary.json).

    Raises `ResultsError` naming what is missing when `path` is not a complete results folder:
    one whose writer finished (`complete.json`, written last, lists every file and its size).
    """
    folder = _folder_of(path)
    summary = load_summary(folder)
    tables = {Path(name).stem: pd.read_parquet(folder / name) for name in _check_complete(folder) if name.endswith(".parquet")}
    scenario = json.loads((folder / SCENARIO_FILE).read_text())
    return Results(summary=summary, tables=tables, scenario=scenario, path=folder)
