"""Instructions the CPU executes in one fleet's event loop, counted by valgrind's callgrind.

    PYTHONPATH=. python bench/loop_instructions.py --appliances 3 --days 5 --protocol softlock [--top 30]

On a shared machine CPU time moves by a few per cent from run to run, which is as much as one
optimisation of the hot path gains; an instruction count does not move at all (same scenario,
same seed, same build: the same count to the last instruction), so it tells whether a change
made the loop cheaper (the child runs with `PYTHONHASHSEED=0`: with strings hashed at random,
dictionaries probe differently from run to run and the count moves by about 2 %). It is a
proxy: a cache miss costs more than an instruction, and `bench/README.md` checks the counts
against CPU time.

The fleet is `scale.py`'s (`--appliances // 3` chains), built with `tables=False`. Callgrind
counts only inside the compiled `Model.run` (`--toggle-collect` on its C function), so building
and starting the model, imports and interpreter start-up are left out; the hot path must be
compiled (`python -m sim.compile build`). Under callgrind the loop runs about 70 times slower:
five simulated days of one chain take about 30 s. It prints the loop's instruction count and,
with `--top`, the compiled `sim` and SimPy functions by inclusive instructions (what they and
everything they call cost), and keeps the raw profile for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import compiled_modules  # noqa: E402

import sim.engine.model  # noqa: E402
from sim.native import is_native  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "results" / "bench"
RUNNER = """
import sys
sys.path.insert(0, {bench!r})
import sim
from scale import load_fleet
from sim.engine.model import Model
scenario = load_fleet({chains}, {days}, {protocol!r}, {seed}, enforce_limits=False)
model = Model(scenario, tables=False)
model.start()
model.run()
print(model.events_processed)
"""
RUN_SYMBOL = re.compile(r"__pyx_pw_3sim_6engine_5model_5Model_\d+run$")
COMPILED_FUNCTION = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+\?\?\?:__pyx_(?:pw|gb)_\d*(\w+) \[")


def readable(mangled: str) -> str:
    """`sim_6engine_6mirror_18MirrorRelationship_9_finish` -> `sim.engine.mirror.MirrorRelationship._finish`:
    Cython prefixes each name with its length, and the last one with the function's number."""
    package, _, rest = mangled.partition("_")
    parts, at = [package], 0
    while at < len(rest):
        digits = re.match(r"\d+", rest[at:])
        if digits is None:
            break
        start = at + len(digits.group())
        end = start + int(digits.group())
        if end < len(rest) and rest[end] == "_" and rest[end + 1:end + 2].isdigit():
            parts.append(rest[start:end])
            at = end + 1
        else:  # the function's number, then its name to the end
            parts.append(rest[start:])
            break
    return ".".join(parts)


def run_symbol() -> str | None:
    """The C function of the compiled `Model.run` (its name carries Cython's numbering)."""
    module = sim.engine.model
    if not is_native(module):
        return None
    listing = subprocess.run(["nm", module.__file__], capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in listing.splitlines() if RUN_SYMBOL.search(line)]
    return names[0] if len(names) == 1 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appliances", type=int, default=3, help="appliances // 3 independent chains")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--protocol", default="softlock")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top", type=int, default=0, help="also list this many compiled functions by inclusive cost")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("nm") is None:
        print("needs valgrind and nm (binutils) on the PATH", file=sys.stderr)
        return 1
    symbol = run_symbol()
    if symbol is None:
        print(f"Model.run is not compiled here ({compiled_modules()} hot modules compiled): "
              "run `python -m sim.compile build` first", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    profile = args.out / f"callgrind-{args.appliances}x{args.days}d-{args.protocol}.out"
    runner = RUNNER.format(bench=str(Path(__file__).resolve().parent), chains=max(args.appliances // 3, 1),
                           days=args.days, protocol=args.protocol, seed=args.seed)
    done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", "--collect-atstart=no",
                           f"--toggle-collect={symbol}", sys.executable, "-c", runner],
                          capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return 1
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if collected is None:
        print("callgrind reported no count", file=sys.stderr)
        return 1
    events = int(done.stdout.split()[-1])
    instructions = int(collected.group(1))
    print(f"{args.appliances} appliances x {args.days} days, {args.protocol}: {events} events, "
          f"{instructions:,} instructions in Model.run ({instructions / events:,.0f} per event); profile {profile}")
    if args.top:
        annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(profile)],
                                   capture_output=True, text=True, check=True).stdout
        rows = [match.groups() for match in map(COMPILED_FUNCTION.match, annotated.splitlines()) if match]
        for cost, name in rows[:args.top]:
            share = int(cost.replace(",", "")) / instructions
            print(f"{share:7.1%}  {readable(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
