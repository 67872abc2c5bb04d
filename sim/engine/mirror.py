"""Mirror relationships (volume and qtree) and their scheduled update cycle.

An update: the destination runs the dependency strategy's before-update step, and waits until it can
reach its source (the destination starts an update under every strategy, so nothing
starts, and no PCPI is chosen, while the path is down); a writable source takes a
new mirror PCPI (a read-only source, itself a mirror destination, sends its newest PCPI)
and the common base is found; the PCPI sent and the base are busy on the source while the
transfer reads them (no deletion takes them); the dependency strategy learns that a transfer started
(an intermediate then asks upstream to keep what the transfer reads, until its destination's
own lock replaces that request); the bytes changed since the common base (or everything,
without a base) cross the network; the destination applies them; the source then
hard-locks the new base, releases the old one, and deletes its own older mirror PCPIs that
nothing locks or reads. An update due while the previous one still runs is skipped.
What updates measure (counts, bytes, lag) is the observers' business: the relationship
announces its transfers as domain events.

A relationship is defunct once its destination is retired or its source volume removed
(the source was itself a retired destination): it updates no more and nothing is blamed on
it. A transfer running when that happens stops at once and is not applied (`aborted`): the
volume it read from or wrote to is gone.

Volume mirrors: the common base is the newest PCPI the destination has that the source
still has; on arrival the destination's PCPI set becomes the source's set as it was when
the transfer started (same PCPI ids).

Vault mirrors: the source sends the newest of its PCPIs (whose name matches the filter, if
one is set) and every matching PCPI between the common base and it (`zfs send -I`); a
writable source takes no mirror PCPI (the tools replicate the snapshots their schedules
took), unless the dependency strategy has it take a sync snapshot of its own to send
(syncoid). The common base is the newest PCPI both sides have, or a PCPI the destination has
of which the source keeps a bookmark (ZFS: an incremental send can start from a bookmark). A
strategy may have the destination rolled back to the base first (`zfs receive -F`: its PCPIs
newer than the base are destroyed, reason `rollback`). On arrival the destination adds
them to what it keeps and applies its own retention to all its PCPIs; it never replays the
source's deletions. With nothing newer than the base to send, the update is skipped.

Qtree mirrors: only the qtree's share of the volume's data and change crosses; the common
base is the last source PCPI transferred (the destination holds its data, not its PCPI);
on arrival the destination appliance takes its own PCPI of the destination volume and
deletes its older ones that nothing locks.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.deletion import RETENTION, RETIRED, ROTATION
from sim.engine.network import Flow, Network
from sim.engine.storage import Pcpi, Volume
from sim.scenario.schema import BreakPolicySpec

if TYPE_CHECKING:
    from sim.engine.deletion import DeletionGate
    from sim.engine.events import DomainEvents
    from sim.engine.lock_table import LockTable
    from sim.protocols.base import DependencyStrategy
    from sim.retention.base import RetentionRule

MIRROR_LABEL = "mirror"
QTREE_MIRROR_LABEL = "qtree_mirror"

LINK_DOWN = "link_down"
"""A link of the transfer's path went down (breaks it under `abort` and `resume` only)."""
CRASH = "crash"
"""The transfer's source or destination appliance crashed."""
NO_SPACE = "no_space"
"""What arrived did not fit on the destination's appliance."""
DEFUNCT = "defunct"
"""The destination was retired, or the source removed: the transfer ends, not applied."""
REPOINTED = "repointed"
"""The relationship took another source: the transfer ends, not applied."""
ENDS = (DEFUNCT, REPOINTED)
"""Causes that end a transfer whatever its break policy."""

Slots = tuple[tuple[simpy.Resource, Any], ...]
"""Transfer slots held on appliances that limit concurrent transfers (resource, request)."""


