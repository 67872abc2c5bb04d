"""zrepl's `grid` keep rule: a time sieve of adjacent buckets, each keeping its oldest few.

Modelled on zrepl (github.com/zrepl/zrepl) at commit b93a06d:

* `internal/pruning/keep_grid.go` (`KeepGrid`: regex filter, interval-length check),
* `internal/pruning/retentiongrid/retentiongrid.go` (`Grid.FitEntries`, buckets, keep counts),
* `internal/config/retentiongrid.go` (the `grid:` spec syntax),
* `internal/config/config_duration.go` (`parseDuration`: durations),
* `docs/configuration/prune.rst` (policy `grid`).

A spec such as ``1x1h(keep=all) | 24x1h | 14x1d`` is a list of `|`-separated intervals
``<repeat>x<duration>[(keep=<n>|keep=all)]``; each stands for `repeat` adjacent buckets of
that length keeping `n` snapshots (1 when not given). Durations are an integer and one of
the units zrepl accepts: ``s``, ``m``, ``h``, ``d`` (24 h), ``w`` (7 d); no months or years,
no fractions, no compound durations (``1h30m``). Interval lengths must not decrease, except
after intervals that are all ``keep=all`` (zrepl's "monotonically increasing" check).

Edge cases, as zrepl decides them:

* "Now" is the creation time of the youngest snapshot the regex matches, not the wall
  clock: `ZreplGrid.keep` ignores `now_s`. A grid therefore stops thinning when snapshots
  stop being taken, as zrepl's does.
* Bucket `i` holds the snapshots whose age ``now - created`` lies in ``[start_i, start_i +
  length_i)``: the younger edge is inclusive, the older edge exclusive, so a snapshot exactly
  on an edge falls into the older bucket. Snapshots at or beyond the end of the last bucket
  are not kept.
* Within a bucket the oldest `keep` snapshots stay and younger ones go. zrepl orders a
  bucket youngest first with a stable sort over its input, which the pruner lists by
  creation txg; so among snapshots created in the same second the later one (higher `id`)
  counts as the older and is the one that stays. ``keep=all`` keeps the whole bucket.
* The newest snapshot is not always kept: with a first bucket of ``keep=1`` and an older
  snapshot in that bucket, the older one stays (hence the ``1x1h(keep=all)`` idiom).
* Snapshots younger than "now" are kept unconditionally (`fit_grid` with an explicit `now_s`,
  as zrepl's own tests do); through `ZreplGrid` none exist, since "now" is the youngest.
* No snapshots, or none matching the regex: nothing is kept.
* Regex: as zrepl's, it is searched anywhere in the name (Go `MatchString`, here `re.search`,
  Python syntax). A rule keeps nothing it does not match. zrepl requires a non-empty regex
  for `grid`; ``regex=None`` here means every snapshot takes part, and ``""`` is refused.

Left out: nothing of the rule's decision; zrepl's panics on ``keep=0`` and negative keep
counts are a `ValueError` here. Ages are computed in float seconds, so edge decisions are
exact for integer-second creation times (ZFS's `creation` has one-second resolution).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sim.retention.grammar import Grammar, Snapshot

DURATION_UNITS_S: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
"""The time units zrepl's `parseDuration` accepts, in seconds."""

