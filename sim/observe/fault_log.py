"""What the faults did outside the transfers: appliances' crashes and down time, and the
snapshot and update firings missed while an appliance was down."""

from __future__ import annotations

from dataclasses import dataclass

from sim.engine.events import DomainEvents


@dataclass(slots=True)
class Downtime:
    """One appliance's crashes so far and its time down, exactly."""

    crashes: int = 0
    down_s: float = 0.0
    down_since_s: float | None = None

    def until(self, end_s: float) -> float:
        """Its time down over [0, end_s]."""
        return self.down_s + (end_s - self.down_since_s if self.down_since_s is not None else 0.0)


class FaultLog:
    """Counts crashes, down time and missed firings from the engine's events."""

    def __init__(self, events: DomainEvents, appliances: list[str]):
        self.downtime = {name: Downtime() for name in appliances}
        self.missed_firings = 0
        events.appliance_down.subscribe(self.appliance_down)
        events.appliance_up.subscribe(self.appliance_up)
        events.firing_missed.subscribe(self.firing_missed)

    def appliance_down(self, now: float, appliance: str) -> None:
        record = self.downtime[appliance]
        record.crashes += 1
        record.down_since_s = now

    def appliance_up(self, now: float, appliance: str) -> None:
        record = self.downtime[appliance]
        assert record.down_since_s is not None
        record.down_s += now - record.down_since_s
        record.down_since_s = None

    def firing_missed(self, _now: float, _what: str, _appliance: str) -> None:
        self.missed_firings += 1
