"""The tools' retention grammars run on a volume: `GrammarRetention` shows them a scope of the
volume's PCPIs and deletes what no grammar keeps and the deletion gate lets go.

What a grammar sees of a PCPI: its id, its creation time on the run's calendar (seconds since
the Unix epoch: `start` plus simulated seconds; on a mirror destination the time it was taken
at the head, as a received ZFS snapshot keeps its `creation`), its name (`<label>.<stamp>`,
what a `regex` matches) and whether it is replicated: at or before the last PCPI sent by
every live relationship out of the volume (zrepl's replication cursor). A volume that feeds
nobody has everything replicated.

Unlike keep-N, a grammar decides over every PCPI of its scope, protected or not: a locked or
busy PCPI it lets go stays (the gate refuses it) and is asked about again at the next pass,
as a held ZFS snapshot survives the tool's `zfs destroy` until the hold goes. The lock-space
meter's counterfactual is the grammar's own answer: a PCPI is kept without soft locks when
some grammar keeps it now.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sim.engine.deletion import RETENTION
from sim.retention.base import RetentionRule
from sim.retention.grammar import Grammar, Snapshot, kept_by_all

if TYPE_CHECKING:
    from sim.engine.deletion import DeletionGate
    from sim.engine.storage import Pcpi, Volume


class GrammarRetention(RetentionRule):
    """A PCPI of the scope goes when no grammar of `grammars` keeps it (zrepl's list semantics)."""

    def __init__(self, grammars: Sequence[Grammar], start_ts: float):
        self.grammars = tuple(grammars)
        self.start_ts = start_ts
        self._cache: tuple[tuple[str, float, float, int, int], set[int]] | None = None

    def kept(self, volume: Volume, members: dict[int, Pcpi], now_s: float) -> set[int]:
        """The ids of `members` some grammar keeps at `now_s` (one evaluation per volume,
        instant and scope state)."""
        cursor = replication_cursor(volume)
        key = (volume.name, now_s, cursor, len(members), next(reversed(members), 0))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        start = self.start_ts
        snapshots = [Snapshot(p.id, start + p.created_s, p.name, p.id <= cursor) for p in members.values()]
        kept = kept_by_all(self.grammars, snapshots, start + now_s)
        self._cache = (key, kept)
        return kept

    def doomed(self, volume: Volume, members: dict[int, Pcpi], gate: DeletionGate, now_s: float) -> list[int]:
        if not members:
            return []
        kept = self.kept(volume, members, now_s)
        return [pid for pid in members if pid not in kept and gate.may_delete(volume, pid, RETENTION)]

    def keeps(self, volume: Volume, members: dict[int, Pcpi], pcpi: Pcpi, older_in_scope: int,
              protected: set[int], now_s: float) -> bool:
        return pcpi.id in self.kept(volume, members, now_s)


def replication_cursor(volume: Volume) -> float:
    """The newest PCPI id every live relationship out of `volume` has sent (its replication
    cursor); infinite for a volume that feeds nobody, -1 while one has sent nothing."""
    cursor = float("inf")
    for rel in volume.outgoing:
        if rel.defunct:
            continue
        cursor = min(cursor, rel.base.id if rel.base is not None else -1)
    return cursor
