"""The gap failure: history pruned upstream before it reached a destination meant to keep it.

Per volume-mirror or vault destination: the scheduled PCPIs of the volume at the head of its
source's lineage (a writable volume, or a qtree-mirror or vault destination) that were deleted
there, after the destination's first update, without ever having reached it (and, for a
retired destination, before it retired). Mirror PCPIs are transfer artefacts and do not count,
nor, for a vault with a name filter, PCPIs the filter does not send.

The watch keeps, per destination and head, only what can still decide a gap: the head's PCPIs
that reached the destination and that the head still has, and the head's deletions of PCPIs
that had not reached it (the candidates, dropped when one arrives after all). So its memory is
bounded by the PCPIs alive and the gaps themselves, not by the run's length. A head that is a
vault destination may receive a PCPI again after deleting it and delete it again, so for such a
head every PCPI that reached the destination is remembered.

A destination that a fault re-points may end the run under another head; the watch follows
every head the destination can have (its first source's and each re-point target's) and
reports the gaps under the head of its source at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents
from sim.engine.mirror import MIRROR_LABEL
from sim.scenario.plan import Plan

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Pcpi, Volume


class _Watch:
    """One destination under one head: what reached it of the head's PCPIs, and the head's
    deletions of PCPIs that had not (PCPI id -> [(when, name)], one per deletion)."""

    __slots__ = ("reached", "candidates", "head_receives")

    def __init__(self, head_receives: bool):
        self.head_receives = head_receives
        """The head is a vault destination: it may receive a PCPI again after deleting it."""
        self.reached: set[int] = set()
        self.candidates: dict[int, list[tuple[float, str]]] = {}


class GapWatch:
    """Per destination and head, the head's PCPIs that reached the destination and the head's
    deletions of those that had not; and when each relationship first updated."""

    def __init__(self, events: DomainEvents, plan: Plan, volumes: dict[str, Volume],
                 relationships: Iterable[MirrorRelationship], repoints: Iterable[tuple[str, str]] = ()):
        """`repoints`: (destination volume, new source volume) of every re-point the run may make."""
        self._plan = plan
        self._volumes = volumes
        sources: dict[str, list[str]] = {}
        for rel in relationships:
            if rel.kind != "qtree":
                sources.setdefault(rel.destination.name, []).append(rel.source.name)
        for destination, source in repoints:
            if destination in sources:
                sources[destination].append(source)
        self._by_destination: dict[str, dict[str, _Watch]] = {}
        self._by_head: dict[str, list[_Watch]] = {}
        for destination, names in sources.items():
            for head in dict.fromkeys(plan.head(name) for name in names):
                incoming = volumes[head].incoming
                watch = _Watch(incoming is not None and incoming.kind == "vault")
                self._by_destination.setdefault(destination, {})[head] = watch
                self._by_head.setdefault(head, []).append(watch)
        self._first_update_s: dict[MirrorRelationship, float] = {}
        events.pcpi_taken.subscribe(self.reached)
        events.pcpi_arrived.subscribe(self.reached)
        events.pcpi_deleted.subscribe(self.pcpi_deleted)
        events.transfer_ended.subscribe(self.transfer_ended)

    def reached(self, _now: float, volume: Volume, pcpi: Pcpi) -> None:
        watches = self._by_destination.get(volume.name)
        if watches is None or pcpi.label == MIRROR_LABEL:
            return
        pcpi_id = pcpi.id
        for head, watch in watches.items():
            was_candidate = watch.candidates.pop(pcpi_id, None) is not None
            if watch.head_receives or (pcpi.origin == head and not was_candidate):
                watch.reached.add(pcpi_id)

    def pcpi_deleted(self, now: float, volume: Volume, pcpi: Pcpi, _reason: str, _by: str) -> None:
        watches = self._by_head.get(volume.name)
        if watches is None or pcpi.label == MIRROR_LABEL:
            return
        pcpi_id = pcpi.id
        for watch in watches:
            if pcpi_id in watch.reached:
                if not watch.head_receives:
                    watch.reached.discard(pcpi_id)
            else:
                watch.candidates.setdefault(pcpi_id, []).append((now, pcpi.name))

    def transfer_ended(self, now: float, rel: MirrorRelationship, _start_s: float, _size: float, _sent: float,
                       _kind: str, _base: Pcpi | None, _send: Pcpi, applied: bool, *_outcome: object) -> None:
        if applied and rel not in self._first_update_s:
            self._first_update_s[rel] = now

    def remembered(self) -> int:
        """PCPI ids the watch holds now (reached and candidates, over every destination and head)."""
        return sum(len(w.reached) + len(w.candidates) for ws in self._by_head.values() for w in ws)

    def gaps(self, relationships: list[MirrorRelationship]) -> dict[str, set[int]]:
        """Per volume-mirror or vault destination that updated at least once, its gap PCPIs."""
        gaps: dict[str, set[int]] = {}
        for rel in relationships:
            first = self._first_update_s.get(rel)
            if rel.kind == "qtree" or first is None:
                continue
            watch = self._by_destination[rel.destination.name][self._plan.head(rel.source.name)]
            until = rel.retire_at_s if rel.retire_at_s is not None else float("inf")
            wanted = rel.name_filter
            gaps[rel.destination.name] = {pid for pid, deletions in watch.candidates.items()
                                          if any(first < when < until and (wanted is None or wanted.search(name))
                                                 for when, name in deletions)}
        return gaps
