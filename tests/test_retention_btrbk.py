"""btrbk's preserve_min and preserve (`sim.retention.btrbk`) against btrbk's own rules.

Sources, `github:digint/btrbk` at 2bda102f: the `btrbk` script (`sub schedule`,
`sub config_preserve_hash`, the `accept_preserve_matrix` parser), `doc/btrbk.conf.5.asciidoc`
(RETENTION POLICY) and `btrbk.conf.example`. btrbk ships no unit tests for its scheduler, so the
vectors below are the documentation's examples worked by hand and output of `schedule()` itself.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.retention.btrbk import DAY_OF_WEEK, BtrbkPreserve
from sim.retention.grammar import Snapshot

H = 3600
D = 24 * H


def at(text: str) -> float:
    """Epoch seconds of a UTC time written `YYYY-MM-DDTHH:MM`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M")


def snaps(times: list[float]) -> list[Snapshot]:
    """Snapshots with ids 0.. in the given (oldest first) order."""
    return [Snapshot(i, t, f"s{i}") for i, t in enumerate(times)]


def kept_times(rule: BtrbkPreserve, times: list[str], now: str) -> list[str]:
    kept = rule.keep(snaps([at(t) for t in times]), at(now))
    return [t for i, t in enumerate(times) if i in kept]


# --- parsing -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("preserve", "counts"),
    [
        ("14d 4w 6m", {"d": 14, "w": 4, "m": 6}),  # the brief's example
        ("14d", {"d": 14}),  # btrbk.conf.example: snapshot_preserve
        ("20d 10w *m", {"d": 20, "w": 10, "m": math.inf}),  # btrbk.conf.example: target_preserve
        ("7d 4w", {"d": 7, "w": 4}),  # btrbk.conf.example: subvolume kvm
        ("60d *m", {"d": 60, "m": math.inf}),  # doc: "target_preserve 60d *m"
        ("48h 14D 4W", {"h": 48, "d": 14, "w": 4}),  # units are case-insensitive
        ("*h *d *w *m *y", dict.fromkeys("hdwmy", math.inf)),
        ("no", {}),
        ("  6m  ", {"m": 6}),
    ],
)
def test_preserve_parses(preserve: str, counts: dict[str, float]) -> None:
    rule = BtrbkPreserve.from_setting("no", preserve)
    assert rule.counts == dict.fromkeys("hdwmy", 0.0) | counts


