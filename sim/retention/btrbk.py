"""btrbk's `*_preserve_min` and `*_preserve` as a `Grammar`: keep everything for a while, then the
first snapshot of each hour, day, week, month and year for as many of those as asked.

Modelled on `github:digint/btrbk` (read at commit 2bda102f):

- `btrbk`, `sub schedule`: the calendar arithmetic and the cascade of "first of" buckets;
  `sub config_preserve_hash` and `append_config_option` (`accept_preserve_matrix`): parsing;
  the delete path (`schedule(..., preserve_date_in_future => 1)`).
- `doc/btrbk.conf.5.asciidoc`, *RETENTION POLICY* and *Retention Policy Options*.

Settings: `preserve_min` is `all` (keep everything), `latest` (keep the newest), `no` (nothing on
its own) or `<n>{h,d,w,m,y}` (keep every snapshot at most n hours/days/... back). `preserve` is
`no` or up to one each of `<n|*>h <n|*>d <n|*>w <n|*>m <n|*>y`, blank-separated, `*` meaning
all. A count of 0 is off, as btrbk's `if($preserve_daily && ...)` reads it; a `preserve_min`
of `0d` still keeps today's.

How a snapshot's fate is decided (`keep`):

- *Now* is `now_s`, btrbk's start time. Calendar fields are taken in UTC (btrbk uses the host's
  local time; this model is UTC throughout).
- *Buckets*: btrbk numbers each snapshot's hour, day, week, month and year back from now:
  `delta_hours` counts whole clock hours (the hour now is 0); a day starts at
  `preserve_hour_of_day`; a week starts on `preserve_day_of_week` at that hour; a month or year
  is the one in which its week starts ("months start on first preserve_day_of_week of month"),
  so the first days of a month can belong to the one before. Bucket edges are inclusive at the
  start: a snapshot made at exactly 00:00 is the first of its day.
- *First in bucket*: snapshots are sorted by `created_s` (ties by id, as btrbk sorts by time and
  then the `_N` suffix). The first of each hour is an hourly; the first hourly of a day is a
  daily; the first daily of a week a weekly; the first weekly of a month a monthly; the first
  monthly of a year a yearly. Each is kept if its bucket is at most `n` back (`delta <= n`).
- *preserve_min* keeps, in addition, every snapshot at most `n` units back, or all, or the
  newest. It does not change which snapshot is "first" in a bucket: the cascade runs over
  all snapshots, kept by preserve_min or not.
- *The newest snapshot* is kept only if a rule keeps it (`preserve_min latest`, or a
  `preserve_min` window it falls in, or being first of a bucket kept).
- *Future snapshots* (`delta_hours < 0`) are always kept: btrbk's delete path passes
  `preserve_date_in_future`. Their other deltas use Perl's truncation toward zero, as btrbk's
  `int()` does.
- *Empty input* keeps nothing.

Left out: `timestamp_format short` (dates without a time, whose day starts at 00:00), the
dependency of incremental backups on their parents (`depends`), `archive_exclude_older`, and
btrbk's refusal of `snapshot_preserve_min no` and `0<unit>` for snapshots (accepted here as for
targets).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sim.retention.grammar import Grammar, Snapshot

DAY_OF_WEEK: dict[str, int] = {
    "sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6,
}
"""btrbk's `%day_of_week_map` (Perl's `wday`: Sunday is 0)."""

UNITS = "hdwmy"
"""The bucket sizes, finest first: hour, day, week, month, year."""

_PRESERVE_MIN = re.compile(r"([0-9]+)([hdwmy])")
_PRESERVE_ITEM = re.compile(r"(\*|[0-9]+)([hdwmy])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BtrbkPreserve(Grammar):
    """A btrbk retention policy.

    `min_unit` is `"all"`, `"latest"`, one of `hdwmy` (then `min_count` applies) or None for
    `no`. `counts` maps each of `hdwmy` to how many buckets back the first of a bucket is kept:
    0 off, `math.inf` for `*`.
    """

    min_unit: str | None
    min_count: int
    counts: dict[str, float]
    day_of_week: int = 0
    hour_of_day: int = 0

    @classmethod
    def from_setting(
        cls, preserve_min: str, preserve: str, preserve_day_of_week: str = "sunday", preserve_hour_of_day: int = 0
    ) -> BtrbkPreserve:
        """Parse btrbk's settings, e.g. `("2d", "14d 4w 6m")`.

        Raises `ValueError` naming the setting and what is wrong with it.
        """
        min_text = preserve_min.strip()
        min_unit: str | None
        min_count = 0
        if min_text in ("all", "latest"):
            min_unit = min_text
        elif min_text == "no":
            min_unit = None
        elif match := _PRESERVE_MIN.fullmatch(min_text):
            min_count, min_unit = int(match[1]), match[2]
        else:
            raise ValueError(f'btrbk preserve_min "{preserve_min}": expected all, latest, no or <number>{{h,d,w,m,y}}')

        counts = dict.fromkeys(UNITS, 0.0)
        text = preserve.strip()
        if text == "":
            raise ValueError(f'btrbk preserve "{preserve}": empty, expected no or e.g. "14d 4w 6m"')
        if text != "no":
            given: set[str] = set()
            for item in text.split():
                match = _PRESERVE_ITEM.fullmatch(item)
                if match is None:
                    raise ValueError(f'btrbk preserve "{preserve}": "{item}" is not <number|*>{{h,d,w,m,y}}')
                unit = match[2].lower()
                if unit in given:
                    raise ValueError(f'btrbk preserve "{preserve}": multiple definitions of \'{unit}\'')
                given.add(unit)
                counts[unit] = math.inf if match[1] == "*" else float(match[1])

        if preserve_day_of_week not in DAY_OF_WEEK:
            raise ValueError(f'btrbk preserve_day_of_week "{preserve_day_of_week}": expected one of {", ".join(DAY_OF_WEEK)}')
        if isinstance(preserve_hour_of_day, bool) or preserve_hour_of_day not in range(24):
            raise ValueError(f"btrbk preserve_hour_of_day {preserve_hour_of_day!r}: expected a whole hour 0..23")
        return cls(min_unit, min_count, counts, DAY_OF_WEEK[preserve_day_of_week], preserve_hour_of_day)

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """btrbk's `schedule()`: what preserve_min keeps, plus the first of each bucket in reach."""
        ordered = sorted(snapshots, key=lambda s: (s.created_s, s.id))
        now = datetime.fromtimestamp(now_s, UTC)
        now_hour = math.floor(now_s / 3600)
        deltas = {s.id: self._deltas(s.created_s, now, now_hour) for s in ordered}

        kept = {s.id for s in ordered if deltas[s.id]["h"] < 0}  # preserve_date_in_future
        if self.min_unit == "all":
            kept |= deltas.keys()
        elif self.min_unit == "latest":
            kept |= {ordered[-1].id} if ordered else set()
        elif self.min_unit is not None:
            kept |= {i for i, delta in deltas.items() if delta[self.min_unit] <= self.min_count}

        # the cascade: the first of each hour; of those, the first of each day; and so on. Each
        # level is visited as btrbk visits its hash keys: oldest bucket (largest delta) first.
        order = [s.id for s in ordered]
        for unit in UNITS:
            first: dict[int, int] = {}
            for i in order:
                first.setdefault(deltas[i][unit], i)
            order = [first[delta] for delta in sorted(first, reverse=True)]
            limit = self.counts[unit]
            if limit > 0:
                kept |= {i for i in order if deltas[i][unit] <= limit}
        return kept

    def _deltas(self, created_s: float, now: datetime, now_hour: int) -> dict[str, int]:
        """How many hours, days, weeks, months and years (`hdwmy`) back from now a snapshot made at
        `created_s` lies: btrbk's calendar arithmetic in `schedule()`, in UTC."""
        tm = datetime.fromtimestamp(created_s, UTC)
        hours_from_day_start = tm.hour - self.hour_of_day
        days_from_week_start = (tm.weekday() + 1) % 7 - self.day_of_week  # Python's Monday 0 to Perl's Sunday 0
        if hours_from_day_start < 0:
            hours_from_day_start += 24
            days_from_week_start -= 1
        if days_from_week_start < 0:
            days_from_week_start += 7
        month, year = tm.month, tm.year
        if tm.day <= days_from_week_start:  # the week began last month: so did this snapshot's month
            month, year = (month - 1, year) if month > 1 else (12, year - 1)
        delta_hours = now_hour - math.floor(created_s / 3600)
        delta_days = _trunc_div(delta_hours + hours_from_day_start, 24)
        delta_years = now.year - year
        return {
            "h": delta_hours,
            "d": delta_days,
            "w": _trunc_div(delta_days + days_from_week_start, 7),
            "m": delta_years * 12 + now.month - month,
            "y": delta_years,
        }


def _trunc_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward zero, as Perl's `int($a / $b)`."""
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient
