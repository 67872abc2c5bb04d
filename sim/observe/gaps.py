"""The gap failure: history pruned upstream before it reached a destination meant to keep it.

Per volume-mirror or vault destination: the scheduled PCPIs of the volume at the head of its
source's lineage (a writable volume, or a qtree-mirror or vault destination) that were deleted
there, after the destination's first update, without ever having reached it (and, for a
retired destination, before it retired). Mirror PCPIs are transfer artefacts and do not count,
nor, for a vault with a name filter, PCPIs the filter does not send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents
from sim.engine.mirror import MIRROR_LABEL
from sim.scenario.plan import Plan

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Pcpi, Volume


class GapWatch:
    """Which PCPIs ever reached each volume, which the heads deleted, and when each
    relationship first updated."""

    def __init__(self, events: DomainEvents, plan: Plan, volumes: dict[str, Volume]):
        self._plan = plan
        self._volumes = volumes
        self._reached: dict[str, set[int]] = {}
        self._deleted_at_head: dict[str, list[tuple[int, float, str]]] = {}
        self._first_update_s: dict[MirrorRelationship, float] = {}
        events.pcpi_taken.subscribe(self.reached)
        events.pcpi_arrived.subscribe(self.reached)
        events.pcpi_deleted.subscribe(self.pcpi_deleted)
        events.transfer_ended.subscribe(self.transfer_ended)

    def reached(self, _now: float, volume: Volume, pcpi: Pcpi) -> None:
        self._reached.setdefault(volume.name, set()).add(pcpi.id)

    def pcpi_deleted(self, now: float, volume: Volume, pcpi: Pcpi, _reason: str, _by: str) -> None:
        if pcpi.label != MIRROR_LABEL and self._plan.head(volume.name) == volume.name:
            self._deleted_at_head.setdefault(volume.name, []).append((pcpi.id, now, pcpi.name))

    def transfer_ended(self, now: float, rel: MirrorRelationship, _start_s: float, _size: float, _sent: float,
                       _kind: str, _base: Pcpi | None, _send: Pcpi, applied: bool, *_outcome: object) -> None:
        if applied and rel not in self._first_update_s:
            self._first_update_s[rel] = now

    def gaps(self, relationships: list[MirrorRelationship]) -> dict[str, set[int]]:
        """Per volume-mirror or vault destination that updated at least once, its gap PCPIs."""
        gaps: dict[str, set[int]] = {}
        for rel in relationships:
            first = self._first_update_s.get(rel)
            if rel.kind == "qtree" or first is None:
                continue
            head = self._volumes[self._plan.head(rel.source.name)]
            until = rel.retire_at_s if rel.retire_at_s is not None else float("inf")
            got = self._reached.get(rel.destination.name, set())
            wanted = rel.name_filter
            gaps[rel.destination.name] = {pid for pid, when, name in self._deleted_at_head.get(head.name, ())
                                          if first < when < until and pid not in got
                                          and (wanted is None or wanted.search(name) is not None)}
        return gaps
