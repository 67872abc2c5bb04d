"""Cases that the run limits must bound: a deep volume chain and a huge retention count.

- `deep_chain`: S0 -> S1 -> ... -> S<depth>, one volume with hourly snapshots (keep 6) at the
  head, every hop mirrored every 15 minutes. Under a forwarding protocol every update sends a
  lock set up the chain, and every intermediate forwards what it receives, so lock work grows
  with the square of the depth per round of updates.
- `large_keep`: one volume snapshotted every minute and keeping up to `keep` of them, mirrored
  to one destination every 15 minutes; every PCPI is kept for the whole run when `keep` is
  larger than the run's minutes, so retention and every image the mirror copies grow with time.

Each case is written as YAML and validated like a user's file, with the limits enforced: a
case the limits refuse is reported with the limit it hits (and not run), unless `--no-limits`.
It prints one row per run (events, wall seconds, peak RSS) and merges it into a JSON list
(default `results/bench/limits.json`).

    python bench/limits.py deep_chain --depth 500 --hours 24 --protocol softlock
    python bench/limits.py large_keep --keep 100000 --days 2 --protocol none
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scale import format_row, load_document, merge_into, peak_rss_mb, run_model

from sim.protocols.registry import names
from sim.scenario import ScenarioError
from sim.scenario.limits import planned_firings

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "results" / "bench" / "limits.json"
EXIT_BAD_INPUT = 2
KEY = ("case", "size", "hours", "protocol")


def deep_chain(depth: int, hours: int, protocol: str) -> dict[str, Any]:
    """A volume chain `depth` hops deep, as a YAML-ready dict."""
    names = [f"S{i}" for i in range(depth + 1)]
    return {
        "name": f"deep_chain-{depth}",
        "seed": 1,
        "duration": f"{hours}h",
        "protocol": protocol,
        "sample_interval": "1h",
        "appliances": {name: {"capacity": "2TiB"} for name in names},
        "links": [{"between": [a, b], "bandwidth": "10Gbit/s", "latency": "1ms"} for a, b in zip(names, names[1:])],
        "volumes": {"S0:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h", "change_variability": 0.3}},
        "snapshot_policies": {"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 6,
                                         "volumes": ["S0:/vol/v"]}},
        "mirrors": [{"source": f"{a}:/vol/v", "destination": f"{b}:/vol/v", "schedule": "*/15 * * * *"}
                    for a, b in zip(names, names[1:])],
    }


def large_keep(keep: int, hours: int, protocol: str) -> dict[str, Any]:
    """A volume snapshotted every minute keeping `keep` PCPIs, mirrored every 15 minutes."""
    return {
        "name": f"large_keep-{keep}",
        "seed": 1,
        "duration": f"{hours}h",
        "protocol": protocol,
        "sample_interval": "1h",
        "appliances": {"A": {"capacity": "100TiB"}, "B": {"capacity": "100TiB"}},
        "links": [{"between": ["A", "B"], "bandwidth": "10Gbit/s", "latency": "1ms"}],
        "volumes": {"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h"}},
        "snapshot_policies": {"minutely": {"schedule": "* * * * *", "label": "minutely", "keep": keep,
                                           "volumes": ["A:/vol/v"]}},
        "mirrors": [{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "*/15 * * * *"}],
    }


CASES = {"deep_chain": deep_chain, "large_keep": large_keep}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the cases the run limits must bound.")
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--depth", type=int, default=500, help="deep_chain: hops (default 500)")
    parser.add_argument("--keep", type=int, default=100_000, help="large_keep: PCPIs kept (default 100000)")
    parser.add_argument("--hours", type=int, required=True, help="simulated hours")
    parser.add_argument("--protocol", choices=names(), default="none")
    parser.add_argument("--no-limits", action="store_true", help="run even what the limits refuse")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON list of runs to merge the result into (default: results/bench/limits.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = args.depth if args.case == "deep_chain" else args.keep
    document = CASES[args.case](size, args.hours, args.protocol)
    try:
        scenario = load_document(document, enforce_limits=not args.no_limits)
    except ScenarioError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    events, wall_s = run_model(scenario)
    row = {"case": args.case, "size": size, "hours": args.hours, "protocol": args.protocol,
           "firings": planned_firings(scenario), "events": events, "wall_s": round(wall_s, 3),
           "peak_rss_mb": round(peak_rss_mb(), 1)}
    merge_into(args.out, row, KEY)
    print(format_row(row))
    print(f"merged into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
