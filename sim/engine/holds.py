"""Application holds: applications (a backup reading PCPIs, a clone built on one) that lock every
PCPI with a label appearing on a volume, for a fixed time (patent claims 5, 7, 17, 27).

A hold's lock is a soft lock of type `owner` whose string and locking dataset are the
application's name. Retention honours it; under a forwarding strategy a hold on a mirror
destination travels upstream like any other lock (the strategy learns of it through
`locks_changed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from sim.engine.lock_table import LockTable, SoftLock

if TYPE_CHECKING:
    from sim.engine.events import DomainEvents
    from sim.engine.storage import Pcpi, Volume
    from sim.protocols.base import DependencyStrategy
    from sim.scenario import HoldSpec

HOLD_LOCK_TYPE = "owner"


class ApplicationHolds:
    """Every application hold of a run, by volume; locks PCPIs as they appear."""

    def __init__(self, env: simpy.Environment, locks: LockTable, strategy: DependencyStrategy,
                 holds: tuple[HoldSpec, ...], events: DomainEvents):
        self.env = env
        self.locks = locks
        self.strategy = strategy
        self._by_volume: dict[str, list[HoldSpec]] = {}
        for hold in holds:
            self._by_volume.setdefault(hold.volume, []).append(hold)
        if self._by_volume:
            events.pcpi_taken.subscribe(self.pcpi_appeared)
            events.pcpi_arrived.subscribe(self.pcpi_appeared)

    def pcpi_appeared(self, now: float, volume: Volume, pcpi: Pcpi) -> None:
        """A PCPI appeared on `volume`: the applications holding its label lock it for their
        hold time."""
        for hold in self._by_volume.get(volume.name, ()):
            if pcpi.label != hold.label:
                continue
            lock = SoftLock(pcpi.id, HOLD_LOCK_TYPE, hold.owner, hold.owner, now, 0, (pcpi.id,))
            self.locks.set_soft(volume, hold.owner, lock, arrived=False)
            self.strategy.locks_changed(volume)
            expiry = self.env.timeout(hold.for_)
            expiry.callbacks.append(lambda _e, v=volume, owner=hold.owner, key=(pcpi.id, hold.owner):
                                    self._end_hold(v, owner, key))

    def _end_hold(self, volume: Volume, owner: str, key: tuple[int, str]) -> None:
        if self.locks.holds(volume, owner, key):
            self.locks.release_soft(volume, owner, key, "hold_expired")
            self.strategy.locks_changed(volume)