@dataclass(slots=True, init=False)
class Transfer:
    """One update's transfer, from its start to its end, across its attempts.

    `sent_bytes`: what its finished attempts put on the wire; `delivered_bytes`: what the
    destination holds of it (kept across a resumed attempt); `wasted_bytes`: what was sent
    and thrown away (an aborted attempt, a transfer that did not fit, or one that ended
    without being applied).
    """

    started_s: float
    size: float
    kind: str
    base: Pcpi | None
    send: Pcpi
    flow: Flow | None
    attempts: int
    sent_bytes: float
    delivered_bytes: float
    wasted_bytes: float

    def __init__(self, started_s: float, size: float, kind: str, base: Pcpi | None, send: Pcpi):
        # Written out: the one `dataclass` generates runs interpreted (one per update).
        self.started_s = started_s
        self.size = size
        self.kind = kind
        self.base = base
        self.send = send
        self.flow = None
        self.attempts = 0
        self.sent_bytes = 0.0
        self.delivered_bytes = 0.0
        self.wasted_bytes = 0.0


@dataclass(frozen=True, slots=True)
class MirrorServices:
    """What every relationship of a run shares: the clock, the network, the dependency
    strategy, the lock table (for its hard lock on its base), the domain events and the
    deletion gate (for a vault destination's retention)."""

    env: simpy.Environment
    network: Network
    strategy: DependencyStrategy
    locks: LockTable
    events: DomainEvents
    gate: DeletionGate


