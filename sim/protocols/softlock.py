"""Soft-lock records and the lock protocols (the agent logic run by each destination).

A `SoftLock` says "a system downstream depends on this PCPI; do not delete it"
(patent claims 3-9, 32-34): the PCPI (resource) id, a type (`owner`, `destination_path`,
`qtree`), a user-visible string naming who needs it, and the locking dataset (the
downstream resource that needs it). It also carries when it was created at the tail of
the chain and how many hops it has travelled, to measure propagation.

Protocols (same scenario and seed, so the gain is measured):
- `none`: no soft locks. Each source hard-locks only its own relationship's base.
- `local`: each destination locks its base on its direct source; nothing is forwarded.
- `lease`: `softlock` whose locks expire unless renewed within the scenario's `lease`.
- `hard`: propagated like `softlock`, but space-pressure autodelete may never override the
  locks (only `destroy` ignores them); shows what safety costs in space and failed writes.
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.model import Model
    from sim.engine.storage import Volume


@dataclass(slots=True, frozen=True)
class SoftLock:
    """An advisory lock on a PCPI held on behalf of a downstream dataset.

    `candidates` are the locking dataset's PCPIs, newest first, that it could use as a
    base, narrowed at every hop to those the hop shares with its own source. Each system
    that holds the lock pins the newest candidate it still has (`pcpi_id`).
    """

    pcpi_id: int
    type: str
    string: str
    locking_dataset: str
    created_s: float
    hops: int
    candidates: tuple[int, ...]

    def pinned_on(self, pcpi_id: int, candidates: tuple[int, ...] | None = None, hops: int | None = None) -> SoftLock:
        """The same lock pinning `pcpi_id` (built directly: `dataclasses.replace` is slow on the hot path)."""
        if pcpi_id == self.pcpi_id and candidates is None and hops is None:
            return self
        return SoftLock(pcpi_id, self.type, self.string, self.locking_dataset, self.created_s,
                        self.hops if hops is None else hops, self.candidates if candidates is None else candidates)


PCPI_ID_BYTES = 8
"""Wire size of one candidate PCPI id in a lock record."""


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

    def transfer_started(self, rel: MirrorRelationship) -> None:
        """Runs at the source when an update's transfer starts."""

    def transfer_ended(self, rel: MirrorRelationship, applied: bool) -> None:
        """Runs at the source when an update's transfer ends (`applied`: the destination
        applied it; otherwise the relationship became defunct while it ran)."""

    def locks_changed(self, volume: Volume) -> None:
        """Runs when a lock was set or released on `volume` outside a received lock set."""


