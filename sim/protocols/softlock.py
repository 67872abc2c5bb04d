"""Protocol `softlock`: the patent's soft-lock protocol, with forwarding up the chain.

A destination sends its whole lock set to its source before and after every update (claims
10, 20); a set replaces the previous set from the same sender, so a lost or late message
heals at the next one. The set holds the destination's own common base plus every lock it
holds from further downstream on PCPIs it shares with its source (claims 30, 35). An
intermediate system forwards its set upstream as soon as a set it received changes (claims
31, 42), so a lock at the tail of a chain of any depth reaches the head. `local`, `hard` and
`lease` are variations of it (their own files).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import simpy
from simpy.events import URGENT

from sim.engine.lock_table import SoftLock
from sim.protocols.base import DependencyStrategy

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Volume

PCPI_ID_BYTES = 8
"""Wire size of one candidate PCPI id in a lock record."""


@dataclass(slots=True)
class LockSetState:
    """What the protocol keeps for one relationship, at its destination and its source."""

    lock_set_waiting: simpy.Event | None = None
    """Delivery of the lock set waiting for the path to come back up, if one is."""
    lock_sets_sent: int = 0
    lock_sets_applied: int = 0
    own_lock: SoftLock | None = None
    """The destination's own lock in the last set that had one: sent again, the same object,
    while its candidates stay the same (its creation time is when they last changed)."""
    settled_lock: SoftLock | None = None
    """The destination's own lock in the last set built while no transfer ran (None: that set
    had none)."""
    shared_ids: tuple[int, ...] = ()
    """The destination's PCPI ids, newest first, when the last forwarding set was built. While
    they stay the same, what was narrowed to them then is not narrowed again."""
    forwarded: dict[int, tuple[SoftLock, SoftLock | None]] = field(default_factory=dict)
    """What the last set made of each lock held from further down, by `id` of the held lock:
    (held lock, the lock forwarded for it, or None when no candidate is shared)."""
    requests: dict[MirrorRelationship, TransferRequests] = field(default_factory=dict)
    """What the last set asked for each outgoing transfer that read something."""
    handover_reads: tuple[int, ...] = ()
    """What the last transfer read, still asked for upstream until the destination's own
    lock set sent after it has reached the source."""
    handover_after_sequence: int = 0
    """The destination's lock sets numbered above this one were built after the transfer."""


@dataclass(slots=True, init=False)
class TransferRequests:
    """The requests an intermediate's set makes for one outgoing transfer (one per PCPI it
    reads: its candidates and, once built, its lock), and what they were built from."""

    reads: tuple[int, ...]
    image: tuple[int, ...]
    """The ids of what the transfer's destination receives (has, in the hand-over)."""
    started_s: float
    candidates: list[tuple[int, ...]]
    locks: list[SoftLock | None]

    def __init__(self, reads: tuple[int, ...], image: tuple[int, ...], started_s: float,
                 candidates: list[tuple[int, ...]], locks: list[SoftLock | None]):
        # Written out: the one `dataclass` generates runs interpreted (this runs for most sets).
        self.reads = reads
        self.image = image
        self.started_s = started_s
        self.candidates = candidates
        self.locks = locks


ON_TIME = (0.0,)
"""The copies of a lock set without message faults: one, with no extra delay."""


@dataclass(slots=True, init=False)
class LockSetInFlight:
    """One lock set on the wire: what it carries, the source volume it is addressed to, its
    ends and their crash counts when it left, its wire time (None: no wire, between two
    volumes of one appliance), the extra delay of each copy that will arrive, how many of
    them still travel, and whether one of them arrived."""

    rel: MirrorRelationship
    locks: list[SoftLock]
    sequence: int
    source: Volume
    sender: str
    receiver: str
    epochs: tuple[int, int]
    wire_s: float | None
    copies: tuple[float, ...]
    copies_left: int
    arrived: bool

    def __init__(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int, source: Volume, sender: str,
                 receiver: str, epochs: tuple[int, int], wire_s: float | None, copies: tuple[float, ...]):
        # Written out: the one `dataclass` generates runs interpreted (one per lock set).
        self.rel = rel
        self.locks = locks
        self.sequence = sequence
        self.source = source
        self.sender = sender
        self.receiver = receiver
        self.epochs = epochs
        self.wire_s = wire_s
        self.copies = copies
        self.copies_left = len(copies)
        self.arrived = False


