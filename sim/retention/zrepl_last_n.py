"""zrepl's `last_n` and `not_replicated` keep rules.

Modelled on zrepl (github.com/zrepl/zrepl) at commit b93a06d:

* `internal/pruning/keep_last_n.go` (`KeepLastN`),
* `internal/pruning/keep_not_replicated.go` (`KeepNotReplicated`),
* `internal/daemon/pruner/pruner.go` (`doOneAttempt`: how a snapshot comes to be "replicated"),
* `internal/config/config.go` (`PruneKeepLastN`, `PruneKeepNotReplicated`),
* `docs/configuration/prune.rst` (policies `last_n` and `not_replicated`).

`last_n` (`ZreplLastN`) keeps the `count` youngest snapshots whose name the regex matches:

* Order is by creation time, youngest first; ties in `created_s` go to the name that sorts
  last (zrepl compares names descending); a tie in both goes to the higher `id` (zrepl's
  unstable sort leaves it open).
* Time plays no part: `now_s` is unused, and snapshots "in the future" count like any other.
  The newest matching snapshot is always kept (`count` is at least 1).
* Regex: searched anywhere in the name (Go `MatchString`, here `re.search`, Python syntax);
  the rule keeps nothing it does not match. It is optional in zrepl and ``""`` matches every
  name, as ``None`` does here.
* No snapshots, or fewer matching than `count`: every matching one is kept.

`not_replicated` (`ZreplNotReplicated`) keeps what zrepl's pruner calls not replicated. zrepl
does not look at each snapshot's own state: it lists the snapshots by creation txg and
counts every one older than the replication cursor (the most recent snapshot successfully
replicated) as replicated; the cursor snapshot counts as replicated only if
``keep_snapshot_at_cursor: false`` (default true). Here the cursor is the snapshot with the
highest `id` whose `replicated` is true (the newest one every destination has), so the rule
keeps the cursor (unless `keep_snapshot_at_cursor` is false) and everything newer:

* A snapshot with `replicated` false that is older than the cursor is not kept (zrepl counts
  it replicated); the rule keeps a suffix of the snapshots in `id` order.
* No snapshot replicated: all are kept (zrepl keeps all when the cursor snapshot is missing
  from the list, and refuses to prune at all while no cursor exists).
* The newest snapshot is always kept, unless it is the cursor and `keep_snapshot_at_cursor`
  is false. `now_s` and regexes play no part (the rule has none); empty in, empty out.

Left out: `not_replicated` in zrepl applies to the sender side of a push/pull job and is
refused for local (`snap`) jobs; several destinations mean one cursor per zrepl job, here
folded into the `replicated` flag the adapter computes (the slowest destination's cursor).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sim.retention.grammar import Grammar, Snapshot
from sim.retention.zrepl_grid import compile_regex


class ZreplLastN(Grammar):
    """zrepl's `last_n`: the `count` youngest snapshots matching the regex."""

    def __init__(self, count: int, regex: re.Pattern[str] | None = None):
        self.count = count
        self.regex = regex

    @classmethod
    def from_setting(cls, count: int, regex: str | None = None) -> ZreplLastN:
        """The rule for zrepl's ``count: <count>`` and optional ``regex: <regex>``."""
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"last_n count {count!r}: must be a positive integer")
        return cls(count, None if not regex else compile_regex(regex))

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """The ids of the `count` youngest matching snapshots; `now_s` is unused."""
        regex = self.regex
        matching = [snapshot for snapshot in snapshots if regex is None or regex.search(snapshot.name)]
        matching.sort(key=lambda snapshot: (snapshot.created_s, snapshot.name, snapshot.id), reverse=True)
        return {snapshot.id for snapshot in matching[: self.count]}


class ZreplNotReplicated(Grammar):
    """zrepl's `not_replicated`: the replication cursor's snapshot (by default) and all newer."""

    def __init__(self, keep_snapshot_at_cursor: bool = True):
        self.keep_snapshot_at_cursor = keep_snapshot_at_cursor

    @classmethod
    def from_setting(cls, keep_snapshot_at_cursor: bool = True) -> ZreplNotReplicated:
        """The rule for zrepl's ``type: not_replicated`` with its ``keep_snapshot_at_cursor``."""
        if not isinstance(keep_snapshot_at_cursor, bool):
            raise ValueError(f"not_replicated keep_snapshot_at_cursor {keep_snapshot_at_cursor!r}: must be true or false")
        return cls(keep_snapshot_at_cursor)

    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """The ids zrepl counts as not replicated; `now_s` is unused."""
        by_txg = sorted(snapshots, key=lambda snapshot: snapshot.id)
        cursor = max((index for index, snapshot in enumerate(by_txg) if snapshot.replicated), default=None)
        if cursor is None:
            return {snapshot.id for snapshot in by_txg}
        first_kept = cursor if self.keep_snapshot_at_cursor else cursor + 1
        return {snapshot.id for snapshot in by_txg[first_kept:]}
