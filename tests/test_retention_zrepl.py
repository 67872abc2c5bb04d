"""zrepl's keep rules (`grid`, `last_n`, `not_replicated`) against zrepl's own test vectors and docs.

Vectors are ported from zrepl (github.com/zrepl/zrepl, commit b93a06d); each test names its
source file. Times are whole seconds after `BASE`, so bucket edges are decided exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.retention.grammar import Grammar, Snapshot, kept_by_all
from sim.retention.zrepl_grid import GridInterval, ZreplGrid, fit_grid, parse_duration, parse_grid
from sim.retention.zrepl_last_n import ZreplLastN, ZreplNotReplicated

BASE = 1_700_000_000
MIN = 60
HOUR = 3600
DAY = 86_400

PROPERTIES = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def snapshots(*entries: tuple[str, float] | tuple[str, float, bool]) -> list[Snapshot]:
    """Snapshots named and timed (seconds after BASE) as given, ids in creation order (stable on ties)."""
    ordered = sorted(entries, key=lambda entry: entry[1])
    return [Snapshot(index, BASE + entry[1], entry[0], *entry[2:]) for index, entry in enumerate(ordered)]


def kept_names(rules: Sequence[Grammar], snaps: Sequence[Snapshot], now_s: float = BASE + 10 * 365 * DAY) -> set[str]:
    ids = kept_by_all(rules, snaps, now_s)
    return {snapshot.name for snapshot in snaps if snapshot.id in ids}


# --- grid: zrepl's vectors -------------------------------------------------------------------

# internal/pruning/retentiongrid/retentiongrid_test.go builds grids from "<duration>,<keep>"
# lists ("10m,-1|10m"); here each is written in zrepl's config syntax ("1x10m(keep=all) | 1x10m").
# (test name, spec, explicit now (seconds after BASE) or None for FitEntries' youngest, [(name, t, kept)])
GRID_VECTORS = [
    (
        "TestIntervalBoundariesAndAlignment",
        "1x10m | 1x10m | 1x10m",
        0,
        [
            ("0", 1 * MIN, True),  # younger than now: kept unconditionally
            ("1", 0, True),  # 1st bucket's younger edge: inclusive
            ("2", -10 * MIN, True),  # 2nd bucket's younger edge: inclusive
            ("3", -20 * MIN, True),  # 3rd bucket's younger edge: inclusive
            ("4", -30 * MIN, False),  # 3rd bucket's older edge: exclusive
            ("5", -40 * MIN, False),  # older than the last bucket
        ],
    ),
    (
        "TestKeepsOldestSnapsInABucket",
        "1x1m(keep=2)",
        None,
        [("1", 1, True), ("2", 2, True), ("3", 3, False), ("4", 4, False), ("5", 5, False)],
    ),
    (
        "TestRespectsKeepCountAll",
        "1x1m(keep=all) | 1x1m",
        None,
        [("a", 0, True), ("b", -1, True), ("c", -2, True), ("d", -60, False), ("e", -61, True)],
    ),
    (
        "TestComplex",
        "1x10m(keep=all) | 1x10m | 1x10m(keep=2) | 1x1h",
        0,
        [
            ("1", 3 * MIN, True),
            ("b1", -6 * MIN, True),
            ("b3", -8 * MIN, True),
            ("b2", -9 * MIN, True),
            ("a", -11 * MIN, False),
            ("c", -19 * MIN, True),
            ("foo", -25 * MIN, True),
            ("bar", -26 * MIN, True),
            ("border", -30 * MIN, False),
            ("d", -75 * MIN, True),
            ("q", -90 * MIN, False),
            ("e", -91 * MIN, False),
            ("f", -120 * MIN, False),
        ],
    ),
]


@pytest.mark.parametrize(("name", "spec", "now", "entries"), GRID_VECTORS, ids=[vector[0] for vector in GRID_VECTORS])
def test_grid_zrepl_vectors(name: str, spec: str, now: float | None, entries: list[tuple[str, float, bool]]) -> None:
    """Ported from zrepl internal/pruning/retentiongrid/retentiongrid_test.go (4 of its 5 tests).

    Tests calling `fitEntriesWithNow` with an explicit now use `fit_grid`; those calling
    `FitEntries` (now = youngest) use `ZreplGrid.keep`.
    """
    snaps = snapshots(*((entry[0], entry[1]) for entry in entries))
    if now is None:
        ids = ZreplGrid.from_setting(spec).keep(snaps, BASE + 10 * DAY)
    else:
        ids = fit_grid(parse_grid(spec), snaps, BASE + now)
    assert {s.name for s in snaps if s.id in ids} == {entry[0] for entry in entries if entry[2]}


def test_grid_zrepl_empty_input() -> None:
    """Ported from zrepl internal/pruning/retentiongrid/retentiongrid_test.go, TestEmptyInput."""
    assert ZreplGrid.from_setting("1x10m | 1x10m | 1x10m | 1x1h").keep([], BASE) == set()
    assert fit_grid(parse_grid("1x10m | 1x10m | 1x10m | 1x1h"), [], BASE) == set()


def test_grid_zrepl_disjoint_regexes() -> None:
    """Ported from zrepl internal/pruning/pruning_test.go, multiple_grids_with_disjoint_regexes.

    Each grid is anchored at the youngest snapshot its own regex matches.
    """
    snaps = snapshots(("p1_a", 4), ("p2_a", 5), ("p1_b", 14), ("p2_b", 15), ("p1_c", 29), ("p2_c", 30))
    rules = [ZreplGrid.from_setting("1x10s | 1x10s", "^p1_"), ZreplGrid.from_setting("1x10s | 1x10s", "^p2_")]
    assert kept_names(rules, snaps) == {"p1_b", "p2_b", "p1_c", "p2_c"}


# --- grid: zrepl's documentation ------------------------------------------------------------

# docs/configuration/prune.rst, policy `grid`: the example timeline, one column = 6 minutes,
# its left edge (0h) being "now".
DOC_TIMELINE = "| a  b  c | d  e  f  g  h  i  j  k  l  m  n  o  p |q  r  s  t  u  v  w  x  y  z |A  B  C  D"


def test_grid_docs_example() -> None:
    """docs/configuration/prune.rst: ``1x1h(keep=all) | 2x2h | 1x3h`` keeps a, b, c, i, p and z.

    The diagram draws the grid from its left edge; `ZreplGrid` anchors it at the youngest
    snapshot @a (12 minutes later), which moves the edges and so what stays.
    """
    snaps = snapshots(*((char, -6 * MIN * column) for column, char in enumerate(DOC_TIMELINE) if char.isalpha()))
    intervals = parse_grid("1x1h(keep=all) | 2x2h | 1x3h")
    assert {s.name for s in snaps if s.id in fit_grid(intervals, snaps, BASE)} == set("abciz") | {"p"}
    anchored = ZreplGrid(intervals).keep(snaps, BASE)
    assert {s.name for s in snaps if s.id in anchored} == set("abcjq") | {"A"}


@pytest.mark.parametrize(
    ("spec", "every_s", "span_s", "expected"),
    [
        # internal/config/samples/pull.yml, keep_sender: 1 + 24 + 14 of 30 days of hourlies
        ("1x1h(keep=all) | 24x1h | 14x1d", HOUR, 30 * DAY, 1 + 24 + 14),
        # the same every 10 minutes (prune.rst's example snapshots every 10m): 6 in the first hour
        ("1x1h(keep=all) | 24x1h | 14x1d", 10 * MIN, 30 * DAY, 6 + 24 + 14),
        # internal/config/samples/pull.yml, keep_receiver, over 400 days of hourlies
        ("1x1h(keep=all) | 24x1h | 35x1d | 6x30d", HOUR, 400 * DAY, 1 + 24 + 35 + 6),
    ],
)
def test_grid_sample_configs(spec: str, every_s: int, span_s: int, expected: int) -> None:
    """zrepl's sample configs: one snapshot per bucket past the keep=all hour."""
    snaps = [Snapshot(i, BASE + t, f"zrepl_{i}") for i, t in enumerate(range(0, span_s, every_s))]
    assert len(ZreplGrid.from_setting(spec, "^zrepl_.*").keep(snaps, BASE + span_s)) == expected


