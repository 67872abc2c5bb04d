"""The global oracle: knows every volume's PCPIs and decides, at each deletion, whether the
deleted PCPI was the last common base of some mirror relationship (a premature deletion).

A deletion on volume V matters to every relationship whose source is V or a volume-mirror
image of V further down (V -> B -> ... -> S): whatever V deletes, those images lose at their
next update. For relationship S -> D the deleted PCPI P was the last common base when D
holds P and no other PCPI of D survives on every volume from V down to S. While S -> D is
transferring, D's set is the image in flight (D's set becomes exactly that image on arrival).
A qtree destination "holds" one source PCPI, the last one transferred (or the one in
flight), and its own PCPIs are not its source's: the walk down from V stops at a qtree
hop (relationships below it depend on the qtree destination's own PCPIs).
A retired relationship needs nothing.
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
                    if rel.kind == "volume":
                        stack.append((rel.destination, path + (rel.destination,)))
            self._downstream[volume.name] = found

    def broken_by(self, volume: Volume, pcpi: Pcpi) -> list[MirrorRelationship]:
        """Relationships for which deleting `pcpi` from `volume` removed the last common base."""
        broken = []
        for rel, path in self._downstream.get(volume.name, ()):
            if rel.retired:
                continue
            held = rel.held_base_ids()
            if pcpi.id in held and not any(
                all(candidate in v.pcpis for v in path) for candidate in reversed(held)
            ):
                broken.append(rel)
        return broken
