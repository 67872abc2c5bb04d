"""Schedules expanded a day (or a week) at a time give exactly the firings croniter gives one
get_next after another, and are counted exactly, for schedules that repeat daily or weekly and
for those that do not (month days, month ends, leap days, `L`, `W` and `#`)."""

from __future__ import annotations

import datetime as dt

import pytest
from croniter import CroniterBadDateError, croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.scenario.schedule import ScheduleBook, check_cron, count_firings

DAY_S = 86400.0
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def croniter_firings(expr: str, start_ts: float, end_ts: float, cap: int | None = None) -> tuple[list[float], float]:
    """The reference: croniter's get_next from `start_ts` one firing at a time (what the model did
    before), up to `end_ts` or the first `cap` firings. Returns the firings and the end of the
    window they cover (mid-minute before the firing that stopped the walk, when `cap` did)."""
    found: list[float] = []
    it = croniter(expr, start_ts - 1e-3)
    try:
        while (ts := it.get_next(float)) < end_ts:
            if cap is not None and len(found) == cap:
                return found, ts - 30.0
            found.append(ts)
    except CroniterBadDateError:  # no date comes (31 February)
        pass
    return found, end_ts


def assert_same_as_croniter(expr: str, start_ts: float, end_ts: float, cap: int | None = None) -> None:
    reference, end_ts = croniter_firings(expr, start_ts, end_ts, cap)
    duration = end_ts - start_ts  # the book's end, start_ts + duration, is end_ts to within rounding: mid-minute
    expected = tuple(round(ts - start_ts, 6) for ts in reference)
    assert ScheduleBook(start_ts, duration).firings(expr) == expected
    assert count_firings(expr, start_ts, start_ts + duration) == len(expected)


NAMED = [
    ("0 */6 * * *", 1500), ("*/15 * * * *", 120), ("0 0 1 * *", 3650), ("30 2 * * 1-5", 3650), ("0 0 29 2 *", 3650),
    ("0 0 L * *", 3650), ("0 0 15W * *", 3650), ("0 12 * * 5#3", 3650), ("0 12 * * L0", 3650), ("45 23 31 * *", 3650),
    ("10 4 13 * 5", 3650), ("*/20 8-18 * jan,jul mon-fri", 800), ("@weekly", 3650), ("@yearly", 3650),
    ("0 0 ? * sun", 3650), ("5 5 * * 0,7", 3650), ("0 0 1-31/2 * 1", 1500), ("0 6 * 2 *", 3650),
]
STARTS = [utc(2026, 1, 1), utc(2027, 6, 30, 23, 59, 30) + 0.25, utc(2096, 2, 28, 12), utc(1970, 1, 1)]


@pytest.mark.parametrize(("expr", "days"), NAMED, ids=[e for e, _ in NAMED])
def test_named_schedules_fire_as_croniter_says_over_years(expr, days):
    # From 2096 the run crosses 2100, a year that is not a leap year though divisible by 4.
    for start in STARTS:
        assert_same_as_croniter(expr, start, start + days * DAY_S)


def test_a_firing_at_the_start_counts_and_one_just_before_it_does_not():
    start = utc(2026, 3, 2, 2, 30)
    assert ScheduleBook(start, 7 * DAY_S).firings("30 2 * * 1-5")[:2] == (0.0, DAY_S)
    assert ScheduleBook(start + 0.5, 7 * DAY_S).firings("30 2 * * 1-5")[0] == DAY_S - 0.5


def test_a_schedule_that_never_fires_has_no_firings():
    assert ScheduleBook(utc(2026, 1, 1), 3650 * DAY_S).firings("0 0 31 2 *") == ()
    assert count_firings("0 0 31 2 *", utc(2026, 1, 1), utc(2036, 1, 1)) == 0


@pytest.mark.parametrize("expr", ["R * * * *", "0 r * * *", "R(0-29) * * * *", "0 0 * * R/2", "0,R 0 * * *"])
def test_random_fields_are_refused_as_they_would_differ_from_run_to_run(expr):
    with pytest.raises(ValueError, match="random"):
        check_cron(expr)


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    """Five-field schedules mixing values, ranges, steps, lists and names, with day fields that
    repeat daily, weekly, or neither (month days, `L`, `W`, `#`, `?`); or an alias."""
    def numeric(low: int, high: int) -> str:
        kind = draw(st.sampled_from(("*", "value", "range", "step", "range step", "list")))
        if kind == "value":
            return str(draw(st.integers(low, high)))
        if kind in ("range", "range step"):
            a = draw(st.integers(low, high))
            text = f"{a}-{draw(st.integers(a, high))}"
            return f"{text}/{draw(st.integers(1, high - low))}" if kind == "range step" else text
        if kind == "step":
            return f"*/{draw(st.integers(1, high - low))}"
        if kind == "list":
            return ",".join(str(v) for v in sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=3))))
        return "*"

    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(("@yearly", "@monthly", "@weekly", "@daily", "@hourly")))
    dom = draw(st.one_of(st.just(numeric(1, 31)), st.sampled_from(("?", "L", f"{draw(st.integers(1, 28))}W"))))
    month = draw(st.one_of(st.just(numeric(1, 12)), st.sampled_from(MONTHS)))
    dow = draw(st.one_of(st.just(numeric(0, 7)), st.sampled_from(("?", *WEEKDAYS, "mon-fri", "sat,sun")),
                         st.builds(lambda d, n: f"{d}#{n}", st.integers(0, 6), st.integers(1, 5)),
                         st.builds(lambda d: f"L{d}", st.integers(0, 6))))
    return " ".join([numeric(0, 59), numeric(0, 23), dom, month, dow])


@settings(max_examples=120, derandomize=True, database=None, deadline=None)
@given(expr=cron_expressions(), start=st.floats(utc(1970, 1, 1), utc(8990, 1, 1)),
       years=st.floats(1 / 365, 12))
def test_random_schedules_fire_as_croniter_says(expr, start, years):
    try:
        check_cron(expr)
    except ValueError:
        assume(False)
    # Up to 12 years, or the span of the first 1,500 firings when that is shorter.
    assert_same_as_croniter(expr, start, start + years * 365 * DAY_S, cap=1500)
