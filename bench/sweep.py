"""Sweep benchmark: runs per second of `cascadesim sweep`'s machinery, and its cost per run.

Writes a sweep file of short runs of equal cost into a temporary folder: the quickstart cascade
(`scenarios/quickstart.yaml`) over `--days` days with its B-C outage at 1 day, 8 outage lengths
(1 h to 1 d) x 2 protocols (`none`, `softlock`) x as many seeds as make `--runs` runs (rounded
up to a multiple of 16). Then, in this process:

- **bare**: every run of the sweep simulated here, one after the other, with
  `simulate(scenario, tables=False)` as a sweep's worker does; each is parsed and validated
  (`parse_scenario(base, sets=job.sets).validate({"protocol": ..., "seed": ...})`) before the
  clock starts, and that validation's time is reported apart (`validate ms/run`). Its KPIs and
  events are checked against every dataset's.
- for each executor (`local`: worker processes; `dask`: a Dask LocalCluster) and each number of
  workers: `open_executor` (timed: `startup_s`), a warm-up that has every worker spawned and the
  simulator imported (timed: `warmup_s`; `cascadesim sweep` pays it once per sweep, inside its
  first runs), then `run_sweep` end to end on a fresh dataset (`wall_s`, `runs_per_s`, and
  `speedup` over 1 worker of the same executor). `busy_s` sums the runs' own `wall_seconds` in
  the dataset (worker time inside `run_one`); `parent_cpu_s` is this process's CPU during the
  sweep (submitting, collecting, writing the dataset).
- **per-run overhead** (`overhead_ms`, 1-worker rows only): (sweep wall time - bare total) / runs:
  what a run costs in a sweep beyond simulating it. A line under the table splits it into the part
  inside the worker's `run_one` ((busy_s - bare total) / runs: parsing and validating the run's
  scenario, which the bare runs did outside their clock) and the part outside it ((wall_s -
  busy_s) / runs: submitting, pickling the job and its KPIs, collecting, the dataset's row).

Where start-up lands: the local pool starts its forkserver and worker processes on the first
submissions, so its start-up is in `warmup_s` (the first local pool also starts the forkserver,
which later ones reuse); a LocalCluster starts its workers, which import this script's modules,
in `startup_s`.

It checks that every executor's dataset is identical once `wall_seconds` is dropped (an assert),
prints a table and merges its rows into a JSON list (default `results/bench/sweep.json` in the
repository; same executor, workers, runs and days replace the earlier row). Read ratios and CPU
on a shared machine: the 1-minute load average is printed with each row (`load`).

    PYTHONPATH=. python bench/sweep.py [--runs 64] [--days 3] [--workers 1,2] [--executors local,dask]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML
from scale import format_table, merge_into

from sim.cli import _sweep_manifest
from sim.engine.model import simulate
from sim.experiments.executors import Workers, open_executor
from sim.experiments.sweep import run_sweep
from sim.experiments.sweep_file import SweepPlan, load_sweep_file
from sim.observe.kpis import NAMES as KPI_NAMES
from sim.results.sweep_dataset import load_sweep, open_dataset
from sim.scenario import parse_scenario

ROOT = Path(__file__).resolve().parent.parent
BASE_SCENARIO = ROOT / "scenarios" / "quickstart.yaml"
DEFAULT_OUT = ROOT / "results" / "bench" / "sweep.json"
EXECUTORS = ("local", "dask")
OUTAGES = ("1h", "2h", "3h", "4h", "6h", "8h", "12h", "1d")
PROTOCOLS = ("none", "softlock")
RUNS_PER_SEED = len(OUTAGES) * len(PROTOCOLS)
WARM_UP_S = 0.2
"""How long each warm-up task holds its worker, so that every worker gets one (and is spawned)."""
WARM_UP = f"import time, sim.engine.model, sim.experiments.sweep; time.sleep({WARM_UP_S})"
COLUMNS = ("executor", "workers", "runs", "days", "load", "startup_s", "warmup_s", "wall_s", "runs_per_s", "speedup",
           "busy_s", "parent_cpu_s", "overhead_ms")
KEY = ("executor", "workers", "runs", "days")


def sweep_document(runs: int, days: int) -> dict[str, Any]:
    """The benchmark's sweep file, as a YAML-ready dict: at least `runs` runs."""
    return {
        "name": "bench_sweep",
        "scenario": str(BASE_SCENARIO),
        "set": {"duration": f"{days}d", "links[1].outages[0].at": "1d"},
        "parameters": {"links[1].outages[0].for": {"label": "B-C outage", "values": list(OUTAGES)}},
        "protocols": list(PROTOCOLS),
        "seeds": max(1, math.ceil(runs / RUNS_PER_SEED)),
    }


