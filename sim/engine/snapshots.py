"""Scheduled snapshots: a cron schedule takes labelled PCPIs and applies retention."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.storage import Volume

if TYPE_CHECKING:
    from sim.engine.model import Model


class SnapshotPolicy:
    """Takes a PCPI labelled `label` on each volume at every firing, keeping `keep` unlocked;
    then, on a volume with autodelete, space pressure may delete more."""

    def __init__(self, model: Model, name: str, label: str, keep: int, volumes: list[Volume],
                 firings: tuple[float, ...]):
        self.model = model
        self.name = name
        self.label = label
        self.keep = keep
        self.volumes = volumes
        self.firings = firings

    def take_scheduled_pcpis(self) -> Generator[simpy.Event, Any, None]:
        """Long-lived process: snapshot every volume, then prune beyond the keep count."""
        env = self.model.env
        for at in self.firings:
            if at > env.now:
                yield env.timeout(at - env.now)
            for volume in self.volumes:
                self.model.take_pcpi(volume, self.label, f"{self.label}.{self.model.clock_name(at)}")
                volume.apply_retention(self.label, self.keep, self.name)
                volume.autodelete()
