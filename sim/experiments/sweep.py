"""Running a sweep: each run on a worker, one row per run appended to the dataset as runs finish.

A worker gets the base scenario file's bytes and a `RunJob` (its `--set` values, protocol and
seed), validates and simulates it without tables (KPIs never need them) and returns what the row
needs; the row is built here, so every executor gives the same rows. A run the scenario refuses
(`invalid`) or that raises (`error`) is recorded with its reason and the sweep goes on, and so
does a run that kills its worker process (`run_sweep`).
Rows are flushed to the dataset every `FLUSH_ROWS` rows or `FLUSH_SECONDS` (what a SIGKILL can
lose, and `--resume` runs again), and whatever has finished when the sweep stops (Ctrl-C,
SIGTERM, an error) is flushed before it exits.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.experiments.executors import Workers
from sim.experiments.sweep_file import RunJob, SweepPlan
from sim.observe.kpis import NAMES as KPI_NAMES
from sim.results.sweep_dataset import SweepDataset
from sim.scenario import ScenarioDocument, ScenarioError, parse_scenario
from sim.scenario.file import ScenarioFile
from sim.scenario.load import with_sets

if TYPE_CHECKING:
    from sim.results import Results

RUN_FOLDERS = "run-folders"
"""With `--run-folders`, every run's results folder goes to `DATASET/run-folders/<run id>/`."""
FLUSH_ROWS = 256
FLUSH_SECONDS = 2.0
WINDOW_PER_SLOT = 2
"""Runs submitted ahead per worker slot: enough to keep every worker busy, few enough that an
interrupted sweep has little in flight."""

Outcome = tuple[str, str, dict[str, float] | None, int | None, float]
"""What a worker returns: status, error, KPIs, events processed, wall seconds."""


def run_one(base: ScenarioFile, job: RunJob, enforce_limits: bool = True, folder: str | None = None) -> Outcome:
    """One run of a sweep, in a worker: validate the base scenario with the job's values, protocol
    and seed, simulate it, and return its KPIs. With `folder`, also write the run's results folder
    (tables, plots, report) under it."""
    from sim.engine.model import simulate

    started = time.perf_counter()
    try:
        document = with_sets(_parsed(base, enforce_limits), job.sets)
        scenario = document.validate({"protocol": job.protocol, "seed": job.seed}, enforce_limits=enforce_limits)
    except ScenarioError as err:
        return "invalid", " ".join(err.problems), None, None, time.perf_counter() - started
    try:
        result = simulate(scenario, tables=folder is not None)
        if folder is not None:
            _write_folder(result, scenario.name, base, job, Path(folder), enforce_limits)
    except Exception as err:  # a run that raises is recorded, and the sweep goes on
        return "error", f"{type(err).__name__}: {err}", None, None, time.perf_counter() - started
    summary = result.summary
    return "ok", "", summary["kpis"], int(summary["events_processed"]), time.perf_counter() - started


@lru_cache(maxsize=4)
def _parsed(base: ScenarioFile, enforce_limits: bool) -> ScenarioDocument:
    """The base scenario as this worker parsed it: a worker parses each base file once."""
    return parse_scenario(base, enforce_limits=enforce_limits)


def _write_folder(result: Results, name: str, base: ScenarioFile, job: RunJob, folder: Path, enforce_limits: bool) -> None:
    from sim.experiments.provenance import provenance
    from sim.results.plan import plan_run_folder
    from sim.results.write import write_run_folder

    result.summary["provenance"] = provenance(base, job.sets, limits=enforce_limits)
    target = plan_run_folder(folder, name, job.protocol, job.seed, base.sha256, force=True)
    write_run_folder(result, target, base.text)


def row(plan: SweepPlan, job: RunJob, outcome: Outcome) -> dict[str, Any]:
    """The dataset row of `job` (every KPI; NaN for a run that did not finish)."""
    status, error, kpis, events, seconds = outcome
    return {"run_id": job.run_id, "point": job.point,
            **{p.path: v for p, v in zip(plan.parameters, job.values)},
            "protocol": job.protocol, "seed": job.seed, "status": status, "error": error,
            **{k: float(kpis[k]) if kpis else math.nan for k in KPI_NAMES},
            "events": events, "wall_seconds": seconds}


class SweepBroken(Exception):
    """The executor broke (a worker process was killed) and could not be reopened: what finished
    is recorded; `--resume` runs the rest."""


