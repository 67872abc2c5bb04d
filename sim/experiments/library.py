"""The scenario library as a regression suite: run each scenario under every protocol of its
`expect:` block (over several seeds where a bound asks for it) in parallel processes, check
the outcomes against the bounds, suggest bounds for changed outcomes, and write the catalog.

`cascadesim check` and `cascadesim catalog` are thin wrappers around this module, and the
tests call it directly, so CI checks exactly what the commands check.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sim.engine.model import simulate
from sim.experiments.expect import Verdict, check_kpis, seeds_needed, suggest
from sim.present.formatting import format_kpi, format_seconds
from sim.protocols.registry import names
from sim.scenario import (
    Scenario,
    ScenarioError,
    line_of,
    parse_scenario,
    scenario_files,
)
from sim.scenario.limits import planned_firings

KpiValues = dict[str, float]


@dataclass(frozen=True)
class Entry:
    """A library scenario: its file, its validated content and the file's SHA-256."""

    path: Path
    scenario: Scenario
    sha256: str

    def runs(self) -> list[tuple[str, int]]:
        """(protocol, seed) of every run its `expect:` block needs, in a fixed order."""
        s = self.scenario
        return [(protocol, s.seed + k) for protocol, bounds in s.expect.items() for k in range(seeds_needed(bounds))]


@dataclass
class Outcome:
    """What the runs of one library scenario measured, and the verdicts on its bounds."""

    entry: Entry
    kpis: dict[str, list[KpiValues]] = field(default_factory=dict)
    """Per protocol, every run's KPIs in seed order (the scenario's own seed first)."""
    run_seconds: float = 0.0
    """Wall seconds of its runs, added up (each measured in the process that ran it)."""

    @property
    def runs(self) -> int:
        return sum(len(per_seed) for per_seed in self.kpis.values())

    def verdicts(self) -> list[Verdict]:
        """A verdict for every bound, in the order of the `expect:` block."""
        return [v for protocol, bounds in self.entry.scenario.expect.items()
                for v in check_kpis(protocol, bounds, self.kpis[protocol])]


def load_library(paths: Iterable[str | Path], *, enforce_limits: bool = True) -> list[Entry]:
    """Validate every scenario file; a `ScenarioError` lists the problems of all of them."""
    entries: list[Entry] = []
    problems: list[str] = []
    for path in scenario_files(paths):
        try:
            document = parse_scenario(path, enforce_limits=enforce_limits)
            scenario = document.validate(enforce_limits=enforce_limits)
            for protocol in scenario.expect:  # the limits depend on the protocol the run uses
                if protocol != scenario.protocol and enforce_limits:
                    document.validate({"protocol": protocol})
            entries.append(Entry(path, scenario, document.source.sha256))
        except ScenarioError as err:
            problems += err.problems
    if problems:
        raise ScenarioError(problems)
    return entries


def _run(scenario: Scenario) -> tuple[KpiValues, float]:
    """One run in a worker process: its KPIs and wall seconds (without the tables and the
    sampler, which KPIs never need)."""
    started = time.perf_counter()
    kpis = simulate(scenario, tables=False).summary["kpis"]
    return kpis, time.perf_counter() - started


