"""zfs-autobackup's thinner (`sim.retention.thinner`) against zfs-autobackup's own tests.

Sources, `github:psy0rz/zfs_autobackup` at a805889c: `zfs_autobackup/Thinner.py`,
`zfs_autobackup/ThinnerRule.py`, `zfs_autobackup/ZfsDataset.py` (`thin`) and
`tests/test_thinner.py`, whose vectors are ported here.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.retention.grammar import Snapshot
from sim.retention.thinner import Thinner, ThinnerRule

H = 3600
D = 24 * H
T0 = 1_700_006_400  # a multiple of a day: 2023-11-15T00:00 UTC


def snaps(times: list[float]) -> list[Snapshot]:
    """Snapshots with ids 0.. in the given (oldest first) order."""
    return [Snapshot(i, t, f"s{i}") for i, t in enumerate(times)]


# --- parsing -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("schedule", "always_keep", "rules"),
    [
        # ZfsAutobackup.py: the default of --keep-source and --keep-target
        ("10,1d1w,1w1m,1m1y", 10, [(D, 7 * D), (7 * D, 30 * D), (30 * D, 365.25 * D)]),
        # tests/test_thinner.py
        ("5,10s1min,1d1w,1w1m,1m12m,1y5y", 5,
         [(10, 60), (D, 7 * D), (7 * D, 30 * D), (30 * D, 360 * D), (365.25 * D, 5 * 365.25 * D)]),
        # ThinnerRule.py docstring examples
        ("1d1w", 0, [(D, 7 * D)]),
        ("1w1m", 0, [(7 * D, 30 * D)]),
        ("1m6m", 0, [(30 * D, 180 * D)]),
        ("1y2y", 0, [(365.25 * D, 730.5 * D)]),
        ("1s1d", 0, [(1, D)]),
        ("1s1s", 0, [(1, 1)]),
        ("1H1D", 0, [(H, D)]),  # lower-cased
        ("5,3", 3, []),  # a count given twice: the last wins
        ("0", 0, []),
        ("", 0, []),
    ],
)
def test_schedule_parses(schedule: str, always_keep: int, rules: list[tuple[float, float]]) -> None:
    thinner = Thinner.from_setting(schedule)
    assert (thinner.always_keep, thinner.rules) == (always_keep, tuple(ThinnerRule(p, t) for p, t in rules))


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        # tests/test_thinner.py, test_exceptions: "Invalid period", "Invalid ttl", "Period cant be",
        # "Invalid schedule", "Number of"
        ("12X12m", 'unknown unit "x"'),
        ("12d12X", 'unknown unit "x"'),
        ("12d1d", "period can't be longer than ttl"),
        ("XXX", '"XXX" is not a count or <period><unit><ttl><unit>'),
        ("-1", "can't be negative"),
        # and more
        ("10,", '"" is not a count'),
        ("10, 1d1w", '" 1d1w" is not a count'),
        ("1d1w2", '"1d1w2" is not'),
        ("1d", '"1d" is not'),
        ("0d1w", "period of \"0d1w\" is zero"),
        ("1day1w", 'unknown unit "day"'),
    ],
)
def test_malformed_schedule_is_refused(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Thinner.from_setting(schedule)
    assert f'thinner schedule "{schedule}"' in str(raised.value)


# --- tests/test_thinner.py ---------------------------------------------------------------------

TEST_THINNER_INCREMENTAL = [
    "2023-01-03 10:53:16", "2024-01-02 15:43:29", "2025-01-01 06:15:32", "2026-01-01 02:48:23", "2026-04-07 20:07:36",
    "2026-05-07 02:30:29", "2026-06-06 01:19:46", "2026-07-06 06:38:09", "2026-08-05 05:08:53", "2026-09-04 03:33:04",
    "2026-10-04 05:27:09", "2026-11-04 04:01:17", "2026-12-03 13:49:56", "2027-01-01 17:02:00", "2027-01-03 04:26:42",
    "2027-02-01 14:16:02", "2027-02-12 03:31:02", "2027-02-18 00:33:10", "2027-02-26 21:09:54", "2027-03-02 08:05:18",
    "2027-03-03 16:46:09", "2027-03-04 06:39:14", "2027-03-06 03:35:41", "2027-03-08 12:24:42", "2027-03-08 20:34:57",
]
TEST_THINNER_FULL = [
    "2022-03-09 01:56:23", "2023-01-03 10:53:16", "2024-01-02 15:43:29", "2025-01-01 06:15:32", "2026-01-01 02:48:23",
    "2026-03-14 09:08:04", "2026-04-07 20:07:36", "2026-05-07 02:30:29", "2026-06-06 01:19:46", "2026-07-06 06:38:09",
    "2026-08-05 05:08:53", "2026-09-04 03:33:04", "2026-10-04 05:27:09", "2026-11-04 04:01:17", "2026-12-03 13:49:56",
    "2027-01-01 17:02:00", "2027-01-03 04:26:42", "2027-02-01 14:16:02", "2027-02-08 02:41:14", "2027-02-12 03:31:02",
    "2027-02-18 00:33:10", "2027-02-26 21:09:54", "2027-03-02 08:05:18", "2027-03-03 16:46:09", "2027-03-04 06:39:14",
    "2027-03-06 03:35:41", "2027-03-08 12:24:42", "2027-03-08 20:34:57",
]


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


@pytest.mark.parametrize("incremental", [True, False], ids=["test_incremental", "test_full"])
def test_port_of_test_thinner(incremental: bool) -> None:
    """tests/test_thinner.py, `test_incremental` and `test_full`: from `now=1589229252`, 5000 steps
    of `randint_compat(0, 3600*24)` seconds (`lo + int(random.random() * (hi + 1 - lo))`), each
    adding a snapshot when `random.random() >= 0.5`, under random.seed(1337); thinned with
    "5,10s1min,1d1w,1w1m,1m12m,1y5y" and no keep_objects, after every step or once at the end.
    A private `random.Random(1337)` replays the same Mersenne Twister sequence."""
    rng = random.Random(1337)
    thinner = Thinner.from_setting("5,10s1min,1d1w,1w1m,1m12m,1y5y", keep_newest=False)
    now = 1589229252
    things: list[Snapshot] = []
    for i in range(5000):
        now += int(rng.random() * (3600 * 24 + 1))
        if rng.random() >= 0.5:
            things.append(Snapshot(i, now, _utc(now)))
        if incremental:
            kept = thinner.keep(things, now)
            things = [t for t in things if t.id in kept]
    if not incremental:
        kept = thinner.keep(things, now)
        things = [t for t in things if t.id in kept]
    assert [t.name for t in things] == (TEST_THINNER_INCREMENTAL if incremental else TEST_THINNER_FULL)


# --- the rules, by hand --------------------------------------------------------------------------

def test_one_per_epoch_aligned_block_the_oldest_stays() -> None:
    thinner = Thinner.from_setting("1d1w", keep_newest=False)
    times = [T0 - 1, T0, T0 + 5 * H, T0 + D - 1, T0 + D]
    assert thinner.keep(snaps(times), T0 + 2 * D) == {0, 1, 4}


def test_ttl_edge_is_inclusive() -> None:
    """Thinner.py: a rule applies while `age <= rule.ttl`."""
    thinner = Thinner.from_setting("1d1w", keep_newest=False)
    now = T0 + 7 * D
    assert thinner.keep(snaps([T0 - 1, T0]), now) == {1}
    assert thinner.keep(snaps([T0]), now + 1) == set()


def test_times_are_truncated_to_whole_seconds() -> None:
    """Thinner.py: "important they are ints!" A snapshot 0.9 s past the ttl is still in reach."""
    thinner = Thinner.from_setting("1d1w", keep_newest=False)
    assert thinner.keep(snaps([T0 + 0.5]), T0 + 7 * D + 0.9) == {0}


def test_a_too_old_snapshot_does_not_take_a_block() -> None:
    """Only a snapshot within the ttl claims a block: here the later one of the day stays."""
    thinner = Thinner.from_setting("1d1w", keep_newest=False)
    assert thinner.keep(snaps([T0 + H, T0 + 3 * H]), T0 + 7 * D + 2 * H) == {1}


def test_rules_with_one_period_share_blocks() -> None:
    """Thinner.py keys blocks by period: `1d1w,1d2w` acts as `1d2w`."""
    times = [T0 + k * 6 * H for k in range(14 * 4)]
    now = times[-1]
    assert Thinner.from_setting("1d1w,1d2w", keep_newest=False).keep(snaps(times), now) == Thinner.from_setting(
        "1d2w", keep_newest=False).keep(snaps(times), now)


def test_always_keep_the_newest_n() -> None:
    """Thinner.py: the last `always_keep` objects, by position; all when there are no more."""
    thinner = Thinner.from_setting("3", keep_newest=False)
    assert thinner.keep(snaps([T0, T0 + 1, T0 + 2, T0 + 2, T0 + 2]), T0 + 10) == {2, 3, 4}
    assert thinner.keep(snaps([T0, T0 + 1]), T0 + 10) == {0, 1}


def test_newest_kept_by_default_as_zfsdataset_thin_does() -> None:
    """ZfsDataset.thin passes `keep_objects=self.our_snapshots[-1:]`."""
    times = [T0, T0 + H]
    assert Thinner.from_setting("1d1w").keep(snaps(times), T0 + 2 * H) == {0, 1}
    assert Thinner.from_setting("1d1w", keep_newest=False).keep(snaps(times), T0 + 2 * H) == {0}
    assert Thinner.from_setting("").keep(snaps(times), T0 + 2 * H) == {1}


def test_future_snapshots_compete_for_blocks() -> None:
    thinner = Thinner.from_setting("1d1w", keep_newest=False)
    assert thinner.keep(snaps([T0 + H, T0 + 2 * H, T0 + D + H]), T0) == {0, 2}


def test_empty_input_keeps_nothing() -> None:
    assert Thinner.from_setting("10,1d1w,1w1m,1m1y").keep([], T0) == set()


def test_default_schedule_on_hourly_snapshots() -> None:
    """The default "10,1d1w,1w1m,1m1y" over 400 days of hourly snapshots up to Wed 2023-11-15
    00:00 UTC: the 10 newest; 00:00 of each day for a week; epoch weeks (they start on Thursdays)
    for 30 days, the first in reach being Mon 2023-10-16; 30-day epoch blocks for 365.25 days,
    the first in reach being 18:00 (365.25 days is not whole)."""
    times = [T0 - k * H for k in range(400 * 24)][::-1]
    kept = Thinner.from_setting("10,1d1w,1w1m,1m1y").keep(snaps(times), times[-1])
    assert [time.strftime("%Y-%m-%d %a %H:%M", time.gmtime(times[i])) for i in sorted(kept)] == [
        "2022-11-14 Mon 18:00", "2022-11-24 Thu 00:00", "2022-12-24 Sat 00:00", "2023-01-23 Mon 00:00",
        "2023-02-22 Wed 00:00", "2023-03-24 Fri 00:00", "2023-04-23 Sun 00:00", "2023-05-23 Tue 00:00",
        "2023-06-22 Thu 00:00", "2023-07-22 Sat 00:00", "2023-08-21 Mon 00:00", "2023-09-20 Wed 00:00",
        "2023-10-16 Mon 00:00", "2023-10-19 Thu 00:00", "2023-10-20 Fri 00:00", "2023-10-26 Thu 00:00",
        "2023-11-02 Thu 00:00", "2023-11-08 Wed 00:00", "2023-11-09 Thu 00:00", "2023-11-10 Fri 00:00",
        "2023-11-11 Sat 00:00", "2023-11-12 Sun 00:00", "2023-11-13 Mon 00:00", "2023-11-14 Tue 00:00",
    ] + [f"2023-11-14 Tue {h}:00" for h in range(15, 24)] + ["2023-11-15 Wed 00:00"]


# --- properties --------------------------------------------------------------------------------

PERIODS = ["10s", "1min", "1h", "1d", "1w", "1m"]
TTLS = {"10s": ["1min", "1h"], "1min": ["1h", "1d"], "1h": ["1d", "1w"], "1d": ["1w", "1m"], "1w": ["1m", "6m"],
        "1m": ["1y", "12m"]}


@st.composite
def thinners(draw: st.DrawFn) -> Thinner:
    periods = draw(st.lists(st.sampled_from(PERIODS), max_size=3, unique=True))
    items = [p + draw(st.sampled_from(TTLS[p])) for p in periods]
    if draw(st.booleans()):
        items.insert(0, str(draw(st.integers(0, 6))))
    return Thinner.from_setting(",".join(items), keep_newest=draw(st.booleans()))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Thinner, list[Snapshot], int]:
    thinner = draw(thinners())
    now = draw(st.integers(1_000_000_000, 2_000_000_000))
    span = draw(st.sampled_from([120, 2 * D, 60 * D, 800 * D]))
    times = sorted(draw(st.lists(st.integers(now - span, now), max_size=40)))
    return thinner, snaps(times), now


@settings(max_examples=300, deadline=None, derandomize=True)
@given(worlds())
def test_properties(world: tuple[Thinner, list[Snapshot], int]) -> None:
    thinner, snapshots, now = world
    kept = thinner.keep(snapshots, now)
    ids = [s.id for s in snapshots]
    assert kept <= set(ids)
    assert set(ids[len(ids) - thinner.always_keep:] if thinner.always_keep else []) <= kept
    if thinner.keep_newest and ids:
        assert ids[-1] in kept
    # thinning twice at the same moment changes nothing
    assert thinner.keep([s for s in snapshots if s.id in kept], now) == kept
    # the oldest snapshot of each block in reach of a rule stays
    for rule in thinner.rules:
        in_reach = [s for s in snapshots if now - s.created_s <= rule.ttl_s]
        firsts = {int(s.created_s / rule.period_s): s.id for s in reversed(in_reach)}
        assert set(firsts.values()) <= kept
    # without counts or the newest, each kept snapshot is the first of some rule's block
    if not thinner.always_keep and not thinner.keep_newest:
        claimed = set()
        for rule in thinner.rules:
            in_reach = [s for s in snapshots if now - s.created_s <= rule.ttl_s]
            claimed |= set({int(s.created_s / rule.period_s): s.id for s in reversed(in_reach)}.values())
        assert kept == claimed
