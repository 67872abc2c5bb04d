"""A sweep's dataset: one Parquet dataset of one row per run, appended as runs finish.

```
results/sweeps/<name>/
  manifest.json      what the rows are: the sweep and base scenario files (SHA-256), the
                     parameters (kind, unit, label), the protocols, the columns, the code
  sweep.yaml         the sweep file as it was read
  scenario.yaml      the base scenario file as it was read
  runs/part-*.parquet   the rows, a part per flush; `pd.read_parquet("runs")` reads them all
```

The folder is created complete (staged, then renamed into place) and its manifest never changes
but for `resumed` (rewritten atomically). A part is written under a temporary name and renamed:
a kill at any instant leaves whole parts only, and loses at most the rows not yet flushed, which
`--resume` runs again. A run recorded twice (`--retry-failed`, or a part written just before a
kill) is read once: the row in the newest part wins. One writer at a time: a sweep holds an
exclusive lock on the folder's `.lock` file while it runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.results.folders import (
    clean_leftovers,
    fsync_folder,
    fsync_tree,
    install,
    install_file,
    parent_lock,
    signals_deferred,
    temp_path,
)
from sim.results.load import ResultsError
from sim.results.plan import OutputError, check_writable

FORMAT = "cascadesim-sweep"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
SWEEP_FILE = "sweep.yaml"
BASE_FILE = "scenario.yaml"
RUNS_DIR = "runs"
LOCK_FILE = ".lock"
_PART = re.compile(r"^part-(\d{6,})\.parquet$")

STATUSES = ("ok", "invalid", "error")
"""A run's `status`: it ran (`ok`); the base scenario refused this combination of values
(`invalid`); it raised, or its worker died (`error`). `error` holds the reason for the last two."""


def columns(parameters: Sequence[dict[str, str]], kpis: Sequence[str]) -> list[tuple[str, pa.DataType]]:
    """Every column of a sweep's rows, in order, with its Arrow type."""
    return [("run_id", pa.int64()), ("point", pa.int64()),
            *((p["path"], pa.string() if p["kind"] == "text" else pa.float64()) for p in parameters),
            ("protocol", pa.string()), ("seed", pa.int64()), ("status", pa.string()), ("error", pa.string()),
            *((k, pa.float64()) for k in kpis), ("events", pa.int64()), ("wall_seconds", pa.float64())]


def _parts(runs: Path) -> list[Path]:
    return sorted((p for p in runs.iterdir() if _PART.match(p.name)), key=lambda p: int(_PART.match(p.name).group(1)))


def _write_json(path: Path, data: Any) -> None:
    staging = temp_path(path.parent, "tmp", path.name)
    staging.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    install_file(staging, path)
    fsync_folder(path.parent)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A dataset's manifest; `ResultsError` if `path` is not a sweep dataset this code reads."""
    folder = Path(path)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as err:
        raise ResultsError(f"{folder} is not a sweep dataset: no readable {MANIFEST_FILE} ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultsError(f"{folder} is not a sweep dataset: {MANIFEST_FILE} is not a {FORMAT} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise ResultsError(f"{folder}: sweep dataset format {manifest.get('version')}, this cascadesim reads "
                           f"{FORMAT_VERSION}")
    return manifest


def _schema(manifest: dict[str, Any]) -> pa.Schema:
    return pa.schema(columns(manifest["parameters"], manifest["kpis"]))


def load_sweep(path: str | Path) -> pd.DataFrame:
    """Every run of a sweep dataset, one row each, sorted by `run_id` (a run recorded twice: the
    newest row). Parameter columns are named by their `--set` path; the manifest's parameters say
    their unit (`df.attrs["manifest"]`)."""
    folder = Path(path)
    manifest = read_manifest(folder)
    schema = _schema(manifest)
    parts = _parts(folder / RUNS_DIR)
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts]) if parts else schema.empty_table()
    frame = table.to_pandas()
    frame = frame.drop_duplicates("run_id", keep="last").sort_values("run_id", kind="stable").reset_index(drop=True)
    frame["events"] = frame["events"].astype("Int64")  # empty (<NA>) for a run that did not finish
    frame.attrs["manifest"] = manifest
    return frame


