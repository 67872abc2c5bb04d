"""The Model: builds and wires every component of one run and owns its state.

Phases: build (constructor) -> `start()` -> `run()` -> `finalise()`. The Model owns the
SimPy environment, one RNG stream per component, the collectors, the network and the
oracle; components reach shared services through it. No module-level state.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from sim.engine.mirror import MIRROR_LABEL, QTREE_MIRROR_LABEL, MirrorRelationship
from sim.engine.network import Link, Network
from sim.engine.snapshots import SnapshotPolicy
from sim.engine.storage import Appliance, Pcpi, Volume
from sim.engine.topology import Topology
from sim.observe.collectors import new_collectors
from sim.observe.lock_space import LockSpaceMeter
from sim.observe.oracle import broken_by
from sim.present.formatting import format_bytes, format_seconds
from sim.protocols.softlock import PROTOCOL_CLASSES, SoftLock
from sim.results import SCHEMA_VERSION, Results
from sim.scenario import Scenario, mirrors_in_dependency_order, volume_layout
from sim.scenario.schedule import ScheduleBook

GC_GEN0_THRESHOLD = 200_000
"""Allocations between young-generation collections during a run (Python's default: 700 or 2000)."""


class Model:
    """One simulation run of a scenario under its protocol and seed."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.env = simpy.Environment()
        self.collectors = new_collectors()
        self.schedules = ScheduleBook(scenario.start_ts, scenario.duration)
        self.topology = Topology(scenario)
        self.network = Network(self.env, self.topology)
        self.protocol = PROTOCOL_CLASSES[scenario.protocol](self)
        self.locks_from: dict[tuple[str, str], dict[tuple[int, str], SoftLock]] = {}
        self.lock_messages: dict[str, int] = {name: 0 for name in sorted(scenario.appliances)}
        self.lock_message_bytes: dict[str, float] = {name: 0.0 for name in sorted(scenario.appliances)}
        self.propagation: list[tuple[int, float, bool]] = []
        """(hops, seconds from creation at the locking dataset to being set here, whether here is
        the head of a cascade, a writable volume), per lock set."""
        self.premature_deletions = 0
        """Distinct deletions that left some relationship without a usable base."""
        self.autodeletes = 0
        self.holds: dict[str, list] = {}
        for hold in scenario.holds:
            self.holds.setdefault(hold.volume, []).append(hold)
        self.events_processed = 0
        self._next_pcpi_id = 1
        self.appliances = {name: Appliance(name, spec.capacity)
                           for name, spec in sorted(scenario.appliances.items())}
        self.volumes: dict[str, Volume] = {}
        overridable = getattr(self.protocol, "overridable", True)
        for name, spec in scenario.volumes.items():
            volume = self.volumes[name] = Volume(
                name, self.appliances[name.partition(":")[0]], spec.size, writable=True,
                change_rate_bps=spec.change_rate, change_cv=spec.change_variability,
                rng=self.rng(name), on_delete=self._on_pcpi_deleted, on_change=self._on_volume_changed)
            volume.soft_locks_overridable = overridable
            if spec.autodelete is not None:
                volume.autodelete_commitment = spec.autodelete.commitment
                volume.autodelete_trigger_bytes = spec.autodelete.trigger
                volume.autodelete_target_bytes = (spec.autodelete.target if spec.autodelete.target is not None
                                                  else spec.autodelete.trigger)
        layout, _ = volume_layout(scenario)
        self.relationships: list[MirrorRelationship] = []
        for index, spec in enumerate(mirrors_in_dependency_order(scenario)):
            source = self.volumes[spec.source_volume]
            destination = self.volumes[spec.destination_volume] = Volume(
                spec.destination_volume, self.appliances[spec.destination.partition(":")[0]],
                layout[spec.destination_volume][0], writable=False, on_delete=self._on_pcpi_deleted,
                on_change=self._on_volume_changed)
            destination.soft_locks_overridable = overridable
            share = layout[spec.source_volume][1][spec.source_qtree] if spec.source_qtree else 1.0
            rel = MirrorRelationship(self, index, source, destination, self.schedules.firings(spec.schedule),
                                     spec.retire_at, kind=spec.type, source_name=spec.source,
                                     destination_name=spec.destination, qtree_share=share)
            source.outgoing.append(rel)
            destination.incoming = rel
            self.relationships.append(rel)
        self.policies = [
            SnapshotPolicy(self, name, spec.label, spec.keep, [self.volumes[v] for v in spec.volumes],
                           self.schedules.firings(spec.schedule))
            for name, spec in scenario.snapshot_policies.items()
        ]
        keep_by_label: dict[str, dict[str, int]] = {}
        for spec in scenario.snapshot_policies.values():
            for name in spec.volumes:
                labels = keep_by_label.setdefault(name, {})
                labels[spec.label] = min(labels.get(spec.label, spec.keep), spec.keep)
        rotated = {rel.destination.name: QTREE_MIRROR_LABEL for rel in self.relationships if rel.kind == "qtree"}
        self.lock_space = LockSpaceMeter(self.volumes.values(), keep_by_label, rotated, MIRROR_LABEL)

    def rng(self, scope: str) -> np.random.Generator:
        """The RNG stream of the component named `scope`, independent of all others.

        The spawn key is the four 32-bit words of a 128-bit BLAKE2b digest of the name: two
        names share a stream only if their digests collide (a CRC32 key made names such as
        `A:/vol/uejgtcuo` and `A:/vol/iiwucoup` draw identical numbers).
        """
        digest = hashlib.blake2b(scope.encode("utf-8"), digest_size=16).digest()
        key = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
        return np.random.default_rng(np.random.SeedSequence(self.scenario.seed, spawn_key=key))

    def clock_name(self, at_s: float) -> str:
        """Wall-clock stamp of a simulated time, as storage systems name snapshots."""
        moment = dt.datetime.fromtimestamp(self.scenario.start_ts + at_s, tz=dt.UTC)
        return moment.strftime("%Y-%m-%d_%H%M")

    # -- services used by components ---------------------------------------------------

    def take_pcpi(self, volume: Volume, label: str, name: str, received_bytes: float | None = None,
                  data_s: float | None = None) -> Pcpi:
        pcpi_id = self._next_pcpi_id
        self._next_pcpi_id += 1
        pcpi = volume.take_pcpi(pcpi_id, name, label, self.env.now, received_bytes, data_s)
        if volume.name in self.holds:
            self.pcpi_arrived(volume, pcpi)
        return pcpi

    def pcpi_arrived(self, volume: Volume, pcpi: Pcpi) -> None:
        """A PCPI appeared on `volume`: the applications holding its label lock it (type
        `owner`, the application's name as string and locking dataset) for their hold time."""
        for hold in self.holds.get(volume.name, ()):
            if pcpi.label != hold.label:
                continue
            lock = SoftLock(pcpi.id, "owner", hold.owner, hold.owner, self.env.now, 0, (pcpi.id,))
            self.set_soft_lock(volume, hold.owner, lock, arrived=False)
            self.protocol.locks_changed(volume)
            expiry = self.env.timeout(hold.for_)
            expiry.callbacks.append(lambda _e, v=volume, owner=hold.owner, key=(pcpi.id, hold.owner):
                                    self._end_hold(v, owner, key))

    def _end_hold(self, volume: Volume, owner: str, key: tuple[int, str]) -> None:
        if key in self.locks_from.get((volume.name, owner), {}):
            self.release_soft_lock(volume, owner, key, "hold_expired")
            self.protocol.locks_changed(volume)

    def record_event(self, event: str, component: str, pcpi_id: int | None = None,
                     value: float | None = None, detail: str | None = None) -> None:
        self.collectors["events"].rows.append((self.env.now, event, component, pcpi_id, value, detail))

    def record_transfer(self, rel: MirrorRelationship, start_s: float, end_s: float | None, size: float,
                        sent_bytes: float, kind: str, base: Pcpi | None, sent: Pcpi, *, completed: bool,
                        aborted: bool) -> None:
        """One transfer: `end_s` None while still running at the end of the run; `completed`:
        applied at the destination; `aborted`: its relationship became defunct before that."""
        self.collectors["transfers"].rows.append(
            (rel.name, start_s, end_s, size, sent_bytes, kind, base.id if base else None, sent.id, completed, aborted))

    def count_lock_message(self, sender_appliance: str, size_bytes: float) -> None:
        self.lock_messages[sender_appliance] += 1
        self.lock_message_bytes[sender_appliance] += size_bytes

    def _on_volume_changed(self, volume: Volume) -> None:
        self.lock_space.changed(volume)

    def set_hard_lock(self, volume: Volume, pcpi_id: int, owner: str) -> None:
        volume.hard_locks.setdefault(pcpi_id, {})[owner] = self.env.now
        self.lock_space.changed(volume)

    def release_hard_lock(self, volume: Volume, pcpi_id: int, owner: str, reason: str = "released") -> None:
        held = volume.hard_locks.get(pcpi_id)
        if held is None or owner not in held:
            return
        set_s = held.pop(owner)
        if not held:
            del volume.hard_locks[pcpi_id]
        self.lock_space.changed(volume)
        self.collectors["locks"].rows.append(
            (volume.name, pcpi_id, "hard", f"base of {owner}", owner, volume.name, 0, set_s, set_s,
             None, self.env.now, reason))

    def set_soft_lock(self, volume: Volume, sender: str, lock: SoftLock, *, arrived: bool = True) -> None:
        """Hold `lock` on `volume` for `sender`. `arrived`: it came in a lock set (so its delay
        since creation at the locking dataset is a propagation sample), rather than moving to
        the next candidate when its PCPI went."""
        key = (lock.pcpi_id, lock.locking_dataset)
        now = self.env.now
        self.locks_from.setdefault((volume.name, sender), {})[key] = lock
        delay = now - lock.created_s if arrived else None
        if delay is not None:
            self.propagation.append((lock.hops, delay, volume.writable))
        volume.soft_locks.setdefault(lock.pcpi_id, {})[(sender, lock.locking_dataset)] = (lock, now, delay)
        self.lock_space.changed(volume)

    def renew_soft_lock(self, volume: Volume, sender: str, lock: SoftLock) -> None:
        """Replace a held lock's record (same PCPI, new candidates), keeping its set time."""
        self.locks_from[(volume.name, sender)][(lock.pcpi_id, lock.locking_dataset)] = lock
        held = volume.soft_locks[lock.pcpi_id]
        _old, set_s, delay = held[(sender, lock.locking_dataset)]
        held[(sender, lock.locking_dataset)] = (lock, set_s, delay)

    def release_soft_lock(self, volume: Volume, sender: str, key: tuple[int, str], reason: str) -> None:
        pcpi_id, dataset = key
        self.locks_from[(volume.name, sender)].pop(key, None)
        held = volume.soft_locks.get(pcpi_id)
        if held is None or (sender, dataset) not in held:
            return
        lock, set_s, delay = held.pop((sender, dataset))
        if not held:
            del volume.soft_locks[pcpi_id]
        self.lock_space.changed(volume)
        self._lock_row(volume, sender, lock, set_s, delay, self.env.now, reason)

    def _lock_row(self, volume: Volume, sender: str, lock: SoftLock, set_s: float, delay: float | None,
                  released_s: float | None, reason: str | None) -> None:
        self.collectors["locks"].rows.append(
            (volume.name, lock.pcpi_id, lock.type, lock.string, lock.locking_dataset, sender,
             lock.hops, lock.created_s, set_s, delay, released_s, reason))

    def _on_pcpi_deleted(self, volume: Volume, pcpi: Pcpi, reason: str, by: str) -> None:
        if reason == "autodelete":
            self.autodeletes += 1
            self.record_event("autodelete", volume.name, pcpi.id, volume.snapshot_space_bytes, by)
        broken = broken_by(volume, pcpi)
        premature = bool(broken)
        if premature:
            self.premature_deletions += 1
            for rel in broken:
                rel.base_lost = True
                rel.premature_deletions += 1
                self.record_event("premature_deletion", volume.name, pcpi.id, detail=rel.name)
        for owner in list(volume.hard_locks.get(pcpi.id, ())):
            self.release_hard_lock(volume, pcpi.id, owner, "pcpi_deleted")
        for (sender, dataset), (lock, _set_s, _delay) in list(volume.soft_locks.get(pcpi.id, {}).items()):
            self.release_soft_lock(volume, sender, (pcpi.id, dataset), "pcpi_deleted")
            repin = next((c for c in lock.candidates if c in volume.pcpis), None)
            if repin is not None:  # the lock moves to the locking dataset's next usable base
                self.set_soft_lock(volume, sender, lock.pinned_on(repin), arrived=False)
        self.collectors["pcpis"].rows.append(
            (volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin, pcpi.created_s,
             volume.arrived_s.get(pcpi.id), self.env.now, reason, by, premature, pcpi.changed_bytes))

    # -- processes ---------------------------------------------------------------------

    def outage(self, link: Link, at_s: float, for_s: float) -> Generator[simpy.Event, Any, None]:
        """Process: take `link` down at `at_s` for `for_s` seconds."""
        yield self.env.timeout(at_s)
        self.network.set_link_down(link)
        self.record_event("link_down", link.name, value=for_s)
        yield self.env.timeout(for_s)
        self.network.set_link_up(link)
        self.record_event("link_up", link.name)

    def retire(self, rel: MirrorRelationship, at_s: float) -> Generator[simpy.Event, Any, None]:
        """Process: remove `rel`'s destination for good at `at_s`."""
        yield self.env.timeout(at_s)
        rel.retire()

    def sample(self) -> Generator[simpy.Event, Any, None]:
        """Process: record levels (lag, PCPIs, space, locks) every `sample_interval`.

        Link utilisation is the exact mean over the interval that ends at the sample (the
        time integral of the allocated rate), not the rate at that instant.
        """
        rows = self.collectors["timeseries"].rows
        interval = self.scenario.sample_interval
        meter = self.lock_space
        carried = [0.0] * len(self.network.links)
        t = 0.0
        while t < self.scenario.duration:
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            meter.flush(t)
            for rel in self.relationships:
                lag = rel.lag_s(t)
                if lag is not None:
                    rows.append((t, "lag_s", rel.name, lag))
            for name, volume in self.volumes.items():
                rows.append((t, "pcpis", name, float(len(volume.pcpis))))
                rows.append((t, "snapshot_space_bytes", name, volume.snapshot_space_bytes))
                lock_bytes, hold_bytes = meter.held_bytes(volume)
                rows.append((t, "lock_held_bytes", name, lock_bytes))
                rows.append((t, "hold_held_bytes", name, hold_bytes))
            for name, appliance in self.appliances.items():
                held = sum(len(locks) for v in appliance.volumes for locks in v.soft_locks.values())
                rows.append((t, "soft_locks", name, float(held)))
                rows.append((t, "used_bytes", name, appliance.used_bytes))
            for link in self.network.links:
                link.integrate(t)
                mean = (link.rate_integral - carried[link.index]) / (interval * link.bandwidth_bps) if t > 0 else 0.0
                carried[link.index] = link.rate_integral
                rows.append((t, "link_utilisation", link.name, mean))
            t += interval

    def start(self) -> None:
        """Start every long-lived process, once everything is wired."""
        for policy in self.policies:
            self.env.process(policy.take_scheduled_pcpis())
        for rel in self.relationships:
            self.env.process(rel.update_cycle())
        for rel in self.relationships:
            if rel.retire_at_s is not None:
                self.env.process(self.retire(rel, rel.retire_at_s))
        for spec, link in zip(self.scenario.links, self.network.links):
            for outage in spec.outages:
                self.env.process(self.outage(link, outage.at, outage.for_))
        self.env.process(self.sample())

    def run(self, until_s: float | None = None) -> None:
        """Process every event before the end of the run (or `until_s`), counting them.

        The collectors' rows are long-lived and acyclic; with Python's default thresholds the
        cyclic garbage collector rescans them over and over as they pile up (about a quarter
        of a long run's time), so it runs less often while the simulation runs.
        """
        env = self.env
        until = self.scenario.duration if until_s is None else min(until_s, self.scenario.duration)
        step, peek = env.step, env.peek
        meter = self.lock_space
        processed = 0
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
        try:
            while peek() < until:
                step()
                processed += 1
                if meter.dirty and peek() > env.now:
                    meter.flush(env.now)
        finally:
            gc.set_threshold(*thresholds)
        if meter.dirty:
            meter.flush(env.now)
        self.events_processed += processed

    def snapshot_listing(self, at_s: float) -> str:
        """Every volume's PCPIs at `at_s` (run up to then), oldest first, with who locks each
        and why, like a storage system's snapshot list with owners."""
        lines = [f"t = {format_seconds(at_s)} ({self.clock_name(at_s)} UTC), protocol {self.protocol.name}"]
        self.lock_space.flush(self.env.now)
        for appliance in self.appliances.values():
            for volume in appliance.volumes:
                lock_bytes, hold_bytes = self.lock_space.held_bytes(volume)
                held = f", by holds {format_bytes(hold_bytes)}" if hold_bytes else ""
                lines.append(f"{volume.name}  ({len(volume.pcpis)} PCPIs, snapshot space "
                             f"{format_bytes(volume.snapshot_space_bytes)}, held by locks {format_bytes(lock_bytes)}{held})")
                for pcpi in volume.pcpis.values():
                    owners = [f"hard: base of {owner}" for owner in volume.hard_locks.get(pcpi.id, ())]
                    owners += [f"{lock.type}: {lock.string} (for {lock.locking_dataset}, via {sender}, "
                               f"{lock.hops} hop{'s' if lock.hops != 1 else ''})"
                               for (sender, _), (lock, _set, _delay) in volume.soft_locks.get(pcpi.id, {}).items()]
                    lines.append(f"  #{pcpi.id:<6} {pcpi.name:<40} {format_bytes(pcpi.changed_bytes):>10}  "
                                 f"{'; '.join(owners) or '-'}")
        return "\n".join(lines)

    # -- results -------------------------------------------------------------------------

    def finalise(self, wall_seconds: float) -> Results:
        """Close open records at the end of the run and build the summary and tables."""
        end = self.scenario.duration
        self.lock_space.flush(self.env.now)
        for rel in self.relationships:
            rel.record_in_flight(end)
        pcpi_rows = self.collectors["pcpis"].rows
        for volume in self.volumes.values():
            for pcpi in volume.pcpis.values():
                pcpi_rows.append((volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin,
                                  pcpi.created_s, volume.arrived_s[pcpi.id], None, None, None, False,
                                  pcpi.changed_bytes))
            for pcpi_id, owners in volume.hard_locks.items():
                for owner, set_s in owners.items():
                    self.collectors["locks"].rows.append(
                        (volume.name, pcpi_id, "hard", f"base of {owner}", owner, volume.name, 0,
                         set_s, set_s, None, None, None))
            for held in volume.soft_locks.values():
                for (sender, _dataset), (lock, set_s, delay) in held.items():
                    self._lock_row(volume, sender, lock, set_s, delay, None, None)
        tables = {name: c.to_frame() for name, c in self.collectors.items()}
        return Results.of_run(self.scenario, self._summary(end, wall_seconds), tables)

    def _gaps(self) -> dict[str, set[int]]:
        """The gap failure: per volume-mirror destination, the scheduled PCPIs of the writable
        volume at the head of its lineage that were deleted there, after the destination's
        first update, without ever having reached it (and, for a retired destination,
        before it retired). Mirror PCPIs are transfer artefacts and do not count.
        """
        arrived: dict[str, set[int]] = {}
        deleted_at_head: dict[str, list[tuple[int, float]]] = {}
        for volume, pcpi_id, _n, label, origin, _c, _a, deleted_s, *_rest in self.collectors["pcpis"].rows:
            arrived.setdefault(volume, set()).add(pcpi_id)
            if volume == origin and deleted_s is not None and label != MIRROR_LABEL:
                deleted_at_head.setdefault(volume, []).append((pcpi_id, deleted_s))
        gaps: dict[str, set[int]] = {}
        for rel in self.relationships:
            if rel.kind != "volume" or rel.first_update_s is None:
                continue
            head = rel.source
            while head.incoming is not None and head.incoming.kind == "volume":
                head = head.incoming.source
            until = rel.retire_at_s if rel.retire_at_s is not None else float("inf")
            got = arrived.get(rel.destination.name, set())
            gaps[rel.destination.name] = {pid for pid, when in deleted_at_head.get(head.name, ())
                                          if rel.first_update_s < when < until and pid not in got}
        return gaps

    def _propagation_summary(self) -> dict[str, Any]:
        """Seconds from a lock's creation at its locking dataset to being set at a holder:
        percentiles overall, at the heads of cascades (writable volumes: the end-to-end
        delay), and per number of hops travelled (1 = the direct source)."""
        def stats(delays: list[float]) -> dict[str, float | int | None]:
            if not delays:
                return {"count": 0, "p50": None, "p95": None, "max": None}
            p50, p95 = np.percentile(delays, [50, 95])
            return {"count": len(delays), "p50": float(p50), "p95": float(p95), "max": float(max(delays))}
        by_hops: dict[int, list[float]] = {}
        for hops, delay, _head in self.propagation:
            by_hops.setdefault(hops, []).append(delay)
        return {**stats([d for _h, d, _head in self.propagation]),
                "to_head": stats([d for _h, d, head in self.propagation if head]),
                "by_hops": {str(h): stats(by_hops[h]) for h in sorted(by_hops)}}

    def _summary(self, end: float, wall_seconds: float) -> dict[str, Any]:
        gaps = self._gaps()
        relationships = {}
        for rel in self.relationships:
            mean_lag, peak_lag = rel.lag_summary(end)
            relationships[rel.name] = {
                "type": rel.kind,
                "updates_completed": rel.updates_completed,
                "updates_skipped": rel.updates_skipped,
                "rebaselines": rel.rebaselines,
                "rebaseline_bytes": rel.rebaseline_bytes,
                "premature_deletions": rel.premature_deletions,
                "base_lost_pending": rel.base_lost,
                "bytes": rel.bytes_sent,
                "mean_lag_s": mean_lag,
                "max_lag_s": peak_lag,
            }
        meter = self.lock_space
        lock_byte_h = {name: level.integral_until(end) / 3600 for name, level in sorted(meter.lock_levels.items())}
        hold_byte_h = {name: level.integral_until(end) / 3600 for name, level in sorted(meter.hold_levels.items())}
        kpis = {
            "premature_deletions": self.premature_deletions,
            "bases_lost_pending": sum(r.base_lost for r in self.relationships),
            "rebaselines": sum(r.rebaselines for r in self.relationships),
            "rebaseline_bytes": sum(r.rebaseline_bytes for r in self.relationships),
            "bytes_transferred": sum(r.bytes_sent for r in self.relationships),
            "updates_completed": sum(r.updates_completed for r in self.relationships),
            "updates_skipped": sum(r.updates_skipped for r in self.relationships),
            "max_lag_s": max((r["max_lag_s"] for r in relationships.values()), default=0.0),
            "lock_messages": sum(self.lock_messages.values()),
            "failed_writes": sum(v.failed_writes for v in self.volumes.values()),
            "failed_write_bytes": sum(v.failed_write_bytes for v in self.volumes.values()),
            "lock_space_byte_hours": sum(lock_byte_h.values()),
            "lock_space_peak_bytes": meter.total_lock.peak,
            "hold_space_byte_hours": sum(hold_byte_h.values()),
            "lock_message_bytes": sum(self.lock_message_bytes.values()),
            "autodeletes": self.autodeletes,
            "gap_pcpis": len(set().union(*gaps.values())) if gaps else 0,
        }
        return {
            "schema_version": SCHEMA_VERSION,
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "protocol": self.scenario.protocol,
            "duration_s": self.scenario.duration,
            "events_processed": self.events_processed,
            "wall_seconds": wall_seconds,
            "kpis": kpis,
            "lock_messages_sent": {name: {"messages": self.lock_messages[name], "bytes": self.lock_message_bytes[name]}
                                   for name in self.lock_messages},
            "lock_space_byte_hours": lock_byte_h,
            "lock_space_peak_bytes": {name: level.peak for name, level in sorted(meter.lock_levels.items())},
            "hold_space_byte_hours": hold_byte_h,
            "lock_propagation_s": self._propagation_summary(),
            "gap_pcpis": {name: len(ids) for name, ids in gaps.items()},
            "relationships": relationships,
            "links": {link.name: link.usage(end) for link in self.network.links},
        }


def simulate(scenario: Scenario) -> Results:
    """Build, start, run and finalise one run of `scenario`."""
    started = time.perf_counter()
    model = Model(scenario)
    model.start()
    model.run()
    return model.finalise(time.perf_counter() - started)
