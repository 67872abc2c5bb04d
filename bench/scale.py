"""Scale benchmark: how fast the simulator runs a fleet of independent A -> B -> C cascades.

Builds a scenario of N // 3 independent three-deep volume chains (A_i -> B_i -> C_i: one
head volume with hourly snapshots, mirrored every 15 minutes down each hop), writes it as
YAML and loads it with `load_scenario`, so it is validated exactly like a user's file.
Then it measures, in this process:

- the model: events processed, wall seconds of build + start + run, events per second;
- peak resident set size of the process (MB);
- a bare SimPy loop (1000 processes doing `yield env.timeout(1)`, 1,000,000 timeouts in
  all) in timeouts per second, and the ratio of the model's events per second to it, a
  rough measure of how much work the model does per event beyond SimPy's own.

It prints one aligned table row and merges the row into a JSON list (default
`results/bench/scale.json` in the repository): a run with the same appliances, days and
protocol replaces the earlier one.

    python bench/scale.py --appliances 300 --days 30 [--protocol softlock] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import simpy
from ruamel.yaml import YAML

from sim.engine.model import Model
from sim.protocols.registry import names as protocol_names
from sim.scenario import Scenario, ScenarioError, load_scenario

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "scale.json"
EXIT_BAD_INPUT = 2
BARE_PROCESSES = 1000
BARE_TIMEOUTS = 1_000_000
COLUMNS = ("appliances", "days", "protocol", "events", "wall_s", "events_per_s", "peak_rss_mb",
           "bare_simpy_events_per_s", "ratio")
KEY = ("appliances", "days", "protocol")


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


def run_model(scenario: Scenario) -> tuple[int, float]:
    """(events processed, wall seconds) of building, starting and running one model."""
    started = time.perf_counter()
    model = Model(scenario)
    model.start()
    model.run()
    return model.events_processed, time.perf_counter() - started


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


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a right-aligned text table under a header of `COLUMNS`."""
    formats = {"wall_s": "{:.2f}", "events_per_s": "{:.0f}", "peak_rss_mb": "{:.1f}",
               "bare_simpy_events_per_s": "{:.0f}", "ratio": "{:.3f}"}
    cells = [list(COLUMNS)] + [[formats.get(c, "{}").format(row[c]) for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells)


def format_row(row: dict[str, Any]) -> str:
    """One run as `name=value` pairs on one line."""
    return "  ".join(f"{name}={value}" for name, value in row.items())


def merge_into(path: Path, row: dict[str, Any], key: tuple[str, ...] = KEY) -> None:
    """Add `row` to the JSON list of runs at `path`, replacing a run with the same `key`; write it back."""
    runs: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    runs = [run for run in runs if tuple(run[k] for k in key) != tuple(row[k] for k in key)]
    runs.append(row)
    runs.sort(key=lambda run: tuple(run[k] for k in key))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the simulator on a fleet of independent A -> B -> C cascades.")
    parser.add_argument("--appliances", type=int, required=True,
                        help="fleet size; makes appliances // 3 independent A -> B -> C chains (at least 3)")
    parser.add_argument("--days", type=int, required=True, help="simulated days (at least 1)")
    parser.add_argument("--protocol", choices=protocol_names(), default="none")
    parser.add_argument("--seed", type=int, default=1)
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
    try:
        scenario = load_document(fleet_document(chains, args.days, args.protocol, args.seed))
    except ScenarioError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    events, wall_s = run_model(scenario)
    rss_mb = peak_rss_mb()
    bare = bare_simpy_timeouts_per_s()
    events_per_s = events / wall_s
    row = {
        "appliances": 3 * chains,
        "days": args.days,
        "protocol": args.protocol,
        "events": events,
        "wall_s": round(wall_s, 3),
        "events_per_s": round(events_per_s, 1),
        "peak_rss_mb": round(rss_mb, 1),
        "bare_simpy_events_per_s": round(bare, 1),
        "ratio": round(events_per_s / bare, 4),
    }
    merge_into(args.out, row)
    print(format_table([row]))
    print(f"merged into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