@pytest.mark.parametrize(
    ("preserve_min", "unit", "count"),
    [("all", "all", 0), ("latest", "latest", 0), ("no", None, 0), ("2d", "d", 2), ("36h", "h", 36), ("0y", "y", 0)],
)
def test_preserve_min_parses(preserve_min: str, unit: str | None, count: int) -> None:
    rule = BtrbkPreserve.from_setting(preserve_min, "no")
    assert (rule.min_unit, rule.min_count) == (unit, count)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no", ""), 'btrbk preserve "": empty'),
        (("no", "14d4w"), 'btrbk preserve "14d4w": "14d4w" is not'),
        (("no", "14x"), '"14x" is not'),
        (("no", "d"), '"d" is not'),
        (("no", "-1d"), '"-1d" is not'),
        (("no", "1.5d"), '"1.5d" is not'),
        (("no", "14d 3D"), "multiple definitions of 'd'"),  # btrbk: "multiple definitions of 'd'"
        (("", "14d"), 'btrbk preserve_min "": expected all, latest, no'),
        (("2", "14d"), 'btrbk preserve_min "2"'),
        (("2D", "14d"), 'btrbk preserve_min "2D"'),  # btrbk's accept list is case-sensitive
        (("yes", "14d"), 'btrbk preserve_min "yes"'),
        (("2d", "14d", "Sunday"), 'btrbk preserve_day_of_week "Sunday"'),
        (("2d", "14d", "funday"), "expected one of sunday, monday"),
        (("2d", "14d", "sunday", 24), "btrbk preserve_hour_of_day 24"),
        (("2d", "14d", "sunday", -1), "btrbk preserve_hour_of_day -1"),
    ],
)
def test_malformed_settings_are_refused(args: tuple[str | int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BtrbkPreserve.from_setting(*args)


# --- the documentation's rules, worked by hand (doc/btrbk.conf.5.asciidoc, RETENTION POLICY) ----

def test_daily_is_first_of_day_starting_at_preserve_hour_of_day() -> None:
    """*daily*: "The first backup of a day (starting at 'preserve_hour_of_day')"."""
    times = ["2023-11-14T00:00", "2023-11-14T06:00", "2023-11-14T23:59"]
    now = "2023-11-16T12:00"
    assert kept_times(BtrbkPreserve.from_setting("no", "3d"), times, now) == times[:1]
    assert kept_times(BtrbkPreserve.from_setting("no", "3d", "sunday", 6), times, now) == times[:2]


def test_weekly_is_first_daily_of_week_starting_on_preserve_day_of_week() -> None:
    """*weekly*: the first daily of the week (or the first backup in the week)."""
    times = [f"2023-11-{day:02d}T12:00" for day in range(1, 15)]  # Wed 1 .. Tue 14 November
    now = "2023-11-15T12:00"
    weekly = BtrbkPreserve.from_setting("no", "4w")
    assert kept_times(weekly, times, now) == ["2023-11-01T12:00", "2023-11-05T12:00", "2023-11-12T12:00"]
    on_monday = BtrbkPreserve.from_setting("no", "4w", "monday")
    assert kept_times(on_monday, times, now) == ["2023-11-01T12:00", "2023-11-06T12:00", "2023-11-13T12:00"]


def test_month_starts_on_its_first_preserve_day_of_week() -> None:
    """*monthly*: "Every first weekly backup in a month"; btrbk's month starts on its first Sunday,
    so 1-4 November 2023 (Wed-Sat) still count as October's, whose first Sunday is 1 October."""
    times = ["2023-09-30T12:00"] + [f"2023-10-{d:02d}T12:00" for d in range(1, 32)] + [
        f"2023-11-{d:02d}T12:00" for d in range(1, 31)]
    assert kept_times(BtrbkPreserve.from_setting("no", "*m"), times, "2023-12-01T00:00") == [
        "2023-09-30T12:00", "2023-10-01T12:00", "2023-11-05T12:00"]


def test_year_starts_on_its_first_preserve_day_of_week() -> None:
    """*yearly*: "Every first monthly backup in a year"; 2024's first Sunday is 7 January."""
    times = ["2023-12-20T12:00", "2024-01-03T12:00", "2024-01-08T12:00"]
    assert kept_times(BtrbkPreserve.from_setting("no", "*y"), times, "2024-06-01T00:00") == [times[0], times[2]]


def test_preserve_min_counts_calendar_days_not_24_hour_spans() -> None:
    """*_preserve_min 2d*: all within 2 days back, the day now is in being day 0."""
    times = ["2023-11-13T23:59", "2023-11-14T00:00", "2023-11-16T11:00"]
    assert kept_times(BtrbkPreserve.from_setting("2d", "no"), times, "2023-11-16T12:00") == times[1:]


def test_preserve_min_0h_keeps_the_current_hour_only() -> None:
    times = ["2023-11-16T10:59", "2023-11-16T11:00", "2023-11-16T11:30"]
    assert kept_times(BtrbkPreserve.from_setting("0h", "no"), times, "2023-11-16T11:45") == times[1:]


def test_a_zero_count_is_off() -> None:
    """btrbk reads `0d` as false (`if($preserve_daily && ...)`); `1d` is today and yesterday."""
    times = ["2023-11-15T08:00", "2023-11-16T08:00", "2023-11-16T09:00"]
    assert kept_times(BtrbkPreserve.from_setting("no", "0d"), times, "2023-11-16T12:00") == []
    assert kept_times(BtrbkPreserve.from_setting("no", "1d"), times, "2023-11-16T12:00") == times[:2]


def test_preserve_min_all_keeps_everything_and_preserve_has_no_effect() -> None:
    """doc: 'if "preserve_min" is set to "all" (the default), any setting of "preserve" obviously
    has no effect'."""
    times = ["2020-01-01T00:00", "2023-11-16T08:00", "2023-11-16T09:00"]
    assert kept_times(BtrbkPreserve.from_setting("all", "1d"), times, "2023-11-16T12:00") == times


def test_latest_keeps_the_newest_and_no_keeps_nothing() -> None:
    """doc: `latest` "always preserve the latest backup"; `no`, with `preserve no`, keeps none."""
    times = ["2023-11-16T08:00", "2023-11-16T09:00", "2023-11-16T09:00"]
    assert BtrbkPreserve.from_setting("latest", "no").keep(snaps([at(t) for t in times]), at("2023-11-16T12:00")) == {2}
    assert BtrbkPreserve.from_setting("no", "no").keep(snaps([at(t) for t in times]), at("2023-11-16T12:00")) == set()


def test_newest_goes_when_not_first_of_a_bucket() -> None:
    times = ["2023-11-16T08:00", "2023-11-16T09:00"]
    assert kept_times(BtrbkPreserve.from_setting("no", "7d"), times, "2023-11-16T12:00") == times[:1]


def test_preserve_min_does_not_change_which_is_first() -> None:
    """The cascade runs over all snapshots: a snapshot kept by preserve_min is still the first of
    its day, so the next one in that day is no daily."""
    times = ["2023-11-15T00:30", "2023-11-15T05:00"]
    assert kept_times(BtrbkPreserve.from_setting("no", "2d"), times, "2023-11-16T12:00") == times[:1]
    assert kept_times(BtrbkPreserve.from_setting("1d", "2d"), times, "2023-11-16T12:00") == times


def test_future_snapshots_are_kept() -> None:
    """The delete path passes `preserve_date_in_future => 1`."""
    times = ["2023-11-16T08:00", "2023-11-16T13:00", "2023-11-20T00:00"]
    assert kept_times(BtrbkPreserve.from_setting("no", "no"), times, "2023-11-16T12:00") == times[1:]


def test_empty_input_keeps_nothing() -> None:
    assert BtrbkPreserve.from_setting("latest", "*h").keep([], at("2023-11-16T12:00")) == set()


def test_the_briefs_example_on_a_year_of_hourly_snapshots() -> None:
    """preserve_min 2d, preserve 14d 4w 6m; hourly snapshots at :10 for 400 days up to
    Wed 2024-03-06 09:30. Checked against btrbk's `schedule()` (see below): 58 snapshots of
    4-6 March, then 12 dailies, then Sundays, then the first Sunday of each month."""
    now = at("2024-03-06T09:30")
    times = [now - 3600 * k - 1200 for k in range(400 * 24)][::-1]
    kept = BtrbkPreserve.from_setting("2d", "14d 4w 6m").keep(snaps(times), now)
    assert len(kept) == 78
    assert sum(1 for i in kept if times[i] >= at("2024-03-04T00:00")) == 58
    older = [iso(times[i]) for i in sorted(kept) if times[i] < at("2024-03-04T00:00")]
    assert older == [
        "2023-09-03T00:10", "2023-10-01T00:10", "2023-11-05T00:10", "2023-12-03T00:10", "2024-01-07T00:10",
        "2024-02-04T00:10", "2024-02-11T00:10", "2024-02-18T00:10", "2024-02-21T00:10", "2024-02-22T00:10",
        "2024-02-23T00:10", "2024-02-24T00:10", "2024-02-25T00:10", "2024-02-26T00:10", "2024-02-27T00:10",
        "2024-02-28T00:10", "2024-02-29T00:10", "2024-03-01T00:10", "2024-03-02T00:10", "2024-03-03T00:10",
    ]


@pytest.mark.parametrize(
    ("now", "preserve_min", "preserve", "dow", "hod", "offsets", "kept"),
    [
        (1721434710, "no", "7d 4w 3m", "sunday", 0,
         [-33944604, -33342028, -31940717, -27981315, -27405280, -23965233, -21768746, -20300019, -17691562, -17550994,
          -16092866, -10485547, -6381861, -3252906, -3133573, -1447384], [12, 13, 15]),
        (1642276998, "latest", "6h 3d", "monday", 6,
         [-30397765, -28743608, -26891426, -20722801, -20423558, -11276698, -8074793, -6750306, -2182979, -1232160], [9]),
        (1678960711, "1d", "*w 2y", "friday", 23,
         [-3447899, -3441110, -2903784, -2446190, -2289425, -1580532, -1089598, -998922, -961330, -793725], [0, 3, 5, 7]),
        (1618850476, "no", "*m", "sunday", 0,
         [-32038576, -24499554, -23670056, -23324860, -19569314, -14507990, -12976008, -11643016, -10053603, -7378618,
          -6859819, -3729954, -3725675, -2309524, -1808268, -583734], [0, 1, 4, 5, 8, 9, 11, 15]),
        (1683539699, "3h", "0h 2d 2w 2m 1y", "wednesday", 12,
         [-3331847, -2754506, -2619788, -1932924, -1546300, -851516, -614055, -407779, -349216, -206991], [0, 1, 4, 5, 7, 9]),
        (1651186457, "no", "20d 10w *m", "sunday", 0,
         [-34190266, -33555308, -30580938, -29527265, -27765901, -22246794, -22181840, -14541314, -13626131, -10511256,
          -9324114, -7356637, -7282145, -4526222, -4026516, -3467499], [0, 1, 2, 4, 5, 7, 9, 10, 13, 14]),
    ],
)
def test_matches_schedule(now: int, preserve_min: str, preserve: str, dow: str, hod: int, offsets: list[int],
                          kept: list[int]) -> None:
    """Vectors produced by running btrbk's `schedule()` itself (`btrbk` at 2bda102f, subs
    `cmp_date` to `_format_preserve_delta`, perl 5.36, TZ=UTC, `preserve_date_in_future => 1`,
    logging stubbed) on random snapshot times; `kept` are the indices it preserved."""
    rule = BtrbkPreserve.from_setting(preserve_min, preserve, dow, hod)
    assert rule.keep(snaps([now + o for o in offsets]), now) == set(kept)


# --- properties --------------------------------------------------------------------------------

counts = st.one_of(st.none(), st.just("*"), st.integers(0, 20))


@st.composite
def rules(draw: st.DrawFn) -> BtrbkPreserve:
    items = [f"{n}{unit}" for unit in "hdwmy" if (n := draw(counts)) is not None]
    preserve_min = draw(st.one_of(st.sampled_from(["latest", "no"]),
                                  st.builds("{}{}".format, st.integers(0, 5), st.sampled_from("hdwmy"))))
    return BtrbkPreserve.from_setting(preserve_min, " ".join(items) or "no",
                                      draw(st.sampled_from(list(DAY_OF_WEEK))), draw(st.integers(0, 23)))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[BtrbkPreserve, list[Snapshot], int]:
    rule = draw(rules())
    now = draw(st.integers(1_500_000_000, 1_800_000_000))
    span = draw(st.sampled_from([6 * H, 10 * D, 90 * D, 1000 * D]))
    times = sorted(draw(st.lists(st.integers(now - span, now), max_size=40)))
    return rule, snaps(times), now


@settings(max_examples=300, deadline=None, derandomize=True)
@given(worlds())
def test_properties(world: tuple[BtrbkPreserve, list[Snapshot], int]) -> None:
    rule, snapshots, now = world
    kept = rule.keep(snapshots, now)
    assert kept <= {s.id for s in snapshots}
    # thinning twice at the same moment changes nothing
    assert rule.keep([s for s in snapshots if s.id in kept], now) == kept
    # at most one snapshot per hour is kept beyond preserve_min's reach
    beyond = [s for s in snapshots if s.id in kept and not _min_keeps(rule, s, snapshots, now)]
    assert len({int(s.created_s // H) for s in beyond}) == len(beyond)
    # within an hour, a kept snapshot beyond preserve_min's reach is that hour's first
    for s in beyond:
        assert s.id == min((o for o in snapshots if o.created_s // H == s.created_s // H), key=lambda o: (o.created_s, o.id)).id


def _min_keeps(rule: BtrbkPreserve, snap: Snapshot, snapshots: list[Snapshot], now: int) -> bool:
    """Whether preserve_min alone keeps `snap` (a rule with preserve `no` says)."""
    alone = BtrbkPreserve(rule.min_unit, rule.min_count, dict.fromkeys("hdwmy", 0.0), rule.day_of_week, rule.hour_of_day)
    return snap.id in alone.keep(snapshots, now)


def test_weeks_roll_over_at_preserve_day_and_hour() -> None:
    """One snapshot an hour for three weeks, `*w` on Tuesdays at 05:00: each kept one is the first
    at or after a Tuesday 05:00 (bar the oldest, first of its partial week)."""
    start = at("2023-10-30T00:00")
    times = [start + k * H for k in range(21 * 24)]
    rule = BtrbkPreserve.from_setting("no", "*w", "tuesday", 5)
    kept = [datetime.fromtimestamp(times[i], UTC) for i in sorted(rule.keep(snaps(times), times[-1] + H))]
    assert kept[0] == datetime.fromtimestamp(start, UTC)
    assert all(k.strftime("%a %H:%M") == "Tue 05:00" for k in kept[1:])
    assert [b - a for a, b in zip(kept[1:], kept[2:])] == [timedelta(weeks=1)] * (len(kept) - 2)
