"""A sweep file: a base scenario, the fields to vary, the protocols and the seeds, expanded into runs.

```yaml
name: outage_vs_protocol
scenario: ../quickstart.yaml          # the base scenario, relative to this file
set: {duration: 10d}                  # fixed `--set` overrides for every run (optional)
parameters:                           # each key is a `--set` path; the grid is their product
  links[1].outages[0].for:
    label: B-C outage                 # the axis title in sweep-report (default: the path)
    values: [2h, 4h, 8h, 1d, 2d]      # or range: {from: 2h, to: 2d, step: 2h}
  volumes["A:/vol/db"].change_rate:
    between: {from: 1GiB/h, to: 10GiB/h}   # drawn `sample.count` times
sample: {method: latin_hypercube, count: 20, seed: 7}   # or method: random
protocols: [none, softlock]           # default: the base scenario's protocol
seeds: 10                             # the base seed and the next 9; or a list of seeds
```

Listed values and ranges make a grid; parameters with `between` are drawn together, `count`
points, with `sample.seed` (numpy's PCG64; Latin hypercube from `scipy.stats.qmc`); the runs are
every grid point with every drawn point (or the grid alone), under every protocol and seed.
A point is a grid cell (the first parameter varying slowest) and a drawn point (varying fastest).
Run ids number the runs in that order (point, then protocol, then seed): the same file gives the
same runs with the same ids, which is what lets `--resume` skip those already recorded.

A value is passed to the base scenario as `--set PATH=VALUE` would be. A quantity (a number, a
duration, a size or a rate) is recorded in the dataset as a number in seconds, bytes or bytes
per second; anything else as text. Every value (for `between`, both ends) is validated against
the base scenario before anything runs, and its problems are blamed on the sweep file's line;
a combination of values the scenario refuses is recorded as an `invalid` run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from sim.scenario import ScenarioError, parse_scenario, parse_set_path, read_source
from sim.scenario.file import ScenarioFile
from sim.scenario.load import line_in, load_yaml, problem_text, pydantic_message, with_sets
from sim.scenario.schema import Loc, ScenarioName
from sim.scenario.units import parse_duration, parse_rate, parse_size

MAX_RUNS = 100_000
"""Most runs a sweep may expand to (a limit: `--no-limits` lifts it)."""
MAX_SEED = 2**63
RESERVED = ("protocol", "seed")
"""Fields a sweep varies with `protocols:` and `seeds:`, not as parameters."""

Kind = Literal["number", "duration", "size", "rate", "text"]
UNITS: dict[str, str] = {"number": "", "duration": "s", "size": "B", "rate": "B/s", "text": ""}
"""The unit a parameter's column is recorded in, by its kind."""


def quantity(value: object) -> tuple[Kind, float] | None:
    """(kind, number in base units) of a number, duration, size or rate; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return "number", float(value)
    if not isinstance(value, str):
        return None
    for kind, parse in (("duration", partial(parse_duration, allow_zero=True)), ("size", parse_size), ("rate", parse_rate)):
        try:
            return kind, parse(value)  # type: ignore[return-value]
        except ValueError:
            continue
    return None


def _as_yaml(kind: Kind, number: float, integral: bool) -> object:
    """A number of `kind` in base units as a value the scenario reads (`5400s`, `1e12B`, `2.5e6B/s`)."""
    if kind == "number":
        return int(round(number)) if integral else number
    from numpy import format_float_positional  # the shortest digits that read back as `number`, no exponent

    return format_float_positional(number, trim="-") + UNITS[kind]


def _integral(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RangeSpec(_Strict):
    """`from`, `to` and `step` of one kind; `to` is included when a whole number of steps away."""

    from_: Any = Field(alias="from")
    to: Any
    step: Any


class BetweenSpec(_Strict):
    """An interval a sample draws from, ends included; whole numbers at both ends draw whole numbers."""

    from_: Any = Field(alias="from")
    to: Any


class ParameterSpec(_Strict):
    """One field to vary: exactly one of `values`, `range` or `between`."""

    label: str | None = None
    values: list[Any] | None = Field(default=None, min_length=1)
    range: RangeSpec | None = None
    between: BetweenSpec | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ParameterSpec:
        given = [name for name in ("values", "range", "between") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of values, range or between (given: {', '.join(given) or 'none'})")
        return self


class SampleSpec(_Strict):
    """How the `between` parameters are drawn: `count` points from `seed`."""

    method: Literal["random", "latin_hypercube"] = "latin_hypercube"
    count: StrictInt = Field(ge=1)
    seed: StrictInt = Field(ge=0, lt=MAX_SEED)


class SweepSpec(_Strict):
    """The sweep file as written (before expansion)."""

    name: ScenarioName
    scenario: str
    set: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    sample: SampleSpec | None = None
    protocols: list[str] | None = Field(default=None, min_length=1)
    seeds: int | list[int] = 1

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, seeds: object) -> int | list[int]:
        def whole(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if whole(seeds):
            if seeds < 1:  # type: ignore[operator]
                raise ValueError("the number of seeds per point must be at least 1")
            return seeds  # type: ignore[return-value]
        if not isinstance(seeds, list) or not all(map(whole, seeds)):
            raise ValueError("give a number of seeds per point (e.g. 10) or a list of seeds (e.g. [1, 7, 19])")
        if not seeds:
            raise ValueError("give at least one seed")
        if any(not 0 <= s < MAX_SEED for s in seeds):
            raise ValueError("a seed is a whole number from 0 to 2**63 - 1")
        if len(set(seeds)) < len(seeds):
            raise ValueError("a seed is listed twice")
        return seeds

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, protocols: list[str] | None) -> list[str] | None:
        from sim.protocols.registry import names

        if protocols is None:
            return None
        unknown = [p for p in protocols if p not in names()]
        if unknown:
            raise ValueError(f"unknown protocol(s) {unknown}; choose from {', '.join(names())}")
        if len(set(protocols)) < len(protocols):
            raise ValueError("a protocol is listed twice")
        return protocols


@dataclass(frozen=True)
class Parameter:
    """A swept field: its `--set` path, its kind (how its column is recorded) and the axis label."""

    path: str
    kind: Kind
    label: str

    @property
    def unit(self) -> str:
        return UNITS[self.kind]


@dataclass(frozen=True)
class RunJob:
    """One run of a sweep: what a worker needs besides the base scenario file."""

    run_id: int
    point: int
    protocol: str
    seed: int
    sets: tuple[str, ...]
    """`PATH=VALUE` texts: the file's fixed `set:` then this point's parameter values."""
    values: tuple[object, ...]
    """This point's value of each parameter, as recorded in its column (number or text)."""