def run_library(entries: Sequence[Entry], *, workers: int | None = None,
                on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every entry's runs on `workers` processes (default: one per CPU; 1 runs them here).

    Runs are submitted costliest first, so that the longest do not start last; `on_done`
    gets each outcome as soon as it and every outcome before it are complete, in library
    order, so what it prints does not depend on which process finished first.
    """
    jobs = [(i, protocol, seed) for i, entry in enumerate(entries) for protocol, seed in entry.runs()]
    scenarios = {(i, p, seed): entries[i].scenario.model_copy(update={"protocol": p, "seed": seed})
                 for i, p, seed in jobs}
    results: dict[tuple[int, str, int], KpiValues] = {}
    outcomes = [Outcome(entry) for entry in entries]
    pending = [len(entry.runs()) for entry in entries]
    reported = 0

    def report_ready() -> None:
        nonlocal reported
        while reported < len(outcomes) and not pending[reported]:
            outcome = outcomes[reported]
            outcome.kpis = {p: [results[(reported, p, seed)] for _p, seed in outcome.entry.runs() if _p == p]
                            for p in outcome.entry.scenario.expect}
            if on_done is not None:
                on_done(outcome)
            reported += 1

    def finish(job: tuple[int, str, int], kpis: KpiValues, seconds: float) -> None:
        results[job] = kpis
        outcomes[job[0]].run_seconds += seconds
        pending[job[0]] -= 1
        report_ready()

    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        for job in jobs:
            finish(job, *_run(scenarios[job]))
    else:
        costly_first = sorted(jobs, key=lambda job: -planned_firings(scenarios[job]))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures: dict[Future, tuple[int, str, int]] = {pool.submit(_run, scenarios[job]): job for job in costly_first}
            for future in as_completed(futures):
                finish(futures[future], *future.result())
    report_ready()  # scenarios without an expect: block, when nothing ran at all
    return outcomes


# -- printing ---------------------------------------------------------------------------

CHECK_HEADER = f"{'':<5} {'scenario':<24} {'protocol':<9} {'kpi':<22} {'measured':>14}  bound"


def verdict_lines(outcome: Outcome) -> list[str]:
    """One table row per bound: pass/FAIL, the measured value next to the bound."""
    name = outcome.entry.scenario.name
    return [f"{'pass' if v.passed else 'FAIL':<5} {name:<24} {v.protocol:<9} {v.kpi:<22} {v.measured:>14}  {v.bound}"
            for v in outcome.verdicts()]


def timing_line(outcome: Outcome) -> str:
    """How long the scenario's runs took, and which file content they ran."""
    e = outcome.entry
    return (f"{'':<5} {e.scenario.name:<24} {outcome.runs} run{'s' if outcome.runs != 1 else ''} "
            f"in {format_seconds(outcome.run_seconds)}  ({e.path}, sha256 {e.sha256[:12]})")


def update_suggestions(outcome: Outcome) -> list[str]:
    """For the failing bounds, `expect:` lines that the measured outcomes meet, to paste by hand
    (each names the line of the bound it replaces). Empty when everything passed."""
    failing = [v for v in outcome.verdicts() if not v.passed]
    if not failing:
        return []
    e = outcome.entry
    lines = [f"# {e.path}: replace these bounds of its expect: block", "expect:"]
    for protocol in dict.fromkeys(v.protocol for v in failing):
        lines.append(f"  {protocol}:")
        for v in (v for v in failing if v.protocol == protocol):
            bound = e.scenario.expect[protocol][v.kpi]
            line = line_of(e.path, ("expect", protocol, v.kpi))
            lines.append(f"    {v.kpi}: {suggest(bound, v)}  # line {line}: was {v.bound}, measured {v.measured}")
    return lines


# -- the catalog ------------------------------------------------------------------------

CATALOG_COMMAND = "cascadesim catalog scenarios/ > scenarios/README.md"


def header_comment(path: Path) -> str:
    """The first paragraph of the comment that opens a scenario file, as one line."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text.startswith("#") or (words and not text.strip("# ")):
            break
        words += text.lstrip("#").split()
    return " ".join(words)


def catalog_markdown(outcomes: Sequence[Outcome]) -> str:
    """The library's README: per scenario what it shows (its header comment) and, per
    protocol, the outcomes its `expect:` block bounds."""
    protocols = [p for p in names() if any(p in o.entry.scenario.expect for o in outcomes)]
    lines = [
        "# Scenario library",
        "",
        f"Generated by `{CATALOG_COMMAND}`; do not edit it by hand",
        "(a test fails when it differs from the command's output).",
        "",
        "One row per scenario file. *What it shows* is the first paragraph of the file's header",
        "comment; the rest of that comment says what each protocol does there. Each protocol's cell",
        "lists the outcomes the file's `expect:` block bounds, measured at the scenario's seed, or",
        "over the seeds a bound names. `cascadesim check scenarios/` checks them against the bounds.",
        "",
        "| scenario | what it shows | " + " | ".join(f"`{p}`" for p in protocols) + " |",
        "| --- | --- | " + " | ".join("---" for _ in protocols) + " |",
    ]
    for outcome in outcomes:
        e = outcome.entry
        by_protocol: dict[str, list[str]] = {}
        for v in outcome.verdicts():
            text = f"{v.kpi} {format_kpi(v.kpi, v.value)}"
            if v.values and e.scenario.expect[v.protocol][v.kpi].mean is not None:
                text += f" (mean of {len(v.values)} seeds)"
            elif v.values:
                low, high = min(v.values), max(v.values)
                spread = "" if low == high else f"..{format_kpi(v.kpi, high)}"
                text = f"{v.kpi} {format_kpi(v.kpi, low)}{spread} (each of {len(v.values)} seeds)"
            by_protocol.setdefault(v.protocol, []).append(text)
        cells = ["<br>".join(by_protocol[p]) if p in by_protocol else "" for p in protocols]
        row = [f"[{e.scenario.name}]({e.path.name})", header_comment(e.path), *cells]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"