class SoftLockProtocol(LockProtocol):
    """The patent's soft-lock protocol with forwarding up the chain."""

    name = "softlock"
    forwards = True
    """Whether an intermediate system passes downstream locks on to its own source."""
    overridable = True
    """Whether autodelete at commitment `disrupt` may delete a PCPI these locks hold."""

    def lock_set(self, rel: MirrorRelationship) -> list[SoftLock]:
        """The locks `rel`'s destination asks its source to hold (claims 30, 31, 35).

        Its own dependency: the source PCPIs it could use as a base, newest first: a volume
        destination's whole set (an image of its source as of the last transfer), or, while
        a transfer runs, the image it is receiving; the source pins the newest of them it
        still has, its common base. Then, when the protocol forwards, every lock it
        holds from further downstream goes up with one more hop, its candidates narrowed
        to the PCPIs this system shares with its source.

        Why candidates rather than one PCPI: deep in a chain, a destination's newest PCPI
        left the head of the chain long ago (mirror PCPIs rotate every update), so a lock on
        it alone arrives too late. The head pins the newest PCPI of the tail it still has.

        An intermediate also depends on the PCPIs its own running transfers read: a lock
        for each goes up while the transfer runs, unless the set already pins that PCPI for
        that destination (without it, a qtree transfer's PCPI could be rotated away upstream
        before its destination's lock arrives). When the transfer ends the request stays in
        the set until the destination's own lock set, sent after the transfer, has reached
        this system: the destination's lock then takes its place in one set, so the PCPI is
        never unlocked upstream in between (a hand-over without a gap).

        A qtree destination depends on one source PCPI, the last one transferred or the one
        being transferred (a `qtree` lock naming the qtree), and forwards nothing: its own
        PCPIs are not its source's, so no lock from further down, and no lock for its own
        outgoing transfers, concerns a PCPI it shares with its source.
        """
        dst = rel.destination
        locks: list[SoftLock] = []
        candidates = tuple(reversed(rel.held_base_ids()))
        if rel.kind == "qtree":
            lock_type, string = "qtree", f"qtree {rel.destination_name} (mirror of {rel.source_name})"
        else:
            lock_type, string = "destination_path", f"snapmirror {rel.name}"
        if candidates:
            if rel.own_lock_candidates != candidates:
                rel.own_lock_candidates, rel.own_lock_created_s = candidates, self.model.env.now
            locks.append(SoftLock(candidates[0], lock_type, string, rel.destination_name,
                                  rel.own_lock_created_s, 1, candidates))
        if self.forwards and rel.kind == "volume":
            shared = dst.pcpis
            for held in dst.soft_locks.values():
                for lock, _set_s, _delay in held.values():
                    narrowed = tuple(c for c in lock.candidates if c in shared)
                    if narrowed:
                        locks.append(lock.pinned_on(narrowed[0], narrowed, lock.hops + 1))
            listed = {(lock.pcpi_id, lock.locking_dataset) for lock in locks}
            for out in dst.outgoing:
                if out.defunct:
                    continue
                for pcpi_id in out.transfer_reads + out.handover_reads:
                    if pcpi_id in dst.pcpis and (pcpi_id, out.destination_name) not in listed:
                        listed.add((pcpi_id, out.destination_name))
                        locks.append(SoftLock(pcpi_id, "destination_path", f"transfer {out.name} in progress",
                                              out.destination_name, out.transfer_started_s, 1, (pcpi_id,)))
        return locks

    def send_lock_set(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Process body: get the destination's whole lock set to the source.

        While the path is down, one message waits per relationship and leaves with the
        newest set when the path is back; later sends wait for it instead of queueing
        stale sets.
        """
        if rel.defunct:
            return
        if rel.lock_set_waiting is not None:
            yield rel.lock_set_waiting
            return
        network = self.model.network
        src, dst = rel.destination.appliance.name, rel.source.appliance.name
        if network.path_is_up(src, dst):
            yield from self.transmit_lock_set(rel)
            return
        waiting = rel.lock_set_waiting = self.model.env.event()
        yield from network.wait_for_path(src, dst)
        rel.lock_set_waiting = None
        yield from self.transmit_lock_set(rel)
        waiting.succeed()

    def transmit_lock_set(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Process body: build the set now, carry it over the up path, apply it at the source.

        Sets carry a sequence number and the source ignores one older than a set it has
        already applied (a smaller, newer set can overtake a larger one on the wire).
        """
        if rel.defunct:
            return
        model = self.model
        locks = self.lock_set(rel)
        size = model.scenario.lock_record_bytes * (1 + len(locks)) + PCPI_ID_BYTES * sum(len(k.candidates) for k in locks)
        model.count_lock_message(rel.destination.appliance.name, size)
        rel.lock_sets_sent += 1
        sequence = rel.lock_sets_sent
        yield from model.network.transmit(rel.destination.appliance.name, rel.source.appliance.name, size)
        if sequence > rel.lock_sets_applied and not rel.defunct:
            rel.lock_sets_applied = sequence
            self.receive_lock_set(rel, locks, sequence)

    def receive_lock_set(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int) -> None:
        """Replace the set from `rel`'s destination on its source; forward upstream if it
        changed. A set built after `rel`'s last transfer ends that transfer's hand-over.

        A held lock whose record changed keeps its row when only its candidates moved; when
        its type or string changed (a transfer's request handed over to the destination's own
        lock) the old record is released as `replaced` and the new one set, at once.
        """
        volume, sender = rel.source, rel.destination.name
        held_before = self.model.locks_from.setdefault((volume.name, sender), {})
        wanted: dict[tuple[int, str], SoftLock] = {}
        for lock in locks:
            pinned = next((c for c in lock.candidates if c in volume.pcpis), None)
            if pinned is not None:
                wanted[(pinned, lock.locking_dataset)] = lock.pinned_on(pinned)
        changed = False
        if rel.handover_reads and sequence > rel.handover_after_sequence:
            rel.handover_reads = ()
            changed = True
        for key in [k for k in held_before if k not in wanted]:
            self.model.release_soft_lock(volume, sender, key, "released")
            changed = True
        for key, lock in wanted.items():
            before = held_before.get(key)
            if before is None:
                self.model.set_soft_lock(volume, sender, lock)
                changed = True
            elif before.type != lock.type or before.string != lock.string:
                self.model.release_soft_lock(volume, sender, key, "replaced")
                self.model.set_soft_lock(volume, sender, lock)
                changed = True
            elif before.candidates != lock.candidates:
                self.model.renew_soft_lock(volume, sender, before.pinned_on(before.pcpi_id, lock.candidates))
                changed = True
        if changed:
            self.forward(volume)

    def locks_changed(self, volume: Volume) -> None:
        """A changed set goes upstream at once (claim 31), e.g. an application's new hold."""
        self.forward(volume)

    def forward(self, volume: Volume) -> None:
        """Claims 31 and 35: a changed set on an intermediate system goes upstream at once."""
        if self.forwards and volume.incoming is not None:
            self.model.env.process(self.send_lock_set(volume.incoming))

    def before_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        yield from self.send_lock_set(rel)

    def transfer_started(self, rel: MirrorRelationship) -> None:
        """An intermediate source asks upstream to keep what its running transfer reads."""
        self.forward(rel.source)

    def transfer_ended(self, rel: MirrorRelationship, applied: bool) -> None:
        """An applied transfer's request stays until the hand-over; a transfer that was not
        applied (its relationship became defunct) asks for nothing any more."""
        if not applied:
            self.forward(rel.source)

    def after_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        yield from self.send_lock_set(rel)


class LocalLockProtocol(SoftLockProtocol):
    """Protocol `local`: a source keeps what its direct destinations need, nothing forwarded.

    Like the holds ZFS replication tools put on the sending side's snapshots: each hop
    protects its own next hop, so the head of a chain knows nothing of the tail.
    """

    name = "local"
    forwards = False


class LeaseLockProtocol(SoftLockProtocol):
    """Protocol `lease`: soft locks expire unless their sender renews them within `lease`.

    Every received set renews the sender's locks. A destination that disappears for good
    stops renewing, so its locks, and the locks forwarded on its behalf, are released one
    lease later instead of leaking forever. The trade-off: a downstream cut off for longer
    than the lease (a long outage) loses its protection too.
    """

    name = "lease"

    def __init__(self, model: Model):
        super().__init__(model)
        self._renewed_s: dict[tuple[str, str], float] = {}

    def receive_lock_set(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int) -> None:
        super().receive_lock_set(rel, locks, sequence)
        volume, sender = rel.source, rel.destination.name
        now = self.model.env.now
        self._renewed_s[(volume.name, sender)] = now
        expiry = self.model.env.timeout(self.model.scenario.lease)
        expiry.callbacks.append(lambda _event: self._expire(volume, sender, now))

    def _expire(self, volume: Volume, sender: str, renewed_s: float) -> None:
        if self._renewed_s.get((volume.name, sender)) != renewed_s:
            return  # renewed since
        held = self.model.locks_from.get((volume.name, sender), {})
        if not held:
            return
        for key in list(held):
            self.model.release_soft_lock(volume, sender, key, "lease_expired")
        self.forward(volume)


class HardLockProtocol(SoftLockProtocol):
    """Protocol `hard`: locks travel like `softlock`'s but space pressure may not override
    them (autodelete at `try` or `disrupt` leaves them; only `destroy` does not care).

    It is the safe extreme: no downstream ever loses its base to autodelete, and the price
    is snapshot space that cannot be reclaimed, then failed writes, when a downstream is
    gone for long.
    """

    name = "hard"
    overridable = False


PROTOCOL_CLASSES: dict[str, type[LockProtocol]] = {
    cls.name: cls
    for cls in (LockProtocol, LocalLockProtocol, SoftLockProtocol, HardLockProtocol, LeaseLockProtocol)
}
