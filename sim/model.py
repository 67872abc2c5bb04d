"""The Model: builds and wires every component of one run and owns its state.

Phases: build (constructor) -> `start()` -> `run()` -> `finalise()`. The Model owns the
SimPy environment, one RNG stream per component, the collectors, the network and the
oracle; components reach shared services through it. No module-level state.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
import zlib
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.locks import PROTOCOL_CLASSES, SoftLock
from sim.metrics import new_collectors
from sim.mirror import MirrorRelationship
from sim.network import Link, Network
from sim.oracle import Oracle
from sim.scenario import Scenario
from sim.schedule import ScheduleBook
from sim.snapshots import SnapshotPolicy
from sim.storage import Appliance, Pcpi, Volume
from sim.topology import Topology

GC_GEN0_THRESHOLD = 200_000
"""Allocations between young-generation collections during a run (Python's default: 700 or 2000)."""


@dataclass
class RunResult:
    """What one run produced: the KPI summary and the tidy tables."""

    scenario: Scenario
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]


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
        self.lock_messages = 0
        self.lock_message_bytes = 0.0
        self.premature_deletions = 0
        self.lock_space_byte_s: dict[str, float] = {name: 0.0 for name in sorted(scenario.appliances)}
        self.events_processed = 0
        self._next_pcpi_id = 1
        self.appliances = {name: Appliance(name, spec.capacity)
                           for name, spec in sorted(scenario.appliances.items())}
        self.volumes: dict[str, Volume] = {}
        for name, spec in scenario.volumes.items():
            self.volumes[name] = Volume(
                name, self.appliances[name.partition(":")[0]], spec.size, writable=True,
                change_rate_bps=spec.change_rate, change_cv=spec.change_variability,
                rng=self.rng(name), on_delete=self._on_pcpi_deleted)
        self.relationships: list[MirrorRelationship] = []
        for index, spec in enumerate(self._mirrors_in_dependency_order()):
            source = self.volumes[spec.source]
            destination = self.volumes[spec.destination] = Volume(
                spec.destination, self.appliances[spec.destination.partition(":")[0]],
                source.size_bytes, writable=False, on_delete=self._on_pcpi_deleted)
            rel = MirrorRelationship(self, index, source, destination, self.schedules.firings(spec.schedule),
                                     spec.retire_at)
            source.outgoing.append(rel)
            destination.incoming = rel
            self.relationships.append(rel)
        self.policies = [
            SnapshotPolicy(self, name, spec.label, spec.keep, [self.volumes[v] for v in spec.volumes],
                           self.schedules.firings(spec.schedule))
            for name, spec in scenario.snapshot_policies.items()
        ]
        self.oracle = Oracle(list(self.volumes.values()))

    def _mirrors_in_dependency_order(self) -> list:
        pending = list(self.scenario.mirrors)
        ordered = []
        known = set(self.scenario.volumes)
        while pending:
            ready = [m for m in pending if m.source in known]
            for mirror in ready:
                known.add(mirror.destination)
                ordered.append(mirror)
            pending = [m for m in pending if m not in ready]
        return ordered

    def rng(self, scope: str) -> np.random.Generator:
        """The RNG stream of the component named `scope`, independent of all others."""
        key = zlib.crc32(scope.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence(self.scenario.seed, spawn_key=(key,)))

    def clock_name(self, at_s: float) -> str:
        """Wall-clock stamp of a simulated time, as storage systems name snapshots."""
        moment = dt.datetime.fromtimestamp(self.scenario.start_ts + at_s, tz=dt.UTC)
        return moment.strftime("%Y-%m-%d_%H%M")

    # -- services used by components ---------------------------------------------------

    def take_pcpi(self, volume: Volume, label: str, name: str) -> Pcpi:
        pcpi_id = self._next_pcpi_id
        self._next_pcpi_id += 1
        return volume.take_pcpi(pcpi_id, name, label, self.env.now)

    def record_event(self, event: str, component: str, pcpi_id: int | None = None,
                     value: float | None = None, detail: str | None = None) -> None:
        self.collectors["events"].rows.append((self.env.now, event, component, pcpi_id, value, detail))

    def record_transfer(self, rel: MirrorRelationship, start_s: float, size: float, kind: str,
                        base: Pcpi | None, sent: Pcpi) -> None:
        self.collectors["transfers"].rows.append(
            (rel.name, start_s, self.env.now, size, kind, base.id if base else None, sent.id))

    def count_lock_message(self, size_bytes: float) -> None:
        self.lock_messages += 1
        self.lock_message_bytes += size_bytes

    def set_hard_lock(self, volume: Volume, pcpi_id: int, owner: str) -> None:
        volume.hard_locks.setdefault(pcpi_id, {})[owner] = self.env.now

    def release_hard_lock(self, volume: Volume, pcpi_id: int, owner: str, reason: str = "released") -> None:
        held = volume.hard_locks.get(pcpi_id)
        if held is None or owner not in held:
            return
        set_s = held.pop(owner)
        if not held:
            del volume.hard_locks[pcpi_id]
        self.collectors["locks"].rows.append(
            (volume.name, pcpi_id, "hard", f"base of {owner}", owner, volume.name, 0, set_s, set_s,
             self.env.now, reason))

    def set_soft_lock(self, volume: Volume, sender: str, lock: SoftLock) -> None:
        key = (lock.pcpi_id, lock.locking_dataset)
        self.locks_from.setdefault((volume.name, sender), {})[key] = lock
        volume.soft_locks.setdefault(lock.pcpi_id, {})[(sender, lock.locking_dataset)] = (lock, self.env.now)

    def renew_soft_lock(self, volume: Volume, sender: str, lock: SoftLock) -> None:
        """Replace a held lock's record (same PCPI, new candidates), keeping its set time."""
        self.locks_from[(volume.name, sender)][(lock.pcpi_id, lock.locking_dataset)] = lock
        held = volume.soft_locks[lock.pcpi_id]
        held[(sender, lock.locking_dataset)] = (lock, held[(sender, lock.locking_dataset)][1])

    def release_soft_lock(self, volume: Volume, sender: str, key: tuple[int, str], reason: str) -> None:
        pcpi_id, dataset = key
        self.locks_from[(volume.name, sender)].pop(key, None)
        held = volume.soft_locks.get(pcpi_id)
        if held is None or (sender, dataset) not in held:
            return
        lock, set_s = held.pop((sender, dataset))
        if not held:
            del volume.soft_locks[pcpi_id]
        self._lock_row(volume, sender, lock, set_s, self.env.now, reason)

    def _lock_row(self, volume: Volume, sender: str, lock: SoftLock, set_s: float,
                  released_s: float | None, reason: str | None) -> None:
        self.collectors["locks"].rows.append(
            (volume.name, lock.pcpi_id, lock.type, lock.string, lock.locking_dataset, sender,
             lock.hops, lock.created_s, set_s, released_s, reason))

    def _on_pcpi_deleted(self, volume: Volume, pcpi: Pcpi, reason: str) -> None:
        premature = False
        if reason != "mirror_image":
            broken = self.oracle.broken_by(volume, pcpi)
            if broken:
                premature = True
                self.premature_deletions += 1
                for rel in broken:
                    self.record_event("premature_deletion", volume.name, pcpi.id, detail=rel.name)
        for owner in list(volume.hard_locks.get(pcpi.id, ())):
            self.release_hard_lock(volume, pcpi.id, owner, "pcpi_deleted")
        for (sender, dataset), (lock, _set_s) in list(volume.soft_locks.get(pcpi.id, {}).items()):
            self.release_soft_lock(volume, sender, (pcpi.id, dataset), "pcpi_deleted")
            repin = next((c for c in lock.candidates if c in volume.pcpis), None)
            if repin is not None:  # the lock moves to the locking dataset's next usable base
                self.set_soft_lock(volume, sender, replace(lock, pcpi_id=repin))
        self.collectors["pcpis"].rows.append(
            (volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin, pcpi.created_s,
             volume.arrived_s.get(pcpi.id), self.env.now, reason, premature, pcpi.changed_bytes))

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

        Space held only because of locks is integrated from these samples (each sample's
        level held until the next), so its byte-hours are as fine as the sample interval.
        """
        rows = self.collectors["timeseries"].rows
        interval = self.scenario.sample_interval
        t = 0.0
        while t < self.scenario.duration:
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            for rel in self.relationships:
                lag = rel.lag_s(t)
                if lag is not None:
                    rows.append((t, "lag_s", rel.name, lag))
            for name, volume in self.volumes.items():
                rows.append((t, "pcpis", name, float(len(volume.pcpis))))
                rows.append((t, "snapshot_space_bytes", name, volume.snapshot_space_bytes))
                held = volume.lock_held_bytes
                rows.append((t, "lock_held_bytes", name, held))
                self.lock_space_byte_s[volume.appliance.name] += held * min(interval, self.scenario.duration - t)
            for name, appliance in self.appliances.items():
                held = sum(len(locks) for v in appliance.volumes for locks in v.soft_locks.values())
                rows.append((t, "soft_locks", name, float(held)))
                rows.append((t, "used_bytes", name, appliance.used_bytes))
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
        processed = 0
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_GEN0_THRESHOLD, *thresholds[1:])
        try:
            while peek() < until:
                step()
                processed += 1
        finally:
            gc.set_threshold(*thresholds)
        self.events_processed += processed

    def snapshot_listing(self, at_s: float) -> str:
        """Every volume's PCPIs at `at_s` (run up to then), oldest first, with who locks each
        and why, like a storage system's snapshot list with owners."""
        lines = [f"t = {at_s:.0f} s ({self.clock_name(at_s)} UTC), protocol {self.protocol.name}"]
        for appliance in self.appliances.values():
            for volume in appliance.volumes:
                lines.append(f"{volume.name}  ({len(volume.pcpis)} PCPIs)")
                for pcpi in volume.pcpis.values():
                    owners = [f"hard: base of {owner}" for owner in volume.hard_locks.get(pcpi.id, ())]
                    owners += [f"{lock.type}: {lock.string} (for {lock.locking_dataset}, via {sender}, "
                               f"{lock.hops} hop{'s' if lock.hops != 1 else ''})"
                               for (sender, _), (lock, _set) in volume.soft_locks.get(pcpi.id, {}).items()]
                    lines.append(f"  #{pcpi.id:<6} {pcpi.name:<40} {'; '.join(owners) or '-'}")
        return "\n".join(lines)

    # -- results -------------------------------------------------------------------------

    def finalise(self, wall_seconds: float) -> RunResult:
        """Close open records at the end of the run and build the summary and tables."""
        end = self.scenario.duration
        pcpi_rows = self.collectors["pcpis"].rows
        for volume in self.volumes.values():
            for pcpi in volume.pcpis.values():
                pcpi_rows.append((volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin,
                                  pcpi.created_s, volume.arrived_s[pcpi.id], None, None, False,
                                  pcpi.changed_bytes))
            for pcpi_id, owners in volume.hard_locks.items():
                for owner, set_s in owners.items():
                    self.collectors["locks"].rows.append(
                        (volume.name, pcpi_id, "hard", f"base of {owner}", owner, volume.name, 0,
                         set_s, set_s, None, None))
            for held in volume.soft_locks.values():
                for (sender, _dataset), (lock, set_s) in held.items():
                    self._lock_row(volume, sender, lock, set_s, None, None)
        tables = {name: c.to_frame() for name, c in self.collectors.items()}
        return RunResult(self.scenario, self._summary(end, wall_seconds), tables)

    def _summary(self, end: float, wall_seconds: float) -> dict[str, Any]:
        relationships = {}
        max_lag = 0.0
        for rel in self.relationships:
            mean_lag, peak_lag = rel.lag_summary(end)
            max_lag = max(max_lag, peak_lag or 0.0)
            relationships[rel.name] = {
                "updates_completed": rel.updates_completed,
                "updates_skipped": rel.updates_skipped,
                "rebaselines": rel.rebaselines,
                "bytes": rel.bytes_sent,
                "mean_lag_s": mean_lag,
                "max_lag_s": peak_lag,
            }
        kpis = {
            "premature_deletions": self.premature_deletions,
            "rebaselines": sum(r.rebaselines for r in self.relationships),
            "rebaseline_bytes": sum(r.rebaseline_bytes for r in self.relationships),
            "bytes_transferred": sum(r.bytes_sent for r in self.relationships),
            "updates_completed": sum(r.updates_completed for r in self.relationships),
            "updates_skipped": sum(r.updates_skipped for r in self.relationships),
            "max_lag_s": max_lag,
            "lock_messages": self.lock_messages,
            "failed_writes": sum(v.failed_writes for v in self.volumes.values()),
            "lock_space_byte_hours": sum(self.lock_space_byte_s.values()) / 3600,
        }
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "protocol": self.scenario.protocol,
            "duration_s": self.scenario.duration,
            "events_processed": self.events_processed,
            "wall_seconds": wall_seconds,
            "kpis": kpis,
            "lock_message_bytes": self.lock_message_bytes,
            "lock_space_byte_hours": {name: v / 3600 for name, v in self.lock_space_byte_s.items()},
            "relationships": relationships,
            "links": {link.name: link.bytes_carried for link in self.network.links},
        }


def simulate(scenario: Scenario) -> RunResult:
    """Build, start, run and finalise one run of `scenario`."""
    started = time.perf_counter()
    model = Model(scenario)
    model.start()
    model.run()
    return model.finalise(time.perf_counter() - started)
