"""Writing results folders so that no result is lost or mixed with another.

A run's folder is `OUT/<scenario>/<protocol>-seed<N>/`. Its path is planned and checked before
the simulation starts (`plan_run_folder`): it must resolve inside OUT, every existing part of it
must be a folder, the nearest existing one writable, and a folder already at the path must be a
complete results folder of the same scenario file (same SHA-256), unless `force`. Nothing is
created by planning.

Then, holding the lock of `OUT/<scenario>/` (writers into one scenario folder take turns), the
writer removes what killed writers left there, checks the plan again (another writer may have
written meanwhile), writes every file into a staging folder, writes `complete.json` last (the
files and their sizes: `sim.results.load` refuses a folder without it, or missing one of them),
and installs the folder with `sim.results.folders.install`: at every instant the final path holds the
old complete folder or the new one.

A compare table (`compare-seed<N>.csv`, with its figure `.png`) is written after its runs, from
their folders' summaries; writing a run folder of seed N for a protocol in that table removes
the table first, so a table never disagrees with the folders next to it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.present.html import write_report
from sim.present.plots import plot_compare, save, write_plots
from sim.present.terminal import kpi_table
from sim.results import COMPLETE_FILE, SCENARIO_FILE, SUMMARY_FILE, Results, ResultsError, load_summary
from sim.results.folders import (
    clean_leftovers,
    fsync_tree,
    install,
    install_file,
    parent_lock,
    remove_folder,
    remove_if_empty,
    signals_deferred,
    temp_path,
)

FORCE_HINT = "--force replaces it"


class OutputError(Exception):
    """An output path that cannot be written safely; the message is one line for the user."""


def run_name(protocol: str, seed: int) -> str:
    """`<protocol>-seed<N>`: a run's folder name inside its scenario's folder."""
    return f"{protocol}-seed{seed}"


def compare_name(seed: int) -> str:
    """`compare-seed<N>`: the stem of a compare table and its figure."""
    return f"compare-seed{seed}"


@dataclass(frozen=True)
class RunFolder:
    """Where one run's results go, checked before the run: `folder` (resolved) inside `out_dir`,
    the scenario file's SHA-256 (None when the run has no file), and whether `force` was given."""

    out_dir: Path
    folder: Path
    sha256: str | None
    force: bool = False

    @property
    def scenario_dir(self) -> Path:
        return self.folder.parent


def _inside(out_dir: Path, *parts: str) -> Path:
    """`out_dir/parts...` resolved, which must stay inside `out_dir` (resolved)."""
    base = out_dir.resolve()
    path = base.joinpath(*parts).resolve()
    if path == base or not path.is_relative_to(base):
        raise OutputError(f"{base.joinpath(*parts)} resolves to {path}, outside --out {base}")
    return path


def _check_writable(path: Path) -> None:
    """Every existing part of `path` is a folder and the deepest existing one is writable."""
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise OutputError(f"{existing} is a dangling symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{existing} is not writable")


def _check_replaceable(folder: Path, sha256: str | None, force: bool) -> None:
    """A folder already at `folder` may be replaced: it is a complete results folder of the same
    scenario file, or `force`."""
    if not folder.exists() or force:
        return
    if not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder ({FORCE_HINT})")
    try:
        summary = load_summary(folder)
    except ResultsError as err:
        raise OutputError(f"{folder} exists and is not a complete cascadesim results folder: {err} "
                          f"({FORCE_HINT})") from None
    provenance = summary.get("provenance") or {}
    theirs = provenance.get("scenario_sha256")
    if theirs != sha256:
        source = f"{provenance.get('scenario_file') or 'no file'}, sha256 {str(theirs)[:12]}"
        mine = f"sha256 {str(sha256)[:12]}"
        raise OutputError(f"{folder} holds the results of another scenario file ({source}; this one is {mine}); "
                          f"{FORCE_HINT}, or choose another --out")


def plan_run_folder(out_dir: Path, scenario: str, protocol: str, seed: int, sha256: str | None,
                    *, force: bool = False) -> RunFolder:
    """Check, before the run, that its folder can be written; raise `OutputError` if not."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError("not a folder")
    folder = _inside(out_dir, scenario, run_name(protocol, seed))
    if folder.parent.parent != out_dir.resolve():
        raise OutputError(f"{scenario!r} is not a single folder name")
    _check_writable(folder.parent)
    _check_replaceable(folder, sha256, force)
    return RunFolder(out_dir.resolve(), folder, sha256, force)


def plan_compare(out_dir: Path, scenario: str, seed: int) -> Path:
    """Check, before the runs, that a compare table can be written; returns the CSV's path."""
    csv_path = _inside(out_dir, scenario, f"{compare_name(seed)}.csv")
    for path in (csv_path, csv_path.with_suffix(".png")):
        if path.exists() and not path.is_file():
            raise OutputError(f"{path} exists and is not a file")
    _check_writable(csv_path.parent)
    return csv_path


