"""Scale benchmark: how fast the simulator runs a fleet of independent A -> B -> C cascades.

Builds a scenario of N // 3 independent three-deep volume chains (A_i -> B_i -> C_i: one
head volume with hourly snapshots, mirrored every 15 minutes down each hop), writes it as
YAML and loads it with `load_scenario`, so it is validated exactly like a user's file
(`--no-limits` lifts the run limits, for fleets bigger than they allow). Then it measures,
in this process:

- the model: events processed, wall seconds of build + start + run, events per second; the
  CPU seconds (`time.process_time`) of building, starting, the event loop alone, `finalise`
  and writing every table's Parquet file into a temporary folder (as `cascadesim run` does
  before its plots); completed mirror updates (from the summary) and events per update;
- the schedule floor: one bare SimPy timeout per firing of each snapshot policy and each
  mirror schedule, replayed at the same simulated times in a bare environment with the same
  stepping loop and GC threshold as `Model.run`; its loop CPU (median of three replays) and
  `model/floor`, the model's loop CPU over the floor's, the figure issue 15 sets targets on,
  and that loop CPU split per firing into the model's events and its own work, against what
  the target leaves that work (`work_per_firing`);
- memory: peak resident set size of the process (MB), after `finalise` and writing the
  tables, and the growth of the peak over the event loop per event (RSS at the end of the
  loop minus RSS before building, over events);
- a bare SimPy loop (1000 processes doing `yield env.timeout(1)`, 1,000,000 timeouts in
  all) in timeouts per second, and the ratio of the model's events per second to it, a
  rough measure of how much work the model does per event beyond SimPy's own.

On a shared machine the wall figures move with the load; the CPU figures and the ratios
measured in one process are the stable ones.

It prints one aligned table row and merges the row into a JSON list (default
`results/bench/scale.json` in the repository): a run with the same appliances, days,
protocol and tables replaces the earlier one.

    python bench/scale.py --appliances 300 --days 30 [--protocol softlock] [--seed 1]
                          [--tables kpis|all] [--no-limits]

`--tables kpis` builds the model with `tables=False` (summary and KPIs only, no collectors or
sampler); `all` (the default) is what `cascadesim run` does.
"""

from __future__ import annotations

import sim  # noqa: F401 - first: then SimPy too loads compiled, as under cascadesim (sim.native)

# isort: split
import argparse
import gc
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import simpy
from ruamel.yaml import YAML

from sim.engine.model import GC_GEN0_THRESHOLD, Model
from sim.native import HOT_MODULES, is_native
from sim.protocols.registry import names as protocol_names
from sim.results import Results
from sim.results.tables import write_parquet
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.scenario.schedule import ScheduleBook

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "scale.json"
EXIT_BAD_INPUT = 2
BARE_PROCESSES = 1000
BARE_TIMEOUTS = 1_000_000
FLOOR_REPEATS = 3
"""Replays of the schedule floor; its CPU is their median."""
MODEL_FLOOR_TARGETS = {"none": 8.0, "softlock": 12.0}
"""Issue 15's targets for `model_floor`, per protocol."""
COLUMNS = ("appliances", "days", "protocol", "tables", "compiled", "limits", "events", "wall_s", "events_per_s", "peak_rss_mb",
           "bare_simpy_events_per_s", "ratio", "build_cpu_s", "start_cpu_s", "loop_cpu_s", "finalise_cpu_s",
           "write_cpu_s", "updates", "events_per_update", "floor_events", "floor_cpu_s", "model_floor", "loop_rss_b_per_event",
           "floor_us_per_event", "work_us_per_firing", "work_budget_us")
KEY = ("appliances", "days", "protocol", "tables", "compiled")