def write_plan(folder: Path, runs: int, days: int) -> SweepPlan:
    path = folder / "bench_sweep.yaml"
    with path.open("w", encoding="utf-8") as stream:
        YAML(typ="safe").dump(sweep_document(runs, days), stream)
    return load_sweep_file(path)


def bare(plan: SweepPlan) -> tuple[float, float, float, pd.DataFrame]:
    """(wall s, CPU s of simulating every run, validation wall s, KPIs and events by run_id), in this process."""
    started = time.perf_counter()
    scenarios = [parse_scenario(plan.base, sets=job.sets, enforce_limits=plan.enforce_limits)
                 .validate({"protocol": job.protocol, "seed": job.seed}, enforce_limits=plan.enforce_limits)
                 for job in plan.jobs]
    validate_s = time.perf_counter() - started
    rows = []
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    for job, scenario in zip(plan.jobs, scenarios):
        summary = simulate(scenario, tables=False).summary
        rows.append({"run_id": job.run_id, **{k: float(summary["kpis"][k]) for k in KPI_NAMES},
                     "events": int(summary["events_processed"])})
    wall_s, cpu_s = time.perf_counter() - wall_started, time.process_time() - cpu_started
    return wall_s, cpu_s, validate_s, pd.DataFrame(rows)


def warm_up(workers: Workers) -> None:
    """Have every worker spawned and the simulator imported in it: one task per slot, each holding
    its worker for `WARM_UP_S` (a builtin, so that it pickles by reference to any executor)."""
    futures = [workers.executor.submit(exec, WARM_UP, {}) for _ in range(workers.slots)]
    for future in futures:
        future.result()


