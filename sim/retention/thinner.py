"""zfs-autobackup's thinner as a `Grammar`: `"10,1d1w,1w1m,1m1y"` keeps the 10 newest snapshots,
one per day for a week, one per week for a month and one per month for a year.

Modelled on `github:psy0rz/zfs_autobackup` (read at commit a805889c):

- `zfs_autobackup/Thinner.py`, `Thinner.__init__` and `Thinner.thin`: the schedule and thinning.
- `zfs_autobackup/ThinnerRule.py`: a rule `<period><unit><ttl><unit>` and its units.
- `zfs_autobackup/ZfsDataset.py`, `ZfsDataset.thin`: the newest snapshot is always kept
  (`keep_objects=self.our_snapshots[-1:]`).
- `tests/test_thinner.py`: the vectors ported to `tests/test_retention_thinner.py`.

Settings: comma-separated, no blanks. A plain number is how many of the newest to keep (if
given twice, the last wins, as in zfs-autobackup). Any other item is a rule such as `1d1w`:
keep one snapshot per period (1 day) until it is older than the ttl (1 week). Units, case
ignored: `s`, `min`, `h`, `d`, `w`, `m` (30 days), `y` (365.25 days). An empty schedule has no
rules and keeps only the newest.

How a snapshot's fate is decided (`keep`):

- *Now* is `now_s`. Times are whole seconds: `age = int(now_s) - int(created_s)`, as
  zfs-autobackup truncates both ("important they are ints!").
- *Blocks*: a rule applies to a snapshot while `age <= ttl` (inclusive edge), and puts it in
  block `int(created_s / period)`, aligned to the Unix epoch in UTC (zfs-autobackup's
  timestamps are epoch seconds). Rules with the same period share their blocks.
- *Which one stays*: snapshots are visited oldest first; the first to reach a free block of
  any applicable rule stays. Ties in `created_s` are broken by the order given (id order).
- *The newest N* (the plain number) stay, counted by position, so ties do not widen it; when
  there are at most N snapshots, all stay.
- *The newest snapshot* stays when `keep_newest` (the default: what `ZfsDataset.thin` does).
  `keep_newest=False` is `Thinner.thin` on its own, as `tests/test_thinner.py` calls it.
- *Future snapshots* (negative age) fall within every rule and compete for blocks.
- *Empty input* keeps nothing.

Left out: `keep_objects` other than the newest (the common snapshot with a target, which the
simulator's locks protect) and `--no-thinning`.

Stricter than zfs-autobackup: a rule must be exactly `<n><unit><n><unit>` (zfs-autobackup
ignores trailing characters, e.g. `1d1w2`), and a zero period is refused here rather than
failing later with a division by zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sim.retention.grammar import Grammar, Snapshot

_DAY_S = 24 * 3600

UNIT_SECONDS: dict[str, float] = {
    "y": 365.25 * _DAY_S,
    "m": 30 * _DAY_S,
    "w": 7 * _DAY_S,
    "d": _DAY_S,
    "h": 3600,
    "min": 60,
    "s": 1,
}
"""`ThinnerRule.TIME_NAMES`: a month is 30 days, a year 365.25 days."""

_RULE = re.compile(r"([0-9]+)([a-z]+)([0-9]+)([a-z]+)")
_COUNT = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class ThinnerRule:
    """Keep one snapshot per `period_s` until it is older than `ttl_s`."""

    period_s: float
    ttl_s: float


@dataclass(frozen=True, slots=True)
class Thinner(Grammar):
    """A zfs-autobackup thinning schedule: the `always_keep` newest, plus one per block of each rule."""

    always_keep: int
    rules: tuple[ThinnerRule, ...]
    keep_newest: bool = True

    @classmethod
    def from_setting(cls, schedule: str, *, keep_newest: bool = True) -> Thinner:
        """Parse a schedule such as `"10,1d1w,1w1m,1m1y"` (zfs-autobackup's default).

        Raises `ValueError` naming the faulty item: a negative count, a rule that is not
        `<n><unit><n><unit>`, an unknown unit, a zero period, or a period longer than its ttl.
        """
        always_keep = 0
        rules: list[ThinnerRule] = []
        for item in schedule.split(",") if schedule else []:
            if _COUNT.fullmatch(item):
                always_keep = int(item)
                if always_keep < 0:
                    raise ValueError(f'thinner schedule "{schedule}": number of snapshots to keep can\'t be negative: {item}')
                continue
            rules.append(_rule(schedule, item))
        return cls(always_keep, tuple(rules), keep_newest)

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """`Thinner.thin`: the newest `always_keep`, the first in each block in reach, and the newest."""
        if len(snapshots) <= self.always_keep:
            return {s.id for s in snapshots}
        kept = {s.id for s in snapshots[len(snapshots) - self.always_keep:]} if self.always_keep else set()
        if self.keep_newest and snapshots:
            kept.add(snapshots[-1].id)
        taken: dict[float, set[int]] = {rule.period_s: set() for rule in self.rules}
        for snap in snapshots:
            created = int(snap.created_s)
            age = int(now_s) - created
            for rule in self.rules:
                if age <= rule.ttl_s:
                    block = int(created / rule.period_s)
                    if block not in taken[rule.period_s]:
                        taken[rule.period_s].add(block)
                        kept.add(snap.id)
        return kept


def _rule(schedule: str, item: str) -> ThinnerRule:
    """One rule such as `1d1w` (`ThinnerRule.__init__`)."""
    match = _RULE.fullmatch(item.lower())
    if match is None:
        raise ValueError(f'thinner schedule "{schedule}": "{item}" is not a count or <period><unit><ttl><unit>, e.g. 1d1w')
    period_n, period_unit, ttl_n, ttl_unit = int(match[1]), match[2], int(match[3]), match[4]
    for unit in (period_unit, ttl_unit):
        if unit not in UNIT_SECONDS:
            raise ValueError(f'thinner schedule "{schedule}": unknown unit "{unit}" in "{item}" (s, min, h, d, w, m, y)')
    period = period_n * UNIT_SECONDS[period_unit]
    ttl = ttl_n * UNIT_SECONDS[ttl_unit]
    if period == 0:
        raise ValueError(f'thinner schedule "{schedule}": period of "{item}" is zero')
    if period > ttl:
        raise ValueError(f'thinner schedule "{schedule}": period can\'t be longer than ttl in "{item}"')
    return ThinnerRule(period, ttl)
