"""Profile the event loop of a `bench/scale.py` fleet with cProfile.

Builds and starts the fleet outside the profiler, profiles `Model.run` alone, and prints the
top functions by own time (tottime), then by cumulative time, and writes the raw profile
(default `results/bench/profile-<appliances>x<days>d-<protocol>-<tables>.prof`, for
`python -m pstats` or snakeviz). cProfile slows the loop two to three times, and more where
calls are many and cheap, so read the shares, not the seconds.

    python bench/profile_fleet.py --appliances 99 --days 30 --protocol softlock [--top 15]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import sysconfig
import time
from pathlib import Path

from scale import load_fleet

from sim.engine.model import Model
from sim.protocols.registry import names as protocol_names

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "bench"
EXIT_BAD_INPUT = 2


def short_paths(text: str) -> str:
    """Profile text with the repository's and site-packages' folders cut from file names
    (`sim/engine/events.py`, `simpy/events.py`: strip_dirs would make them both `events.py`)."""
    for folder in (str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]):
        text = text.replace(folder + "/", "")
    return text


def by_file(stats: pstats.Stats, top: int) -> str:
    """Own time (tottime) summed per source file, as shares of the profiled total: where the
    loop goes, component by component."""
    totals: dict[str, float] = {}
    for (filename, _line, _function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = short_paths(filename + "/").rstrip("/") if filename != "~" else "(C built-ins and methods)"
        totals[name] = totals.get(name, 0.0) + tottime
    grand = sum(totals.values()) or 1.0
    lines = ["   tottime   share  file (own time summed per file)"]
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"{seconds:10.3f}  {100 * seconds / grand:5.1f} %  {name}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="cProfile the event loop of a bench/scale.py fleet.")
    parser.add_argument("--appliances", type=int, default=99, help="fleet size (appliances // 3 chains; default 99)")
    parser.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    parser.add_argument("--protocol", choices=protocol_names(), default="none")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tables", choices=("kpis", "all"), default="all")
    parser.add_argument("--no-limits", action="store_true", help="load with the run limits lifted")
    parser.add_argument("--top", type=int, default=15, help="functions to print per listing (default 15)")
    parser.add_argument("--out", type=Path, default=None, help="raw profile file (default under results/bench/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chains = max(args.appliances // 3, 1)
    scenario = load_fleet(chains, args.days, args.protocol, args.seed, enforce_limits=not args.no_limits)
    if scenario is None:
        return EXIT_BAD_INPUT
    model = Model(scenario, tables=args.tables == "all")
    model.start()
    profiler = cProfile.Profile()
    started = time.process_time()
    profiler.enable()
    model.run()
    profiler.disable()
    cpu_s = time.process_time() - started
    out = args.out or RESULTS / f"profile-{3 * chains}x{args.days}d-{args.protocol}-{args.tables}.prof"
    out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out)
    print(f"{3 * chains} appliances x {args.days} days, {args.protocol}, tables {args.tables}: "
          f"{model.events_processed} events, loop {cpu_s:.1f} s CPU under cProfile; raw profile {out}")
    for order in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(args.top)
        print(short_paths(stream.getvalue()).strip("\n") + "\n")
    print(by_file(pstats.Stats(profiler), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