class MirrorRelationship:
    """Asynchronous mirror from `source` to `destination` on a cron schedule.

    `kind` is `volume`, `qtree` or `vault`; for a qtree mirror, `qtree_share` is the qtree's
    share of the source volume and `source_name`/`destination_name` are the qtree paths; a
    vault mirror has its destination's `retention` and an optional name `name_filter`.
    `on_break` says what a transfer does when it breaks; `throttle_bps` caps its rate.
    A relationship keeps its name when it is re-pointed to another source.
    """

    def __init__(self, services: MirrorServices, index: int, source: Volume, destination: Volume,
                 firings: tuple[float, ...], retire_at_s: float | None = None, *,
                 kind: str = "volume", source_name: str | None = None, destination_name: str | None = None,
                 qtree_share: float = 1.0, retention: RetentionRule | None = None,
                 name_filter: re.Pattern[str] | None = None, on_break: BreakPolicySpec | None = None,
                 throttle_bps: float | None = None):
        self.services = services
        self.env = services.env
        self.retire_at_s = retire_at_s
        self.index = index
        self.kind = kind
        self.source_name = source_name or source.name
        self.destination_name = destination_name or destination.name
        self.qtree_share = qtree_share
        self.retention = retention
        self.name_filter = name_filter
        self.name = f"{self.source_name}->{self.destination_name}"
        self.source = source
        self.destination = destination
        self.firings = firings
        self.busy = False
        self._retired = self._source_removed = False
        self.defunct = False
        """Whether the relationship can no longer update: retired, or its source removed (an
        attribute kept by their setters, as it is read at every step of an update)."""
        self.base: Pcpi | None = None
        self.baselined = False
        self.updates_completed = 0
        """Updates applied so far (mirror PCPIs are numbered after it)."""
        self.in_flight_image: dict[int, Pcpi] | None = None
        self.mirror_pcpis: dict[int, None] = {}
        self.transfer_reads: tuple[int, ...] = ()
        """Source PCPIs the running transfer reads (the sent PCPI and its base)."""
        self.transfer_started_s = 0.0
        self.transfer: Transfer | None = None
        """The running transfer, from its start to its end, across its attempts."""
        self.on_break = on_break if on_break is not None else BreakPolicySpec()
        self.throttle_bps = throttle_bps
        self._update_process: simpy.Process | None = None
        self._cycle: simpy.Process | None = None
        self._waiting = False
        """The update is waiting to start its transfer (its before-update step, its path, slots)."""
        self.former_sources: dict[Volume, dict[int, None]] = {}
        """Sources it was re-pointed away from, with the mirror PCPIs it left on each, until released."""

    @property
    def retired(self) -> bool:
        """The destination was removed for good."""
        return self._retired

    @retired.setter
    def retired(self, value: bool) -> None:
        self._retired = value
        self.defunct = self._retired or self._source_removed

    @property
    def source_removed(self) -> bool:
        """The source volume was removed for good (it was a retired destination)."""
        return self._source_removed

    @source_removed.setter
    def source_removed(self, value: bool) -> None:
        self._source_removed = value
        self.defunct = self._retired or self._source_removed

    def start(self) -> None:
        """Start the update cycle from now on (again, after a re-point revived the relationship)."""
        self._cycle = self.env.process(self.update_cycle())

    def update_cycle(self) -> Generator[simpy.Event, Any, None]:
        """Long-lived process: start an update at every scheduled firing from now on (the
        destination's schedule: a firing while the destination's appliance is down is
        missed); it ends when the relationship is defunct."""
        firings = self.firings
        for at in firings[bisect.bisect_left(firings, self.env.now):]:
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            if self.defunct:
                return
            destination = self.destination.appliance.name
            if not self.services.network.appliance_up(destination):
                self.services.events.firing_missed(self.env.now, self.name, destination)
                continue
            if self.busy:
                self.services.events.update_skipped(self.env.now, self, None)
                continue
            self.busy = True
            self._update_process = self.env.process(self.update())

    def find_common_base(self) -> Pcpi | None:
        """Volume: the newest PCPI the destination has that the source still has. Vault: the
        same, or a bookmark of it on the source. Qtree: the last source PCPI transferred, if
        the source still has it."""
        source_pcpis = self.source.pcpis
        if self.kind == "qtree":
            return self.base if self.base is not None and self.base.id in source_pcpis else None
        bookmarks = self.source.bookmarks if self.kind == "vault" else {}
        for pcpi in self.destination.newest_first():
            if pcpi.id in source_pcpis or pcpi.id in bookmarks:
                return pcpi
        return None

    def held_base_ids(self) -> dict[int, object]:
        """The source PCPIs the destination could use as a base, oldest first.

        Volume: the destination's PCPIs, or the image in flight while a transfer runs (the
        destination's set becomes exactly that image). Vault: the destination's PCPIs, with
        those in flight while a transfer runs. Qtree: the last source PCPI transferred, or the
        one in flight.
        """
        if self.kind == "volume":
            return self.in_flight_image if self.in_flight_image is not None else self.destination.pcpis
        if self.kind == "vault":
            if self.in_flight_image is None:
                return self.destination.pcpis
            return dict(sorted({**self.destination.pcpis, **self.in_flight_image}.items()))
        if self.in_flight_image is not None:
            return self.in_flight_image
        return {self.base.id: None} if self.base is not None else {}

    def settled_base_ids(self) -> dict[int, object]:
        """The source PCPIs the destination could use as a base without the transfer in flight
        (what it has: its PCPIs, or a qtree's last source PCPI transferred), oldest first."""
        if self.kind != "qtree":
            return self.destination.pcpis
        return {self.base.id: None} if self.base is not None else {}

    def update(self) -> Generator[simpy.Event, Any, None]:
        """One asynchronous mirror update, start to finish."""
        services = self.services
        strategy, events = services.strategy, services.events
        slots = yield from self._prepare()
        if self.defunct:
            self._release(slots)
            self.busy = False
            return
        src, dst = self.source, self.destination
        send = self._pcpi_to_send()
        if send is None:
            self._release(slots)
            self.busy = False
            return
        base = self.find_common_base()
        share = self.qtree_share
        if base is None:
            size = src.size_bytes * share
            kind = "rebaseline" if self.baselined else "baseline"
        else:
            # A rolled-back source (syncoid's `zfs receive -F` on an intermediate) can send a PCPI
            # whose content predates the base: the bytes differ either way.
            size = share * min(src.size_bytes, abs(send.cum_changed_bytes - base.cum_changed_bytes))
            kind = "incremental"
        events.transfer_started(self.env.now, self, kind, size, base, send)
        reading = (send.id,) if base is None or base.id == send.id or base.id not in src.pcpis else (send.id, base.id)
        src.start_reading(reading)
        if self.kind == "volume":
            image = dict(src.pcpis)
        elif self.kind == "vault" and base is not None:
            image = {pid: p for pid, p in src.pcpis.items()
                     if base.id < pid <= send.id and (pid == send.id or self._sent_to_vault(p))}
        else:
            image = {send.id: send}
        if self.kind == "vault" and base is not None and strategy.rolls_back(self) and base.id in dst.pcpis:
            dst.roll_back(base, self.name)
        self.in_flight_image = image
        self.transfer_reads = reading
        self.transfer_started_s = self.env.now
        src.autodelete()
        strategy.transfer_started(self)
        transfer = self.transfer = Transfer(self.env.now, size, kind, base, send)
        arrived = yield from self._send(transfer, slots)
        self.transfer = None
        self.in_flight_image = None
        self.transfer_reads = ()
        if not arrived:
            src.stop_reading(reading)
            strategy.transfer_ended(self, reading, applied=False)
            events.transfer_ended(self.env.now, self, transfer.started_s, size, transfer.sent_bytes, kind, base, send,
                                  False, transfer.attempts, transfer.wasted_bytes)
            self.busy = False
            return
        self._apply(image, size, send)
        old_base, self.base = self.base, send
        src.stop_reading(reading)
        self._lock_new_base(old_base, send)
        strategy.transfer_ended(self, reading, applied=True)
        self.baselined = True
        self.updates_completed += 1
        events.transfer_ended(self.env.now, self, transfer.started_s, size, transfer.sent_bytes, kind, base, send, True,
                              transfer.attempts, transfer.wasted_bytes)
        yield from strategy.after_update(self)
        self.busy = False

    def _prepare(self) -> Generator[simpy.Event, Any, Slots]:
        """Process body: the strategy's before-update step, then wait until the transfer can
        start (`_ready_to_send`). A re-point meanwhile cuts the before-update step short (the
        destination's set went to the new source at the re-point) and restarts the wait with
        the new source; the end of the relationship stops it. Returns the slots held."""
        self._waiting = True
        try:
            try:
                yield from self.services.strategy.before_update(self)
            except simpy.Interrupt as stop:
                if stop.cause != REPOINTED:
                    return ()
            while True:
                try:
                    return (yield from self._ready_to_send())
                except simpy.Interrupt as stop:
                    if stop.cause != REPOINTED:
                        return ()
        finally:
            self._waiting = False

    def _pcpi_to_send(self) -> Pcpi | None:
        """The PCPI this update sends (taking the mirror or sync PCPI where one is taken), or
        None when the update is skipped (nothing new for a vault, a source not yet baselined)."""
        strategy, events = self.services.strategy, self.services.events
        src = self.source
        if self.kind == "vault":
            sync = strategy.sync_snapshot(self)
            if sync is not None and src.pcpis:
                newest = src.newest()
                send = src.take_pcpi(sync[0], sync[1], data_s=None if src.writable else newest.data_s)  # type: ignore[union-attr]
            else:
                send = self._newest_to_vault()
            if send is None or (self.base is not None and send.id <= self.base.id
                                and send.id in self.destination.pcpis):
                events.update_skipped(self.env.now, self, "nothing new to send")
                return None
            return send
        if src.writable:
            send = src.take_pcpi(f"mirror.{self.destination_name}.{self.updates_completed + 1}", MIRROR_LABEL)
            self.mirror_pcpis[send.id] = None
            return send
        newest = src.newest()
        if newest is None:  # the source has not been baselined itself yet
            events.update_skipped(self.env.now, self, "source has no PCPI")
        return newest

    def _apply(self, image: dict[int, Pcpi], size: float, send: Pcpi) -> None:
        """The transfer arrived (and fits): the destination applies it."""
        dst = self.destination
        if self.kind == "volume":
            dst.apply_image(image)
        elif self.kind == "vault":
            dst.receive(tuple(image.values()))
            self.in_flight_image = None  # received: what the vault keeps is its own PCPIs now
            assert self.retention is not None
            for pcpi_id in self.retention.doomed(dst, dst.pcpis, self.services.gate, self.env.now):
                dst.delete_pcpi(pcpi_id, RETENTION, self.name)
            dst.autodelete()
        else:
            own = dst.take_pcpi(f"qtree_mirror.{self.source_name}.{self.updates_completed + 1}", QTREE_MIRROR_LABEL,
                                received_bytes=size, data_s=send.data_s)
            for pcpi_id in [pid for pid in dst.by_label.get(QTREE_MIRROR_LABEL, ()) if pid != own.id]:
                if dst.may_delete(pcpi_id, ROTATION):
                    dst.delete_pcpi(pcpi_id, ROTATION, self.name)

    # -- sending, breaks and retries --------------------------------------------------------

    def _send(self, transfer: Transfer, slots: Slots) -> Generator[simpy.Event, Any, bool]:
        """Process body: get the transfer's bytes to the destination under the break policy;
        True once they have arrived and fit, False when the transfer ends without being
        applied (the relationship became defunct or was re-pointed, or the policy gave up)."""
        policy = self.on_break
        network, events = self.services.network, self.services.events
        backoff = policy.retry_after
        while True:
            transfer.attempts += 1
            flow = transfer.flow = network.start_flow(self.source.appliance.name, self.destination.appliance.name,
                                                      transfer.size - transfer.delivered_bytes, self.throttle_bps)
            try:
                yield from network.complete(flow)
                cause = None
            except simpy.Interrupt as stop:
                cause = stop.cause
                if not flow.done.triggered:
                    network.cancel_flow(flow)
            sent = flow.sent_bytes(self.env.now)
            transfer.flow = None
            transfer.sent_bytes += sent
            transfer.delivered_bytes += sent
            if cause is None and self._room_for(transfer):
                self._release(slots)
                return True
            if cause in ENDS:
                self._release(slots)
                transfer.wasted_bytes += transfer.delivered_bytes
                return False
            cause = cause or NO_SPACE
            thrown = transfer.delivered_bytes if cause == NO_SPACE else sent if policy.policy == "abort" else 0.0
            transfer.delivered_bytes -= thrown
            transfer.wasted_bytes += thrown
            events.transfer_broken(self.env.now, self, cause, transfer.attempts, sent, thrown)
            self._release(slots)
            stalls = policy.policy == "stall"
            if (cause == NO_SPACE and stalls) or (not stalls and transfer.attempts >= policy.attempts):
                transfer.wasted_bytes += transfer.delivered_bytes
                events.transfer_failed(self.env.now, self, cause)
                return False
            try:
                if not stalls:
                    yield self.env.timeout(backoff)
                    backoff = min(backoff * policy.backoff, policy.backoff_cap)
                slots = yield from self._ready_to_send()
            except simpy.Interrupt:  # only an end of the relationship interrupts a waiting retry
                transfer.wasted_bytes += transfer.delivered_bytes
                return False
            if self.defunct:
                self._release(slots)
                transfer.wasted_bytes += transfer.delivered_bytes
                return False

    def _room_for(self, transfer: Transfer) -> bool:
        """Whether what arrived fits on the destination's appliance; a vault destination with
        autodelete first deletes its oldest PCPIs (never the base) to make room."""
        dst = self.destination
        if self.kind == "volume":
            return dst.growth_on_image(self.in_flight_image or {}) <= dst.appliance.free_bytes
        if self.kind != "vault":
            return dst.growth_on_write(transfer.size) <= dst.appliance.free_bytes
        image = tuple(self.in_flight_image.values()) if self.in_flight_image is not None else ()

        def growth() -> float:
            return dst.growth_on_receive(image)

        if growth() <= dst.appliance.free_bytes:
            return True
        spare = (transfer.base.id,) if transfer.base is not None else ()
        dst.make_room(growth, spare, self.name)
        return growth() <= dst.appliance.free_bytes

    def _ready_to_send(self) -> Generator[simpy.Event, Any, Slots]:
        """Process body: wait until both ends are up and reachable and, where the appliances
        limit concurrent transfers, a slot is free on each; returns the slots held (the
        caller releases them, also when the relationship turned defunct meanwhile)."""
        network = self.services.network
        while True:
            dst, src = self.destination.appliance.name, self.source.appliance.name
            if not network.path_is_up(dst, src):
                yield from network.wait_for_path(dst, src)
            if self.defunct:
                return ()
            if self.source.appliance.transfer_slots is None and self.destination.appliance.transfer_slots is None:
                return ()
            slots = yield from self._acquire_slots()
            if self.defunct or network.path_is_up(dst, src):
                return slots
            self._release(slots)

    def _acquire_slots(self) -> Generator[simpy.Event, Any, Slots]:
        """Process body: a transfer slot on the source's and the destination's appliance, where
        they limit concurrent transfers, taken in the order of the appliances' names (so two
        transfers never wait for each other's slot), each queue first come, first served."""
        held: list[tuple[simpy.Resource, simpy.resources.resource.Request]] = []
        appliances = sorted({self.source.appliance, self.destination.appliance}, key=lambda a: a.name)
        for appliance in appliances:
            if appliance.transfer_slots is None:
                continue
            request = appliance.transfer_slots.request()
            try:
                yield request
            except BaseException:
                if request.triggered:
                    appliance.transfer_slots.release(request)
                else:
                    request.cancel()
                self._release(tuple(held))
                raise
            held.append((appliance.transfer_slots, request))
        return tuple(held)

    @staticmethod
    def _release(slots: Slots) -> None:
        for resource, request in slots:
            resource.release(request)

    def break_transfer(self, cause: str) -> None:
        """Break the running transfer attempt (`link_down`, `crash`), or end the transfer
        (`defunct`, `repointed`) whatever it is doing, or the wait of an update to start one
        (`defunct`, `repointed`); nothing happens otherwise."""
        process = self._update_process
        if process is None or not process.is_alive:
            return
        transfer = self.transfer
        if transfer is None:
            if self._waiting and cause in ENDS:
                process.interrupt(cause)
            return
        if transfer.flow is None and cause not in ENDS:
            return  # waiting to retry: nothing in flight to break
        process.interrupt(cause)

    def _sent_to_vault(self, pcpi: Pcpi) -> bool:
        """Whether a vault sends `pcpi`: every PCPI without a name filter (a replication tool
        sends the snapshots other tools took too), else those whose name the filter matches."""
        return self.name_filter is None or self.name_filter.search(pcpi.name) is not None

    def _newest_to_vault(self) -> Pcpi | None:
        """The newest source PCPI a vault sends, if any."""
        for pcpi in self.source.newest_first():
            if self._sent_to_vault(pcpi):
                return pcpi
        return None

    def report_in_flight(self, end_s: float) -> None:
        """At the end of the run: announce the transfer still running, with its bytes sent so far."""
        transfer = self.transfer
        if transfer is None:
            return
        sent = transfer.sent_bytes + (transfer.flow.sent_bytes(end_s) if transfer.flow is not None else 0.0)
        self.services.events.transfer_running(end_s, self, transfer.started_s, transfer.size, sent, transfer.kind,
                                              transfer.base, transfer.send, transfer.attempts, transfer.wasted_bytes)

    def retire(self) -> None:
        """The destination is removed for good: its PCPIs go, and it tells nobody upstream.

        The source keeps the relationship's hard-locked base and whatever soft locks the
        destination had sent, as a real source would until an administrator releases it
        (`release`). Relationships out of the removed volume can no longer update either.
        """
        events = self.services.events
        self.retired = True
        events.destination_retired(self.env.now, self)
        self.break_transfer(DEFUNCT)
        for out in self.destination.outgoing:
            if not out.defunct:
                out.source_removed = True
                events.source_removed(self.env.now, out)
                out.break_transfer(DEFUNCT)
        for pcpi_id in list(self.destination.pcpis):
            self.destination.delete_pcpi(pcpi_id, RETIRED, self.name)
        for pcpi_id in list(self.destination.bookmarks):
            self.destination.destroy_bookmark(pcpi_id, self.name)

    def release(self) -> None:
        """An administrator releases (NetApp `snapmirror release`) what this relationship left
        on the sources it no longer uses: those it was re-pointed away from and, once it is
        retired, its last: its base lock, its destination's soft locks, its mirror PCPIs.
        Each such source's own source then hears of the change (a forwarding strategy sends
        its new set upstream)."""
        left = list(self.former_sources.items())
        if self.retired:
            left.append((self.source, self.mirror_pcpis))
        for source, mirror_pcpis in left:
            self._release_on(source, mirror_pcpis)
        self.former_sources = {}
        if self.retired:
            self.mirror_pcpis = {}
        self.services.events.relationship_released(self.env.now, self)

    def repoint(self, new_source: Volume) -> None:
        """Take `new_source` as the source from now on (a cascade re-pointed around a system
        taken out). A running transfer, or an update waiting to start one, ends, not applied.
        The old source is told nothing, as with a retired destination: it keeps the
        relationship's base lock, the destination's soft locks (and, under a forwarding
        strategy, forwards them) and its mirror PCPIs until an administrator releases them
        (`release`); a strategy that sends lock sets sends the destination's to the new
        source at once. The next update looks for a common base on the new source (a volume
        mirror's PCPIs keep their ids down a lineage, so a destination re-pointed to its
        source's source usually finds one) and re-baselines without one. A relationship
        whose old source was removed can update again."""
        old = self.source
        self.break_transfer(REPOINTED)
        old.outgoing.remove(self)
        new_source.outgoing.append(self)
        left = self.former_sources.setdefault(old, {})
        left.update(self.mirror_pcpis)
        self.mirror_pcpis = self.former_sources.pop(new_source, {})
        self.source = new_source
        self.source_removed = False
        strategy = self.services.strategy
        strategy.forget(self)
        self.services.events.relationship_repointed(self.env.now, self, old)
        strategy.locks_changed(self.destination)  # a forwarding strategy tells the new source at once
        if self._cycle is None or not self._cycle.is_alive:
            self.start()

    def _release_on(self, source: Volume, mirror_pcpis: dict[int, None]) -> None:
        """Release what `source` keeps for this relationship: hard locks it owns, soft locks
        its destination sent, and `mirror_pcpis`, the mirror PCPIs it took there (those
        nothing else keeps)."""
        locks = self.services.locks
        for pcpi_id in [pid for pid, owners in source.locks.hard.items() if self.name in owners]:
            locks.release_hard(source, pcpi_id, self.name)
        for key in list(locks.held_from(source, self.destination.name)):
            locks.release_soft(source, self.destination.name, key, "released")
        for pcpi_id in list(mirror_pcpis):
            if pcpi_id in source.pcpis and source.may_delete(pcpi_id, ROTATION):
                source.delete_pcpi(pcpi_id, ROTATION, self.name)
        self.services.strategy.locks_changed(source)

    def _lock_new_base(self, old: Pcpi | None, send: Pcpi) -> None:
        """Hard-lock the new base on the source and release the old (volume and qtree mirrors
        always: SnapMirror does; a vault where the storage system protects bases:
        `DependencyStrategy.protects_base`), prune own mirror PCPIs."""
        src, locks = self.source, self.services.locks
        if self.kind != "vault" or self.services.strategy.protects_base:
            if send.id in src.pcpis:
                locks.set_hard(src, send.id, self.name)
            if old is not None and old.id != send.id:
                locks.release_hard(src, old.id, self.name)
        for pcpi_id in [pid for pid in self.mirror_pcpis if pid != send.id]:
            if pcpi_id not in src.pcpis:
                del self.mirror_pcpis[pcpi_id]
            elif src.may_delete(pcpi_id, ROTATION):
                del self.mirror_pcpis[pcpi_id]
                src.delete_pcpi(pcpi_id, ROTATION, self.name)
