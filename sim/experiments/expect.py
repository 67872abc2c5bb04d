"""Outcome bounds from a scenario's `expect:` block, checked against the KPIs of its runs.

A bound (`sim.scenario.Bound`) covers one KPI under one protocol: an exact value, `min`,
`max`, or both, optionally widened by `tolerance`. With `seeds: N` it is checked over the
runs with seeds `seed .. seed + N - 1`: `min`/`max` must hold for every one of them and
`mean` bounds their mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sim.present.formatting import format_kpi, format_value
from sim.scenario import Bound, Range

CHECK_DIGITS = 4
"""Significant digits of measured values and bounds in `cascadesim check` (one more than elsewhere,
so that a value just past a bound reads differently from it)."""


@dataclass(frozen=True)
class Verdict:
    """One KPI bound and what was measured against it.

    `value` is the KPI at the scenario's seed, or the mean over the bound's seeds; `values`
    holds every seed's value (in seed order) when the bound has several.
    """

    protocol: str
    kpi: str
    bound: str
    value: float
    passed: bool
    values: tuple[float, ...] = ()

    @property
    def measured(self) -> str:
        """The measured value as printed next to the bound, in the KPI's unit."""
        def show(value: float) -> str:
            return format_kpi(self.kpi, value, CHECK_DIGITS)
        if len(self.values) > 1:
            return f"{show(min(self.values))}..{show(max(self.values))}, mean {show(self.value)}"
        return show(self.value)


def number(value: float) -> str:
    """A value as YAML reads it back exactly: integers without a decimal point, floats in full."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _is_exact(r: Range) -> bool:
    return r.min is not None and r.min == r.max


def _show(kpi: str | None, value: float) -> str:
    """A value of `kpi` in its unit, or a plain number without a KPI, as `check` prints it."""
    return format_kpi(kpi, value, CHECK_DIGITS) if kpi else format_value("count", value, CHECK_DIGITS)


def _describe_range(r: Range, tolerance: float, kpi: str | None) -> str:
    plus = f" ± {_show(kpi, tolerance)}" if tolerance else ""
    if _is_exact(r):
        return f"== {_show(kpi, r.min)}{plus}"  # type: ignore[arg-type]
    if r.min is not None and r.max is not None:
        return f"in [{_show(kpi, r.min)}, {_show(kpi, r.max)}]{plus}"
    if r.min is not None:
        return f">= {_show(kpi, r.min)}{plus}"
    return f"<= {_show(kpi, r.max)}{plus}"  # type: ignore[arg-type]


def describe(bound: float | Bound, kpi: str | None = None) -> str:
    """The bound in words, in the unit of `kpi` (plain numbers when not given), e.g. `>= 1`,
    `in [1.728 TiB·h, 1.91 TiB·h]`, `each <= 2, mean in [0.5, 1.5] over 10 seeds`."""
    if not isinstance(bound, Bound):
        return f"== {_show(kpi, bound)}"
    parts = []
    if bound.min is not None or bound.max is not None:
        parts.append(("each " if bound.seeds > 1 else "") + _describe_range(bound, bound.tolerance, kpi))
    if bound.mean is not None:
        parts.append("mean " + _describe_range(bound.mean, bound.tolerance, kpi))
    text = ", ".join(parts)
    return f"{text} over {bound.seeds} seeds" if bound.seeds > 1 else text


def _within(r: Range, value: float, tolerance: float) -> bool:
    return (r.min is None or value >= r.min - tolerance) and (r.max is None or value <= r.max + tolerance)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def holds(bound: float | Bound, value: float | Sequence[float]) -> bool:
    """Whether the measured value (or every seed's value, in seed order) meets the bound."""
    values = [value] if isinstance(value, (int, float)) else list(value)
    if not isinstance(bound, Bound):
        return values[0] == bound
    values = values[:bound.seeds]
    if len(values) < bound.seeds:
        raise ValueError(f"the bound needs {bound.seeds} seeds, got {len(values)} values")
    if (bound.min is not None or bound.max is not None) and not all(_within(bound, v, bound.tolerance) for v in values):
        return False
    return bound.mean is None or _within(bound.mean, _mean(values), bound.tolerance)


def seeds_needed(bounds: Mapping[str, float | Bound]) -> int:
    """How many seeds (from the scenario's own) one protocol's bounds need."""
    return max((b.seeds for b in bounds.values() if isinstance(b, Bound)), default=1)


def check_kpis(protocol: str, bounds: Mapping[str, float | Bound],
               kpis: Mapping[str, float] | Sequence[Mapping[str, float]]) -> list[Verdict]:
    """A verdict for every bound of one protocol. `kpis`: one run's KPIs, or every seed's
    KPIs in seed order (the scenario's seed first) for bounds over several seeds."""
    runs = [kpis] if isinstance(kpis, Mapping) else list(kpis)
    verdicts = []
    for kpi, bound in bounds.items():
        seeds = bound.seeds if isinstance(bound, Bound) else 1
        if len(runs) < seeds:
            raise ValueError(f"{protocol} {kpi}: the bound needs {seeds} seeds, got {len(runs)} runs")
        values = tuple(float(run[kpi]) for run in runs[:seeds])
        value = _mean(values) if seeds > 1 else values[0]
        verdicts.append(Verdict(protocol, kpi, describe(bound, kpi), value, holds(bound, values),
                                values if seeds > 1 else ()))
    return verdicts


def suggest(bound: float | Bound, verdict: Verdict) -> str:
    """A bound, as YAML to paste into `expect:`, that the measured outcome meets: an exact
    bound becomes the measured value, a range widens just enough, `tolerance` and `seeds` stay."""
    values = verdict.values or (verdict.value,)
    if not isinstance(bound, Bound) or (_is_exact(bound) and bound.seeds == 1 and not bound.tolerance
                                        and bound.mean is None):
        return number(values[0])
    fields: dict[str, float] = {}
    low, high = min(values), max(values)
    if _is_exact(bound) and low == high:
        fields["min"] = fields["max"] = low
    else:
        if bound.min is not None:
            fields["min"] = min(bound.min, low)
        if bound.max is not None:
            fields["max"] = max(bound.max, high)
    text = [f"{key}: {number(value)}" for key, value in fields.items()]
    if bound.mean is not None:
        mean = verdict.value
        if _is_exact(bound.mean):
            text.append(f"mean: {number(mean)}")
        else:
            limits = []
            if bound.mean.min is not None:
                limits.append(f"min: {number(min(bound.mean.min, mean))}")
            if bound.mean.max is not None:
                limits.append(f"max: {number(max(bound.mean.max, mean))}")
            text.append(f"mean: {{{', '.join(limits)}}}")
    if bound.tolerance:
        text.append(f"tolerance: {number(bound.tolerance)}")
    if bound.seeds > 1:
        text.append(f"seeds: {bound.seeds}")
    return "{" + ", ".join(text) + "}"