# --- grid: edge cases -----------------------------------------------------------------------


def test_grid_may_drop_the_newest_snapshot() -> None:
    """With keep=1 in the first bucket the oldest there stays, not the newest."""
    snaps = snapshots(("old", -30 * MIN), ("new", 0))
    assert kept_names([ZreplGrid.from_setting("1x1h | 1x1d")], snaps) == {"old"}
    assert kept_names([ZreplGrid.from_setting("1x1h(keep=all) | 1x1d")], snaps) == {"old", "new"}


def test_grid_ties_keep_the_later_listed() -> None:
    """Same creation second, keep=1: zrepl's stable youngest-first sort leaves the higher id as the older."""
    snaps = [Snapshot(1, BASE - 90, "x"), Snapshot(2, BASE - 90, "y"), Snapshot(3, BASE, "z")]
    assert ZreplGrid.from_setting("1x1m(keep=all) | 1x1h").keep(snaps, BASE) == {2, 3}


def test_grid_regex_keeps_nothing_it_does_not_match() -> None:
    snaps = snapshots(("manual_1", -1), ("zrepl_1", 0))
    assert kept_names([ZreplGrid.from_setting("1x1h(keep=all)", "^zrepl_")], snaps) == {"zrepl_1"}
    assert kept_names([ZreplGrid.from_setting("1x1h(keep=all)", "^none")], snaps) == set()
    # Go's MatchString searches: an unanchored regex matches anywhere in the name.
    assert kept_names([ZreplGrid.from_setting("1x1h(keep=all)", "al_")], snaps) == {"manual_1"}


