"""Snapshot pile-up: the most PCPIs any volume held at once.

A tool that suspends cleanup while a target is unreachable (btrbk, znapzend) keeps every
snapshot its schedule takes until the target is back; a strategy that pins what a destination
has yet to receive does the same up to its cap. Under this simulator's space model (space is
freed only at a volume's old end) a pile-up newer than a locked base costs no extra space, but
each snapshot is one more for the storage system to list, send and eventually destroy: the
count is what those tools' users report (thousands of snapshots after weeks offline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents

if TYPE_CHECKING:
    from sim.engine.storage import Pcpi, Volume


class PileUp:
    """The peak number of PCPIs per volume, from the engine's events."""

    def __init__(self, events: DomainEvents):
        self.peak: dict[str, int] = {}
        events.pcpi_taken.subscribe(self.appeared)
        events.pcpi_arrived.subscribe(self.appeared)

    def appeared(self, _now: float, volume: Volume, _pcpi: Pcpi) -> None:
        count = len(volume.pcpis)
        if count > self.peak.get(volume.name, 0):
            self.peak[volume.name] = count
