"""The oracle: decides, at each deletion, whether it removed the last usable base of a mirror
relationship (a premature deletion), and blames it on that relationship.

Relationship R (source S -> destination D) can update incrementally while S still has a PCPI
that D could use as a base. The PCPIs D could use, `held(R)`, are D's PCPIs for a volume
mirror (or, while a transfer runs, the image D is receiving: S's set when it started), and
for a qtree mirror the last source PCPI transferred (or the one in flight). R's usable bases
are `held(R) ∩ S`; R's next transfer is a re-baseline exactly when that set is empty when it
starts (this is what `MirrorRelationship.find_common_base` looks for).

Between two transfer starts of R that set only shrinks: a volume never gets back a PCPI it
lost (PCPIs are immutable and ids global), `held(R)` changes only when a transfer of R
starts (to S's set then, or to the PCPI sent, all of them on S) or when D drops a PCPI,
which it does only for PCPIs its source no longer has; and the PCPIs a running transfer
reads are busy, so no deletion takes them while R transfers. So the one deletion on S that
empties the set is the deletion that makes R's next transfer a re-baseline, known at the
moment it happens: it is blamed then, once, and the blame is final.

For a vault relationship a base is usable while S has the PCPI or a bookmark of it (ZFS), so
a PCPI's deletion that leaves its bookmark breaks nothing, and the bookmark's later removal
is the premature deletion. For a vault relationship `held(R)` is D's PCPIs (with those in flight while a transfer runs),
and D keeps PCPIs under retention of its own: the deletion that empties the set may then be
on D, by D's retention, and it is blamed the same way. Otherwise that deletion is always on
R's own source, whatever its reason: retention, mirror rotation,
autodelete on a writable source or a qtree destination, or an image update replaying on a
read-only source what its own source deleted earlier (the root cause is then the deletion of
the same PCPI at the head of the lineage, the volume named by the PCPI's `origin`). A
deletion upstream is not premature by itself: the destination may still update from the
intermediate image before that image updates (the race the old oracle lost).

Two losses are no deletion's fault, and nothing is blamed for them (the events table says
why; the re-baseline that follows counts in `rebaselines`): a relationship re-pointed to a
source that has none of its destination's PCPIs (`repointed ... no common base`), and a
transfer that ended without being applied (its break policy gave up) after its source
deleted, while it ran, everything its destination had (`base_lost`): while it ran the image
in flight held a base, so no deletion was premature when it happened.

A relationship that can no longer update (destination retired, or source volume removed) is
blamed nothing; neither is one whose base is already lost (until its next transfer starts).
The oracle observes the engine's deletions and transfer starts; it changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents, Signal

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Pcpi, Volume


def broken_by(volume: Volume, pcpi: Pcpi, lost: set[MirrorRelationship]) -> list[MirrorRelationship]:
    """Relationships for which deleting `pcpi` (already removed from `volume`) left no usable
    base (those in `lost` have none already): relationships out of the volume, and a vault
    relationship into it (its destination's own retention can drop the last PCPI it shares
    with its source). Work: the relationships out of the volume, and for one whose held set
    holds the PCPI, its held set from the newest until a survivor (usually the first)."""
    broken = []
    pcpis = volume.pcpis
    for rel in volume.outgoing:
        if rel.defunct or rel in lost:
            continue
        held = rel.held_base_ids()
        if pcpi.id not in held:
            continue
        bookmarks = volume.bookmarks if rel.kind == "vault" else {}
        if not any(candidate in pcpis or candidate in bookmarks for candidate in reversed(held)):
            broken.append(rel)
    rel = volume.incoming
    if rel is not None and rel.kind == "vault" and not rel.defunct and rel not in lost:
        source, bookmarks = rel.source.pcpis, rel.source.bookmarks
        if (pcpi.id in source or pcpi.id in bookmarks) and not any(
                candidate in source or candidate in bookmarks for candidate in reversed(rel.held_base_ids())):
            broken.append(rel)
    return broken


def has_usable_base(rel: MirrorRelationship) -> bool:
    """Whether the source of volume or vault relationship `rel` has (or, for a vault, bookmarks)
    a PCPI its destination has: a base for its next transfer."""
    source = rel.source.pcpis
    bookmarks = rel.source.bookmarks if rel.kind == "vault" else {}
    return any(candidate in source or candidate in bookmarks for candidate in rel.destination.pcpis)


class Oracle:
    """Blames premature deletions as they happen (`premature` fires once per deletion that
    broke something, with the relationships it broke) and knows, per relationship, whether
    its base is lost until its next transfer starts."""

    def __init__(self, events: DomainEvents):
        self.premature: Signal[[float, Volume, Pcpi, list[MirrorRelationship]]] = Signal()
        self.stranded: Signal[[float, MirrorRelationship]] = Signal()
        """A transfer ended without being applied and left its relationship without a base."""
        self.deletions = 0
        """Distinct deletions that left some relationship without a usable base."""
        self.blamed: dict[MirrorRelationship, int] = {}
        """Premature deletions blamed on each relationship."""
        self.lost: set[MirrorRelationship] = set()
        """Relationships whose base is lost and whose next transfer has not started yet."""
        self.cut: set[MirrorRelationship] = set()
        """Relationships re-pointed to a source without a usable base, whose next transfer (a
        re-baseline no deletion caused) has not started yet."""
        self._unbreakable: set[MirrorRelationship] = set()
        """`lost` and `cut` together: relationships no deletion can break now."""
        events.pcpi_deleted.subscribe(self.pcpi_deleted)
        events.relationship_repointed.subscribe(self.relationship_repointed)
        events.bookmark_destroyed.subscribe(self.bookmark_destroyed)
        events.transfer_started.subscribe(self.transfer_started)
        events.transfer_ended.subscribe(self.transfer_ended)

    def pcpi_deleted(self, now: float, volume: Volume, pcpi: Pcpi, _reason: str, _by: str) -> None:
        broken = broken_by(volume, pcpi, self._unbreakable)
        if broken:
            self.deletions += 1
            for rel in broken:
                self.lost.add(rel)
                self._unbreakable.add(rel)
                self.blamed[rel] = self.blamed.get(rel, 0) + 1
            self.premature(now, volume, pcpi, broken)

    def bookmark_destroyed(self, now: float, volume: Volume, pcpi: Pcpi, _by: str) -> None:
        """A bookmark can be a vault's last usable base as well: its loss is blamed the same way."""
        if pcpi.id not in volume.pcpis:
            self.pcpi_deleted(now, volume, pcpi, "", "")

    def transfer_started(self, _now: float, rel: MirrorRelationship, *_transfer: object) -> None:
        self.lost.discard(rel)
        self.cut.discard(rel)
        self._unbreakable.discard(rel)

    def transfer_ended(self, now: float, rel: MirrorRelationship, _start_s: float, _size: float, _sent: float,
                       _kind: str, _base: Pcpi | None, _send: Pcpi, applied: bool, *_outcome: object) -> None:
        """A transfer that ended without being applied (its break policy gave up) leaves its
        destination with what it had; while it ran, the source could delete all of that (an
        intermediate replays its own source's deletions, hard lock or not) without breaking
        anything, as the image in flight held a base. Then the base is lost now, by the
        failure: no deletion is blamed, the relationship is lost until its next transfer."""
        if applied or rel.defunct or not rel.baselined or rel in self._unbreakable:
            return
        if not any(candidate in rel.source.pcpis or (rel.kind == "vault" and candidate in rel.source.bookmarks)
                   for candidate in rel.held_base_ids()):
            self.lost.add(rel)
            self._unbreakable.add(rel)
            self.stranded(now, rel)

    def relationship_repointed(self, _now: float, rel: MirrorRelationship, _old: Volume) -> None:
        """A re-pointed relationship starts afresh on its new source: a base lost on the old
        one no longer matters, and without a usable base on the new one its next transfer
        re-baselines because of the re-point, not of a deletion (nothing is blamed)."""
        self.lost.discard(rel)
        self.cut.discard(rel)
        self._unbreakable.discard(rel)
        if rel.baselined and not has_usable_base(rel):
            self.cut.add(rel)
            self._unbreakable.add(rel)