def fleet_document(chains: int, days: int, protocol: str, seed: int) -> dict[str, Any]:
    """A scenario of `chains` independent A_i -> B_i -> C_i volume chains, as a YAML-ready dict."""
    appliances: dict[str, Any] = {}
    links: list[dict[str, Any]] = []
    volumes: dict[str, Any] = {}
    mirrors: list[dict[str, Any]] = []
    for i in range(chains):
        a, b, c = f"A{i}", f"B{i}", f"C{i}"
        for name in (a, b, c):
            appliances[name] = {"capacity": "4TiB"}
        links.append({"between": [a, b], "bandwidth": "10Gbit/s", "latency": "1ms"})
        links.append({"between": [b, c], "bandwidth": "1Gbit/s", "latency": "20ms"})
        volumes[f"{a}:/vol/data"] = {"size": "200GiB", "change_rate": "5GiB/h", "change_variability": 0.3}
        mirrors.append({"source": f"{a}:/vol/data", "destination": f"{b}:/vol/data", "type": "volume",
                        "schedule": "*/15 * * * *"})
        mirrors.append({"source": f"{b}:/vol/data", "destination": f"{c}:/vol/data", "type": "volume",
                        "schedule": "*/15 * * * *"})
    return {
        "name": f"scale-{3 * chains}x{days}d",
        "seed": seed,
        "duration": f"{days}d",
        "protocol": protocol,
        "sample_interval": "1d",
        "appliances": appliances,
        "links": links,
        "volumes": volumes,
        "snapshot_policies": {
            "hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 24, "volumes": list(volumes)},
        },
        "mirrors": mirrors,
    }


def load_document(document: dict[str, Any], *, enforce_limits: bool = True) -> Scenario:
    """Write `document` as a YAML file and load it as a user's scenario file is loaded."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{document['name']}.yaml"
        with path.open("w", encoding="utf-8") as stream:
            YAML(typ="safe").dump(document, stream)
        return load_scenario(path, enforce_limits=enforce_limits)


def load_fleet(chains: int, days: int, protocol: str, seed: int, *, enforce_limits: bool) -> Scenario | None:
    """The fleet of `fleet_document`, loaded as a user's file; None (its problems printed) when refused."""
    try:
        return load_document(fleet_document(chains, days, protocol, seed), enforce_limits=enforce_limits)
    except ScenarioError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return None


def run_model(scenario: Scenario) -> tuple[int, float]:
    """(events processed, wall seconds) of building, starting and running one model."""
    started = time.perf_counter()
    model = Model(scenario)
    model.start()
    model.run()
    return model.events_processed, time.perf_counter() - started


def write_tables(results: Results) -> None:
    """Write every table's Parquet file into a temporary folder, as `cascadesim run` writes them
    into the results folder (streamed from the collectors' chunks, without the DataFrames)."""
    with tempfile.TemporaryDirectory() as folder:
        for name in results.tables:
            write_parquet(results.tables, name, Path(folder) / f"{name}.parquet")


def measure_model(scenario: Scenario, *, tables: bool = True) -> dict[str, Any]:
    """Build, start, run and finalise one model and write its tables, timing each phase in CPU
    seconds (and build + start + run in wall seconds, as `run_model` does); the events
    processed, the completed mirror updates (from the summary) and the RSS growth of the
    event loop."""
    rss_before = current_rss_bytes()
    wall_started = time.perf_counter()
    cpu_started = time.process_time()
    model = Model(scenario, tables=tables)
    cpu_built = time.process_time()
    model.start()
    cpu_started_processes = time.process_time()
    model.run()
    cpu_ran = time.process_time()
    wall_s = time.perf_counter() - wall_started
    rss_loop = peak_rss_mb() * 1024 * 1024
    results = model.finalise(wall_s)
    cpu_finalised = time.process_time()
    write_tables(results)
    cpu_written = time.process_time()
    return {
        "events": model.events_processed,
        "wall_s": wall_s,
        "build_cpu_s": cpu_built - cpu_started,
        "start_cpu_s": cpu_started_processes - cpu_built,
        "loop_cpu_s": cpu_ran - cpu_started_processes,
        "finalise_cpu_s": cpu_finalised - cpu_ran,
        "write_cpu_s": cpu_written - cpu_finalised,
        "updates": results.summary["kpis"]["updates_completed"],
        "loop_rss_bytes": max(rss_loop - rss_before, 0.0),
    }


def compiled_modules() -> str:
    """How many of the hot modules this process loaded compiled (`sim.native`), e.g. `47/47`;
    `0/47` when it runs as Python."""
    loaded = [sys.modules.get(name) for name in HOT_MODULES]
    return f"{sum(1 for module in loaded if module is not None and is_native(module))}/{len(HOT_MODULES)}"


