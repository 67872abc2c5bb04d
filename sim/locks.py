"""Soft-lock records and the lock protocols (the agent logic run by each destination).

A `SoftLock` says "a system downstream depends on this PCPI; do not delete it"
(patent claims 3-9, 32-34): the PCPI (resource) id, a type (`owner`, `destination_path`,
`qtree`), a user-visible string naming who needs it, and the locking dataset (the
downstream resource that needs it). It also carries when it was created at the tail of
the chain and how many hops it has travelled, to measure propagation.

Protocols:
- `none`: no soft locks. Each source hard-locks only its own relationship's base.
- `softlock` (the patent): a destination sends its whole lock set to its source before and
  after every update (claims 10, 20); a set replaces the previous set from the same sender,
  so a lost or late message heals at the next one. The set holds the destination's own
  common base plus every lock it holds from further downstream on PCPIs it shares with
  its source (claims 30, 35). An intermediate system forwards its set upstream as soon as
  a set it received changes (claims 31, 42), so a lock at the tail of a chain of any depth
  reaches the head.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from sim.mirror import MirrorRelationship
    from sim.model import Model
    from sim.storage import Volume


@dataclass(slots=True, frozen=True)
class SoftLock:
    """An advisory lock on a PCPI held on behalf of a downstream dataset."""

    pcpi_id: int
    type: str
    string: str
    locking_dataset: str
    created_s: float
    hops: int = 0


class LockProtocol:
    """Protocol `none`: no soft locks; only the hard lock on each relationship's base."""

    name = "none"

    def __init__(self, model: Model):
        self.model = model

    def before_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Runs at the destination before an update's transfer starts."""
        return
        yield  # pragma: no cover - makes this a generator

    def after_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Runs at the destination after an update has been applied."""
        return
        yield  # pragma: no cover - makes this a generator


class SoftLockProtocol(LockProtocol):
    """The patent's soft-lock protocol with forwarding up the chain."""

    name = "softlock"

    def lock_set(self, rel: MirrorRelationship) -> dict[int, list[SoftLock]]:
        """The locks `rel`'s destination asks its source to hold, by PCPI id (claim 35).

        Its own dependency is the common base, the newest PCPI it has that the source had
        at the last transfer (a volume-mirror destination's PCPIs are exactly those). Then
        every lock it holds itself from further downstream, on PCPIs it shares with the
        source, goes up with one more hop.
        """
        dst = rel.destination
        locks: dict[int, list[SoftLock]] = {}
        base = dst.newest()
        if base is not None:
            created = rel.own_lock_created_s if rel.own_lock_pcpi == base.id else self.model.env.now
            rel.own_lock_pcpi, rel.own_lock_created_s = base.id, created
            locks[base.id] = [SoftLock(base.id, "destination_path", f"snapmirror {rel.name}",
                                       dst.name, created, 1)]
        for pcpi_id, held in dst.soft_locks.items():
            for lock, _set_s in held.values():
                locks.setdefault(pcpi_id, []).append(replace(lock, hops=lock.hops + 1))
        return locks

    def send_lock_set(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Process body: transmit the destination's whole lock set to the source."""
        locks = self.lock_set(rel)
        size = self.model.scenario.lock_record_bytes * (1 + sum(len(v) for v in locks.values()))
        self.model.count_lock_message(size)
        yield from self.model.network.send_message(rel.destination.appliance.name,
                                                   rel.source.appliance.name, size)
        self.receive_lock_set(rel.source, rel.destination.name, locks)

    def receive_lock_set(self, volume: Volume, sender: str, locks: dict[int, list[SoftLock]]) -> None:
        """Replace the set from `sender` on `volume`; forward upstream if it changed."""
        changed = False
        held_before = self.model.locks_from.setdefault((volume.name, sender), {})
        wanted: dict[tuple[int, str], SoftLock] = {
            (lock.pcpi_id, lock.locking_dataset): lock
            for lock_list in locks.values() for lock in lock_list if lock.pcpi_id in volume.pcpis
        }
        for key in [k for k in held_before if k not in wanted]:
            self.model.release_soft_lock(volume, sender, key, "released")
            changed = True
        for key, lock in wanted.items():
            if key not in held_before:
                self.model.set_soft_lock(volume, sender, lock)
                changed = True
        if changed and volume.incoming is not None:
            self.model.env.process(self.send_lock_set(volume.incoming))

    def before_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        yield from self.send_lock_set(rel)

    def after_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        yield from self.send_lock_set(rel)


PROTOCOL_CLASSES: dict[str, type[LockProtocol]] = {"none": LockProtocol, "softlock": SoftLockProtocol}