@dataclass
class Progress:
    """What a sweep has done in this session: runs done, and failed (invalid or error), and the
    seconds it took (executor start-up excluded)."""

    done: int = 0
    failed: int = 0
    seconds: float = 0.0


def runs_to_skip(dataset: SweepDataset, retry_failed: bool = False) -> set[int]:
    """Run ids already recorded in `dataset` (with `retry_failed`, those recorded as ok)."""
    recorded = dataset.recorded()
    if retry_failed:
        recorded = recorded[recorded["status"] == "ok"]
    return set(recorded["run_id"].tolist())


Reopen = Callable[[int], AbstractContextManager[Workers]]
"""Opens a fresh executor of that many workers (local processes: a broken pool cannot be used again)."""
DIED = "its worker process died while it ran (killed by the system: out of memory?)"


def run_sweep(plan: SweepPlan, dataset: SweepDataset, workers: Workers, *, retry_failed: bool = False,
              run_folders: Path | None = None, on_row: Callable[[dict[str, Any]], None] | None = None,
              reopen: Reopen | None = None) -> Progress:
    """Run every run of `plan` not yet recorded in `dataset` (with `retry_failed`, also those
    recorded as invalid or failed) on `workers`, appending rows as they finish.

    When a local worker process dies (the system killed it), its pool breaks and every run in
    flight fails with it, the guilty one among them. With `reopen`, each of those runs goes
    again alone, in a fresh worker: the one whose worker dies again is recorded as an `error`
    (`DIED`), the others as they come out, and the sweep goes on in a fresh pool. Without it,
    the sweep stops (`SweepBroken`) and `--resume` runs the rest."""
    started = time.perf_counter()
    skip = runs_to_skip(dataset, retry_failed)
    todo = deque(job for job in plan.jobs if job.run_id not in skip)
    buffer: list[dict[str, Any]] = []
    progress = Progress()
    flushed_at = time.monotonic()

    def submit(executor: Executor, job: RunJob) -> Future:
        folder = None if run_folders is None else str(run_folders / f"{job.run_id:06d}")
        return executor.submit(run_one, plan.base, job, plan.enforce_limits, folder)

    def record(job: RunJob, outcome: Outcome) -> None:
        buffer.append(row(plan, job, outcome))
        progress.done += 1
        progress.failed += outcome[0] != "ok"
        if on_row is not None:
            on_row(buffer[-1])

    def outcome_of(future: Future) -> Outcome:
        try:
            return future.result()
        except BrokenProcessPool:
            raise
        except Exception as err:  # a Dask worker lost while running it, or a result that did not come back
            return "error", f"worker failed: {type(err).__name__}: {err}", None, None, math.nan

    def drive(on: Workers) -> list[RunJob]:
        """Run what is left on `on` until none is; the runs in flight when its pool broke, if it did."""
        nonlocal buffer, flushed_at
        pending: dict[Future, RunJob] = {}
        window = max(1, on.slots * WINDOW_PER_SLOT)
        try:
            while True:
                while len(pending) < window and todo:
                    job = todo.popleft()
                    pending[submit(on.executor, job)] = job
                if not pending:
                    return []
                done, _ = wait(pending, timeout=FLUSH_SECONDS, return_when=FIRST_COMPLETED)
                broken = []
                for future in sorted(done, key=lambda f: pending[f].run_id):
                    job = pending.pop(future)
                    try:
                        record(job, outcome_of(future))
                    except BrokenProcessPool:
                        broken.append(job)
                if broken:
                    return sorted(broken + list(pending.values()), key=lambda job: job.run_id)
                if len(buffer) >= FLUSH_ROWS or (buffer and time.monotonic() - flushed_at >= FLUSH_SECONDS):
                    rows, buffer, flushed_at = buffer, [], time.monotonic()
                    dataset.append(rows)
        finally:
            for future in pending:
                future.cancel()

    try:
        suspects = drive(workers)
        while suspects:
            if reopen is None:
                raise SweepBroken("a worker process died")
            for job in suspects:
                with reopen(1) as alone:
                    try:
                        outcome = outcome_of(submit(alone.executor, job))
                    except BrokenProcessPool:
                        outcome = "error", DIED, None, None, math.nan
                record(job, outcome)
            with reopen(workers.slots) as fresh:
                suspects = drive(fresh)
    finally:
        dataset.append(buffer)
        progress.seconds = time.perf_counter() - started
    return progress
