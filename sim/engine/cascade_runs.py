"""A scenario of several independent cascades (`sim.scenario.cascades`), run one cascade at a
time, here or in other processes (a `concurrent.futures.Executor`: local workers, `--jobs`, or
a Dask cluster, `--scheduler`), and merged into the results of the whole scenario.

A scenario of one cascade is one run, as always. A scenario of several is always run cascade
by cascade, whatever runs them, so its results do not depend on how many processes did: the
merge defines them.
- Each cascade is a `Model` of its own, with the scenario's seed: every random stream is named
  after the thing that draws from it (a volume, a link, an appliance, a message's sender), so
  each cascade draws what it would draw in one run of the whole scenario.
- The summary is what one run of the whole scenario writes (`sim.observe.merged_summary`),
  `events_processed` (the sum over the cascades) and `wall_seconds` aside.
- The tables hold the cascades' rows one cascade after the other, in key order, each in its
  own order. Each cascade's run numbers its PCPIs 1, 2, ...; in the merged tables PCPI n of
  cascade i (counting from 0, of k) is (n - 1) * k + i + 1: unique, and known from the
  cascade alone. One run of the whole scenario would interleave the rows in time and number
  PCPIs in creation order; sorted and renumbered, the rows are the same (a test checks it on
  random worlds).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.model import Model, run_whole
from sim.observe.collectors import EventRow, LockRow, PcpiRow, TransferRow
from sim.observe.lock_space import TotalLockTrace
from sim.observe.merged_summary import CascadeFacts, merge_summaries
from sim.observe.spill import SpillFolder
from sim.results import Results
from sim.results.tables import ConcatenatedTable, ParquetFileTable, Tables, TableSource
from sim.scenario import Plan, Scenario
from sim.scenario.cascades import Cascade, split, volume_names

PCPI_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(field for field in record._fields if field.endswith("pcpi_id"))
    for name, record in (("events", EventRow), ("transfers", TransferRow), ("pcpis", PcpiRow), ("locks", LockRow))}
"""The columns of each table that hold PCPI ids (renumbered by the merge)."""


@dataclass(frozen=True, slots=True)
class CascadeOutcome:
    """One cascade's run, as sent back from wherever it ran: its summary, its tables' sources
    (Parquet files a local worker wrote, or DataFrames pickled), and what the merge needs besides."""

    summary: dict[str, Any]
    tables: dict[str, TableSource]
    lock_trace: tuple[np.ndarray, np.ndarray, np.ndarray]
    propagation: dict[tuple[int, bool], Any]
    failed_write_bytes: dict[str, float]


def models_until(scenario: Scenario, at_s: float) -> list[Model]:
    """The models `simulate` runs for `scenario` (one, or one per cascade), each run up to `at_s`."""
    cascades = split(scenario)
    models = [Model(c.scenario) for c in cascades]
    for model in models:
        model.start()
        model.run(until_s=at_s)
    return models


def run_cascade(scenario: Scenario, ranks: Mapping[str, int], tables: bool, table_folder: str | None = None) -> CascadeOutcome:
    """Simulate one cascade (`scenario` holds its parts alone); `ranks` numbers every volume of the
    whole scenario in name order, for the lock-space trace. With `table_folder` (a folder this
    process and the merging one share), its tables are written there as Parquet files, and the
    outcome refers to them instead of carrying them."""
    started = time.perf_counter()
    trace = TotalLockTrace(ranks)
    model = Model(scenario, tables=tables, lock_trace=trace)
    model.start()
    model.run()
    results = model.finalise(time.perf_counter() - started)
    sources = results.tables
    assert isinstance(sources, Tables)
    kept: dict[str, TableSource] = {name: sources.source(name) for name in sources}
    if table_folder is not None:
        folder = Path(tempfile.mkdtemp(dir=table_folder))
        for name in sources:
            sources.write_parquet(name, folder / f"{name}.parquet")
        kept = {name: ParquetFileTable(folder / f"{name}.parquet") for name in sources}
    return CascadeOutcome(
        summary=results.summary,
        tables=kept,
        lock_trace=(np.frombuffer(trace.times), np.frombuffer(trace.order, dtype=np.int64), np.frombuffer(trace.deltas)),
        propagation=dict(model.traffic.propagation),
        failed_write_bytes={name: volume.failed_write_bytes for name, volume in model.volumes.items()})


def simulate_cascades(scenario: Scenario, *, tables: bool = True, executor: Executor | None = None,
                      on_cascade: Callable[[int, int], None] | None = None) -> Results:
    """The results of `scenario`: one run if it is one cascade, else its cascades' runs merged
    (run here one after the other, or on `executor`'s workers; the results are the same).
    `on_cascade(done, count)` is called as each cascade's outcome comes back, in key order."""
    cascades = split(scenario)
    if len(cascades) == 1:
        return run_whole(scenario, tables)
    started = time.perf_counter()
    ranks = {name: rank for rank, name in enumerate(volume_names(cascades))}
    # Local workers hand their tables over as files in a folder of this process's (spilled as a
    # run's tables are: memory stays flat); a cluster's workers send them back as DataFrames.
    folder = SpillFolder("cascades") if tables and isinstance(executor, ProcessPoolExecutor) else None
    arguments = ([c.scenario for c in cascades], [ranks] * len(cascades), [tables] * len(cascades),
                 [str(folder.path) if folder else None] * len(cascades))
    outcomes = []
    for outcome in executor.map(run_cascade, *arguments) if executor is not None else map(run_cascade, *arguments):
        outcomes.append(outcome)
        if on_cascade is not None:
            on_cascade(len(outcomes), len(cascades))
    return merge(scenario, cascades, outcomes, time.perf_counter() - started, keep=folder)


def merge(scenario: Scenario, cascades: list[Cascade], outcomes: list[CascadeOutcome], wall_seconds: float,
          keep: object = None) -> Results:
    """The results of `scenario` from its cascades' outcomes (in key order); `keep`: what the
    merged tables need to live as long as they do (the folder of their parts' files)."""
    plan = Plan(scenario)
    whole_position = {id(mirror): position for position, mirror in enumerate(plan.mirrors_in_dependency_order)}
    facts = [CascadeFacts(tuple(whole_position[id(mirror)] for mirror in Plan(cascade.scenario).mirrors_in_dependency_order),
                          outcome.lock_trace, outcome.propagation, outcome.failed_write_bytes)
             for cascade, outcome in zip(cascades, outcomes, strict=True)]
    summary = merge_summaries(scenario, plan, [o.summary for o in outcomes], facts,
                              sum(o.summary["events_processed"] for o in outcomes), wall_seconds)
    tables = Tables({name: ConcatenatedTable([o.tables[name] for o in outcomes], PCPI_ID_COLUMNS.get(name, ()), keep)
                     for name in outcomes[0].tables})
    return Results.of_run(scenario, summary, tables)