def schedule_floor(scenario: Scenario) -> tuple[int, float]:
    """(events, CPU seconds of the event loop) of the scenario's schedules alone, in bare SimPy.

    One process per snapshot policy and per mirror yields one timeout per firing of its
    schedule, at the same simulated times as the model's `take_scheduled_pcpis` and
    `update_cycle` (a firing at time 0 needs no timeout, as there). The firings are computed
    and the processes started before the clock starts; the loop is `Model.run`'s (peek, step,
    count) under the same GC threshold, without the model's work."""
    book = ScheduleBook(scenario.start_ts, scenario.duration)
    schedules = [book.firings(policy.schedule) for policy in scenario.snapshot_policies.values()]
    schedules += [book.firings(mirror.schedule) for mirror in scenario.mirrors]
    env = simpy.Environment()

    def replay(firings: tuple[float, ...]) -> Generator[simpy.Event, Any, None]:
        for at in firings:
            if at > env.now:
                yield env.timeout(at - env.now)

    for firings in schedules:
        env.process(replay(firings))
    until = scenario.duration
    step, peek = env.step, env.peek
    processed = 0
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
    started = time.process_time()
    try:
        while peek() < until:
            step()
            processed += 1
    finally:
        cpu_s = time.process_time() - started
        gc.set_threshold(*thresholds)
    return processed, cpu_s


def work_per_firing(events: int, loop_cpu_s: float, floor_events: int, floor_cpu_s: float,
                     target: float | None) -> dict[str, float | None]:
    """Split the model's loop CPU per firing into its events, each charged what a floor event
    costs, and the rest (an approximation: bench/README.md, "Model / schedule floor").

    `floor_us_per_event`: the floor's CPU per event (a bare timeout resuming a generator).
    `work_us_per_firing`: the model's loop CPU beyond that charge for each of its events
    (`loop - events x floor_us_per_event`), per firing of the floor: the model's own work
    (storage, mirrors, locks, network, observers) per firing.
    `work_budget_us`: what that work may cost per firing for `model_floor` to meet `target`
    with the model's events as they are, `(target - events / floor_events) x floor_us_per_event`
    (None without a target; negative: the events alone exceed it)."""
    if not floor_events or floor_cpu_s <= 0:
        return {"floor_us_per_event": None, "work_us_per_firing": None, "work_budget_us": None}
    per_event = floor_cpu_s / floor_events
    work = (loop_cpu_s - events * per_event) / floor_events
    budget = None if target is None else (target - events / floor_events) * per_event
    return {"floor_us_per_event": round(per_event * 1e6, 4), "work_us_per_firing": round(work * 1e6, 3),
            "work_budget_us": None if budget is None else round(budget * 1e6, 3)}


