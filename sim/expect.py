"""Outcome bounds from a scenario's `expect:` block, checked against a run's KPIs."""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario import Bound


@dataclass(frozen=True)
class Verdict:
    """One KPI bound and the value measured against it."""

    protocol: str
    kpi: str
    bound: str
    value: float
    passed: bool


def describe(bound: float | Bound) -> str:
    if isinstance(bound, Bound):
        parts = []
        if bound.min is not None:
            parts.append(f">= {bound.min:g}")
        if bound.max is not None:
            parts.append(f"<= {bound.max:g}")
        return " and ".join(parts) or "any"
    return f"== {bound:g}"


def holds(bound: float | Bound, value: float) -> bool:
    if isinstance(bound, Bound):
        return (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max)
    return value == bound


def check_kpis(protocol: str, bounds: dict[str, float | Bound], kpis: dict[str, float]) -> list[Verdict]:
    """A verdict for every bound of one protocol."""
    return [Verdict(protocol, kpi, describe(bound), kpis[kpi], holds(bound, kpis[kpi]))
            for kpi, bound in bounds.items()]