def measure(plan: SweepPlan, folder: Path, executor: str, slots: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """One sweep of `plan` on `executor` with `slots` workers into a fresh dataset under `folder`."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with open_executor(workers=slots, dask=executor == "dask") as workers:
        opened = time.perf_counter()
        warm_up(workers)
        warmed = time.perf_counter()
        dataset_folder = folder / f"{executor}-{slots}" / plan.name
        with open_dataset(dataset_folder, _sweep_manifest(plan), plan.source.text, plan.base.text) as dataset:
            cpu_started, sweep_started = time.process_time(), time.perf_counter()
            progress = run_sweep(plan, dataset, workers)
            wall_s, parent_cpu_s = time.perf_counter() - sweep_started, time.process_time() - cpu_started
    rows = load_sweep(dataset_folder)
    assert progress.done == len(plan.jobs) == len(rows), f"{executor}-{slots}: {progress.done} of {len(plan.jobs)} runs"
    assert (rows["status"] == "ok").all(), f"{executor}-{slots}: {rows.loc[rows['status'] != 'ok', 'error'].tolist()}"
    return {"executor": executor, "workers": slots, "load": round(load, 2),
            "startup_s": round(opened - started, 3), "warmup_s": round(warmed - opened - WARM_UP_S, 3),
            "wall_s": round(wall_s, 3), "runs_per_s": round(len(rows) / wall_s, 2),
            "busy_s": round(float(rows["wall_seconds"].sum()), 3), "parent_cpu_s": round(parent_cpu_s, 3)}, rows


def same_runs(bare_rows: pd.DataFrame, datasets: dict[str, pd.DataFrame]) -> None:
    """Assert that every dataset is the same without `wall_seconds`, and that its KPIs and events
    are the bare runs'."""
    (first_name, first), *others = datasets.items()
    reference = first.drop(columns="wall_seconds")
    for name, rows in others:
        assert rows.drop(columns="wall_seconds").equals(reference), f"the datasets of {first_name} and {name} differ"
    recorded = first[["run_id", *KPI_NAMES, "events"]].reset_index(drop=True)
    assert recorded.equals(bare_rows.astype(recorded.dtypes.to_dict())), "a dataset's KPIs differ from the bare runs'"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark cascadesim sweep: runs per second on local and Dask "
                                                 "workers, and the per-run overhead over bare runs.")
    parser.add_argument("--runs", type=int, default=64,
                        help=f"runs in the sweep, rounded up to a multiple of {RUNS_PER_SEED} (default 64)")
    parser.add_argument("--days", type=int, default=3, help="simulated days per run (at least 2; default 3)")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated (default 1,2)")
    parser.add_argument("--executors", default="local,dask",
                        help="executors to measure, comma-separated, from local and dask (default local,dask)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON list of runs to merge the rows into (default: results/bench/sweep.json in the repo)")
    args = parser.parse_args(argv)
    try:
        args.workers = sorted({int(w) for w in args.workers.split(",")})
    except ValueError:
        parser.error(f"--workers {args.workers}: whole numbers separated by commas, e.g. 1,2")
    if min(args.workers) < 1:
        parser.error("--workers: at least 1 worker")
    args.executors = [e.strip() for e in args.executors.split(",")]
    if not args.executors or any(e not in EXECUTORS for e in args.executors) or len(set(args.executors)) < len(args.executors):
        parser.error(f"--executors: some of {', '.join(EXECUTORS)}, each once")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.days < 2:
        parser.error("--days must be at least 2 (the outage starts at day 1 and lasts up to a day)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cascadesim-bench-sweep-") as temp:
        folder = Path(temp)
        plan = write_plan(folder, args.runs, args.days)
        runs = len(plan.jobs)
        if runs != args.runs:
            print(f"note: {runs} runs ({len(OUTAGES)} outages x {len(PROTOCOLS)} protocols x {runs // RUNS_PER_SEED} "
                  f"seeds), not {args.runs}", file=sys.stderr)
        load = os.getloadavg()[0]
        bare_s, bare_cpu_s, validate_s, bare_rows = bare(plan)
        rows: list[dict[str, Any]] = [{"executor": "bare", "workers": 1, "load": round(load, 2), "wall_s": round(bare_s, 3),
                                       "runs_per_s": round(runs / bare_s, 2), "parent_cpu_s": round(bare_cpu_s, 3)}]
        datasets: dict[str, pd.DataFrame] = {}
        for executor in args.executors:
            for slots in args.workers:
                row, datasets[f"{executor}-{slots}"] = measure(plan, folder, executor, slots)
                rows.append(row)
    single = {row["executor"]: row["runs_per_s"] for row in rows if row["workers"] == 1}
    for row in rows:
        row.update({"runs": runs, "days": args.days})
        if row["executor"] != "bare" and row["executor"] in single:
            row["speedup"] = round(row["runs_per_s"] / single[row["executor"]], 2)
        if row["executor"] != "bare" and row["workers"] == 1:
            row["overhead_ms"] = round((row["wall_s"] - bare_s) / runs * 1000, 2)
    print(format_table(rows, COLUMNS))
    print(f"bare: {bare_s / runs * 1000:.2f} ms of simulation per run ({bare_cpu_s / runs * 1000:.2f} ms CPU), "
          f"plus {validate_s / runs * 1000:.2f} ms per run to parse and validate its scenario (outside the bare time)")
    for row in rows:
        if row.get("overhead_ms") is not None:
            inside, outside = (row["busy_s"] - bare_s) / runs * 1000, (row["wall_s"] - row["busy_s"]) / runs * 1000
            print(f"{row['executor']}, 1 worker: overhead {row['overhead_ms']:.2f} ms/run = {inside:.2f} inside run_one "
                  f"beyond the simulation + {outside:.2f} outside it")
    same_runs(bare_rows, datasets)
    print(f"datasets identical without wall_seconds: {', '.join(datasets)}; their KPIs and events equal the bare runs'")
    for row in rows:
        merge_into(args.out, {k: row.get(k) for k in COLUMNS}, KEY)
    print(f"merged into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
