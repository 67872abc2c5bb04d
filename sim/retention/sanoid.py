"""sanoid's pruning of one snapshot type: older than count x period, and more than count left.

Modelled on sanoid (github.com/jimsalterjrs/sanoid) at commit 8e1d11e:

* `sanoid`, `sub prune_snapshots` (the rule) and `sub getsnapsbytype` / `sub getsnaps`
  (which snapshots are counted, and in what order),
* `sanoid.defaults.conf` (the comments on ``autoprune`` and ``daily = 90``).

For a type such as ``daily = 30``, sanoid walks that type's snapshots oldest first and
destroys one when both hold: its creation time is before ``now - count * period`` and more
than `count` snapshots of the type remain (each destroyed one lowers the number remaining).
In its words: "don't keep any dailies more than 30 days old" but also "don't get rid of ANY
dailies unless we have more than 30". What goes is thus the oldest ``min(#too old, n -
count)`` snapshots. The periods are in `PERIOD_S` (a month is 31 days, a year 365.25).

Edge cases, as sanoid decides them:

* "Now" is the wall clock at pruning, `now_s` here, not the newest snapshot.
* The age limit is strict: a snapshot created exactly at ``now - count * period`` stays.
* Every snapshot shown is counted: sanoid counts all snapshots of the type on the dataset,
  young ones and ones created after `now_s` included; the adapter shows one type (label).
  Snapshots in the future are never destroyed, but count toward the `count` that must remain.
* Ties in `created_s`: sanoid sorts by creation time only, leaving ties in hash order; here
  the lower `id` goes first.
* ``count = 0``: every snapshot created strictly before `now_s` goes (the defaults file:
  "immediately prune any of those type snapshots already present").
* The newest snapshot stays whenever ``count >= 1``; no snapshots, nothing kept.

Left out: `prune_defer` (skip pruning below a pool capacity), pruning locks, the pre-pruning
script's veto, failed `zfs destroy`, and the snapshot cache's staleness: they decide whether
and when pruning runs, not what this rule lets go.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sim.retention.grammar import Grammar, Snapshot

PERIOD_S: dict[str, float] = {
    "frequently": 15 * 60,
    "hourly": 60 * 60,
    "daily": 24 * 60 * 60,
    "weekly": 7 * 24 * 60 * 60,
    "monthly": 31 * 24 * 60 * 60,
    "yearly": 365.25 * 24 * 60 * 60,
}
"""sanoid's period per snapshot type in seconds; `frequently` at the default ``frequent_period = 15`` minutes."""


class Sanoid(Grammar):
    """sanoid's pruning of one snapshot type with ``<type> = count`` and that type's period."""

    def __init__(self, count: int, period_s: float):
        self.count = count
        self.period_s = period_s

    @classmethod
    def from_setting(cls, count: int, period_s: float) -> Sanoid:
        """The rule for a sanoid setting such as ``daily = 30`` (count 30, period a day)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"sanoid count {count!r}: must be a whole number, 0 or more")
        if isinstance(period_s, bool) or not isinstance(period_s, int | float) or not math.isfinite(period_s) or period_s <= 0:
            raise ValueError(f"sanoid period {period_s!r}: must be a positive number of seconds")
        return cls(count, period_s)

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """The ids sanoid leaves standing at `now_s`."""
        max_created_s = now_s - self.count * self.period_s
        remaining = len(snapshots)
        kept: set[int] = set()
        for snapshot in sorted(snapshots, key=lambda snapshot: (snapshot.created_s, snapshot.id)):
            if snapshot.created_s < max_created_s and remaining > self.count:
                remaining -= 1
            else:
                kept.add(snapshot.id)
        return kept
