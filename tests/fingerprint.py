"""Fingerprints of what runs produce, to prove a refactor moved no outcome.

For every library scenario and every kept world (`tests/worlds/`), under every protocol, it
hashes the summary (without `wall_seconds` and `provenance`, which say when and from what
checkout a run was made) and every table (columns, dtypes and every value). Run it at the
commit before a refactor and after each step; the two files must be identical:

    python tests/fingerprint.py before.json     # at the reference commit
    python tests/fingerprint.py after.json      # after the step
    cmp before.json after.json

`events_processed` is kept as a number beside the summary's hash rather than in it: an
optimisation may change how many SimPy events a run takes without moving any outcome, and the
two files then differ on those lines only (`diff` shows them).

`--ignore-summary-key KEY` leaves a new top-level summary key out (e.g. a schema version
that the refactor itself adds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = ("wall_seconds", "provenance", "events_processed")


def table_digest(frame: pd.DataFrame) -> str:
    """sha256 of a table's columns, dtypes and values, row by row."""
    digest = hashlib.sha256(json.dumps([list(frame.columns), [str(t) for t in frame.dtypes]]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def fingerprints(ignore: tuple[str, ...] = (), paths: list[Path] | None = None) -> dict[str, dict[str, str | int]]:
    """{"<file>/<protocol>": {"summary": sha256, "<table>": sha256, ...}}, every registered
    protocol, for the scenario files `paths` (default: the library's and the kept worlds)."""
    sys.path.insert(0, str(ROOT))
    from sim.engine.model import simulate
    from sim.protocols.registry import names
    from sim.scenario import load_scenario

    if paths is None:
        paths = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "tests" / "worlds").glob("*.yaml"))
    found: dict[str, dict[str, str | int]] = {}
    for path in paths:
        scenario = load_scenario(path)
        for protocol in names():
            result = simulate(scenario.model_copy(update={"protocol": protocol}))
            summary = {k: v for k, v in result.summary.items() if k not in VOLATILE + ignore}
            entry = {"summary": hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest(),
                     "events_processed": result.summary["events_processed"]}
            entry.update({name: table_digest(frame) for name, frame in sorted(result.tables.items())})
            found[f"{path.relative_to(ROOT)}/{protocol}"] = entry
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--ignore-summary-key", action="append", default=[])
    parser.add_argument("--scenario", action="append", type=Path, help="only these files (repeatable)")
    args = parser.parse_args()
    found = fingerprints(tuple(args.ignore_summary_key), [path.resolve() for path in args.scenario] if args.scenario else None)
    args.out.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
