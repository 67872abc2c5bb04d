"""The `cascadesim` command line: run, compare, locks, validate, check, catalog, sweep, sweep-report, schema.

Bad input (a scenario, a flag's value, an output path) exits with code 2 and one line per
problem before anything runs; Ctrl-C exits with 130 and SIGTERM with 143, quietly and without
leaving a partial results folder; a closed stdout (`| head`) ends the command quietly (141).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor, Executor
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sim.protocols.registry import names
from sim.scenario import (
    Scenario,
    ScenarioDocument,
    ScenarioError,
    load_scenario,
    parse_scenario,
    read_source,
    scenario_files,
)
from sim.scenario.file import is_sweep_file
from sim.signals import handled

if TYPE_CHECKING:
    from sim.experiments.sweep_file import SweepPlan
    from sim.results import Results

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
PROGRESS_STEPS = 200
"""Chunks of simulated time a run with a progress bar is cut into."""
MAX_SEED = 2**63
FORCE_HELP = ("replace a folder at the output path even if it is not a complete results folder of this scenario "
              "file (another file's results, or anything else)")
NO_LIMITS_WARNING = ("cascadesim: warning: --no-limits: file size, duration, sizes and counts are not checked against "
                     "the limits; a run may not finish or may exhaust memory")


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C (cleaning up) and exit with `EXIT_TERMINATED`. Not an
    `Exception`, so that no handler of errors (a library's, or one recording a failed run) takes it."""


def _parse(args: argparse.Namespace) -> ScenarioDocument:
    """The scenario file, read and parsed once, with `--set` applied."""
    return parse_scenario(args.scenario, sets=args.set or (), enforce_limits=not args.no_limits)


def _validate(args: argparse.Namespace, document: ScenarioDocument, seed: int | None = None,
              protocol: str | None = None) -> Scenario:
    """The scenario of `document` with `--seed` and `--protocol` applied."""
    overrides: dict[str, object] = {}
    if seed is not None:
        overrides["seed"] = seed
    if protocol is not None:
        overrides["protocol"] = protocol
    return document.validate(overrides, enforce_limits=not args.no_limits)


def _add_input_args(parser: argparse.ArgumentParser, *, sets: bool = True) -> None:
    """`--set PATH=VALUE` (repeatable) and `--no-limits`, for commands that read scenarios."""
    if sets:
        parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                            help="override a field without editing the file, e.g. --set 'mirrors[1].schedule=0 */2 * * *' "
                                 "(validated like the file, recorded in summary.json)")
    parser.add_argument("--no-limits", action="store_true",
                        help="lift the limits on duration, sizes and counts that keep a run finite")


def _add_cascade_args(parser: argparse.ArgumentParser) -> None:
    """`--jobs` and `--scheduler`, for commands that run a scenario whose independent cascades may run in parallel."""
    parser.add_argument("--jobs", type=_positive_int,
                        help="worker processes for a scenario of several independent cascades (default: one per CPU; "
                             "1: run them here one after the other); the results are the same")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the cascades on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")


def _add_output_args(parser: argparse.ArgumentParser) -> None:
    """`--no-plots`, for commands that write results folders."""
    parser.add_argument("--no-plots", action="store_true",
                        help="draw no plots (report.html says so); the summary and tables are written as always")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: a whole number from 0 to 2**63 - 1")
    return value


def _moment(text: str) -> float:
    from sim.scenario.units import parse_duration

    try:
        return parse_duration(text, allow_zero=True)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _protocol_list(text: str) -> list[str]:
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in names()]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown protocol(s) {unknown}; choose from {', '.join(names())}")
    return chosen


WORKER_DIED = ("cascadesim: a worker process died while it ran a cascade (out of memory?); that run was not written. "
               "Run again with fewer --jobs (--jobs 1 runs the cascades in this process)")