def _write_files(results: Results, staging: Path, scenario_text: str | None, checkpoint: Callable[[], None]) -> None:
    """Every file of the results folder, `complete.json` last; `checkpoint` between two files."""
    (staging / SUMMARY_FILE).write_text(json.dumps(results.summary, indent=2, sort_keys=False) + "\n")
    (staging / SCENARIO_FILE).write_text(json.dumps(results.scenario, indent=2) + "\n")
    for name, frame in results.tables.items():
        checkpoint()
        frame.to_parquet(staging / f"{name}.parquet", index=False)
    checkpoint()
    write_plots(results, staging, after_each=checkpoint)
    write_report(results, staging, scenario_text)
    checkpoint()
    files = {p.name: p.stat().st_size for p in sorted(staging.iterdir()) if p.is_file()}
    (staging / COMPLETE_FILE).write_text(json.dumps({"format": 1, "files": files}, indent=2) + "\n")
    fsync_tree(staging)
    checkpoint()


def _drop_stale_compare(target: RunFolder, protocol: str, seed: int) -> None:
    """Remove the compare table of `seed` (and its figure) if it has a column for `protocol`."""
    csv_path = target.scenario_dir / f"{compare_name(seed)}.csv"
    try:
        with csv_path.open(newline="") as stream:
            header = next(csv.reader(stream), [])
    except (OSError, UnicodeDecodeError):
        return
    if protocol in header[1:]:
        csv_path.unlink(missing_ok=True)
        csv_path.with_suffix(".png").unlink(missing_ok=True)


def write_run_folder(results: Results, target: RunFolder, scenario_text: str | None = None,
                     on_wait: Callable[[], None] | None = None) -> Path:
    """Write every output of `results` into its planned folder (replacing an older one) and
    return it. `scenario_text`, the scenario file as written, is shown in report.html when
    given; `on_wait` is called if another writer holds the scenario folder."""
    s = results.summary
    with parent_lock(target.scenario_dir, on_wait) as created, signals_deferred() as signals:
        staging = temp_path(target.scenario_dir, "new", target.folder.name)
        try:
            clean_leftovers(target.scenario_dir, COMPLETE_FILE)
            _check_replaceable(target.folder, target.sha256, target.force)
            staging.mkdir(mode=0o755)
            _write_files(results, staging, scenario_text, signals.checkpoint)
            _drop_stale_compare(target, s["protocol"], s["seed"])
            install(staging, target.folder, COMPLETE_FILE)
        except BaseException:
            remove_folder(staging, COMPLETE_FILE)
            remove_if_empty(created)
            raise
    return target.folder


def write_results(results: Results, out_dir: Path, scenario_text: str | None = None, *, force: bool = False) -> Path:
    """Plan and write `results`' folder under `out_dir` in one call (see `plan_run_folder`)."""
    s = results.summary
    sha256 = (s.get("provenance") or {}).get("scenario_sha256")
    return write_run_folder(results, plan_run_folder(out_dir, s["scenario"], s["protocol"], s["seed"], sha256,
                                                     force=force), scenario_text)


def write_compare(csv_path: Path, folders: dict[str, Path], title: str,
                  on_wait: Callable[[], None] | None = None) -> dict[str, dict[str, Any]]:
    """Write the compare table (raw KPIs, one column per protocol) at `csv_path` and its figure
    (`.png`) next to it, from the summaries in the run `folders` as they are now; returns them."""
    figure = csv_path.with_suffix(".png")
    with parent_lock(csv_path.parent, on_wait), signals_deferred() as signals:
        summaries = {protocol: load_summary(folder) for protocol, folder in folders.items()}
        for final, write in ((csv_path, lambda p: kpi_table(summaries).to_csv(p, index_label="kpi")),
                             (figure, lambda p: save(plot_compare(summaries, title), p))):
            staging = temp_path(csv_path.parent, "tmp", final.name)
            try:
                write(staging)
                signals.checkpoint()
                install_file(staging, final)
            except BaseException:
                staging.unlink(missing_ok=True)
                raise
    return summaries
