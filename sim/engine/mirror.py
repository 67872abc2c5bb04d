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

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.deletion import RETENTION, RETIRED, ROLLBACK, ROTATION
from sim.engine.network import Flow, Network
from sim.engine.storage import Pcpi, Volume

if TYPE_CHECKING:
    from sim.engine.deletion import DeletionGate
    from sim.engine.events import DomainEvents
    from sim.engine.lock_table import LockTable
    from sim.protocols.base import DependencyStrategy
    from sim.retention.base import RetentionRule

MIRROR_LABEL = "mirror"
QTREE_MIRROR_LABEL = "qtree_mirror"


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
    """

    def __init__(self, services: MirrorServices, index: int, source: Volume, destination: Volume,
                 firings: tuple[float, ...], retire_at_s: float | None = None, *,
                 kind: str = "volume", source_name: str | None = None, destination_name: str | None = None,
                 qtree_share: float = 1.0, retention: RetentionRule | None = None,
                 name_filter: re.Pattern[str] | None = None):
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
        self.retired = False
        """The destination was removed for good."""
        self.source_removed = False
        """The source volume was removed for good (it was a retired destination)."""
        self.base: Pcpi | None = None
        self.baselined = False
        self.updates_completed = 0
        """Updates applied so far (mirror PCPIs are numbered after it)."""
        self.in_flight_image: dict[int, Pcpi] | None = None
        self.mirror_pcpis: dict[int, None] = {}
        self.transfer_reads: tuple[int, ...] = ()
        """Source PCPIs the running transfer reads (the sent PCPI and its base)."""
        self.transfer_started_s = 0.0
        self.in_flight: tuple[float, float, str, Pcpi | None, Pcpi, Flow] | None = None
        """The running transfer: start, bytes, kind, base, PCPI sent, its flow."""
        self._update_process: simpy.Process | None = None

    @property
    def defunct(self) -> bool:
        """Whether the relationship can no longer update."""
        return self.retired or self.source_removed

    def update_cycle(self) -> Generator[simpy.Event, Any, None]:
        """Long-lived process: start an update at every scheduled firing."""
        for at in self.firings:
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            if self.defunct:
                return
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

    def update(self) -> Generator[simpy.Event, Any, None]:
        """One asynchronous mirror update, start to finish."""
        services = self.services
        strategy, events, network = services.strategy, services.events, services.network
        yield from strategy.before_update(self)
        src, dst = self.source, self.destination
        if not network.path_is_up(dst.appliance.name, src.appliance.name):
            yield from network.wait_for_path(dst.appliance.name, src.appliance.name)
        if self.defunct:
            self.busy = False
            return
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
                self.busy = False
                return
        elif src.writable:
            send = src.take_pcpi(f"mirror.{self.destination_name}.{self.updates_completed + 1}", MIRROR_LABEL)
            self.mirror_pcpis[send.id] = None
        else:
            newest = src.newest()
            if newest is None:  # the source has not been baselined itself yet
                events.update_skipped(self.env.now, self, "source has no PCPI")
                self.busy = False
                return
            send = newest
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
        if self.kind == "vault" and base is not None and strategy.rolls_back(self):
            for pcpi_id in [pid for pid in dst.pcpis if pid > base.id]:
                if dst.may_delete(pcpi_id, ROLLBACK):
                    dst.delete_pcpi(pcpi_id, ROLLBACK, self.name)
        self.in_flight_image = image
        self.transfer_reads = reading
        self.transfer_started_s = started = self.env.now
        src.autodelete()
        strategy.transfer_started(self)
        flow = network.start_flow(src.appliance.name, dst.appliance.name, size)
        self.in_flight = (started, size, kind, base, send, flow)
        try:
            yield from network.complete(flow)
        except simpy.Interrupt:  # the destination, or the source, was removed (see `_abort`)
            self.in_flight = None
            if not flow.done.triggered:
                network.cancel_flow(flow)
            self.in_flight_image = None
            self.transfer_reads = ()
            src.stop_reading(reading)
            strategy.transfer_ended(self, reading, applied=False)
            events.transfer_ended(self.env.now, self, started, size, flow.sent_bytes(self.env.now), kind, base, send,
                                  False)
            return
        self.in_flight = None
        if self.kind == "volume":
            dst.apply_image(tuple(image.values()))
        elif self.kind == "vault":
            dst.receive(tuple(image.values()))
            self.in_flight_image = None  # received: what the vault keeps is its own PCPIs now
            assert self.retention is not None
            for pcpi_id in self.retention.doomed(dst, dst.pcpis, services.gate, self.env.now):
                dst.delete_pcpi(pcpi_id, RETENTION, self.name)
        else:
            own = dst.take_pcpi(f"qtree_mirror.{self.source_name}.{self.updates_completed + 1}", QTREE_MIRROR_LABEL,
                                received_bytes=size, data_s=send.data_s)
            for pcpi_id in [pid for pid in dst.by_label.get(QTREE_MIRROR_LABEL, ()) if pid != own.id]:
                if dst.may_delete(pcpi_id, ROTATION):
                    dst.delete_pcpi(pcpi_id, ROTATION, self.name)
        old_base, self.base = self.base, send
        self.in_flight_image = None
        self.transfer_reads = ()
        src.stop_reading(reading)
        self._lock_new_base(old_base, send)
        strategy.transfer_ended(self, reading, applied=True)
        self.baselined = True
        self.updates_completed += 1
        events.transfer_ended(self.env.now, self, started, size, size, kind, base, send, True)
        yield from strategy.after_update(self)
        self.busy = False

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
        if self.in_flight is None:
            return
        started, size, kind, base, send, flow = self.in_flight
        self.services.events.transfer_running(end_s, self, started, size, flow.sent_bytes(end_s), kind, base, send)

    def retire(self) -> None:
        """The destination is removed for good: its PCPIs go, and it tells nobody upstream.

        The source keeps the relationship's hard-locked base and whatever soft locks the
        destination had sent, as a real source would until an administrator releases it.
        Relationships out of the removed volume can no longer update either.
        """
        events = self.services.events
        self.retired = True
        events.destination_retired(self.env.now, self)
        self._abort()
        for out in self.destination.outgoing:
            if not out.defunct:
                out.source_removed = True
                events.source_removed(self.env.now, out)
                out._abort()
        for pcpi_id in list(self.destination.pcpis):
            self.destination.delete_pcpi(pcpi_id, RETIRED, self.name)
        for pcpi_id in list(self.destination.bookmarks):
            self.destination.destroy_bookmark(pcpi_id, self.name)

    def _abort(self) -> None:
        """Stop the running transfer, if one is: the relationship just became defunct."""
        if self.in_flight is not None and self._update_process is not None:
            self._update_process.interrupt("defunct")

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