def _workers_checked(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`command`, a command that may run cascades on workers (`cascade_workers`), with a cluster it
    cannot use reported as bad input (exit 2) and a worker that died as a failed run (exit 1)."""
    @functools.wraps(command)
    def checked(args: argparse.Namespace) -> int:
        from sim.experiments.executors import ExecutorError

        try:
            return command(args)
        except ExecutorError as err:
            print(f"cascadesim: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except BrokenExecutor:
            print(WORKER_DIED, file=sys.stderr)
            return 1
    return checked


@contextlib.contextmanager
def cascade_workers(args: argparse.Namespace, scenario: Scenario) -> Iterator[Executor | None]:
    """Where the cascades of `scenario` run: `--jobs` local worker processes (default one per CPU,
    never more than there are cascades), the Dask cluster at `--scheduler`, or here (None) for a
    scenario of one cascade or with `--jobs 1`. Raises `ExecutorError` for a cluster it cannot use."""
    from sim.experiments.executors import ExecutorError, open_executor
    from sim.scenario.cascades import split

    if args.scheduler is not None and args.jobs is not None:
        raise ExecutorError("--jobs: a Dask cluster at --scheduler has its own workers; --jobs sizes local ones")
    cascades = len(split(scenario))
    if cascades == 1 or (args.jobs == 1 and args.scheduler is None):
        yield None
        return
    with open_executor(workers=min(args.jobs or os.cpu_count() or 1, cascades), scheduler=args.scheduler) as workers:
        yield workers.executor


def simulate_with_progress(scenario: Scenario, bar_file: TextIO | None, label: str = "", *,
                           tables: bool = True, executor: Executor | None = None) -> Results:
    """Run `scenario` to the end; with `bar_file`, draw a progress bar on it; `tables=False` keeps
    the summary only (`--tables kpis`). A scenario of several independent cascades runs them on
    `executor`'s workers, or here one after the other; its bar counts cascades. The results are
    the same either way.

    A scenario of one cascade runs in `PROGRESS_STEPS` chunks of simulated time. `Model.run(until_s)`
    handles the events before `until_s`, so the chunks handle the same events in the same order as
    one call: the results are identical with or without the bar.
    """
    from tqdm import tqdm

    from sim.engine.cascade_runs import simulate_cascades
    from sim.engine.model import Model, run_whole
    from sim.present.formatting import seconds_unit
    from sim.scenario.cascades import split

    cascades = len(split(scenario))
    if cascades > 1:
        with tqdm(total=cascades, desc=f"{label}: " if label else "", unit="cascade", file=bar_file,
                  disable=bar_file is None, leave=False) as bar:
            return simulate_cascades(scenario, tables=tables, executor=executor,
                                     on_cascade=lambda done, _count: bar.update(done - bar.n))
    if bar_file is None:
        return run_whole(scenario, tables)
    started = time.perf_counter()
    model = Model(scenario, tables=tables)
    model.start()
    scale, unit = seconds_unit(scenario.duration)
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


def _waiting(folder: Path) -> Callable[[], None]:
    def say() -> None:
        print(f"cascadesim: waiting for another cascadesim writing into {folder}", file=sys.stderr, flush=True)
    return say


def _warn_no_limits(args: argparse.Namespace) -> None:
    if args.no_limits:
        print(NO_LIMITS_WARNING, file=sys.stderr, flush=True)


def _output_checked(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`command`, a command that writes results folders, with an output path that cannot be
    written (`OutputError`) reported as bad input. Caught here rather than in `main`, so that
    `validate` and `schema` never import the results package (and pandas with it)."""
    @functools.wraps(command)
    def checked(args: argparse.Namespace) -> int:
        from sim.results.plan import OutputError

        try:
            return command(args)
        except OutputError as err:
            print(f"--out {args.out}: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return checked


@_output_checked
@_workers_checked
def cmd_run(args: argparse.Namespace) -> int:
    from sim.experiments.provenance import provenance
    from sim.present.compare import kpi_table
    from sim.present.formatting import format_count, format_seconds
    from sim.present.terminal import format_kpi_table, verdict_lines
    from sim.results.plan import plan_run_folder
    from sim.results.write import write_run_folder

    document = _parse(args)
    source, scenario = document.source, _validate(args, document, args.seed, args.protocol)
    target = plan_run_folder(Path(args.out), scenario.name, scenario.protocol, scenario.seed, source.sha256,
                             force=args.force)
    _warn_no_limits(args)
    with cascade_workers(args, scenario) as executor:
        result = simulate_with_progress(scenario, _progress_stream(args), scenario.protocol,
                                        tables=args.tables == "all", executor=executor)
    result.summary["provenance"] = provenance(source, args.set, limits=not args.no_limits)
    folder = write_run_folder(result, target, source.text, on_wait=_waiting(target.scenario_dir),
                              plots=not args.no_plots)
    summaries = {scenario.protocol: result.summary}
    print(f"results: {folder}")
    print("\n".join(verdict_lines(summaries)))
    print()
    print(format_kpi_table(kpi_table(summaries)))
    print(f"\n{format_count(result.summary['events_processed'])} events in {format_seconds(result.summary['wall_seconds'])}")
    return 0


@_output_checked
@_workers_checked
def cmd_compare(args: argparse.Namespace) -> int:
    from sim.experiments.provenance import provenance
    from sim.present.compare import kpi_table
    from sim.present.terminal import format_kpi_table, verdict_lines
    from sim.results.plan import plan_compare, plan_run_folder
    from sim.results.write import write_compare, write_run_folder

    document = _parse(args)
    source, scenario = document.source, _validate(args, document, args.seed)
    protocols = args.protocols or list(scenario.expect) or ["none", "softlock"]
    for protocol in protocols:  # the limits depend on the protocol each run uses
        if protocol != scenario.protocol:
            _validate(args, document, args.seed, protocol)
    out = Path(args.out)
    targets = {p: plan_run_folder(out, scenario.name, p, scenario.seed, source.sha256, force=args.force)
               for p in protocols}
    csv_path = plan_compare(out, scenario.name, scenario.seed)
    _warn_no_limits(args)
    bar_file = _progress_stream(args)
    with cascade_workers(args, scenario) as executor:
        for protocol, target in targets.items():
            result = simulate_with_progress(scenario.model_copy(update={"protocol": protocol}), bar_file, protocol,
                                            executor=executor)
            result.summary["provenance"] = provenance(source, args.set, limits=not args.no_limits)
            folder = write_run_folder(result, target, source.text, on_wait=_waiting(target.scenario_dir),
                                      plots=not args.no_plots)
            print(f"{protocol}: {folder}")
    title = f"{scenario.name}, seed {scenario.seed}: the same scenario and seed under each protocol"
    summaries = write_compare(csv_path, {p: t.folder for p, t in targets.items()}, title,
                              on_wait=_waiting(csv_path.parent), plots=not args.no_plots)
    print(f"\n{scenario.name}, seed {scenario.seed}: same scenario and seed under each protocol")
    print("\n".join(verdict_lines(summaries)))
    print()
    print(format_kpi_table(kpi_table(summaries)))
    print(f"\ntable: {csv_path}")
    if not args.no_plots:
        print(f"figure: {csv_path.with_suffix('.png')}")
    return 0


def cmd_locks(args: argparse.Namespace) -> int:
    from sim.engine.cascade_runs import models_until
    from sim.present.formatting import format_seconds
    from sim.present.listing import snapshot_listing

    scenario = _validate(args, _parse(args), args.seed, args.protocol)
    if args.at > scenario.duration:
        print(f"--at: {format_seconds(args.at)} is after the end of the run ({format_seconds(scenario.duration)})",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    _warn_no_limits(args)
    print(snapshot_listing(models_until(scenario, args.at), args.at))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    _warn_no_limits(args)
    failed = False
    for path in scenario_files(args.scenarios):
        try:
            source = read_source(path, enforce_limits=not args.no_limits)
            if is_sweep_file(source):
                if args.set:
                    raise ScenarioError([f"{path}: --set: applies to scenario files; this is a sweep file"])
                from sim.experiments.sweep_file import load_sweep_file

                plan = load_sweep_file(path, enforce_limits=not args.no_limits)
                print(f"{path}: ok (sweep {plan.name}: {len(plan.jobs)} runs of {plan.base.path.name})")
                continue
            scenario = load_scenario(source, sets=args.set, enforce_limits=not args.no_limits)
        except ScenarioError as err:
            print("\n".join(err.problems), file=sys.stderr)
            failed = True
        else:
            print(f"{path}: ok ({scenario.name})")
    return EXIT_BAD_INPUT if failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    from sim.experiments.library import (
        CHECK_HEADER,
        Outcome,
        load_library,
        run_library,
        timing_line,
        update_suggestions,
        verdict_lines,
    )
    from sim.experiments.provenance import code_version
    from sim.present.formatting import format_seconds, plural

    _warn_no_limits(args)
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
          f"in {format_seconds(time.perf_counter() - started)} on {plural(workers, 'process', 'processes')}")
    if failures and args.update:
        print("\n# Bounds the measured outcomes meet, to paste by hand (no file was changed):")
        print("\n".join(suggestions))
    return 1 if failures else 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from sim.experiments.library import catalog_markdown, load_library, run_library

    _warn_no_limits(args)
    outcomes = run_library(load_library(args.paths, enforce_limits=not args.no_limits), workers=args.jobs)
    print(catalog_markdown(outcomes), end="")
    return 0


def _sweep_manifest(plan: SweepPlan) -> dict[str, object]:
    """What a sweep's dataset records about the sweep (`sim.results.sweep_dataset`)."""
    from sim.experiments.provenance import code_version
    from sim.observe.kpis import NAMES
    from sim.results.sweep_dataset import columns

    parameters = [{"path": p.path, "kind": p.kind, "unit": p.unit, "label": p.label} for p in plan.parameters]
    return {"name": plan.name, "sweep_file": plan.source.path.name, "sweep_sha256": plan.source.sha256,
            "scenario_file": plan.base.path.name, "scenario_sha256": plan.base.sha256, "runs": len(plan.jobs),
            "runs_sha256": plan.runs_sha256,
            "parameters": parameters, "protocols": list(plan.protocols), "kpis": list(NAMES),
            "columns": [name for name, _type in columns(parameters, NAMES)], "limits_enforced": plan.enforce_limits,
            "code": code_version()}


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sim.experiments.executors import ExecutorError, open_executor
    from sim.experiments.sweep import RUN_FOLDERS, SweepBroken, run_sweep, runs_to_skip
    from sim.experiments.sweep_file import load_sweep_file
    from sim.present.formatting import format_seconds, plural
    from sim.results.plan import OutputError
    from sim.results.sweep_dataset import STATUSES, check_dataset, load_sweep, open_dataset

    if args.scheduler and args.jobs:
        print("--jobs: a Dask cluster at --scheduler has its own workers; --jobs sizes local ones", file=sys.stderr)
        return EXIT_BAD_INPUT
    plan = load_sweep_file(args.sweep, enforce_limits=not args.no_limits)
    folder = (Path(args.out) / plan.name).absolute()
    _warn_no_limits(args)
    manifest = _sweep_manifest(plan)
    bar_file = _progress_stream(args)
    try:
        check_dataset(folder, manifest, resume=args.resume, force=args.force)
        with open_executor(workers=args.jobs, dask=args.executor == "dask", scheduler=args.scheduler) as workers, \
                open_dataset(folder, manifest, plan.source.text, plan.base.text, resume=args.resume,
                             force=args.force) as dataset:
            before = len(runs_to_skip(dataset, args.retry_failed))
            with tqdm(total=len(plan.jobs), initial=before, unit="run", file=bar_file or sys.stderr,
                      disable=bar_file is None, desc=plan.name) as bar:
                print(f"{plan.name}: {plural(len(plan.jobs), 'run')}, {before} recorded before, "
                      f"on {workers.description}", flush=True)
                failed = 0

                def count(row: dict[str, object]) -> None:
                    nonlocal failed
                    failed += row["status"] != "ok"
                    bar.set_postfix_str(f"{failed} failed", refresh=False)
                    bar.update()

                local = args.executor == "local" and args.scheduler is None
                progress = run_sweep(plan, dataset, workers, retry_failed=args.retry_failed,
                                     run_folders=folder / RUN_FOLDERS if args.run_folders else None, on_row=count,
                                     reopen=(lambda slots: open_executor(workers=slots)) if local else None)
    except (ExecutorError, OutputError) as err:
        print(f"cascadesim: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SweepBroken as err:
        print(f"cascadesim: the sweep stopped: {err}; what finished is recorded, --resume runs the rest", file=sys.stderr)
        return 1
    rows = load_sweep(folder)
    counts = rows["status"].value_counts()
    rate = f" ({progress.done / progress.seconds:.2f} runs/s)" if progress.done and progress.seconds > 0 else ""
    print(f"{plural(progress.done, 'run')} in {format_seconds(progress.seconds)}{rate}; the dataset holds "
          f"{len(rows)} of {len(plan.jobs)}: " + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATUSES))
    print(f"dataset: {folder}")
    print(f"report: cascadesim sweep-report {folder}")
    failures = rows[rows["status"] != "ok"]
    for _, failure in failures.head(5).iterrows():
        print(f"  run {failure['run_id']} ({failure['protocol']}, seed {failure['seed']}): {failure['status']}: "
              f"{failure['error']}")
    return 1 if len(failures) else 0


def cmd_sweep_report(args: argparse.Namespace) -> int:
    from sim.present.sweep_report import write_sweep_report
    from sim.results import ResultsError
    from sim.results.plan import OutputError

    try:
        written = write_sweep_report(Path(args.dataset), Path(args.out) if args.out else None)
    except ResultsError as err:
        print(f"cascadesim: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputError as err:
        print(f"{f'--out {args.out}' if args.out else 'cascadesim'}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"report: {written[0]}")
    for path in written[1:]:
        print(f"figure: {path}")
    return 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from sim.scenario.json_schema import scenario_json_schema

    print(json.dumps(scenario_json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cascadesim", description="Discrete-event simulator of cascaded snapshot mirroring and soft locks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one scenario and write its results folder")
    run.add_argument("scenario")
    run.add_argument("--seed", type=_seed)
    run.add_argument("--protocol", choices=names())
    run.add_argument("--out", default="results")
    run.add_argument("--quiet", action="store_true", help="no progress bar (it is only drawn on a terminal anyway)")
    run.add_argument("--force", action="store_true", help=FORCE_HELP)
    run.add_argument("--tables", choices=("kpis", "all"), default="all",
                     help="all (default): the summary and every table; kpis: the summary only, no Parquet tables "
                          "and no plots drawn from them (faster, far less memory)")
    _add_output_args(run)
    _add_cascade_args(run)
    _add_input_args(run)
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="run one scenario under several protocols, same seed")
    compare.add_argument("scenario")
    compare.add_argument("--protocols", type=_protocol_list, help="comma-separated, default: those in expect:")
    compare.add_argument("--seed", type=_seed)
    compare.add_argument("--out", default="results")
    compare.add_argument("--quiet", action="store_true", help="no progress bars (they are only drawn on a terminal anyway)")
    compare.add_argument("--force", action="store_true", help=FORCE_HELP)
    _add_output_args(compare)
    _add_cascade_args(compare)
    _add_input_args(compare)
    compare.set_defaults(func=cmd_compare)

    locks = sub.add_parser("locks", help="list every PCPI and who locks it at a moment of the run")
    locks.add_argument("scenario")
    locks.add_argument("--at", required=True, type=_moment, help="simulated time, e.g. 3d12h")
    locks.add_argument("--seed", type=_seed)
    locks.add_argument("--protocol", choices=names())
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

    sweep = sub.add_parser("sweep", help="run a sweep file: parameters x protocols x seeds, one Parquet row per run")
    sweep.add_argument("sweep", help="a sweep file (README, Sweeps)")
    sweep.add_argument("--out", default="results/sweeps", help="the dataset goes to OUT/<name> (default results/sweeps)")
    sweep.add_argument("--jobs", type=_positive_int, help="worker processes, local or in the LocalCluster (default: one per CPU)")
    sweep.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local (default): worker processes here; dask: a Dask LocalCluster started here")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    sweep.add_argument("--resume", action="store_true", help="continue the dataset of an interrupted sweep")
    sweep.add_argument("--retry-failed", action="store_true", help="with --resume, run the invalid and failed runs again")
    sweep.add_argument("--force", action="store_true", help="replace what is at the dataset's path")
    sweep.add_argument("--run-folders", action="store_true",
                       help="also write every run's results folder (tables, plots, report) under DATASET/run-folders/")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar (it is only drawn on a terminal anyway)")
    _add_input_args(sweep, sets=False)
    sweep.set_defaults(func=cmd_sweep)

    sweep_report = sub.add_parser("sweep-report", help="draw each KPI against each swept parameter, per protocol")
    sweep_report.add_argument("dataset", help="a sweep's dataset folder, e.g. results/sweeps/outage_vs_protocol")
    sweep_report.add_argument("--out", help="where the figures and report.html go (default: DATASET/report)")
    sweep_report.set_defaults(func=cmd_sweep_report)

    schema = sub.add_parser("schema", help="print the scenario format's JSON Schema, for editors (README, Scenario format)")
    schema.set_defaults(func=cmd_schema)
    return parser


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


def _silence_stdout() -> None:
    """After a closed pipe: send what is still buffered for stdout nowhere, so exiting is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with handled(signal.SIGTERM, _terminate):  # unwinds like Ctrl-C, cleaning up
            return args.func(args)
    except ScenarioError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Terminated:
        return EXIT_TERMINATED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
