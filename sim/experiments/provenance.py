"""Where a result came from: the scenario's content hash, its overrides, the code's version.

Recorded in every run's `summary.json` under `provenance`, so that a result can be traced to
the file, the command-line overrides and the code that produced it. Deterministic: the same
file, overrides and checkout give the same record (no clock, no host, no path: the file's name
and the hash of its bytes, however the path to it was spelled).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from sim.scenario.file import ScenarioFile

PACKAGE = "cascadesim"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The `sim` folder: its tracked files are the code whose version a result records."""
GIT_TIMEOUT_S = 10.0


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The installed package version and, when the code lives in a git checkout, its commit and
    whether the package's tracked files differ from it (`git_dirty`). None where unknown."""
    try:
        version: str | None = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = None
    commit = dirty = None
    try:
        commit = _git(PACKAGE_DIR, "rev-parse", "HEAD")
        dirty = bool(_git(PACKAGE_DIR, "status", "--porcelain", "--untracked-files=no", "--", "."))
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout, or git failing
        commit = dirty = None
    return {"package_version": version, "git_commit": commit, "git_dirty": dirty}


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True)
    return done.stdout.strip()


def provenance(source: ScenarioFile, sets: Sequence[str] = (), *, limits: bool = True) -> dict[str, Any]:
    """The `provenance` record of a run of the scenario file `source` with `--set` overrides
    `sets` (in order) and limits enforced or not (`--no-limits`). The file is named by its
    name alone, however its path was spelled, and identified by the SHA-256 of its bytes."""
    return {
        "scenario_file": source.path.name,
        "scenario_sha256": source.sha256,
        "overrides": list(sets),
        "limits_enforced": limits,
        **code_version(),
    }
