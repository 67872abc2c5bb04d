"""Where a run's results go, checked before the simulation starts, so that a run never ends
with results it cannot write.

A run's folder is `OUT/<scenario>/<protocol>-seed<N>/`. Its path is planned and checked before
the simulation starts (`plan_run_folder`): it must resolve inside OUT, every existing part of it
must be a folder, the nearest existing one writable, and a folder already at the path must be a
complete results folder of the same scenario file (same SHA-256), unless `force`. Nothing is
created by planning. A compare table's path (`plan_compare`) is checked the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sim.results.load import ResultsError, summary_of_any_version

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


def check_writable(path: Path) -> None:
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


def check_replaceable(folder: Path, sha256: str | None, force: bool) -> None:
    """A folder already at `folder` may be replaced: it is a complete results folder of the same
    scenario file (of any schema version: a new run replaces an older cascadesim's), or `force`."""
    if not folder.exists() or force:
        return
    if not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder ({FORCE_HINT})")
    try:
        summary = summary_of_any_version(folder)
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
    check_writable(folder.parent)
    check_replaceable(folder, sha256, force)
    return RunFolder(out_dir.resolve(), folder, sha256, force)


def plan_compare(out_dir: Path, scenario: str, seed: int) -> Path:
    """Check, before the runs, that a compare table can be written; returns the CSV's path."""
    csv_path = _inside(out_dir, scenario, f"{compare_name(seed)}.csv")
    for path in (csv_path, csv_path.with_suffix(".png")):
        if path.exists() and not path.is_file():
            raise OutputError(f"{path} exists and is not a file")
    check_writable(csv_path.parent)
    return csv_path