def test_grid_ignores_now() -> None:
    """The youngest matching snapshot is "now", so a grid stops thinning when snapshots stop."""
    grid = ZreplGrid.from_setting("1x1h | 2x1h")
    snaps = snapshots(("a", -150 * MIN), ("b", -100 * MIN), ("c", -70 * MIN), ("d", -20 * MIN), ("e", 0))
    assert grid.keep(snaps, BASE) == grid.keep(snaps, BASE + 365 * DAY) == {0, 1, 3}


# --- grid: parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "intervals"),
    [
        ("1x1h(keep=all) | 24x1h | 14x1d", [GridInterval(1, HOUR, None), GridInterval(24, HOUR, 1), GridInterval(14, DAY, 1)]),
        ("2x2w(keep=3)", [GridInterval(2, 14 * DAY, 3)]),
        ("1x1h(keep=all) | 1x10m | 1x1h", [GridInterval(1, HOUR, None), GridInterval(1, 10 * MIN, 1), GridInterval(1, HOUR, 1)]),
        ("1 x 15 m|1x+1d", [GridInterval(1, 15 * MIN, 1), GridInterval(1, DAY, 1)]),
    ],
)
def test_grid_spec_parses(spec: str, intervals: list[GridInterval]) -> None:
    """zrepl internal/config/retentiongrid.go and config_duration.go syntax, whitespace included."""
    assert list(parse_grid(spec)) == intervals


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("24x", 'grid interval "24x": expected <count>x<duration>'),
        ("x1h", 'grid interval "x1h": expected <count>x<duration>'),
        ("", 'grid interval "": expected <count>x<duration>'),
        ("1x1h |", 'grid interval "": expected'),
        ("0x1h", 'grid interval "0x1h": count must be positive'),
        ("1x1y", 'duration "1y": expected <integer><unit>'),
        ("1x1h30m", 'duration "1h30m": expected'),
        ("1x1.5h", 'duration "1.5h": expected'),
        ("1x0h", 'duration "0h": must be positive'),
        ("1x0", 'duration "0": must be positive'),
        ("1x-1h", 'duration "-1h": must be positive'),
        ("1x15", 'duration "15": missing time unit'),
        ("1x1h(keep=0)", 'keep must be a positive integer or all, got "0"'),
        ("1x1h(keep=-1)", 'keep must be a positive integer or all, got "-1"'),
        ("1x1h(keep=some)", 'keep must be a positive integer or all, got "some"'),
        ("1x1h(keep=2 )", 'got "2 "'),
        ("1x1h(count=2)", "unknown parameter"),
        ("1x1h(keep=2", "expected <count>x<duration>"),
        ("1x1d | 1x1h", 'grid "1x1d | 1x1h": interval lengths must not decrease'),
        ("1x1h(keep=all) | 1x1d | 1x1h", "must not decrease"),
        (" 3 x 15m |1x90s", "must not decrease"),
    ],
)
def test_grid_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ZreplGrid.from_setting(spec)


