"""sanoid's count-per-period pruning against its documented behaviour and its prune loop.

sanoid (github.com/jimsalterjrs/sanoid, commit 8e1d11e) ships no pruning test vectors: its
tests (`tests/1_one_year`, `tests/2_dst_handling`) run with ``autoprune = no``. The cases
here come from `sanoid.defaults.conf`'s comments and from stepping through `sub
prune_snapshots` in `sanoid` by hand; each says which.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.retention.grammar import Snapshot
from sim.retention.sanoid import PERIOD_S, Sanoid

NOW = 1_700_000_000
HOUR = 3600
DAY = 86_400

PROPERTIES = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def aged(*ages_s: float) -> list[Snapshot]:
    """Snapshots `ages_s` seconds before NOW (negative: after it), oldest first."""
    return [Snapshot(i, NOW - age, f"autosnap_{i}_daily") for i, age in enumerate(sorted(ages_s, reverse=True))]


def kept_ages(count: int, period_s: float, snaps: list[Snapshot], now_s: float = NOW) -> list[float]:
    ids = Sanoid.from_setting(count, period_s).keep(snaps, now_s)
    return sorted(NOW - s.created_s for s in snaps if s.id in ids)


def test_daily_90_prunes_dailies_older_than_90_days() -> None:
    """sanoid.defaults.conf: "if daily = 90, we'll prune any dailies older than 90 days".

    120 dailies at exact day ages 0..119: the one exactly 90 days old stays (strict age test),
    so 91 remain.
    """
    assert kept_ages(90, PERIOD_S["daily"], aged(*(k * DAY for k in range(120)))) == [k * DAY for k in range(91)]


def test_prune_loop_is_strict_on_age() -> None:
    """`prune_snapshots`: ``ctime < maxage``; a minute later the boundary snapshot goes."""
    hourlies = aged(*(k * HOUR for k in range(72)))
    assert len(kept_ages(36, PERIOD_S["hourly"], hourlies)) == 37
    assert len(kept_ages(36, PERIOD_S["hourly"], hourlies, NOW + 60)) == 36


def test_never_fewer_than_count() -> None:
    """`prune_snapshots`: "don't get rid of ANY dailies unless we have more than 30"."""
    old = [100 * DAY + k for k in range(10)]
    assert kept_ages(30, DAY, aged(*old)) == sorted(old)


def test_only_the_excess_over_count_goes() -> None:
    """`prune_snapshots`: 33 too old and 2 young dailies, daily = 30: the 5 oldest go (35 - 30)."""
    ages = [40 * DAY + k * HOUR for k in range(33)] + [HOUR, 2 * HOUR]
    assert kept_ages(30, DAY, aged(*ages)) == sorted(ages)[:30]


def test_count_zero_prunes_everything_before_now() -> None:
    """sanoid.defaults.conf: "If any snapshot type is set to 0 ... immediately prune any of those
    type snapshots already present"; maxage is now itself, so one taken this second stays."""
    assert kept_ages(0, DAY, aged(5 * DAY, DAY, 1, 0)) == [0]
    assert kept_ages(0, DAY, aged()) == []


def test_future_snapshots_count_but_stay() -> None:
    """`getsnapsbytype` counts every snapshot of the type; one created after now is never too old."""
    old = [100 * DAY, 101 * DAY, 102 * DAY]
    assert kept_ages(2, DAY, aged(*old)) == [100 * DAY, 101 * DAY]
    assert kept_ages(2, DAY, aged(*old, -HOUR)) == [-HOUR, 100 * DAY]


def test_ties_prune_the_lower_id_first() -> None:
    snaps = [Snapshot(7, NOW - 10 * DAY, "a"), Snapshot(3, NOW - 10 * DAY, "b")]
    assert Sanoid.from_setting(1, DAY).keep(snaps, NOW) == {7}


def test_readme_template_production() -> None:
    """README.md / sanoid.conf template_production: hourly 36, daily 30, weekly 4, monthly 3, yearly 0.

    A year of each type, pruned a minute after the newest was taken: count of each remains.
    """
    for kind, count in [("hourly", 36), ("daily", 30), ("weekly", 4), ("monthly", 3), ("yearly", 0)]:
        period = PERIOD_S[kind]
        snaps = aged(*(k * period for k in range(max(1, int(365 * DAY // period)))))
        assert len(kept_ages(count, period, snaps, NOW + 60)) == count, kind


def test_periods_are_sanoids() -> None:
    """`prune_snapshots`: a month is 31 days, a year 365.25; frequently = frequent_period (15) minutes."""
    assert PERIOD_S == {
        "frequently": 900,
        "hourly": 3600,
        "daily": 86_400,
        "weekly": 604_800,
        "monthly": 2_678_400,
        "yearly": 31_557_600,
    }


@pytest.mark.parametrize(
    ("count", "period_s", "message"),
    [
        (-1, DAY, "sanoid count -1: must be a whole number"),
        (1.5, DAY, "sanoid count 1.5: must be a whole number"),
        (True, DAY, "sanoid count True: must be a whole number"),
        (3, 0, "sanoid period 0: must be a positive number of seconds"),
        (3, -DAY, "sanoid period -86400: must be a positive"),
        (3, math.nan, "sanoid period nan: must be a positive"),
        (3, math.inf, "sanoid period inf: must be a positive"),
        (3, "1d", "sanoid period '1d': must be a positive"),
    ],
)
def test_setting_errors(count: int, period_s: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sanoid.from_setting(count, period_s)


# --- properties -----------------------------------------------------------------------------


@st.composite
def daily_lists(draw: st.DrawFn) -> list[Snapshot]:
    """Up to 40 snapshots within 60 days before NOW and one day after, whole hours (ties likely), oldest first."""
    ages = sorted(draw(st.lists(st.integers(-24, 60 * 24), max_size=40)), reverse=True)
    return [Snapshot(i, NOW - age * HOUR, f"autosnap_{i}_daily") for i, age in enumerate(ages)]


def oldest_first(snaps: list[Snapshot]) -> list[Snapshot]:
    return sorted(snaps, key=lambda s: (s.created_s, s.id))


@PROPERTIES
@given(daily_lists(), st.integers(0, 45), st.integers(-5 * DAY, 5 * DAY))
def test_closed_form(snaps: list[Snapshot], count: int, shift_s: int) -> None:
    """What goes is the oldest min(#older than count periods, n - count); everything else stays."""
    now = NOW + shift_s
    kept = Sanoid.from_setting(count, DAY).keep(snaps, now)
    too_old = sum(1 for s in snaps if s.created_s < now - count * DAY)
    gone = max(0, min(too_old, len(snaps) - count))
    assert kept == {s.id for s in oldest_first(snaps)[gone:]}
    assert len(kept) >= min(count, len(snaps))
    assert {s.id for s in snaps if s.created_s >= now - count * DAY} <= kept


@PROPERTIES
@given(daily_lists(), st.integers(0, 45), st.integers(0, 5 * DAY))
def test_monotone(snaps: list[Snapshot], count: int, later_s: int) -> None:
    """A higher count keeps a superset; a later now keeps a subset; a new snapshot only adds pressure."""
    kept = Sanoid.from_setting(count, DAY).keep(snaps, NOW)
    assert kept <= Sanoid.from_setting(count + 1, DAY).keep(snaps, NOW)
    assert Sanoid.from_setting(count, DAY).keep(snaps, NOW + later_s) <= kept
    newest = Snapshot(len(snaps), NOW, "autosnap_new_daily")
    assert Sanoid.from_setting(count, DAY).keep([*snaps, newest], NOW) - {newest.id} <= kept
