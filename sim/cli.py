"""The `cascadesim` command line: run, compare, locks, validate, check, catalog."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sim.scenario import PROTOCOLS, Scenario, ScenarioError, load_scenario, scenario_files

if TYPE_CHECKING:
    from sim.model import RunResult

EXIT_BAD_INPUT = 2
PROGRESS_STEPS = 200
"""Chunks of simulated time a run with a progress bar is cut into."""


def _load(path: str, seed: int | None = None, protocol: str | None = None, *,
          sets: list[str] | None = None, limits: bool = True) -> Scenario:
    overrides: dict[str, object] = {}
    if seed is not None:
        overrides["seed"] = seed
    if protocol is not None:
        overrides["protocol"] = protocol
    return load_scenario(path, overrides, sets=sets or (), enforce_limits=limits)


def _add_input_args(parser: argparse.ArgumentParser, *, sets: bool = True) -> None:
    """`--set PATH=VALUE` (repeatable) and `--no-limits`, for commands that read scenarios."""
    if sets:
        parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                            help="override a field without editing the file, e.g. --set 'mirrors[1].schedule=0 */2 * * *' "
                                 "(validated like the file, recorded in summary.json)")
    parser.add_argument("--no-limits", action="store_true",
                        help="lift the limits on duration, sizes and counts that keep a run finite")


def _provenance(args: argparse.Namespace) -> dict[str, object]:
    from sim.provenance import provenance

    return provenance(args.scenario, args.set, limits=not args.no_limits)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


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
    from sim.report import format_kpi_table, kpi_table, verdict_lines

    scenario = _load(args.scenario, args.seed, args.protocol, sets=args.set, limits=not args.no_limits)
    result = simulate_with_progress(scenario, _progress_stream(args), scenario.protocol)
    result.summary["provenance"] = _provenance(args)
    folder = write_results(result, Path(args.out), scenario_text=_scenario_text(args.scenario))
    summaries = {scenario.protocol: result.summary}
    print(f"results: {folder}")
    print("\n".join(verdict_lines(summaries)))
    print()
    print(format_kpi_table(kpi_table(summaries)))
    print(f"\n{result.summary['events_processed']:,} events in {result.summary['wall_seconds']:.2f} s")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.output import write_results
    from sim.plots import plot_compare, save
    from sim.report import format_kpi_table, kpi_table, verdict_lines

    scenario = _load(args.scenario, args.seed, sets=args.set, limits=not args.no_limits)
    protocols = args.protocols or list(scenario.expect) or ["none", "softlock"]
    text = _scenario_text(args.scenario)
    bar_file = _progress_stream(args)
    summaries = {}
    for protocol in protocols:
        result = simulate_with_progress(scenario.model_copy(update={"protocol": protocol}), bar_file, protocol)
        result.summary["provenance"] = _provenance(args)
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
    print("\n".join(verdict_lines(summaries)))
    print()
    print(format_kpi_table(table))
    print(f"\ntable: {out}\nfigure: {figure}")
    return 0


def cmd_locks(args: argparse.Namespace) -> int:
    from sim.model import Model
    from sim.units import parse_duration

    scenario = _load(args.scenario, args.seed, args.protocol, sets=args.set, limits=not args.no_limits)
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
    for path in scenario_files(args.scenarios):
        try:
            scenario = load_scenario(path, sets=args.set, enforce_limits=not args.no_limits)
        except ScenarioError as err:
            print("\n".join(err.problems), file=sys.stderr)
            failed = True
        else:
            print(f"{path}: ok ({scenario.name})")
    return EXIT_BAD_INPUT if failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    from sim.library import (
        CHECK_HEADER,
        Outcome,
        load_library,
        run_library,
        timing_line,
        update_suggestions,
        verdict_lines,
    )
    from sim.provenance import code_version

    entries = load_library(args.paths, enforce_limits=not args.no_limits)
    code = code_version()
    commit = f"commit {code['git_commit'][:12]}{' with uncommitted changes' if code['git_dirty'] else ''}" \
        if code["git_commit"] else "not a git checkout"
    print(f"cascadesim {code['package_version']}, {commit}")
    print(CHECK_HEADER)
    suggestions: list[str] = []

    def show(outcome: Outcome) -> None:
        for line in verdict_lines(outcome):
            print(line)
        print(timing_line(outcome) if outcome.entry.scenario.expect else f"{'':<5} {outcome.entry.path}: no expect: block")
        suggestions.extend(update_suggestions(outcome))
        sys.stdout.flush()

    started = time.perf_counter()
    outcomes = run_library(entries, workers=args.jobs, on_done=show)
    verdicts = [v for outcome in outcomes for v in outcome.verdicts()]
    failures = sum(not v.passed for v in verdicts)
    runs = sum(o.runs for o in outcomes)
    workers = min(args.jobs or os.cpu_count() or 1, max(runs, 1))
    print(f"{len(verdicts) - failures} passed, {failures} failed; {runs} runs of {len(outcomes)} scenarios "
          f"in {time.perf_counter() - started:.1f} s on {workers} process{'es' if workers != 1 else ''}")
    if failures and args.update:
        print("\n# Bounds the measured outcomes meet, to paste by hand (no file was changed):")
        print("\n".join(suggestions))
    return 1 if failures else 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from sim.library import catalog_markdown, load_library, run_library

    outcomes = run_library(load_library(args.paths, enforce_limits=not args.no_limits), workers=args.jobs)
    print(catalog_markdown(outcomes), end="")
    return 0


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
    _add_input_args(run)
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="run one scenario under several protocols, same seed")
    compare.add_argument("scenario")
    compare.add_argument("--protocols", type=_protocol_list, help="comma-separated, default: those in expect:")
    compare.add_argument("--seed", type=int)
    compare.add_argument("--out", default="results")
    compare.add_argument("--quiet", action="store_true", help="no progress bars (they are only drawn on a terminal anyway)")
    _add_input_args(compare)
    compare.set_defaults(func=cmd_compare)

    locks = sub.add_parser("locks", help="list every PCPI and who locks it at a moment of the run")
    locks.add_argument("scenario")
    locks.add_argument("--at", required=True, help="simulated time, e.g. 3d12h")
    locks.add_argument("--seed", type=int)
    locks.add_argument("--protocol", choices=PROTOCOLS)
    _add_input_args(locks)
    locks.set_defaults(func=cmd_locks)

    validate = sub.add_parser("validate", help="check scenario files and report every problem")
    validate.add_argument("scenarios", nargs="+", help="scenario files, or folders of *.yaml files")
    _add_input_args(validate)
    validate.set_defaults(func=cmd_validate)

    check = sub.add_parser("check", help="run scenarios and compare outcomes with their expect: blocks")
    check.add_argument("paths", nargs="+", help="scenario files, or folders of *.yaml files")
    check.add_argument("--update", action="store_true",
                       help="also print expect: lines that the changed outcomes meet, to paste by hand (writes nothing)")
    check.add_argument("--jobs", type=_positive_int, help="worker processes (default: one per CPU)")
    _add_input_args(check, sets=False)
    check.set_defaults(func=cmd_check)

    catalog = sub.add_parser("catalog", help="run scenarios and print the library's README table (Markdown)")
    catalog.add_argument("paths", nargs="+", help="scenario files, or folders of *.yaml files")
    catalog.add_argument("--jobs", type=_positive_int, help="worker processes (default: one per CPU)")
    _add_input_args(catalog, sets=False)
    catalog.set_defaults(func=cmd_catalog)
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
