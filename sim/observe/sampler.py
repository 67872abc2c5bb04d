"""The sampler: levels recorded every `sample_interval` into the `timeseries` table.

Per relationship its lag; per volume its PCPIs, snapshot space, and the space protocol locks
and application holds hold there; per appliance its soft locks and used bytes; per link its
utilisation, the exact mean over the interval that ends at the sample (the time integral of
the rate allocated on it), not the rate at that instant.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.observe.collectors import Collector, SampleRow

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link
    from sim.engine.storage import Appliance, Volume
    from sim.observe.lock_space import LockSpaceMeter
    from sim.observe.mirrors import MirrorStats


class Sampler:
    """A process that samples the run's levels at a fixed interval."""

    def __init__(self, env: simpy.Environment, interval_s: float, duration_s: float,
                 relationships: list[MirrorRelationship], volumes: dict[str, Volume],
                 appliances: dict[str, Appliance], links: list[Link], stats: MirrorStats, meter: LockSpaceMeter):
        self.env = env
        self.interval_s = interval_s
        self.duration_s = duration_s
        self.relationships = relationships
        self.volumes = volumes
        self.appliances = appliances
        self.links = links
        self.stats = stats
        self.meter = meter
        self.timeseries: Collector[SampleRow] = Collector("timeseries", SampleRow)

    def sample(self) -> Generator[simpy.Event, Any, None]:
        """Long-lived process: one row per level at every interval from the start of the run."""
        add = self.timeseries.append
        interval = self.interval_s
        meter, stats = self.meter, self.stats
        carried = [0.0] * len(self.links)
        t = 0.0
        while t < self.duration_s:
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            meter.flush(t, sampling=True)
            for rel in self.relationships:
                lag = stats.lag_s(rel, t)
                if lag is not None:
                    add(SampleRow(t, "lag_s", rel.name, lag))
            for name, volume in self.volumes.items():
                add(SampleRow(t, "pcpis", name, float(len(volume.pcpis))))
                add(SampleRow(t, "snapshot_space_bytes", name, volume.snapshot_space_bytes))
                lock_bytes, hold_bytes = meter.held_bytes(volume)
                add(SampleRow(t, "lock_held_bytes", name, lock_bytes))
                add(SampleRow(t, "hold_held_bytes", name, hold_bytes))
            for name, appliance in self.appliances.items():
                held = sum(len(locks) for v in appliance.volumes for locks in v.locks.soft.values())
                add(SampleRow(t, "soft_locks", name, float(held)))
                add(SampleRow(t, "used_bytes", name, appliance.used_bytes))
            for link in self.links:
                link.integrate(t)
                mean = (link.rate_integral - carried[link.index]) / (interval * link.bandwidth_bps) if t > 0 else 0.0
                carried[link.index] = link.rate_integral
                add(SampleRow(t, "link_utilisation", link.name, mean))
            t += interval
