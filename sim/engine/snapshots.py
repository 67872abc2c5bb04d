"""Scheduled snapshots: a cron schedule takes labelled PCPIs; a retention grammar says which go."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from sim.engine.clock import WallClock
from sim.engine.deletion import RETENTION, DeletionGate
from sim.engine.events import DomainEvents
from sim.engine.storage import Volume
from sim.retention.base import RetentionRule


class SnapshotPolicy:
    """Takes a PCPI labelled `label` on each volume at every firing, then deletes what its
    retention rule lets go; on a volume with autodelete, space pressure may delete more. A
    volume whose appliance is down (`is_up` says) misses the firing."""

    def __init__(self, env: simpy.Environment, clock: WallClock, gate: DeletionGate, name: str, label: str,
                 retention: RetentionRule, volumes: list[Volume], firings: tuple[float, ...],
                 is_up: Callable[[str], bool], events: DomainEvents):
        self.is_up = is_up
        self.events = events
        self.env = env
        self.clock = clock
        self.gate = gate
        self.name = name
        self.label = label
        self.retention = retention
        self.volumes = volumes
        self.firings = firings

    def take_scheduled_pcpis(self) -> Generator[simpy.Event, Any, None]:
        """Long-lived process: snapshot every volume, then apply retention and autodelete."""
        env = self.env
        for at in self.firings:
            if at > env.now:
                yield env.timeout(at - env.now)
            for volume in self.volumes:
                if not self.is_up(volume.appliance.name):
                    self.events.firing_missed(env.now, f"{self.name} on {volume.name}", volume.appliance.name)
                    continue
                volume.take_pcpi(f"{self.label}.{self.clock.stamp(at)}", self.label)
                for pcpi_id in self.retention.doomed(volume, volume.by_label.get(self.label, {}), self.gate, env.now):
                    volume.delete_pcpi(pcpi_id, RETENTION, self.name)
                volume.autodelete()
