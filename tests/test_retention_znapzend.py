"""znapzend's retention plan (`sim.retention.znapzend`) against znapzend's own rules.

Sources, `github:oetiker/znapzend` at f45331bf: `lib/ZnapZend/Time.pm` (`getSnapshotsToDestroy`,
`backupPlanToHash`), `lib/ZnapZend/Config.pm` (`$checkBackupPlan`), `doc/znapzendzetup.pod`,
`t/znapzendzetup.t` and the plans in `t/zfs`.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.retention.grammar import Snapshot
from sim.retention.znapzend import Band, ZnapzendPlan

H = 3600
D = 24 * H
T0 = 1_700_000_100  # a multiple of 900: 15 min, 10 min and 5 min slots start here


def snaps(times: list[float]) -> list[Snapshot]:
    """Snapshots with ids 0.. in the given (oldest first) order."""
    return [Snapshot(i, t, f"s{i}") for i, t in enumerate(times)]


@pytest.mark.parametrize(
    ("plan", "bands"),
    [
        # doc/znapzendzetup.pod, "create": the two examples
        ("1week=>30min", [(7 * D, 1800)]),
        ("10year=>2day", [(10 * 365.25 * D, 2 * D)]),
        # the brief's example, and the plan that t/znapzendzetup.t creates
        ("1h=>15min,3d=>1h", [(H, 900), (3 * D, H)]),
        ("1h=>10min", [(H, 600)]),
        # t/zfs: src_plan, dst_0_plan, dst_a_plan, dst_fail_plan (normalised unit names)
        ("1hours=>10minutes,30minutes=>5minutes,1minutes=>6seconds", [(60, 6), (1800, 300), (H, 600)]),
        ("1hours=>10minutes,30minutes=>5minutes,10minutes=>60seconds", [(600, 60), (1800, 300), (H, 600)]),
        ("1hours=>10minutes,40minutes=>5minutes,20minutes=>60seconds", [(1200, 60), (2400, 300), (H, 600)]),
        ("1hours=>1minutes", [(H, 60)]),
        # Config.pm lower-cases and drops blanks; Perl's split ignores a trailing comma
        (" 1H => 15 MIN , 3d=>1h ", [(H, 900), (3 * D, H)]),
        ("1h=>15min,", [(H, 900)]),
        # months are 30 days, years 365.25 days (Time.pm unitFactors)
        ("2mon=>1w,1y=>1m", [(60 * D, 7 * D), (365.25 * D, 30 * D)]),
    ],
)
def test_plan_parses(plan: str, bands: list[tuple[float, float]]) -> None:
    assert ZnapzendPlan.from_setting(plan).bands == tuple(Band(r, i) for r, i in bands)


@pytest.mark.parametrize(
    "unit",
    ["s", "sec", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hour", "hours",
     "d", "day", "days", "w", "week", "weeks", "m", "mon", "mons", "month", "months", "y", "year", "years"],
)
def test_every_unit_of_configunits_is_accepted(unit: str) -> None:
    """Time.pm `configUnits` keys and values: each names a unit."""
    ZnapzendPlan.from_setting(f"100{unit}=>1s")


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("1h=>", "expected <retention>=><interval>"),
        ("=>15min", "expected <retention>=><interval>"),
        ("1h", "expected <retention>=><interval>"),
        ("", "empty"),
        (",", "empty"),
        (",1h=>15min", "expected <retention>=><interval>"),
        ("1h=>15min,,1d=>1h", "expected <retention>=><interval>"),
        ("33asdf=>10min", 'unknown unit "asdf"'),  # t/znapzendzetup.t: edit fails
        ("33sec=>10min", "shorter than interval"),  # t/znapzendzetup.t: edit fails
        ("1h=>15min=>3", "is not <number><unit>"),
        ("1.5h=>1min", "is not <number><unit>"),
        ("-1h=>1min", "is not <number><unit>"),
        ("h=>1min", "is not <number><unit>"),
        ("1secs=>1s", 'unknown unit "secs"'),
        ("0h=>1min", "is zero"),
        ("1h=>0min", "is zero"),
        ("1h=>10min,60min=>5min", "given twice"),  # Time.pm: "retention time already specified"
    ],
)
def test_malformed_plan_is_refused(plan: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        ZnapzendPlan.from_setting(plan)
    assert f'znapzend plan "{plan}"' in str(raised.value)


def test_one_per_epoch_aligned_slot_the_oldest_stays() -> None:
    """1h=>15min: slots start at multiples of 900 s since the epoch, whatever `now` is."""
    plan = ZnapzendPlan.from_setting("1h=>15min")
    times = [T0 + 1, T0 + 899, T0 + 900, T0 + 1000, T0 + 1799, T0 + 2700]
    assert plan.keep(snaps(times), T0 + 3000) == {0, 2, 5}


def test_band_edge_is_inclusive_and_older_than_every_band_goes() -> None:
    """Time.pm: a snapshot exactly `retention` old is in that band (`$key >= $snapshotAge`)."""
    plan = ZnapzendPlan.from_setting("1h=>15min,1d=>1h")
    now = T0 + D
    assert plan.keep(snaps([now - D - 1, now - D, now - H - 1, now - H]), now) == {1, 2, 3}


def test_bands_have_separate_slots() -> None:
    """A 1 h slot claimed in the 1d band does not hide a 15 min slot of the 1h band."""
    plan = ZnapzendPlan.from_setting("1h=>15min,1d=>1h")
    now = T0 + 9000
    times = [T0 + 5390, T0 + 5410]  # one hour slot; the first is in the 1d band, the second in the 1h band
    assert plan.keep(snaps(times), now) == {0, 1}


def test_newest_is_only_kept_when_created_at_now() -> None:
    """Time.pm protects `$snapshotTimestamp == $time` only; a newer snapshot in a taken slot goes."""
    plan = ZnapzendPlan.from_setting("1h=>15min")
    times = [T0, T0 + 300]
    assert plan.keep(snaps(times), T0 + 301) == {0}
    assert plan.keep(snaps(times), T0 + 300) == {0, 1}


def test_nothing_left_when_all_are_too_old() -> None:
    plan = ZnapzendPlan.from_setting("1h=>15min")
    assert plan.keep(snaps([T0, T0 + 900]), T0 + 900 + H + 1) == set()


def test_ties_in_created_s_keep_the_first_given() -> None:
    plan = ZnapzendPlan.from_setting("1h=>15min")
    assert plan.keep(snaps([T0 + 5, T0 + 5, T0 + 5]), T0 + 600) == {0}


def test_future_snapshots_compete_in_the_shortest_band() -> None:
    plan = ZnapzendPlan.from_setting("1h=>15min,1d=>1h")
    now = T0 + 100
    assert plan.keep(snaps([T0 + 50, T0 + 200, T0 + 1000]), now) == {0, 2}


def test_empty_input_keeps_nothing() -> None:
    assert ZnapzendPlan.from_setting("1h=>15min").keep([], T0) == set()


@pytest.mark.parametrize(
    ("plan", "now", "offsets", "kept"),
    [
        ("1h=>15min,1d=>1h,1w=>1d", 1700339563, [-715245, -645718, -458211, -328783, -310426, -189218, -168804, -74008,
                                                 -67575, -37964], [2, 3, 5, 7, 8, 9]),
        ("1h=>15min,1d=>1h,1w=>1d", 1700577814, [-744922, -495823, -460376, -458375, -448875, -444582, -437672, -425108,
                                                 -329543, -173823, -104707, -48638, -46475, -38989], [1, 2, 8, 9, 10, 11, 13]),
        ("1h=>15min,1d=>1h,1w=>1d", 1700587472, [-611088, -559889, -486690, -449103, -443728, -418059, -390300, -147711,
                                                 -81026, -76603], [1, 2, 6, 7, 8, 9]),
        ("2h=>10min", 1700488218, [-8735, -7299, -5699, -4791, -4634, -4201, -3384, -3214, -3201, -2810, -2325, -1682, -1544,
                                   -766, -685], [2, 3, 5, 6, 9, 10, 11, 13]),
        ("2h=>10min", 1700442182, [-9004, -7659, -7385, -5223, -4648, -3277, -3183, -726], [3, 4, 5, 7]),
        ("2h=>10min", 1700835601, [-8804, -8302, -6843, -6707, -6524, -6376, -5409, -4171, -3327, -3247, -2897, -2526, -876,
                                   -643, -608], [2, 4, 6, 7, 8, 10, 12]),
        ("1hours=>10minutes,30minutes=>5minutes,10minutes=>60seconds", 1700640595,
         [-4290, -3455, -2323, -2310, -1879, -1862, -1345, -1021, -778], [1, 2, 6, 7, 8]),
        ("1hours=>10minutes,30minutes=>5minutes,10minutes=>60seconds", 1700291335,
         [-4482, -4138, -4043, -3834, -1943, -1679, -1303, -1085, -824, -706], [4, 5, 6, 7, 8]),
        ("1hours=>10minutes,30minutes=>5minutes,10minutes=>60seconds", 1700244670,
         [-4460, -2757, -2650, -2269, -1960, -1728, -1229, -19], [1, 3, 5, 6, 7]),
    ],
)
def test_matches_getsnapshotstodestroy(plan: str, now: int, offsets: list[int], kept: list[int]) -> None:
    """Vectors produced by running `getSnapshotsToDestroy` itself (lib/ZnapZend/Time.pm at f45331bf,
    perl 5.36, Mojo::Base replaced by a bare package, names carrying epoch seconds) on random
    snapshot times; `kept` are the indices it did not return for destruction."""
    got = ZnapzendPlan.from_setting(plan).keep(snaps([now + o for o in offsets]), now)
    assert got == set(kept)


# --- properties --------------------------------------------------------------------------------

INTERVALS = [60, 300, 900, H, D, 7 * D]


@st.composite
def plans(draw: st.DrawFn) -> ZnapzendPlan:
    items = draw(st.lists(st.tuples(st.sampled_from(INTERVALS), st.integers(1, 12)), min_size=1, max_size=3))
    bands = {interval * factor: interval for interval, factor in items}
    return ZnapzendPlan(tuple(Band(r, bands[r]) for r in sorted(bands)))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[ZnapzendPlan, list[Snapshot], int]:
    plan = draw(plans())
    now = draw(st.integers(1_000_000_000, 2_000_000_000))
    span = int(plan.bands[-1].retention_s * 1.5)
    times = sorted(draw(st.lists(st.integers(now - span, now + 600), max_size=30)))
    return plan, snaps(times), now


@settings(max_examples=300, deadline=None, derandomize=True)
@given(worlds())
def test_properties(world: tuple[ZnapzendPlan, list[Snapshot], int]) -> None:
    plan, snapshots, now = world
    kept = plan.keep(snapshots, now)
    assert kept <= {s.id for s in snapshots}
    # the first snapshot of each (band, slot) stays; any other kept one was created at now
    firsts: dict[tuple[float, int], int] = {}
    for s in snapshots:
        band = next((b for b in plan.bands if b.retention_s >= now - s.created_s), None)
        if band is None:
            assert s.id not in kept
            continue
        first = firsts.setdefault((band.retention_s, int(s.created_s // band.interval_s)), s.id)
        assert (s.id in kept) == (first == s.id or s.created_s == now)
    # thinning twice at the same moment changes nothing
    assert plan.keep([s for s in snapshots if s.id in kept], now) == kept
