"""znapzend's retention plan as a `Grammar`: `"1h=>15min,3d=>1h"` keeps one snapshot per 15 min
for an hour, then one per hour for three days, and nothing older.

Modelled on `github:oetiker/znapzend` (read at commit f45331bf):

- `lib/ZnapZend/Time.pm`, `getSnapshotsToDestroy`: the thinning;
  `backupPlanToHash`, `checkTimeUnit`, `unitFactors`, `configUnits`: the plan and its units.
- `lib/ZnapZend/Config.pm`, `$checkBackupPlan`: plan normalisation (lower case, blanks dropped).
- `doc/znapzendzetup.pod`, section *create*: the syntax `retA=>intA,retB=>intB,...`.
- `t/znapzendzetup.t`: `33asdf=>10min` (unknown unit) and `33sec=>10min` (retention shorter
  than interval) are refused.

How a snapshot's fate is decided (`keep`):

- *Now* is `now_s`, the run's timestamp; znapzend passes the time of the snapshot it has just
  taken. A snapshot's age is `now_s - created_s`.
- *Band*: a snapshot belongs to the band with the smallest retention `>= age` (the upper edge
  is inclusive: a snapshot exactly `1h` old is still in the `1h` band). A snapshot older than
  the largest retention goes.
- *Slots*: within its band a snapshot falls in slot `trunc(created_s / interval)`, aligned to
  the Unix epoch in UTC (znapzend aligns to local wall-clock time unless the timestamp format
  ends in `Z`; this model is UTC throughout). Each band has slots of its own.
- *Which one stays*: snapshots are visited oldest first (`zfs list -s creation`); the first to
  reach a free slot claims it and stays, later ones in that slot go. Ties in `created_s` are
  broken by the order given (id order): the earlier one stays.
- *The newest snapshot* is not protected as such. znapzend keeps only a snapshot whose time
  equals the run's time exactly (`$snapshotTimestamp != $time`, "the latest snapshot won't be
  deleted"); here that is `created_s == now_s`. A newer snapshot that shares a slot with an
  older one goes.
- *Future snapshots* (negative age) fall in the shortest band and compete for its slots.
- *Empty input* keeps nothing.

Units: `s|sec|second|seconds`, `min|mins|minute|minutes`, `h|hour|hours`, `d|day|days`,
`w|week|weeks`, `m|mon|mons|month|months` (30 days), `y|year|years` (365.25 days).

Left out: the `--since` keep-pattern, snapshot names that carry no parsable time (znapzend
dates them to the epoch, so they go), and the protection of the last common snapshot with each
destination (the simulator's locks do that).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sim.retention.grammar import Grammar, Snapshot

_DAY_S = 24 * 3600

UNIT_SECONDS: dict[str, float] = {
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": _DAY_S,
    "weeks": 7 * _DAY_S,
    "months": 30 * _DAY_S,
    "years": 365.25 * _DAY_S,
}
"""znapzend's `unitFactors`: a month is 30 days, a year 365.25 days."""

UNIT_ALIASES: dict[str, str] = {
    "s": "seconds", "sec": "seconds", "second": "seconds",
    "min": "minutes", "mins": "minutes", "minute": "minutes",
    "h": "hours", "hour": "hours",
    "d": "days", "day": "days",
    "w": "weeks", "week": "weeks",
    "m": "months", "mon": "months", "mons": "months", "month": "months",
    "y": "years", "year": "years",
} | {unit: unit for unit in UNIT_SECONDS}
"""znapzend's `configUnits`, plus the full unit names it also accepts."""

_DURATION = re.compile(r"([0-9]+)([a-z]+)")


@dataclass(frozen=True, slots=True)
class Band:
    """One `retention=>interval` item: keep one snapshot per `interval_s` up to `retention_s` old."""

    retention_s: float
    interval_s: float


@dataclass(frozen=True, slots=True)
class ZnapzendPlan(Grammar):
    """A znapzend plan: bands sorted by retention, shortest first."""

    bands: tuple[Band, ...]

    @classmethod
    def from_setting(cls, plan: str) -> ZnapzendPlan:
        """Parse a plan such as `"1h=>15min,3d=>1h"` (case and blanks ignored, as znapzend does).

        Raises `ValueError` naming the faulty item: no `=>`, a bad duration or unit, a zero
        duration, a retention shorter than its interval, or a retention given twice.
        """
        text = re.sub(r"\s+", "", plan.lower())
        items = text.split(",")
        while items and items[-1] == "":  # Perl's split drops trailing empty fields
            items.pop()
        if not items:
            raise ValueError(f'znapzend plan "{plan}": empty, expected <retention>=><interval>[,...]')
        bands: dict[float, float] = {}
        for item in items:
            retention_text, arrow, interval_text = item.partition("=>")
            if not arrow or not retention_text or not interval_text:
                raise ValueError(f'znapzend plan "{plan}": "{item}": expected <retention>=><interval>')
            retention = _duration_s(plan, retention_text)
            interval = _duration_s(plan, interval_text)
            if retention < interval:
                raise ValueError(f'znapzend plan "{plan}": retention {retention_text} is shorter than interval {interval_text}')
            if retention in bands:
                raise ValueError(f'znapzend plan "{plan}": retention {retention_text} given twice')
            bands[retention] = interval
        return cls(tuple(Band(r, bands[r]) for r in sorted(bands)))

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """The snapshots that are first in their band's slot, plus any created exactly at `now_s`."""
        taken: dict[float, set[int]] = {band.retention_s: set() for band in self.bands}
        kept: set[int] = set()
        for snap in snapshots:
            band = self._band(now_s - snap.created_s)
            claims = False
            if band is not None:
                slot = math.trunc(snap.created_s / band.interval_s)  # Perl's int(): toward zero
                slots = taken[band.retention_s]
                claims = slot not in slots
                slots.add(slot)
            if claims or snap.created_s == now_s:
                kept.add(snap.id)
        return kept

    def _band(self, age_s: float) -> Band | None:
        """The band with the smallest retention at least `age_s`, or None past the largest."""
        for band in self.bands:
            if band.retention_s >= age_s:
                return band
        return None


def _duration_s(plan: str, text: str) -> float:
    """Seconds in a duration such as `15min` (znapzend's `checkTimeUnit` then `parseDuration`)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f'znapzend plan "{plan}": "{text}" is not <number><unit>, e.g. 15min')
    count, unit = int(match[1]), match[2]
    if unit not in UNIT_ALIASES:
        raise ValueError(f'znapzend plan "{plan}": unknown unit "{unit}" in "{text}" (s, min, h, d, w, m, y)')
    if count == 0:
        raise ValueError(f'znapzend plan "{plan}": "{text}" is zero')
    return count * UNIT_SECONDS[UNIT_ALIASES[unit]]
