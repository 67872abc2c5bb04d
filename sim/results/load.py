"""Reading a results folder back: one call gives the run's `Results`, or a `ResultsError`
saying why the folder cannot be read.

A folder is read only when its writer finished (`complete.json`, written last, lists every
file and its size, and every file is there at that size) and when its summary's
`schema_version` is one this cascadesim reads (`READABLE_SCHEMA_VERSIONS`). A run that kept no
tables (`cascadesim run --tables kpis`) lists none of them: `load_summary` reads its folder,
`load` refuses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim.results.layout import COMPLETE_FILE, READABLE_SCHEMA_VERSIONS, SCENARIO_FILE, SUMMARY_FILE, TABLES
from sim.results.run import Results


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
    tables = [f"{name}.parquet" for name in TABLES]
    kept_tables = any(name in sizes for name in tables)  # none: a run that kept no tables (--tables kpis)
    required = [SUMMARY_FILE, SCENARIO_FILE, *(tables if kept_tables else ())]
    missing = [name for name in [*required, *sizes] if not (folder / name).is_file()]
    if missing:
        raise ResultsError(f"{folder} is not a complete results folder: missing {', '.join(dict.fromkeys(missing))}")
    changed = [name for name, size in sizes.items() if (folder / name).stat().st_size != size]
    if changed:
        raise ResultsError(f"{folder} is not a complete results folder: {', '.join(changed)} changed since it was written")
    return sorted(sizes)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: cannot read the {what}: {err}") from None


def _read_summary(folder: Path) -> dict[str, Any]:
    summary_path = folder / SUMMARY_FILE
    summary = _read_json(summary_path, "summary")
    if not isinstance(summary, dict) or "kpis" not in summary:
        raise ResultsError(f"{summary_path} is not a cascadesim summary (no `kpis`)")
    return summary


def _check_schema_version(folder: Path, summary: dict[str, Any]) -> None:
    """Raise `ResultsError` unless `summary` follows a schema version this cascadesim reads."""
    version = summary.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        written = f"schema version {version!r}" if "schema_version" in summary else "no schema_version"
        readable = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise ResultsError(f"{folder / SUMMARY_FILE} has {written}; this cascadesim reads schema version {readable} "
                           f"(the folder was written by another cascadesim: run the scenario again with this one)")


def summary_of_any_version(path: str | Path) -> dict[str, Any]:
    """The summary.json of a complete results folder whatever its schema version: enough to
    tell which scenario file it came from (`provenance`) before replacing the folder, not to
    read its results (`load_summary` does that).

    Raises `ResultsError` naming what is missing when `path` is not a complete results folder."""
    folder = _folder_of(path)
    _check_complete(folder)
    return _read_summary(folder)


def load_summary(path: str | Path) -> dict[str, Any]:
    """The summary.json of a complete results folder (or of the folder of that file).

    Raises `ResultsError` naming what is missing when `path` is not such a folder, or the
    versions it reads when the summary follows another schema version."""
    folder = _folder_of(path)
    _check_complete(folder)
    summary = _read_summary(folder)
    _check_schema_version(folder, summary)
    return summary


def load(path: str | Path) -> Results:
    """Read a results folder written by `cascadesim run` or `compare` (or its summary.json).

    Raises `ResultsError` naming what is missing when `path` is not a complete results folder,
    or the versions it reads when the folder follows another schema version, or when the run
    kept no tables (`--tables kpis`: `load_summary` reads its summary).
    """
    folder = _folder_of(path)
    files = _check_complete(folder)
    summary = _read_summary(folder)
    _check_schema_version(folder, summary)
    if not any(name.endswith(".parquet") for name in files):
        raise ResultsError(f"{folder} holds no tables: its run kept the summary only (--tables kpis); "
                           f"sim.results.load_summary reads it")
    tables = {Path(name).stem: pd.read_parquet(folder / name) for name in files if name.endswith(".parquet")}
    return Results(summary=summary, tables=tables,
                   scenario=_read_json(folder / SCENARIO_FILE, "resolved scenario"), path=folder)
