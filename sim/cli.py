"""The `cascadesim` command line: run, compare, validate, check."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sim.scenario import PROTOCOLS, Scenario, ScenarioError, load_scenario

if TYPE_CHECKING:
    from sim.model import RunResult

EXIT_BAD_INPUT = 2
PROGRESS_STEPS = 200
"""Chunks of simulated time a run with a progress bar is cut into."""


def _load(path: str, seed: int | None = None, protocol: str | None = None) -> Scenario:
    overrides: dict[str, object] = {}
    if seed is not None:
        overrides["seed"] = seed
    if protocol is not None:
        overrides["protocol"] = protocol
    return load_scenario(path, overrides)


def _protocol_list(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROTOCOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}")
    return names


def simulate_with_progress(scenario: Scenario, bar_file: TextIO | None, label: str = "") -> RunResult:
    """Run `scenario` to the end; with `bar_file`, draw a progress bar of simulated time on it.

    The model runs in `PROGRESS_STEPS` chunks of simulated time. `Model.run(until_s)` handles the
    events before `until_s`, so the chunks handle the same events in the same order as one call:
    the results are identical with or without the bar.
    """
    from tqdm import tqdm

    from sim.model import Model, simulate
    from sim.plots import time_unit

    if bar_file is None:
        return simulate(scenario)
    started = time.perf_counter()
    model = Model(scenario)
    model.start()
    scale, unit = time_unit(scenario.duration)
    total = scenario.duration / scale
    fmt = "{desc}{percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} simulated " + unit + " [{elapsed}<{remaining}]"
    with tqdm(total=total, desc=f"{label}: " if label else "", file=bar_file, bar_format=fmt, leave=False) as bar:
        for step in range(1, PROGRESS_STEPS + 1):
            model.run(until_s=None if step == PROGRESS_STEPS else scenario.duration * step / PROGRESS_STEPS)
            bar.update(total * step / PROGRESS_STEPS - bar.n)
    return model.finalise(time.perf_counter() - started)


def _progress_stream(args: argparse.Namespace) -> TextIO | None:
    """Where the progress bar goes: stderr on a terminal, nowhere with --quiet or when redirected."""
    return None if args.quiet or not sys.stderr.isatty() else sys.stderr


def _scenario_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def cmd_run(args: argparse.Namespace) -> int:
    from sim.output import write_results
    from sim.report import format_kpi_table, kpi_table

    scenario = _load(args.scenario, args.seed, args.protocol)
    result = simulate_with_progress(scenario, _progress_stream(args), scenario.protocol)
    folder = write_results(result, Path(args.out), scenario_text=_scenario_text(args.scenario))
    print(f"results: {folder}")
    print(f"{result.summary['events_processed']:,} events in {result.summary['wall_seconds']:.2f} s")
    print(format_kpi_table(kpi_table({scenario.protocol: result.summary})))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.output import write_results
    from sim.plots import plot_compare, save
    from sim.report import format_kpi_table, kpi_table

    scenario = _load(args.scenario, args.seed)
    protocols = args.protocols or list(scenario.expect) or ["none", "softlock"]
    text = _scenario_text(args.scenario)
    bar_file = _progress_stream(args)
    summaries = {}
    for protocol in protocols:
        result = simulate_with_progress(scenario.model_copy(update={"protocol": protocol}), bar_file, protocol)
        folder = write_results(result, Path(args.out), scenario_text=text)
        summaries[protocol] = result.summary
        print(f"{protocol}: {folder}")
    table = kpi_table(summaries)
    out = Path(args.out) / scenario.name / f"compare-seed{scenario.seed}.csv"
    table.to_csv(out, index_label="kpi")
    figure = out.with_suffix(".png")
    save(plot_compare(summaries, f"{scenario.name}, seed {scenario.seed}: the same scenario and seed under each protocol"),
         figure)
    print(f"\n{scenario.name}, seed {scenario.seed}: same scenario and seed under each protocol")
    print(format_kpi_table(table))
    print(f"\ntable: {out}\nfigure: {figure}")
    return 0


def cmd_locks(args: argparse.Namespace) -> int:
    from sim.model import Model
    from sim.units import parse_duration

    scenario = _load(args.scenario, args.seed, args.protocol)
    try:
        at_s = parse_duration(args.at, allow_zero=True)
    except ValueError as err:
        print(f"--at: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if at_s > scenario.duration:
        print(f"--at: {args.at} is after the end of the run ({scenario.duration:.0f} s)", file=sys.stderr)
        return EXIT_BAD_INPUT
    model = Model(scenario)
    model.start()
    model.run(until_s=at_s)
    print(model.snapshot_listing(at_s))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            print("\n".join(err.problems), file=sys.stderr)
            failed = True
        else:
            print(f"{path}: ok ({scenario.name})")
    return EXIT_BAD_INPUT if failed else 0


def _scenario_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def cmd_check(args: argparse.Namespace) -> int:
    from sim.expect import check_kpis
    from sim.model import simulate

    verdicts = []
    for path in _scenario_files(args.paths):
        scenario = load_scenario(path)
        for protocol, bounds in scenario.expect.items():
            result = simulate(scenario.model_copy(update={"protocol": protocol}))
            for v in check_kpis(protocol, bounds, result.summary["kpis"]):
                verdicts.append(v)
                status = "pass" if v.passed else "FAIL"
                print(f"{status}  {scenario.name:<24} {protocol:<10} {v.kpi:<22} {v.value:>14g}  (expect {v.bound})")
    failures = sum(not v.passed for v in verdicts)
    print(f"{len(verdicts) - failures} passed, {failures} failed")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cascadesim", description="Discrete-event simulator of cascaded snapshot mirroring and soft locks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one scenario and write its results folder")
    run.add_argument("scenario")
    run.add_argument("--seed", type=int)
    run.add_argument("--protocol", choices=PROTOCOLS)
    run.add_argument("--out", default="results")
    run.add_argument("--quiet", action="store_true", help="no progress bar (it is only drawn on a terminal anyway)")
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="run one scenario under several protocols, same seed")
    compare.add_argument("scenario")
    compare.add_argument("--protocols", type=_protocol_list, help="comma-separated, default: those in expect:")
    compare.add_argument("--seed", type=int)
    compare.add_argument("--out", default="results")
    compare.add_argument("--quiet", action="store_true", help="no progress bars (they are only drawn on a terminal anyway)")
    compare.set_defaults(func=cmd_compare)

    locks = sub.add_parser("locks", help="list every PCPI and who locks it at a moment of the run")
    locks.add_argument("scenario")
    locks.add_argument("--at", required=True, help="simulated time, e.g. 3d12h")
    locks.add_argument("--seed", type=int)
    locks.add_argument("--protocol", choices=PROTOCOLS)
    locks.set_defaults(func=cmd_locks)

    validate = sub.add_parser("validate", help="check scenario files and report every problem")
    validate.add_argument("scenarios", nargs="+")
    validate.set_defaults(func=cmd_validate)

    check = sub.add_parser("check", help="run scenarios and compare outcomes with their expect: blocks")
    check.add_argument("paths", nargs="+")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
