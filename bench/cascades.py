"""A fleet of independent cascades run cascade by cascade, here and on local worker processes.

    PYTHONPATH=. python bench/cascades.py --appliances 99 --days 30 --protocol softlock --jobs 1,2

The fleet is `scale.py`'s (appliances // 3 independent A -> B -> C chains). For each `--jobs`
count it runs `sim.engine.model.simulate` (what `cascadesim run --jobs N` runs; 1: here, one
cascade after the other) and prints wall seconds, this process's CPU, the cascades' own wall
seconds added up (`busy_s`: on an idle machine, the workers' CPU), the merge's CPU and this
process's peak RSS. `--whole` then adds one `Model` of the whole fleet (the run before issue
15's `--jobs`) for comparison. Every summary must equal the first one's (`wall_seconds` and
`events_processed` aside): the benchmark stops if they differ.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import EXIT_BAD_INPUT, compiled_modules, format_table, load_fleet, merge_into, peak_rss_mb  # noqa: E402

from sim.engine.cascade_runs import merge, run_cascade  # noqa: E402
from sim.engine.model import run_whole  # noqa: E402
from sim.experiments.executors import open_executor  # noqa: E402
from sim.observe.spill import SpillFolder  # noqa: E402
from sim.protocols.registry import names as protocol_names  # noqa: E402
from sim.results import Results  # noqa: E402
from sim.scenario.cascades import split, volume_names  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "cascades.json"
COLUMNS = ("appliances", "days", "protocol", "tables", "compiled", "jobs", "cascades", "wall_s", "cpu_s", "busy_s",
           "merge_cpu_s", "speed_up", "peak_rss_mb")
KEY = ("appliances", "days", "protocol", "tables", "compiled", "jobs")


def run_cascades(scenario: Any, jobs: int, tables: bool) -> tuple[Results, dict[str, float]]:
    """`simulate_cascades` taken apart, to time the merge on its own: cascades on `jobs` workers, then merged."""
    cascades = split(scenario)
    ranks = {name: rank for rank, name in enumerate(volume_names(cascades))}
    arguments = ([c.scenario for c in cascades], [ranks] * len(cascades), [tables] * len(cascades))
    started, cpu = time.perf_counter(), time.process_time()
    if jobs == 1:
        outcomes, folder = list(map(run_cascade, *arguments)), None
    else:
        folder = SpillFolder("cascades") if tables else None  # as `simulate_cascades` hands tables over
        with open_executor(workers=jobs) as workers:
            outcomes = list(workers.executor.map(run_cascade, *arguments, [str(folder.path) if folder else None] * len(cascades)))
    merge_cpu = time.process_time()
    results = merge(scenario, cascades, outcomes, time.perf_counter() - started, keep=folder)
    done = time.process_time()
    return results, {"cascades": len(cascades), "wall_s": time.perf_counter() - started, "cpu_s": done - cpu,
                     "busy_s": sum(o.summary["wall_seconds"] for o in outcomes), "merge_cpu_s": done - merge_cpu}


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without what may differ between equal runs (a whole run processes fewer events)."""
    return {k: v for k, v in summary.items() if k not in ("wall_seconds", "events_processed")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark independent cascades run one by one and in parallel.")
    parser.add_argument("--appliances", type=int, required=True, help="appliances // 3 independent chains")
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--protocol", choices=protocol_names(), default="softlock")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tables", choices=("kpis", "all"), default="kpis")
    parser.add_argument("--jobs", default=f"1,{os.cpu_count() or 1}", help="comma-separated worker counts")
    parser.add_argument("--whole", action="store_true", help="also run one Model of the whole fleet")
    parser.add_argument("--no-limits", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    scenario = load_fleet(args.appliances // 3, args.days, args.protocol, args.seed, enforce_limits=not args.no_limits)
    if scenario is None:
        return EXIT_BAD_INPUT
    tables = args.tables == "all"
    rows, first = [], None
    base = {"appliances": 3 * (args.appliances // 3), "days": args.days, "protocol": args.protocol, "tables": args.tables,
            "compiled": compiled_modules()}
    for jobs in (int(text) for text in args.jobs.split(",")):
        results, measured = run_cascades(scenario, jobs, tables)
        rows.append({**base, "jobs": jobs, **measured, "peak_rss_mb": peak_rss_mb()})
        first = first or comparable(results.summary)
        if comparable(results.summary) != first:
            print(f"--jobs {jobs}: the summary differs from the first run's", file=sys.stderr)
            return 1
    if args.whole:
        started, cpu = time.perf_counter(), time.process_time()
        whole = run_whole(scenario, tables)
        rows.append({**base, "jobs": "whole", "cascades": 1, "wall_s": time.perf_counter() - started,
                     "cpu_s": time.process_time() - cpu, "peak_rss_mb": peak_rss_mb()})
        if first is not None and comparable(whole.summary) != first:
            print("--whole: the summary differs from the cascades' merged one", file=sys.stderr)
            return 1
    one = next((row["wall_s"] for row in rows if row["jobs"] == 1), None)
    for row in rows:
        row["speed_up"] = round(one / row["wall_s"], 2) if one and row["jobs"] != "whole" else None
        row.update({k: round(v, 3) for k, v in row.items() if isinstance(v, float)})
        merge_into(args.out, row, KEY)
    print(format_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