class SweepDataset:
    """A dataset folder open for appending: created, or resumed, by `open_dataset`."""

    def __init__(self, folder: Path, manifest: dict[str, Any]):
        self.folder = folder
        self.manifest = manifest
        self.schema = _schema(manifest)
        self._runs = folder / RUNS_DIR
        parts = _parts(self._runs)
        self._next_part = int(_PART.match(parts[-1].name).group(1)) + 1 if parts else 0

    def recorded(self) -> pd.DataFrame:
        """`run_id` and `status` of every run recorded so far."""
        return load_sweep(self.folder)[["run_id", "status"]]

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write `rows` as one new part, atomically (Ctrl-C and SIGTERM wait until it is in place)."""
        if not rows:
            return
        table = pa.Table.from_pylist(list(rows), schema=self.schema)
        final = self._runs / f"part-{self._next_part:06d}.parquet"
        with signals_deferred():
            staging = temp_path(self._runs, "tmp", final.name)
            pq.write_table(table, staging)
            fd = os.open(staging, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            install_file(staging, final)
            fsync_folder(self._runs)
        self._next_part += 1


def _same_sweep(theirs: dict[str, Any], mine: dict[str, Any]) -> str | None:
    """Why a dataset was not made by this sweep (None if it was): its runs (every run's values,
    protocol and seed: an edit to a comment resumes, new draws do not), its base scenario file
    or its columns changed."""
    for key, what in (("runs_sha256", "the sweep's runs (values, protocols or seeds)"),
                      ("scenario_sha256", "the base scenario file"), ("columns", "the columns (the KPIs or parameters)")):
        if theirs.get(key) != mine.get(key):
            return f"{what} changed since it was started (the dataset keeps the sweep file it ran as {SWEEP_FILE})"
    return None


@contextlib.contextmanager
def _exclusive(lock_file: Path, folder: Path) -> Iterator[None]:
    """Hold the dataset's lock (its `.lock` file, which stays with the folder when it is renamed)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{folder}: another cascadesim sweep is writing into it") from None
        yield
    finally:
        os.close(fd)


def check_dataset(folder: Path, manifest: dict[str, Any], *, resume: bool = False, force: bool = False) -> None:
    """Raise `OutputError` unless a sweep with `manifest` may write at `folder`: nothing there, a
    dataset of this sweep with `resume`, or anything with `force` (a user's earlier dataset is
    never overwritten unasked). Changes nothing: a sweep checks before it starts its workers, and
    again, holding the parent folder's lock, before it writes."""
    if resume and force:
        raise OutputError("--resume continues a dataset and --force replaces it: give one of them")
    folder = folder.resolve()
    check_writable(folder.parent)
    if not folder.exists() or force:
        return
    if not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder (--force replaces it)")
    if not resume:
        raise OutputError(f"{folder} exists: --resume continues it, --force starts it over")
    try:
        theirs = read_manifest(folder)
    except ResultsError as err:
        raise OutputError(f"cannot resume: {err}") from None
    why = _same_sweep(theirs, {"format": FORMAT, "version": FORMAT_VERSION, **manifest})
    if why:
        raise OutputError(f"cannot resume {folder}: {why}; --force starts it over")


@contextlib.contextmanager
def open_dataset(folder: Path, manifest: dict[str, Any], sweep_text: str, base_text: str, *,
                 resume: bool = False, force: bool = False) -> Iterator[SweepDataset]:
    """The dataset at `folder`, held for writing for the block: created (staged complete, then
    renamed into place), continued (`resume`) or replaced (`force`), as `check_dataset` allows.

    The decision is taken holding the parent folder's lock, and the dataset's own lock is taken
    before that lock is let go: of two sweeps started together into one new dataset, the second
    finds the first's folder (refused, or resumed once the first is done), never replaces it."""
    folder = folder.resolve()
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, **manifest}
    with contextlib.ExitStack() as held:
        with parent_lock(folder.parent):
            clean_leftovers(folder.parent)
            check_dataset(folder, manifest, resume=resume, force=force)
            if folder.is_dir() and not force:  # resume
                held.enter_context(_exclusive(folder / LOCK_FILE, folder))
                theirs = read_manifest(folder)
                clean_leftovers(folder / RUNS_DIR)
                theirs["resumed"] = [*theirs.get("resumed", []), manifest["code"]]
                _write_json(folder / MANIFEST_FILE, theirs)
                dataset = SweepDataset(folder, theirs)
            else:
                if folder.is_dir():  # never replace a dataset another sweep is writing
                    with _exclusive(folder / LOCK_FILE, folder):
                        pass
                staging = temp_path(folder.parent, "new", folder.name)
                staging.mkdir()
                (staging / RUNS_DIR).mkdir()
                (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
                (staging / SWEEP_FILE).write_text(sweep_text)
                (staging / BASE_FILE).write_text(base_text)
                held.enter_context(_exclusive(staging / LOCK_FILE, folder))
                fsync_tree(staging)
                install(staging, folder)
                dataset = SweepDataset(folder, manifest)
        yield dataset