_DURATION = re.compile(r"^\s*([+-]?\d+)\s*(|s|m|h|d|w)\s*$", re.ASCII)
_INTERVAL = re.compile(r"^\s*(\d+)\s*x\s*([^(]+)\s*(\((.*)\))?\s*$", re.ASCII)
_KEEP = re.compile(r"^\s*keep=(.+)\s*$", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


@dataclass(frozen=True, slots=True)
class GridInterval:
    """`repeat` adjacent buckets of `length_s` seconds, each keeping `keep` snapshots (None: all)."""

    repeat: int
    length_s: int
    keep: int | None


def parse_duration(text: str) -> int:
    """A positive zrepl duration (``15m``, ``1h``, ``14d``, ``2w``) in seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f'duration "{text.strip()}": expected <integer><unit>, unit one of s, m, h, d, w')
    factor, unit = int(match.group(1)), match.group(2)
    if unit == "" and factor != 0:
        raise ValueError(f'duration "{text.strip()}": missing time unit (s, m, h, d or w)')
    seconds = factor * DURATION_UNITS_S.get(unit, 0)
    if seconds <= 0:
        raise ValueError(f'duration "{text.strip()}": must be positive')
    return seconds


def _parse_interval(text: str) -> GridInterval:
    match = _INTERVAL.match(text)
    if match is None:
        raise ValueError(f'grid interval "{text.strip()}": expected <count>x<duration>[(keep=<n>|all)]')
    repeat = int(match.group(1))
    if repeat <= 0:
        raise ValueError(f'grid interval "{text.strip()}": count must be positive')
    try:
        length_s = parse_duration(match.group(2))
    except ValueError as exc:
        raise ValueError(f'grid interval "{text.strip()}": {exc}') from None
    keep: int | None = 1
    if match.group(3) is not None:
        param = _KEEP.match(match.group(4))
        if param is None:
            raise ValueError(f'grid interval "{text.strip()}": unknown parameter, expected (keep=<n>) or (keep=all)')
        value = param.group(1)
        if value == "all":
            keep = None
        elif _INTEGER.fullmatch(value) and int(value) > 0:
            keep = int(value)
        else:
            raise ValueError(f'grid interval "{text.strip()}": keep must be a positive integer or all, got "{value}"')
    return GridInterval(repeat, length_s, keep)


def parse_grid(spec: str) -> tuple[GridInterval, ...]:
    """The intervals of a zrepl `grid:` spec, checked as zrepl checks them."""
    intervals = tuple(_parse_interval(part) for part in spec.split("|"))
    for index in range(1, len(intervals)):
        shorter = intervals[index].length_s < intervals[index - 1].length_s
        if shorter and any(earlier.keep is not None for earlier in intervals[:index]):
            raise ValueError(f'grid "{spec.strip()}": interval lengths must not decrease (except after keep=all intervals)')
    return intervals


def compile_regex(regex: str) -> re.Pattern[str]:
    """`regex` compiled, or a `ValueError` naming it."""
    try:
        return re.compile(regex)
    except re.error as exc:
        raise ValueError(f'regex "{regex}": invalid: {exc}') from None


def fit_grid(intervals: Sequence[GridInterval], snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
    """The ids `intervals` keep of `snapshots`, the grid's youngest edge at `now_s`.

    zrepl's `Grid.fitEntriesWithNow`: snapshots younger than `now_s` stay; the others fall
    into the bucket whose age range ``[start, start + length)`` holds them, or go if none does;
    each bucket keeps its `keep` oldest (ties: the higher id counts as older).
    """
    kept: set[int] = set()
    buckets: dict[tuple[int, int], list[Snapshot]] = {}
    for snapshot in snapshots:
        age = now_s - snapshot.created_s
        if age < 0:
            kept.add(snapshot.id)
            continue
        start = 0
        for group, interval in enumerate(intervals):
            end = start + interval.repeat * interval.length_s
            if age < end:
                # min(): float floor division must not put an age just short of `end` past the group.
                index = min(int((age - start) // interval.length_s), interval.repeat - 1)
                buckets.setdefault((group, index), []).append(snapshot)
                break
            start = end
    for (group, _), members in buckets.items():
        keep = intervals[group].keep
        if keep is None or len(members) <= keep:
            kept.update(snapshot.id for snapshot in members)
            continue
        youngest_first = sorted(members, key=lambda snapshot: (-snapshot.created_s, snapshot.id))
        kept.update(snapshot.id for snapshot in youngest_first[len(members) - keep :])
    return kept


class ZreplGrid(Grammar):
    """zrepl's `grid` keep rule: the matching snapshots fitted to a grid anchored at the youngest."""

    def __init__(self, intervals: Sequence[GridInterval], regex: re.Pattern[str] | None = None):
        self.intervals = tuple(intervals)
        self.regex = regex

    @classmethod
    def from_setting(cls, spec: str, regex: str | None = None) -> ZreplGrid:
        """The rule for zrepl's ``grid: <spec>`` and ``regex: <regex>`` (None: every snapshot)."""
        if not isinstance(spec, str):
            raise ValueError(f"grid {spec!r}: expected a string such as \"1x1h(keep=all) | 24x1h | 14x1d\"")
        if regex == "":
            raise ValueError("grid regex must not be empty (leave it out to match every snapshot)")
        return cls(parse_grid(spec), None if regex is None else compile_regex(regex))

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """The ids the grid keeps; `now_s` is unused, "now" being the youngest matching snapshot."""
        regex = self.regex
        matching = [snapshot for snapshot in snapshots if regex is None or regex.search(snapshot.name)]
        if not matching:
            return set()
        return fit_grid(self.intervals, matching, max(snapshot.created_s for snapshot in matching))