def current_rss_bytes() -> float:
    """Resident set size of this process now, in bytes (Linux; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as stream:
            return int(stream.read().split()[1]) * resource.getpagesize()
    except OSError:
        return peak_rss_mb() * 1024 * 1024


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def bare_simpy_timeouts_per_s() -> float:
    """Timeouts per second of plain SimPy: processes that only wait one time unit, repeatedly."""
    env = simpy.Environment()
    per_process = BARE_TIMEOUTS // BARE_PROCESSES

    def ticker() -> Generator[simpy.Event, Any, None]:
        for _ in range(per_process):
            yield env.timeout(1)

    for _ in range(BARE_PROCESSES):
        env.process(ticker())
    started = time.perf_counter()
    env.run()
    return per_process * BARE_PROCESSES / (time.perf_counter() - started)


def format_table(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Rows as a right-aligned text table under a header of `columns` (a missing value is `-`)."""
    formats = {"wall_s": "{:.2f}", "events_per_s": "{:.0f}", "peak_rss_mb": "{:.1f}",
               "bare_simpy_events_per_s": "{:.0f}", "ratio": "{:.3f}", "build_cpu_s": "{:.2f}",
               "start_cpu_s": "{:.2f}", "loop_cpu_s": "{:.2f}", "finalise_cpu_s": "{:.2f}",
               "write_cpu_s": "{:.2f}", "events_per_update": "{:.2f}", "floor_cpu_s": "{:.3f}", "model_floor": "{:.1f}",
               "loop_rss_b_per_event": "{:.0f}", "floor_us_per_event": "{:.3f}",
               "work_us_per_firing": "{:.2f}", "work_budget_us": "{:.2f}"}

    def cell(row: dict[str, Any], column: str) -> str:
        value = row.get(column)
        return "-" if value is None else formats.get(column, "{}").format(value)

    cells = [list(columns)] + [[cell(row, c) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells)


def format_row(row: dict[str, Any]) -> str:
    """One run as `name=value` pairs on one line."""
    return "  ".join(f"{name}={value}" for name, value in row.items())


def merge_into(path: Path, row: dict[str, Any], key: tuple[str, ...] = KEY) -> None:
    """Add `row` to the JSON list of runs at `path`, replacing a run with the same `key`; write it back."""
    runs: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    # Runs written before a key column existed have no value for it: they sort and match as "".
    runs = [run for run in runs if tuple(run.get(k, "") for k in key) != tuple(row[k] for k in key)]
    runs.append(row)
    runs.sort(key=lambda run: tuple(str(run.get(k, "")) for k in key))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the simulator on a fleet of independent A -> B -> C cascades.")
    parser.add_argument("--appliances", type=int, required=True,
                        help="fleet size; makes appliances // 3 independent A -> B -> C chains (at least 3)")
    parser.add_argument("--days", type=int, required=True, help="simulated days (at least 1)")
    parser.add_argument("--protocol", choices=protocol_names(), default="none")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tables", choices=("kpis", "all"), default="all",
                        help="kpis: build the model with tables=False (summary only); all: every table (default)")
    parser.add_argument("--no-limits", action="store_true",
                        help="load the fleet with the run limits lifted (enforce_limits=False)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON list of runs to merge the result into (default: results/bench/scale.json in the repo)")
    args = parser.parse_args(argv)
    if args.appliances < 3:
        parser.error("--appliances must be at least 3 (one A -> B -> C chain)")
    if args.days < 1:
        parser.error("--days must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chains = args.appliances // 3
    if 3 * chains != args.appliances:
        print(f"note: {args.appliances} appliances make {chains} chains; benchmarking {3 * chains} appliances",
              file=sys.stderr)
    scenario = load_fleet(chains, args.days, args.protocol, args.seed, enforce_limits=not args.no_limits)
    if scenario is None:
        return EXIT_BAD_INPUT
    model = measure_model(scenario, tables=args.tables == "all")
    rss_mb = peak_rss_mb()
    gc.collect()  # the model's garbage must not be collected on the floor's clock
    floors = [schedule_floor(scenario) for _ in range(FLOOR_REPEATS)]
    floor_events, floor_cpu_s = floors[0][0], statistics.median(cpu_s for _, cpu_s in floors)
    bare = bare_simpy_timeouts_per_s()
    events, wall_s = model["events"], model["wall_s"]
    events_per_s = events / wall_s
    row = {
        "appliances": 3 * chains,
        "days": args.days,
        "protocol": args.protocol,
        "tables": args.tables,
        "compiled": compiled_modules(),
        "limits": "off" if args.no_limits else "on",
        "events": events,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(events_per_s, 1),
        "peak_rss_mb": round(rss_mb, 1),
        "bare_simpy_events_per_s": round(bare, 1),
        "ratio": round(events_per_s / bare, 4),
        "build_cpu_s": round(model["build_cpu_s"], 3),
        "start_cpu_s": round(model["start_cpu_s"], 3),
        "loop_cpu_s": round(model["loop_cpu_s"], 3),
        "finalise_cpu_s": round(model["finalise_cpu_s"], 3),
        "write_cpu_s": round(model["write_cpu_s"], 3),
        "updates": model["updates"],
        "events_per_update": round(events / model["updates"], 3) if model["updates"] else None,
        "floor_events": floor_events,
        "floor_cpu_s": round(floor_cpu_s, 4),
        "model_floor": round(model["loop_cpu_s"] / floor_cpu_s, 2) if floor_cpu_s > 0 else None,
        "loop_rss_b_per_event": round(model["loop_rss_bytes"] / events, 1) if events else None,
        **work_per_firing(events, model["loop_cpu_s"], floor_events, floor_cpu_s, MODEL_FLOOR_TARGETS.get(args.protocol)),
    }
    merge_into(args.out, row)
    print(format_table([row]))
    print(f"merged into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
