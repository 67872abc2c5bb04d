"""Space pressure: PCPIs that autodelete took (failed writes are counted by the volumes that refused them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents

if TYPE_CHECKING:
    from sim.engine.storage import Pcpi, Volume


class SpacePressure:
    """Counts autodeletes from the engine's events."""

    def __init__(self, events: DomainEvents):
        self.autodeletes = 0
        events.autodeleted.subscribe(self.autodeleted)

    def autodeleted(self, _now: float, _volume: Volume, _pcpi: Pcpi, _space_bytes: float, _by: str) -> None:
        self.autodeletes += 1