def test_grid_regex_errors() -> None:
    with pytest.raises(ValueError, match="grid regex must not be empty"):
        ZreplGrid.from_setting("1x1h", "")
    with pytest.raises(ValueError, match=r'regex "\(": invalid'):
        ZreplGrid.from_setting("1x1h", "(")
    with pytest.raises(ValueError, match="grid None: expected a string"):
        ZreplGrid.from_setting(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "seconds"), [("1s", 1), ("15m", 900), ("1h", HOUR), ("14d", 14 * DAY), ("1w", 7 * DAY)])
def test_durations_zrepl_accepts(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


# --- grid: properties -----------------------------------------------------------------------

LENGTHS_S = [10, MIN, 10 * MIN, HOUR, DAY]


@st.composite
def grid_specs(draw: st.DrawFn) -> str:
    """Valid grid specs: intervals of non-decreasing length, keep 1..3 or all."""
    lengths = sorted(draw(st.lists(st.sampled_from(LENGTHS_S), min_size=1, max_size=4)))
    parts = []
    for length in lengths:
        keep = draw(st.sampled_from(["", "(keep=all)", "(keep=1)", "(keep=2)", "(keep=3)"]))
        parts.append(f"{draw(st.integers(1, 4))}x{length}s{keep}")
    return " | ".join(parts)


@st.composite
def snapshot_lists(draw: st.DrawFn, max_offset_s: int = 3 * DAY) -> list[Snapshot]:
    """Up to 30 snapshots, oldest first, with ties, two name prefixes and random replicated flags."""
    offsets = sorted(draw(st.lists(st.integers(0, max_offset_s), max_size=30)))
    offsets = [offset - draw(st.sampled_from([0, 0, 1])) * (offset % 600) for offset in offsets]  # pull some onto edges
    offsets.sort()
    return [
        Snapshot(i, BASE + offset, f"{draw(st.sampled_from(['zrepl_', 'manual_']))}{i}", draw(st.booleans()))
        for i, offset in enumerate(offsets)
    ]


def zrepl_fit_entries(intervals: Sequence[GridInterval], snaps: Sequence[Snapshot]) -> set[int]:
    """A literal transliteration of zrepl's Grid.FitEntries (retentiongrid.go): expanded buckets, Contains."""
    if not snaps:
        return set()
    entries = sorted(snaps, key=lambda s: -s.created_s)  # stable: ties keep the pruner's txg order
    now = entries[0].created_s
    buckets: list[tuple[int, float, float, list[Snapshot]]] = []
    older_than_or_eq = now
    for interval in intervals:
        for _ in range(interval.repeat):
            buckets.append((interval.keep or -1, older_than_or_eq - interval.length_s, older_than_or_eq, []))
            older_than_or_eq -= interval.length_s
    keep: set[int] = set()
    for entry in entries:
        for _, younger_than, older_eq, members in buckets:
            if younger_than < entry.created_s <= older_eq:
                members.append(entry)
                break
    for keep_count, _, _, members in buckets:
        if keep_count == -1 or len(members) <= keep_count:
            keep.update(s.id for s in members)
        else:
            keep.update(s.id for s in sorted(members, key=lambda s: -s.created_s)[len(members) - keep_count :])
    return keep


@PROPERTIES
@given(grid_specs(), snapshot_lists())
def test_grid_matches_zrepl_algorithm(spec: str, snaps: list[Snapshot]) -> None:
    """The grouped-bucket fit agrees with zrepl's expanded-bucket algorithm, regex applied first."""
    matching = [s for s in snaps if s.name.startswith("zrepl_")]
    expected = zrepl_fit_entries(parse_grid(spec), matching)
    assert ZreplGrid.from_setting(spec, "^zrepl_").keep(snaps, BASE + 4 * DAY) == expected


@PROPERTIES
@given(grid_specs(), snapshot_lists(), st.integers(-10 * DAY, 10 * DAY))
def test_grid_properties(spec: str, snaps: list[Snapshot], shift_s: int) -> None:
    grid = ZreplGrid.from_setting(spec, "^zrepl_")
    kept = grid.keep(snaps, BASE)
    matching = {s.id for s in snaps if s.name.startswith("zrepl_")}
    assert kept <= matching
    # Only the matching snapshots decide: dropping the others changes nothing.
    assert grid.keep([s for s in snaps if s.id in matching], BASE) == kept
    # The grid is relative to the youngest snapshot: shifting every time shifts nothing.
    shifted = [Snapshot(s.id, s.created_s + shift_s, s.name, s.replicated) for s in snaps]
    assert grid.keep(shifted, BASE + shift_s) == kept
    # Nothing at or beyond the grid's span stays.
    intervals = parse_grid(spec)
    span_s = sum(interval.repeat * interval.length_s for interval in intervals)
    if matching:
        now = max(s.created_s for s in snaps if s.id in matching)
        assert all(now - s.created_s < span_s for s in snaps if s.id in kept)


@PROPERTIES
@given(grid_specs(), snapshot_lists())
def test_grid_keep_all_keeps_everything_in_span(spec: str, snaps: list[Snapshot]) -> None:
    all_spec = " | ".join(part.split("(")[0] + "(keep=all)" for part in spec.split("|"))
    intervals = parse_grid(all_spec)
    span_s = sum(interval.repeat * interval.length_s for interval in intervals)
    kept = ZreplGrid(intervals).keep(snaps, BASE)
    now = max((s.created_s for s in snaps), default=0)
    assert kept == {s.id for s in snaps if now - s.created_s < span_s}
    assert ZreplGrid.from_setting(spec).keep(snaps, BASE) <= kept


# --- last_n: zrepl's vectors ----------------------------------------------------------------

S1 = [("1", 10 * MIN), ("2", 20 * MIN), ("3", 15 * MIN), ("4", 30 * MIN), ("5", 30 * MIN)]
LAST_N_VECTORS = [
    ("keep2", S1, [(2, "")], {"1", "2", "3"}),
    ("keep1OfTwoWithSameTime", S1, [(1, "")], {"1", "2", "3", "4"}),
    ("keepMany", S1, [(100, "")], set()),
    ("empty_input", [], [(100, "")], set()),
    ("empty_regex", S1, [(4, "")], {"1"}),
    (
        "multiple_regexes",
        [("a1", 10 * MIN), ("b1", 11 * MIN), ("a2", 20 * MIN), ("b2", 21 * MIN), ("a3", 30 * MIN), ("b3", 31 * MIN)],
        [(2, "^a"), (2, "^b")],
        {"a1", "b1"},
    ),
    ("keep_more_than_matching", [("a1", 10 * MIN), ("b1", 11 * MIN), ("a2", 12 * MIN)], [(4, "a")], {"b1"}),
]


@pytest.mark.parametrize(
    ("name", "entries", "settings_", "destroyed"), LAST_N_VECTORS, ids=[vector[0] for vector in LAST_N_VECTORS]
)
def test_last_n_zrepl_vectors(
    name: str, entries: list[tuple[str, float]], settings_: list[tuple[int, str]], destroyed: set[str]
) -> None:
    """Ported from zrepl internal/pruning/keep_last_n_test.go, TestKeepLastN (all 7 table cases)."""
    snaps = snapshots(*entries)
    rules = [ZreplLastN.from_setting(count, regex) for count, regex in settings_]
    assert kept_names(rules, snaps) == {s.name for s in snaps} - destroyed


@pytest.mark.parametrize("count", [0, -5])
def test_last_n_zrepl_must_be_positive(count: int) -> None:
    """Ported from zrepl internal/pruning/keep_last_n_test.go, mustBePositive."""
    with pytest.raises(ValueError, match=f"last_n count {count}: must be a positive integer"):
        ZreplLastN.from_setting(count, "foo")


def test_last_n_zrepl_empty_regex_allowed() -> None:
    """Ported from zrepl internal/pruning/keep_last_n_test.go, emptyRegexAllowed."""
    assert ZreplLastN.from_setting(23, "").regex is None


def test_last_n_other_setting_errors() -> None:
    for count in (True, 2.0, "3"):
        with pytest.raises(ValueError, match="must be a positive integer"):
            ZreplLastN.from_setting(count, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r'regex "\[": invalid'):
        ZreplLastN.from_setting(1, "[")


def test_last_n_tie_goes_to_the_greater_name_whatever_the_ids() -> None:
    snaps = [Snapshot(1, BASE, "5"), Snapshot(2, BASE, "4")]
    assert ZreplLastN.from_setting(1).keep(snaps, BASE) == {1}


def test_last_n_docs_example() -> None:
    """docs/configuration/prune.rst, policy last_n: ``count: 10``, ``regex: ^zrepl_.*$``."""
    snaps = [Snapshot(i, BASE + i * HOUR, f"zrepl_{i}" if i % 3 else f"manual_{i}") for i in range(30)]
    kept = ZreplLastN.from_setting(10, "^zrepl_.*$").keep(snaps, BASE + 30 * HOUR)
    assert kept == {i for i in range(16, 30) if i % 3}  # the 10 youngest zrepl_ ones


@PROPERTIES
@given(snapshot_lists(), st.integers(1, 35), st.sampled_from([None, "^zrepl_", "_1"]))
def test_last_n_properties(snaps: list[Snapshot], count: int, regex: str | None) -> None:
    kept = ZreplLastN.from_setting(count, regex).keep(snaps, BASE)
    matching = [s for s in snaps if regex is None or re.search(regex, s.name)]
    assert kept <= {s.id for s in matching}
    assert len(kept) == min(count, len(matching))
    assert kept <= ZreplLastN.from_setting(count + 1, regex).keep(snaps, BASE)
    order = {s.id: (s.created_s, s.name, s.id) for s in snaps}
    dropped = [order[s.id] for s in matching if s.id not in kept]
    assert all(order[i] > key for i in kept for key in dropped)


# --- not_replicated -------------------------------------------------------------------------


def test_not_replicated_zrepl_empty() -> None:
    """Ported from zrepl internal/pruning/keep_not_replicated_test.go, empty."""
    assert ZreplNotReplicated.from_setting().keep([], BASE) == set()


def test_not_replicated_zrepl_flags_that_are_no_cursor() -> None:
    """From zrepl internal/pruning/keep_not_replicated_test.go, destroysOnlyReplicated, adapted.

    The Go test hands the rule flags [replicated, not, replicated] and expects only "2" kept.
    zrepl's pruner never produces such flags: it counts every snapshot older than the
    replication cursor as replicated. Read as this model reads them, "3" is the cursor, so
    "3" alone stays (keep_snapshot_at_cursor, the default) or nothing does.
    """
    snaps = snapshots(("1", 1, True), ("2", 2, False), ("3", 3, True))
    assert kept_names([ZreplNotReplicated.from_setting()], snaps) == {"3"}
    assert kept_names([ZreplNotReplicated.from_setting(keep_snapshot_at_cursor=False)], snaps) == set()


@pytest.mark.parametrize(
    ("flags", "at_cursor", "kept"),
    [
        ([True, True, False, False], True, {1, 2, 3}),
        ([True, True, False, False], False, {2, 3}),
        ([True, True, True], True, {2}),
        ([True, True, True], False, set()),
        ([False, False, False], True, {0, 1, 2}),
        ([False, False, False], False, {0, 1, 2}),
        ([False, True, False], True, {1, 2}),
    ],
)
def test_not_replicated_keeps_from_the_cursor(flags: list[bool], at_cursor: bool, kept: set[int]) -> None:
    """zrepl internal/daemon/pruner/pruner.go: replicated = older than the cursor (or at it, if not kept)."""
    snaps = [Snapshot(i, BASE + i, f"s{i}", flag) for i, flag in enumerate(flags)]
    assert ZreplNotReplicated.from_setting(at_cursor).keep(snaps, BASE) == kept


def test_not_replicated_orders_by_id() -> None:
    """zrepl walks the list in creation-txg order; ids stand for it, even when times tie."""
    snaps = [Snapshot(1, BASE, "a", True), Snapshot(2, BASE, "b", False)]
    assert ZreplNotReplicated().keep(list(reversed(snaps)), BASE) == {1, 2}


def test_not_replicated_setting_error() -> None:
    with pytest.raises(ValueError, match="keep_snapshot_at_cursor 'yes': must be true or false"):
        ZreplNotReplicated.from_setting("yes")  # type: ignore[arg-type]


@PROPERTIES
@given(snapshot_lists(), st.booleans())
def test_not_replicated_properties(snaps: list[Snapshot], at_cursor: bool) -> None:
    kept = ZreplNotReplicated.from_setting(at_cursor).keep(snaps, BASE)
    ids = [s.id for s in snaps]
    # A suffix in creation order, holding everything newer than the newest replicated snapshot.
    assert kept == set(ids[len(ids) - len(kept) :])
    newest_replicated = max((s.id for s in snaps if s.replicated), default=-1)
    assert {i for i in ids if i > newest_replicated} <= kept
    if newest_replicated >= 0:
        assert (newest_replicated in kept) is at_cursor
    assert ZreplNotReplicated(False).keep(snaps, BASE) <= ZreplNotReplicated(True).keep(snaps, BASE)
