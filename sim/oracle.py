"""The global oracle: knows every volume's PCPIs and decides, at each deletion, whether the
deleted PCPI was the last common base of some mirror relationship (a premature deletion).

A deletion on volume V matters to every relationship whose source is V or a volume-mirror
image of V further down (V -> B -> ... -> S): whatever V deletes, those images lose at their
next update. For relationship S -> D the deleted PCPI P was the last common base when D
holds P and no other PCPI of D survives on every volume from V down to S. The PCPI that the
relationship is transferring right now counts as held by D.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.storage import Pcpi, Volume

if TYPE_CHECKING:
    from sim.mirror import MirrorRelationship


class Oracle:
    """Dependency truth across the whole topology, precomputed per volume at build time."""

    def __init__(self, volumes: list[Volume]):
        self._downstream: dict[str, list[tuple[MirrorRelationship, tuple[Volume, ...]]]] = {}
        for volume in volumes:
            if not volume.outgoing:
                continue
            found: list[tuple[MirrorRelationship, tuple[Volume, ...]]] = []
            stack: list[tuple[Volume, tuple[Volume, ...]]] = [(volume, (volume,))]
            while stack:
                current, path = stack.pop()
                for rel in current.outgoing:
                    found.append((rel, path))
                    stack.append((rel.destination, path + (rel.destination,)))
            self._downstream[volume.name] = found

    def broken_by(self, volume: Volume, pcpi: Pcpi) -> list[MirrorRelationship]:
        """Relationships for which deleting `pcpi` from `volume` removed the last common base."""
        broken = []
        for rel, path in self._downstream.get(volume.name, ()):
            destination = rel.destination
            if pcpi.id not in destination.pcpis:
                continue
            if not self._has_survivor(rel, path, pcpi.id):
                broken.append(rel)
        return broken

    @staticmethod
    def _has_survivor(rel: MirrorRelationship, path: tuple[Volume, ...], gone: int) -> bool:
        in_flight = rel.in_flight
        if in_flight is not None and all(in_flight.id in v.pcpis for v in path):
            return True
        for candidate in rel.destination.newest_first():
            if candidate.id != gone and all(candidate.id in v.pcpis for v in path):
                return True
        return False
