"""Mirror relationships (volume and qtree) and their scheduled update cycle.

An update: the destination runs the protocol's before-update step, and waits until it can
reach its source (the destination starts an update under every protocol, so nothing
starts, and no PCPI is chosen, while the path is down); a writable source takes a
new mirror PCPI (a read-only source, itself a mirror destination, sends its newest PCPI)
and the common base is found; the PCPI sent and the base are busy on the source while the
transfer reads them (no deletion takes them); the protocol learns that a transfer started
(an intermediate then asks upstream to keep what the transfer reads, until its destination's
own lock replaces that request); the bytes changed since the common base (or everything,
without a base) cross the network; the destination applies them; the source then
hard-locks the new base, releases the old one, and deletes its own older mirror PCPIs that
nothing locks or reads. An update due while the previous one still runs is skipped and
counted.

A relationship is defunct once its destination is retired or its source volume removed
(the source was itself a retired destination): it updates no more and nothing is blamed on
it. A transfer running when that happens stops at once and is not applied (`aborted`): the
volume it read from or wrote to is gone.

Volume mirrors: the common base is the newest PCPI the destination has that the source
still has; on arrival the destination's PCPI set becomes the source's set as it was when
the transfer started (same PCPI ids).

Qtree mirrors: only the qtree's share of the volume's data and change crosses; the common
base is the last source PCPI transferred (the destination holds its data, not its PCPI);
on arrival the destination appliance takes its own PCPI of the destination volume and
deletes its older ones that nothing locks.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.network import Flow
from sim.engine.storage import Pcpi, Volume

if TYPE_CHECKING:
    from sim.engine.model import Model

MIRROR_LABEL = "mirror"
QTREE_MIRROR_LABEL = "qtree_mirror"


class MirrorRelationship:
    """Asynchronous mirror from `source` to `destination` on a cron schedule.

    `kind` is `volume` or `qtree`; for a qtree mirror, `qtree_share` is the qtree's share of
    the source volume and `source_name`/`destination_name` are the qtree paths.
    """

    def __init__(self, model: Model, index: int, source: Volume, destination: Volume,
                 firings: tuple[float, ...], retire_at_s: float | None = None, *,
                 kind: str = "volume", source_name: str | None = None, destination_name: str | None = None,
                 qtree_share: float = 1.0):
        self.model = model
        self.retire_at_s = retire_at_s
        self.env = model.env
        self.index = index
        self.kind = kind
        self.source_name = source_name or source.name
        self.destination_name = destination_name or destination.name
        self.qtree_share = qtree_share
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
        self.in_flight_image: dict[int, Pcpi] | None = None
        self.mirror_pcpis: dict[int, None] = {}
        self.first_update_s: float | None = None
        self.transfer_reads: tuple[int, ...] = ()
        """Source PCPIs the running transfer reads (the sent PCPI and its base)."""
        self.transfer_started_s = 0.0
        self.handover_reads: tuple[int, ...] = ()
        """What the last transfer read, still asked for upstream until the destination's own
        lock set sent after it has reached the source (see `SoftLockProtocol`)."""
        self.handover_after_sequence = 0
        """The destination's lock sets numbered above this one were built after the transfer."""
        self.in_flight: tuple[float, float, str, Pcpi | None, Pcpi, Flow] | None = None
        """The running transfer: start, bytes, kind, base, PCPI sent, its flow."""
        self._update_process: simpy.Process | None = None
        self.lock_set_waiting: simpy.Event | None = None
        """Delivery of the lock set waiting for the path to come back up, if one is."""
        self.lock_sets_sent = 0
        self.lock_sets_applied = 0
        self.baselined = False
        self.base_lost = False
        """A premature deletion left no usable base; the next transfer re-baselines."""
        self.premature_deletions = 0
        self.updates_completed = 0
        self.updates_skipped = 0
        self.rebaselines = 0
        self.rebaseline_bytes = 0.0
        self.bytes_sent = 0.0
        self.own_lock_candidates: tuple[int, ...] = ()
        self.own_lock_created_s = 0.0
        self._lag_since_s = 0.0
        self._lag_ref_s = 0.0
        self._lag_area = 0.0
        self.max_lag_s = 0.0

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
                self.updates_skipped += 1
                self.model.record_event("update_skipped", self.name)
                continue
            self.busy = True
            self._update_process = self.env.process(self.update())

    def find_common_base(self) -> Pcpi | None:
        """Volume: the newest PCPI the destination has that the source still has.
        Qtree: the last source PCPI transferred, if the source still has it."""
        source_pcpis = self.source.pcpis
        if self.kind == "qtree":
            return self.base if self.base is not None and self.base.id in source_pcpis else None
        for pcpi in self.destination.newest_first():
            if pcpi.id in source_pcpis:
                return pcpi
        return None

    def held_base_ids(self) -> dict[int, object]:
        """The source PCPIs the destination could use as a base, oldest first.

        Volume: the destination's PCPIs, or the image in flight while a transfer runs (the
        destination's set becomes exactly that image). Qtree: the last source PCPI
        transferred, or the one in flight.
        """
        if self.kind == "volume":
            return self.in_flight_image if self.in_flight_image is not None else self.destination.pcpis
        if self.in_flight_image is not None:
            return self.in_flight_image
        return {self.base.id: None} if self.base is not None else {}

    def update(self) -> Generator[simpy.Event, Any, None]:
        """One asynchronous mirror update, start to finish."""
        model = self.model
        yield from model.protocol.before_update(self)
        src, dst = self.source, self.destination
        if not model.network.path_is_up(dst.appliance.name, src.appliance.name):
            yield from model.network.wait_for_path(dst.appliance.name, src.appliance.name)
        if self.defunct:
            self.busy = False
            return
        if src.writable:
            send = model.take_pcpi(src, MIRROR_LABEL, f"mirror.{self.destination_name}.{self.updates_completed + 1}")
            self.mirror_pcpis[send.id] = None
        else:
            newest = src.newest()
            if newest is None:  # the source has not been baselined itself yet
                self.updates_skipped += 1
                model.record_event("update_skipped", self.name, detail="source has no PCPI")
                self.busy = False
                return
            send = newest
        base = self.find_common_base()
        share = self.qtree_share
        if base is None:
            size = src.size_bytes * share
            kind = "rebaseline" if self.baselined else "baseline"
        else:
            size = share * min(src.size_bytes, send.cum_changed_bytes - base.cum_changed_bytes)
            kind = "incremental"
        if kind == "rebaseline":
            self.rebaselines += 1
            self.rebaseline_bytes += size
        self.base_lost = False
        reading = (send.id,) if base is None or base.id == send.id else (send.id, base.id)
        src.start_reading(reading)
        image = dict(src.pcpis) if self.kind == "volume" else {send.id: send}
        self.in_flight_image = image
        self.transfer_reads = reading
        self.transfer_started_s = started = self.env.now
        src.autodelete()
        model.protocol.transfer_started(self)
        flow = model.network.start_flow(src.appliance.name, dst.appliance.name, size)
        self.in_flight = (started, size, kind, base, send, flow)
        try:
            yield from model.network.complete(flow)
        except simpy.Interrupt:  # the destination, or the source, was removed (see `abort`)
            self.in_flight = None
            if not flow.done.triggered:
                model.network.cancel_flow(flow)
            sent = flow.sent_bytes(self.env.now)
            self.bytes_sent += sent
            self.in_flight_image = None
            self.transfer_reads = ()
            src.stop_reading(reading)
            model.protocol.transfer_ended(self, applied=False)
            model.record_transfer(self, started, self.env.now, size, sent, kind, base, send, completed=False, aborted=True)
            return
        self.in_flight = None
        self.bytes_sent += size
        if self.kind == "volume":
            for pcpi in dst.apply_image(tuple(image.values()), self.env.now):
                model.pcpi_arrived(dst, pcpi)
        else:
            own = model.take_pcpi(dst, QTREE_MIRROR_LABEL, f"qtree_mirror.{self.source_name}.{self.updates_completed + 1}",
                                  received_bytes=size, data_s=send.data_s)
            for pcpi_id in [pid for pid in dst.by_label.get(QTREE_MIRROR_LABEL, ()) if pid != own.id]:
                if not dst.is_kept(pcpi_id):
                    dst.delete_pcpi(pcpi_id, "mirror_rotation", self.name)
        old_base, self.base = self.base, send
        self.in_flight_image = None
        self.transfer_reads = ()
        self.handover_reads = reading
        self.handover_after_sequence = self.lock_sets_sent
        src.stop_reading(reading)
        self._lock_new_base(old_base, send)
        model.protocol.transfer_ended(self, applied=True)
        self._account_lag(send)
        self.baselined = True
        if kind == "rebaseline":
            model.record_event("rebaseline", self.name, send.id, size)
        self.updates_completed += 1
        if self.first_update_s is None:
            self.first_update_s = self.env.now
        model.record_transfer(self, started, self.env.now, size, size, kind, base, send, completed=True, aborted=False)
        yield from model.protocol.after_update(self)
        self.busy = False

    def record_in_flight(self, end_s: float) -> None:
        """At the end of the run: the transfer still running, with the bytes sent so far."""
        if self.in_flight is None:
            return
        started, size, kind, base, send, flow = self.in_flight
        sent = flow.sent_bytes(end_s)
        self.bytes_sent += sent
        self.model.record_transfer(self, started, None, size, sent, kind, base, send, completed=False, aborted=False)

    def retire(self) -> None:
        """The destination is removed for good: its PCPIs go, and it tells nobody upstream.

        The source keeps the relationship's hard-locked base and whatever soft locks the
        destination had sent, as a real source would until an administrator releases it.
        Relationships out of the removed volume can no longer update either.
        """
        self.retired = True
        self.model.record_event("destination_retired", self.name)
        self._abort()
        for out in self.destination.outgoing:
            if not out.defunct:
                out.source_removed = True
                self.model.record_event("source_removed", out.name)
                out._abort()
        for pcpi_id in list(self.destination.pcpis):
            self.destination.delete_pcpi(pcpi_id, "destination_retired", self.name)

    def _abort(self) -> None:
        """Stop the running transfer, if one is: the relationship just became defunct."""
        if self.in_flight is not None and self._update_process is not None:
            self._update_process.interrupt("defunct")

    def _lock_new_base(self, old: Pcpi | None, send: Pcpi) -> None:
        """Hard-lock the new base on the source, release the old, prune own mirror PCPIs."""
        src = self.source
        if send.id in src.pcpis:
            self.model.set_hard_lock(src, send.id, self.name)
        if old is not None and old.id != send.id:
            self.model.release_hard_lock(src, old.id, self.name)
        for pcpi_id in [pid for pid in self.mirror_pcpis if pid != send.id]:
            if pcpi_id not in src.pcpis:
                del self.mirror_pcpis[pcpi_id]
            elif not src.is_kept(pcpi_id):
                del self.mirror_pcpis[pcpi_id]
                src.delete_pcpi(pcpi_id, "mirror_rotation", self.name)

    def _account_lag(self, sent: Pcpi) -> None:
        """Lag (RPO) at the destination: now minus when the data it holds was captured
        (the `data_s` of the PCPI last transferred); before its first update, the
        destination holds nothing and its lag counts from the start of the run.

        Between two completed updates it grows linearly from the last one, so its time
        integral is exact: the area of a trapezoid per interval.
        """
        now = self.env.now
        self._lag_area += self._lag_area_until(now)
        self.max_lag_s = max(self.max_lag_s, now - self._lag_ref_s)
        self._lag_ref_s = sent.data_s
        self._lag_since_s = now

    def _lag_area_until(self, t: float) -> float:
        since, ref = self._lag_since_s, self._lag_ref_s
        return ((t - ref) ** 2 - (since - ref) ** 2) / 2

    def lag_s(self, now: float) -> float | None:
        """Current lag of the destination (from the start of the run before its first
        update); None once retired."""
        return None if self.retired else now - self._lag_ref_s

    def lag_summary(self, end_s: float) -> tuple[float, float]:
        """(time-weighted mean, max) lag from the start of the run to `end_s` (or retirement)."""
        if self.retire_at_s is not None:
            end_s = min(end_s, self.retire_at_s)
        area = self._lag_area + self._lag_area_until(end_s)
        peak = max(self.max_lag_s, end_s - self._lag_ref_s)
        return (area / end_s if end_s > 0 else peak), peak