@dataclass(frozen=True)
class SweepPlan:
    """A sweep file, validated and expanded into runs."""

    source: ScenarioFile
    """The sweep file."""
    base: ScenarioFile
    """The base scenario file."""
    name: str
    parameters: tuple[Parameter, ...]
    protocols: tuple[str, ...]
    jobs: tuple[RunJob, ...]
    enforce_limits: bool = True

    @cached_property
    def runs_sha256(self) -> str:
        """SHA-256 of every run (its values, protocol and seed, in order): what `--resume` compares,
        so that an edit to a comment resumes and new draws (another numpy) do not."""
        runs = [[j.run_id, j.point, list(j.sets), j.protocol, j.seed] for j in self.jobs]
        return hashlib.sha256(json.dumps(runs, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class _Axis:
    """One parameter's points: the YAML values given to the scenario and the column values."""

    parameter: Parameter
    loc: Loc
    """Where its values are in the sweep file (for problems)."""
    given: list[object]
    recorded: list[object]


def yaml_text(value: object) -> str:
    """`value` as the YAML text of a `--set PATH=VALUE` (JSON is YAML; a date becomes its ISO text,
    which the scenario reads as the same date)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _text(value: object) -> str:
    """A value as a text column records it: a string or a date as written, anything else as YAML."""
    if isinstance(value, str):
        return value
    return value.isoformat() if isinstance(value, dt.date) else yaml_text(value)


def _kind_of_values(values: list[object]) -> Kind:
    kinds = {q[0] if q else "text" for q in map(quantity, values)}
    return kinds.pop() if len(kinds) == 1 else "text"


def _ends(spec: RangeSpec | BetweenSpec) -> tuple[Kind, list[float]]:
    """The kind shared by an interval's ends (and step) and their numbers; ValueError otherwise."""
    ends = [spec.from_, spec.to] + ([spec.step] if isinstance(spec, RangeSpec) else [])
    found = [quantity(v) for v in ends]
    if any(q is None for q in found):
        bad = next(v for v, q in zip(ends, found) if q is None)
        raise ValueError(f"{bad!r} is not a number, duration, size or rate")
    kinds = {q[0] for q in found if q}
    if len(kinds) > 1:
        raise ValueError(f"the ends{' and step' if isinstance(spec, RangeSpec) else ''} mix {' and '.join(sorted(kinds))}")
    numbers = [q[1] for q in found if q]
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError("the ends must be finite")
    if numbers[1] < numbers[0]:
        raise ValueError(f"`to` ({spec.to}) is below `from` ({spec.from_})")
    return kinds.pop(), numbers


def _range_points(spec: RangeSpec, max_points: int) -> tuple[Kind, list[object], list[float]]:
    kind, (start, stop, step) = _ends(spec)
    if step <= 0:
        raise ValueError("`step` must be positive")
    steps = (stop - start) / step * (1 + 1e-12) + 1e-9
    if not math.isfinite(steps) or steps >= max_points:
        raise ValueError(f"more than {max_points:,} values, the limit of runs")
    count = math.floor(steps) + 1
    if count > max_points:
        raise ValueError(f"{count:,} values, more than the limit of {max_points:,} runs")
    integral = all(_integral(v) for v in (spec.from_, spec.step))
    numbers = [start + k * step for k in range(count)]
    return kind, [_as_yaml(kind, n, integral) for n in numbers], numbers


def _draw(spec: SampleSpec, dimensions: int):  # -> numpy array (count x dimensions) in [0, 1)
    import numpy as np

    if spec.method == "random":
        return np.random.Generator(np.random.PCG64(spec.seed)).random((spec.count, dimensions))
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=dimensions, seed=np.random.Generator(np.random.PCG64(spec.seed))).random(spec.count)


class _Problems:
    """Problems of one sweep file, as `file:line: field: message`."""

    def __init__(self, source: ScenarioFile, document: Any, found: list[str]):
        self.source, self.document, self.found = source, document, found

    def add(self, loc: Loc, message: str) -> None:
        self.found.append(problem_text(self.source.path, line_in(self.document, loc), loc, message))


def _axes(spec: SweepSpec, problems: _Problems, max_runs: int) -> tuple[list[_Axis], list[_Axis]]:
    """The grid axes (values, range) and the sampled axes (between), in the file's order."""
    grid: list[_Axis] = []
    sampled: list[_Axis] = []
    fields: dict[Loc, str] = {}
    for path, p in spec.parameters.items():
        loc: Loc = ("parameters", path)
        try:
            field = parse_set_path(path)
        except ValueError as err:
            problems.add(loc, str(err))
            continue
        if field[:1] in [(r,) for r in RESERVED]:
            problems.add(loc, "use protocols: and seeds: to vary the protocol and the seed")
            continue
        if field in fields:
            problems.add(loc, f"the same field as parameter {fields[field]!r}")
            continue
        fields[field] = path
        label = p.label or path
        try:
            if p.values is not None:
                kind = _kind_of_values(p.values)
                recorded = [q[1] if kind != "text" and (q := quantity(v)) else _text(v) for v in p.values]
                if len(set(map(_text, recorded))) < len(recorded):
                    raise ValueError("a value is listed twice (perhaps in other units)")
                grid.append(_Axis(Parameter(path, kind, label), (*loc, "values"), list(p.values), recorded))
            elif p.range is not None:
                kind, given, numbers = _range_points(p.range, max_runs)
                grid.append(_Axis(Parameter(path, kind, label), (*loc, "range"), given, list(numbers)))
            elif p.between is not None:
                kind, _numbers = _ends(p.between)
                sampled.append(_Axis(Parameter(path, kind, label), (*loc, "between"),
                                     [p.between.from_, p.between.to], []))
        except ValueError as err:
            problems.add((*loc, next(k for k in ("values", "range", "between") if getattr(p, k) is not None)), str(err))
    if sampled and spec.sample is None:
        problems.add(("parameters",), "parameters with `between` are drawn: add e.g. "
                                      "`sample: {method: latin_hypercube, count: 20, seed: 1}`")
    if spec.sample is not None and not sampled:
        problems.add(("sample",), "no parameter has `between`: there is nothing to draw")
    return grid, sampled


def _sampled_points(spec: SampleSpec, axes: list[_Axis]) -> list[tuple[list[object], list[object]]]:
    """`spec.count` points of the sampled axes: (values given, values recorded) for each."""
    draws = _draw(spec, len(axes))
    points = []
    for row in draws:
        given, recorded = [], []
        for u, axis in zip(row, axes):
            low_text, high_text = axis.given
            kind = axis.parameter.kind
            low, high = quantity(low_text)[1], quantity(high_text)[1]  # type: ignore[index]
            if kind == "number" and _integral(low_text) and _integral(high_text):
                number = float(min(int(low + math.floor(float(u) * (high - low + 1))), int(high)))
                given.append(int(number))
            else:
                number = low + float(u) * (high - low)
                given.append(_as_yaml(kind, number, False))
            recorded.append(number)
        points.append((given, recorded))
    return points


def _check_against_base(spec: SweepSpec, base: ScenarioFile, fixed: list[str], axes: list[_Axis],
                        protocols: list[str], problems: _Problems, enforce_limits: bool) -> None:
    """Validate the base scenario with the fixed sets under each protocol (the limits depend on
    it), then each value of each parameter alone under each protocol (of a range its first and
    last values, of a `between` its ends); blame what the scenario refuses on the sweep file."""
    parsed = parse_scenario(base, enforce_limits=enforce_limits)

    def attempt(loc: Loc, sets: list[str], protocol: str) -> bool:
        try:
            with_sets(parsed, sets).validate({"protocol": protocol}, enforce_limits=enforce_limits)
        except ScenarioError as err:
            for problem in err.problems:
                problems.add(loc, f"the base scenario refuses it: {problem}")
            return False
        return True

    for protocol in protocols:
        if not attempt(("set",) if fixed else ("scenario",), fixed, protocol):
            return
    for axis in axes:
        way = axis.loc[-1]
        checked = list(enumerate(axis.given)) if way != "range" else [(0, axis.given[0]), (-1, axis.given[-1])]
        for i, value in checked:
            loc = (*axis.loc, i) if way == "values" else (*axis.loc, ("from", "to")[i]) if way == "between" else axis.loc
            if not all(attempt(loc, [*fixed, f"{axis.parameter.path}={yaml_text(value)}"], protocol)
                       for protocol in protocols):
                break


def load_sweep_file(path: str | Path, *, enforce_limits: bool = True) -> SweepPlan:
    """Read, validate and expand a sweep file; `ScenarioError` lists every problem as
    `file:line: field: message` (the base scenario's own problems keep its own file and line)."""
    source = read_source(path, enforce_limits=enforce_limits)
    document, found = load_yaml(source, what="a sweep file", example="`scenario: ../quickstart.yaml`")
    problems = _Problems(source, document, list(found))
    try:
        spec = SweepSpec.model_validate(dict(document))
    except ValidationError as err:
        for error in err.errors():
            problems.add(tuple(k for k in error["loc"] if k != "[key]"), pydantic_message(error))
        raise ScenarioError(problems.found) from None
    max_runs = MAX_RUNS if enforce_limits else 2**62
    base_path = (source.path.parent / spec.scenario)
    try:
        base = read_source(base_path, enforce_limits=enforce_limits)
        base_document = parse_scenario(base, enforce_limits=enforce_limits)
        base_scenario = base_document.validate(enforce_limits=enforce_limits)
    except ScenarioError as err:
        problems.add(("scenario",), f"the base scenario {base_path} cannot be used: {'; '.join(err.problems)}")
        raise ScenarioError(problems.found) from None
    for key in spec.set:
        try:
            reserved = parse_set_path(key)[:1] in [(r,) for r in RESERVED]
        except ValueError as err:
            problems.add(("set", key), str(err))
            continue
        if reserved:
            problems.add(("set", key), "use protocols: and seeds: to set the protocol and the seed")
    fixed = [f"{key}={yaml_text(value)}" for key, value in spec.set.items()]
    grid, sampled = _axes(spec, problems, max_runs)
    protocols = spec.protocols or [base_scenario.protocol]
    seed_count = len(spec.seeds) if isinstance(spec.seeds, list) else spec.seeds
    points_count = math.prod(len(a.given) for a in grid) * (spec.sample.count if spec.sample and sampled else 1)
    runs = points_count * len(protocols) * seed_count
    if runs > max_runs:
        problems.add(("seeds",) if seed_count > max_runs else ("parameters",),
                     f"{runs:,} runs, more than the limit of {max_runs:,} (--no-limits lifts it; a smaller grid, sample "
                     "or fewer seeds)")
    if problems.found:
        raise ScenarioError(problems.found)
    _check_against_base(spec, base, fixed, grid + sampled, protocols, problems, enforce_limits)
    if problems.found:
        raise ScenarioError(problems.found)

    seeds = spec.seeds if isinstance(spec.seeds, list) else [base_scenario.seed + k for k in range(spec.seeds)]
    drawn = _sampled_points(spec.sample, sampled) if spec.sample and sampled else [([], [])]
    order = [a.parameter.path for a in grid + sampled]
    axes = sorted(grid + sampled, key=lambda a: list(spec.parameters).index(a.parameter.path))  # the file's order
    place = [order.index(a.parameter.path) for a in axes]
    jobs: list[RunJob] = []
    grid_points = itertools.product(*(list(zip(a.given, a.recorded)) for a in grid))
    for point, (cell, (drawn_given, drawn_recorded)) in enumerate(itertools.product(grid_points, drawn)):
        given = [g for g, _r in cell] + drawn_given
        recorded = [r for _g, r in cell] + drawn_recorded
        sets = tuple(fixed + [f"{a.parameter.path}={yaml_text(given[i])}" for a, i in zip(axes, place)])
        values = tuple(recorded[i] for i in place)
        for protocol in protocols:
            for seed in seeds:
                jobs.append(RunJob(len(jobs), point, protocol, seed, sets, values))
    return SweepPlan(source, base, spec.name, tuple(a.parameter for a in axes), tuple(protocols), tuple(jobs),
                     enforce_limits)