class _Start(simpy.Event):
    """An event that fires at the current instant with a process start's priority (SimPy's
    `Initialize`, which needs a `Process`)."""

    def __init__(self, env: simpy.Environment, callback: Callable[[simpy.Event], None]):
        super().__init__(env)
        self.callbacks.append(callback)
        self._ok = True
        self._value = None
        env.schedule(self, URGENT)


def _resume_detached(body: Generator[simpy.Event, Any, None], event: simpy.Event) -> None:
    """Resume `body` with the outcome of `event`, and on until it yields an event not yet
    processed (as `simpy.Process` does) or returns."""
    while True:
        try:
            if event.ok:
                event = body.send(event.value)
            else:
                event.defused = True
                event = body.throw(event.value)
        except StopIteration:
            return
        if event.callbacks is not None:
            event.callbacks.append(partial(_resume_detached, body))
            return


class SoftLockProtocol(DependencyStrategy):
    """Soft locks sent as whole sets before and after every update, forwarded upstream."""

    sends_lock_sets = True
    forwards = True

    def new_state(self, rel: MirrorRelationship) -> LockSetState:
        return LockSetState()

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
        for each goes up while the transfer runs (its candidates: the PCPI read, then every
        older PCPI of the image its destination receives that this system still has, so that
        the request speaks for the destination as its own set would, even once the PCPI read
        is gone here), unless the set already pins that PCPI for that destination (without
        it, a qtree transfer's PCPI could be rotated away upstream before its destination's
        lock arrives). When the transfer ends the request stays in
        the set until the destination's own lock set, sent after the transfer, has reached
        this system: the destination's lock then takes its place in one set, so the PCPI is
        never unlocked upstream in between (a hand-over without a gap).

        While a transfer runs the destination depends on what it already has too: if the
        transfer breaks and is given up, or does not fit, its next update starts from its own
        base. So a set built while the transfer runs (forwarded from downstream, say) also
        asks the source to keep the newest PCPI the destination has: the lock the set sent
        before the update asked for, unchanged (claim 10's lock stays until claim 20's set,
        after the update, replaces it).

        A vault destination's dependency, and its forwarding, are a volume destination's: it
        shares PCPIs (ids) with its source, and every PCPI it keeps could be a base.

        A qtree destination depends on one source PCPI, the last one transferred or the one
        being transferred (a `qtree` lock naming the qtree), and forwards nothing: its own
        PCPIs are not its source's, so no lock from further down, and no lock for its own
        outgoing transfers, concerns a PCPI it shares with its source.

        A lock is sent again as the same object while what it was built from has not changed
        since the last set (`LockSetState`): a set costs new locks, and narrowing, only for
        what changed, and a holder sees at a glance (`is`) that a lock it holds is unchanged.
        """
        state = self._states[rel]
        now = self.services.env.now
        locks: list[SoftLock] = []
        held = rel.held_base_ids()
        candidates = tuple(reversed(held))
        own = state.own_lock
        if candidates:
            if own is None or own.candidates != candidates:
                own = state.own_lock = self._own_lock(rel, candidates, now)
            locks.append(own)
        if rel.transfer is None:
            state.settled_lock = own if candidates else None
        else:
            fallback = tuple(reversed(rel.settled_base_ids()))
            if fallback and fallback != candidates:
                settled = state.settled_lock
                locks.append(settled if settled is not None and settled.candidates == fallback
                             else self._own_lock(rel, fallback, now))
        if self.forwards and rel.kind != "qtree":
            self._forwarded_and_requested(rel, state, locks, candidates if held is rel.destination.pcpis else None)
        return locks

    def _forwarded_and_requested(self, rel: MirrorRelationship, state: LockSetState, locks: list[SoftLock],
                                 shared_ids: tuple[int, ...] | None) -> None:
        """Add to `locks` what `rel`'s destination forwards (every lock it holds from further
        down, narrowed to its own PCPIs) and what it asks for its outgoing transfers.
        `shared_ids` are the destination's PCPI ids, newest first, if the caller has them.

        While the destination's PCPIs are the same as for the last set, a held lock that is
        the same object, or a transfer that reads the same PCPIs into the same image, gives
        the same locks as then, and they are sent again without being narrowed again."""
        dst = rel.destination
        if not dst.locks.soft and not dst.outgoing:  # the tail of a chain: nothing to forward or ask for
            state.forwarded, state.requests = {}, {}
            return
        shared = dst.pcpis
        if shared_ids is None:
            shared_ids = tuple(reversed(shared))
        unchanged = shared_ids == state.shared_ids
        state.shared_ids = shared_ids
        forwarded_before, forwarded = state.forwarded, {}
        for held in dst.locks.soft.values():
            for lock, _set_s, _delay in held.values():
                before = forwarded_before.get(id(lock))
                if unchanged and before is not None and before[0] is lock:
                    up = before[1]
                else:
                    narrowed = tuple([c for c in lock.candidates if c in shared])
                    up = lock.pinned_on(narrowed[0], narrowed, lock.hops + 1) if narrowed else None
                forwarded[id(lock)] = (lock, up)
                if up is not None:
                    locks.append(up)
        state.forwarded = forwarded
        listed: set[tuple[int, str]] | None = None
        requested_before, requested = state.requests, {}
        for out in dst.outgoing:
            if out.defunct:
                continue
            reads = out.transfer_reads + self._states[out].handover_reads
            if not reads:
                continue
            if listed is None:
                listed = {(lock.pcpi_id, lock.locking_dataset) for lock in locks}
            image = () if out.kind == "qtree" else tuple(out.held_base_ids())
            asked = requested_before.get(out)
            if not (unchanged and asked is not None and asked.reads == reads and asked.image == image
                    and asked.started_s == out.transfer_started_s):
                fallback = tuple([c for c in reversed(image) if c in shared])
                asked = TransferRequests(reads, image, out.transfer_started_s, [
                    ((pcpi_id,) if pcpi_id in shared else ()) + tuple([c for c in fallback if c < pcpi_id])
                    for pcpi_id in reads], [None] * len(reads))
            requested[out] = asked
            for index, candidates in enumerate(asked.candidates):
                if candidates and (candidates[0], out.destination_name) not in listed:
                    listed.add((candidates[0], out.destination_name))
                    request = asked.locks[index]
                    if request is None:
                        request = asked.locks[index] = SoftLock(
                            candidates[0], "destination_path", f"transfer {out.name} in progress",
                            out.destination_name, out.transfer_started_s, 1, candidates)
                    locks.append(request)
        state.requests = requested

    @staticmethod
    def _own_lock(rel: MirrorRelationship, candidates: tuple[int, ...], created_s: float) -> SoftLock:
        """`rel`'s destination's own lock on `candidates` (newest first), created at `created_s`:
        a `qtree` lock naming the qtree, or a `destination_path` lock naming the relationship."""
        if rel.kind == "qtree":
            lock_type, string = "qtree", f"qtree {rel.destination_name} (mirror of {rel.source_name})"
        else:
            lock_type, string = "destination_path", f"snapmirror {rel.name}"
        return SoftLock(candidates[0], lock_type, string, rel.destination_name, created_s, 1, candidates)

    def send_lock_set(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Process body: get the destination's whole lock set to the source.

        While the path is down, one message waits per relationship and leaves with the
        newest set when the path is back; later sends wait for it instead of queueing
        stale sets.
        """
        if rel.defunct:
            return
        state = self._states[rel]
        if state.lock_set_waiting is not None:
            yield state.lock_set_waiting
            return
        network, env = self.services.network, self.services.env
        src, dst = rel.destination.appliance.name, rel.source.appliance.name
        waiting = None
        if not network.path_is_up(src, dst):
            waiting = state.lock_set_waiting = env.event()
            yield from network.wait_for_path(src, dst)
            state.lock_set_waiting = None
        flight = self.transmit_lock_set(rel)
        if flight is not None:
            if flight.wire_s is not None:
                yield env.timeout(flight.wire_s)  # an update interrupted here delivers nothing
            self.wire_crossed(flight)
        if waiting is not None:
            waiting.succeed()

    def transmit_lock_set(self, rel: MirrorRelationship) -> LockSetInFlight | None:
        """Build the set now and put it on the up path; the sender delivers it
        (`wire_crossed`) once its wire time has passed. None: a defunct relationship sends
        nothing.

        Sets carry a sequence number and the source ignores one older than a set it has
        already applied: a smaller, newer set can overtake a larger one on the wire, a set
        sent later can overtake a late or held-back one, and a duplicate's second copy finds
        its set applied. A set counts as sent whatever becomes of it. The sender waits for
        the wire time only: it cannot tell whether its set arrived, so a lost set or a late
        copy (message faults, `sim.engine.messages`) never holds up the update that sent it,
        and the next exchange goes out as usual.
        """
        if rel.defunct:
            return None
        services = self.services
        network = services.network
        state = self._states[rel]
        locks = self.lock_set(rel)
        size = services.lock_record_bytes * (1 + len(locks)) + PCPI_ID_BYTES * sum([len(k.candidates) for k in locks])
        sender, receiver = rel.destination.appliance.name, rel.source.appliance.name
        services.events.lock_set_sent(services.env.now, sender, size)
        state.lock_sets_sent += 1
        copies = ON_TIME if services.messages is None else services.messages.copies(sender)
        return LockSetInFlight(rel, locks, state.lock_sets_sent, rel.source, sender, receiver,
                               network.epochs(sender, receiver), network.message_time(sender, receiver, size), copies)

    def wire_crossed(self, flight: LockSetInFlight, _event: simpy.Event | None = None) -> None:
        """A lock set has crossed the wire: its copies arrive, each after its extra delay (one
        copy, at once, without message faults)."""
        copies = flight.copies
        if copies is ON_TIME:
            self.copy_arrived(flight)
            return
        if not copies:
            self.services.events.lock_set_lost(self.services.env.now, flight.sender, "loss")
        for extra_s in copies:
            if extra_s > 0:
                self.services.env.timeout(extra_s).callbacks.append(partial(self.copy_arrived, flight))
            else:
                self.copy_arrived(flight)

    def copy_arrived(self, flight: LockSetInFlight, _event: simpy.Event | None = None) -> None:
        """A copy of a lock set reaches the source. A crash loses what is in flight: the copy
        is applied only if neither end crashed since the set left and the receiver is up;
        then only if no newer set was applied first, and only if the relationship still has
        that source (one re-pointed since starts its sequence afresh with its new source, and
        the old source holds nothing for it any more)."""
        flight.copies_left -= 1
        network = self.services.network
        receiver = flight.receiver
        if network.epochs(flight.sender, receiver) == flight.epochs and network.appliance_up(receiver):
            flight.arrived = True
            rel, sequence = flight.rel, flight.sequence
            state = self._states[rel]
            if sequence > state.lock_sets_applied and not rel.defunct and rel.source is flight.source:
                state.lock_sets_applied = sequence
                self.receive_lock_set(rel, flight.locks, sequence)
        elif flight.copies_left == 0 and not flight.arrived:
            self.services.events.lock_set_lost(self.services.env.now, flight.sender, "crash")

    def receive_lock_set(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int) -> None:
        """A lock set received: replace the set from `rel`'s destination on its source, and
        forward upstream if it changed. A set built after `rel`'s last transfer ends that
        transfer's hand-over.

        A held lock whose record changed keeps its row when only its candidates moved; when
        its type or string changed (a transfer's request handed over to the destination's own
        lock) the old record is released as `replaced` and the new one set, at once.
        """
        table = self.services.locks
        volume, sender = rel.source, rel.destination.name
        state = self._states[rel]
        held_before = table.held_from(volume, sender)
        source_pcpis = volume.pcpis
        wanted: dict[tuple[int, str], SoftLock] = {}
        for lock in locks:
            for pinned in lock.candidates:  # the newest candidate the source has, if any
                if pinned in source_pcpis:
                    wanted[(pinned, lock.locking_dataset)] = lock if pinned == lock.pcpi_id else lock.pinned_on(pinned)
                    break
        changed = False
        if state.handover_reads and sequence > state.handover_after_sequence:
            state.handover_reads = ()
            changed = True
        for key in [k for k in held_before if k not in wanted]:
            table.release_soft(volume, sender, key, "released")
            changed = True
        for key, lock in wanted.items():
            before = held_before.get(key)
            if before is lock:
                continue
            if before is None:
                table.set_soft(volume, sender, lock)
                changed = True
            elif before.type != lock.type or before.string != lock.string:
                table.release_soft(volume, sender, key, "replaced")
                table.set_soft(volume, sender, lock)
                changed = True
            elif before.candidates != lock.candidates:
                table.renew_soft(volume, sender, before.pinned_on(before.pcpi_id, lock.candidates))
                changed = True
        if changed:
            self.forward(volume)

    def locks_changed(self, volume: Volume) -> None:
        """A changed set goes upstream at once (claim 31), e.g. an application's new hold."""
        self.forward(volume)

    def forward(self, volume: Volume) -> None:
        """Claims 31 and 35: a changed set on an intermediate system goes upstream at once.

        Nothing waits for a forwarded set, so it needs no SimPy process of its own: it leaves
        where a process sending it would start (`_Start`), as `send_lock_set` sends it."""
        if self.forwards and volume.incoming is not None:
            _Start(self.services.env, partial(self._forward_set, volume.incoming))

    def _forward_set(self, rel: MirrorRelationship, start: simpy.Event) -> None:
        """`send_lock_set` for a set nothing waits for: a set already waiting for the path leaves
        with the newest set anyway, and one that can go now needs no process body; only one
        that must wait for the path runs `send_lock_set`, from here (`_resume_detached`)."""
        if rel.defunct:
            return
        state = self._states[rel]
        if state.lock_set_waiting is not None:
            return
        services = self.services
        if services.network.path_is_up(rel.destination.appliance.name, rel.source.appliance.name):
            flight = self.transmit_lock_set(rel)
            if flight is None:
                return
            if flight.wire_s is None:
                self.wire_crossed(flight)
            else:  # nothing can interrupt a forwarded set: it is delivered where its body would resume
                services.env.timeout(flight.wire_s).callbacks.append(partial(self.wire_crossed, flight))
            return
        _resume_detached(self.send_lock_set(rel), start)

    def before_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Claim 10: the whole set goes up before the update (`send_lock_set`'s body itself,
        not one more generator around it)."""
        return self.send_lock_set(rel)

    def transfer_started(self, rel: MirrorRelationship) -> None:
        """An intermediate source asks upstream to keep what its running transfer reads."""
        self.forward(rel.source)

    def transfer_ended(self, rel: MirrorRelationship, reads: tuple[int, ...], applied: bool) -> None:
        """An applied transfer's request stays until the hand-over (the destination's own set,
        built after the transfer, replaces it); a transfer that was not applied (its
        relationship became defunct) asks for nothing any more."""
        if applied:
            state = self._states[rel]
            state.handover_reads = reads
            state.handover_after_sequence = state.lock_sets_sent
        else:
            self.forward(rel.source)

    def after_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Claim 20: the whole set goes up again after the update (`send_lock_set`'s body)."""
        return self.send_lock_set(rel)
