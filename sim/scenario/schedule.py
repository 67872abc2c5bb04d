"""Cron schedules: checked once, counted exactly and cheaply, and expanded into firing times.

Every schedule is UTC, five fields (minute hour day-of-month month day-of-week) or an alias such
as `@daily`. croniter computes each firing. Counting does not enumerate them: within a UTC day
the minute and hour fields fire the same number of times whatever the day, so a schedule's
firings over a period are (days its day fields select) x (firings per day), with the two
partial days at the ends of the period counted one by one. Cost: one croniter step per selected
day, whatever the number of firings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from croniter import croniter

DAY_S = 86400.0
ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
"""The aliases a schedule may be, as five fields."""
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of the month", 1, 31), ("month", 1, 12), ("day of the week", 0, 7))
"""Each field's name and range of values."""
_EPSILON_S = 1e-3
"""croniter's get_next is strictly after its start: start this much earlier to count a firing at the start."""


def five_fields(expr: str) -> list[str]:
    """The schedule's five fields (an alias expanded); ValueError if it has not five."""
    fields = ALIASES.get(expr.strip().lower(), expr).split()
    if len(fields) != 5:
        raise ValueError(f"{expr!r} is not a cron schedule (five fields, e.g. '0 * * * *', or an alias such as '@daily')")
    return fields


def check_cron(expr: str) -> str:
    """`expr` if croniter reads it as a five-field schedule whose steps fit their fields' ranges
    (`*/1000000` would fire once, at the start of its range); ValueError otherwise."""
    fields = five_fields(expr)
    for text, (name, low, high) in zip(fields, FIELDS):
        for part in text.split(","):
            _range, slash, step = part.partition("/")
            if slash and (not step.isdigit() or not 1 <= int(step) <= high - low):
                raise ValueError(f"{expr!r}: the step {step!r} of the {name} field is not a whole number from 1 "
                                 f"to {high - low} ({name}s run from {low} to {high})")
    valid = croniter.is_valid(expr)
    if valid:
        try:
            croniter(expr, 0.0)
        except Exception:  # croniter raises several types for expressions is_valid lets through
            valid = False
    if not valid:
        raise ValueError(f"{expr!r} is not a cron schedule (five fields, e.g. '0 * * * *')")
    return expr


def _between(expr: str, start_ts: float, end_ts: float) -> int:
    """Firings of `expr` in [start_ts, end_ts), one by one (for short spans)."""
    it = croniter(expr, start_ts - _EPSILON_S)
    count = 0
    while it.get_next(float) < end_ts:
        count += 1
    return count


def count_firings(expr: str, start_ts: float, end_ts: float) -> int:
    """How many times `expr` fires in [start_ts, end_ts) (POSIX seconds, UTC), exactly."""
    minute, hour, dom, month, dow = five_fields(expr)
    daily = f"{minute} {hour} * * *"
    per_day = _between(daily, 0.0, DAY_S)
    total = 0
    for day in _selected_days(dom, month, dow, start_ts, end_ts):
        if start_ts <= day and day + DAY_S <= end_ts:
            total += per_day
        else:
            total += _between(daily, max(day, start_ts), min(day + DAY_S, end_ts))
    return total


def _selected_days(dom: str, month: str, dow: str, start_ts: float, end_ts: float) -> Iterator[float]:
    """The starts (UTC midnight) of the days in [start_ts, end_ts) that the day fields select,
    the day holding `start_ts` included."""
    first_day = math.floor(start_ts / DAY_S) * DAY_S
    if {dom, month, dow} <= {"*", "?"}:  # every day: no need to ask croniter
        day = first_day
        while day < end_ts:
            yield day
            day += DAY_S
        return
    days = croniter(f"0 0 {dom} {month} {dow}", first_day - _EPSILON_S)
    while True:
        try:
            day = days.get_next(float)
        except Exception:  # croniter gives up on a date that never comes (31 February)
            return
        if day >= end_ts:
            return
        yield day


class ScheduleBook:
    """Firing times (seconds after the run start) of each cron expression, computed once."""

    def __init__(self, start_ts: float, duration_s: float):
        self.start_ts = start_ts
        self.duration_s = duration_s
        self._times: dict[str, tuple[float, ...]] = {}

    def firings(self, expr: str) -> tuple[float, ...]:
        """All firings of `expr` in [0, duration) seconds after the start, in order."""
        times = self._times.get(expr)
        if times is None:
            # A firing exactly at the start counts: croniter's get_next is strictly after.
            it = croniter(expr, self.start_ts - _EPSILON_S)
            found = []
            end = self.start_ts + self.duration_s
            while True:
                ts = it.get_next(float)
                if ts >= end:
                    break
                found.append(round(ts - self.start_ts, 6))
            times = self._times[expr] = tuple(found)
        return times
