"""Cron schedules: checked once, counted exactly and cheaply, and expanded into firing times.

Every schedule is UTC, five fields (minute hour day-of-month month day-of-week) or an alias such
as `@daily`, read by croniter. UTC has no daylight saving time, so the minute and hour fields
select the same times of day on every day that the day fields (day of the month, month, day of
the week) select: a schedule's firings are its times of day (croniter's firings over one day,
found once) on each selected day, from its first firing on. When only the day of the week
restricts the days (or nothing does) the selected days repeat every week: croniter finds one
week's and they are repeated. Otherwise croniter steps from one selected day to the next, so
month-end, leap-day and `L`/`W`/`#` schedules select croniter's own days. Expanding or counting
a schedule therefore costs a few croniter steps (about 24 us each) per week, or one per selected
day, rather than one per firing (`*/15 * * * *` fires 96 times a day); the firing times are
croniter's, exactly (whole minutes, as floats, with no rounding on the way).
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_left
from collections.abc import Iterator
from functools import lru_cache

from croniter import croniter

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
_WILDCARDS = {"*", "?"}
ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
"""The aliases a schedule may be, as five fields."""
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of the month", 1, 31), ("month", 1, 12), ("day of the week", 0, 7))
"""Each field's name and range of values."""
_EPSILON_S = 1e-3
"""croniter's get_next is strictly after its start: start this much earlier to count a firing at the start."""
_RANDOM = re.compile(r"^r(\(\d+-\d+\))?(/\d+)?$", re.IGNORECASE)
"""croniter's random value (`R`, `R(0-29)`, `R/15`), drawn anew each time croniter reads the schedule."""


def five_fields(expr: str) -> list[str]:
    """The schedule's five fields (an alias expanded); ValueError if it has not five."""
    fields = ALIASES.get(expr.strip().lower(), expr).split()
    if len(fields) != 5:
        raise ValueError(f"{expr!r} is not a cron schedule (five fields, e.g. '0 * * * *', or an alias such as '@daily')")
    return fields


def check_cron(expr: str) -> str:
    """`expr` if croniter reads it as a five-field schedule whose steps fit their fields' ranges
    (`*/1000000` would fire once, at the start of its range) and that has no random value (`R`:
    croniter draws it anew each time it reads the schedule, so no two runs would agree);
    ValueError otherwise."""
    fields = five_fields(expr)
    for text, (name, low, high) in zip(fields, FIELDS):
        for part in text.split(","):
            if _RANDOM.match(part):
                raise ValueError(f"{expr!r}: the {name} field is random ({part!r}), which croniter draws anew each time "
                                 f"it reads the schedule, so runs would not be reproducible; write the values")
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


def first_firing(expr: str, after_ts: float) -> float | None:
    """The first firing of `expr` at or after `after_ts` (POSIX seconds), None if there is none."""
    try:
        return croniter(expr, after_ts - _EPSILON_S).get_next(float)
    except Exception:  # croniter gives up on a date that never comes (31 February)
        return None


@lru_cache(maxsize=256)
def _times_of_day(minute: str, hour: str) -> tuple[float, ...]:
    """Seconds after UTC midnight of the firings of the minute and hour fields, in order: the
    firings of `minute hour * * *` on one day, as croniter finds them."""
    daily = croniter(f"{minute} {hour} * * *", -_EPSILON_S)
    times = []
    while (ts := daily.get_next(float)) < DAY_S:
        times.append(ts)
    return tuple(times)


def count_firings(expr: str, start_ts: float, end_ts: float) -> int:
    """How many times `expr` fires in [start_ts, end_ts) (POSIX seconds, UTC), exactly, without
    listing the firings: its times of day on each selected day, the partial days at the ends
    counted by bisection."""
    minute, hour, dom, month, dow = five_fields(expr)
    times = _times_of_day(minute, hour)
    first = first_firing(expr, start_ts)
    if first is None:
        return 0
    total = 0
    for day in _selected_days(dom, month, dow, first, end_ts):
        if first <= day and day + DAY_S <= end_ts:
            total += len(times)
        else:
            total += bisect_left(times, end_ts - day) - bisect_left(times, first - day)
    return total


def firing_times(expr: str, start_ts: float, end_ts: float) -> Iterator[float]:
    """The firings of `expr` in [start_ts, end_ts) (POSIX seconds, UTC), in order: exactly the
    times croniter's get_next gives one after another from `start_ts`, found a day at a time."""
    minute, hour, dom, month, dow = five_fields(expr)
    times = _times_of_day(minute, hour)
    first = first_firing(expr, start_ts)
    if first is None:
        return
    for day in _selected_days(dom, month, dow, first, end_ts):
        for at in times:
            ts = day + at
            if ts >= end_ts:
                return
            if ts >= first:
                yield ts


def _repeats_weekly(dom: str, month: str, dow: str) -> bool:
    """Whether the days the day fields select repeat every week: the day of the month and the
    month are wildcards and the day of the week names no day relative to the month (`5#3`, the
    third Friday; `L5`, the last)."""
    return {dom, month} <= _WILDCARDS and "#" not in dow and "l" not in dow.lower()


def _selected_days(dom: str, month: str, dow: str, start_ts: float, end_ts: float) -> Iterator[float]:
    """The starts (UTC midnight) of the days in [start_ts, end_ts) that the day fields select,
    the day holding `start_ts` included: croniter's days of one week, repeated, when they repeat
    weekly; otherwise croniter's, one step per day."""
    first_day = math.floor(start_ts / DAY_S) * DAY_S
    days = croniter(f"0 0 {dom} {month} {dow}", first_day - _EPSILON_S)
    if _repeats_weekly(dom, month, dow):
        week = []
        while (day := days.get_next(float)) < first_day + WEEK_S:
            week.append(day)
        for weeks in itertools.count():
            for day in week:
                if day + weeks * WEEK_S >= end_ts:
                    return
                yield day + weeks * WEEK_S
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
            start = self.start_ts
            found = firing_times(expr, start, start + self.duration_s)
            times = self._times[expr] = tuple(round(ts - start, 6) for ts in found)
        return times
