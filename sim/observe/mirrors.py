"""What the mirror relationships did: updates, skips, re-baselines, bytes sent, and lag (RPO).

Lag at a destination is now minus when the data it holds was captured (the `data_s` of the
PCPI last transferred); before its first update the destination holds nothing and its lag
counts from the start of the run. Between two completed updates it grows linearly from the
last one, so its time integral is exact: the area of a trapezoid per interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Pcpi


@dataclass(slots=True)
class MirrorRecord:
    """One relationship's outcomes so far."""

    updates_completed: int = 0
    updates_skipped: int = 0
    rebaselines: int = 0
    rebaseline_bytes: float = 0.0
    bytes_sent: float = 0.0
    breaks: int = 0
    no_space_breaks: int = 0
    wasted_bytes: float = 0.0
    failed: int = 0
    retired: bool = False
    first_update_s: float | None = None
    lag_since_s: float = 0.0
    lag_ref_s: float = 0.0
    lag_area: float = 0.0
    max_lag_s: float = 0.0

    def lag_area_until(self, t: float) -> float:
        since, ref = self.lag_since_s, self.lag_ref_s
        return ((t - ref) ** 2 - (since - ref) ** 2) / 2


class MirrorStats:
    """Per relationship: counts, bytes and lag, from the engine's transfer events."""

    def __init__(self, events: DomainEvents, relationships: list[MirrorRelationship]):
        self.records = {rel: MirrorRecord() for rel in relationships}
        events.update_skipped.subscribe(self.update_skipped)
        events.transfer_started.subscribe(self.transfer_started)
        events.transfer_ended.subscribe(self.transfer_ended)
        events.transfer_running.subscribe(self.transfer_running)
        events.transfer_broken.subscribe(self.transfer_broken)
        events.transfer_failed.subscribe(self.transfer_failed)
        events.destination_retired.subscribe(self.destination_retired)

    def update_skipped(self, _now: float, rel: MirrorRelationship, _why: str | None) -> None:
        self.records[rel].updates_skipped += 1

    def transfer_started(self, _now: float, rel: MirrorRelationship, kind: str, size: float,
                         _base: Pcpi | None, _send: Pcpi) -> None:
        if kind == "rebaseline":
            record = self.records[rel]
            record.rebaselines += 1
            record.rebaseline_bytes += size

    def transfer_ended(self, now: float, rel: MirrorRelationship, _start_s: float, _size: float, sent_bytes: float,
                       _kind: str, _base: Pcpi | None, send: Pcpi, applied: bool, _attempts: int,
                       wasted_bytes: float) -> None:
        record = self.records[rel]
        record.bytes_sent += sent_bytes
        record.wasted_bytes += wasted_bytes
        if not applied:
            return
        record.lag_area += record.lag_area_until(now)
        record.max_lag_s = max(record.max_lag_s, now - record.lag_ref_s)
        record.lag_ref_s = send.data_s
        record.lag_since_s = now
        record.updates_completed += 1
        if record.first_update_s is None:
            record.first_update_s = now

    def transfer_running(self, _now: float, rel: MirrorRelationship, _start_s: float, _size: float,
                         sent_bytes: float, _kind: str, _base: Pcpi | None, _send: Pcpi, _attempts: int,
                         wasted_bytes: float) -> None:
        record = self.records[rel]
        record.bytes_sent += sent_bytes
        record.wasted_bytes += wasted_bytes

    def transfer_broken(self, _now: float, rel: MirrorRelationship, cause: str, _attempt: int, _sent: float,
                        _thrown: float) -> None:
        record = self.records[rel]
        record.breaks += 1
        if cause == "no_space":
            record.no_space_breaks += 1

    def transfer_failed(self, _now: float, rel: MirrorRelationship, _cause: str) -> None:
        self.records[rel].failed += 1

    def destination_retired(self, _now: float, rel: MirrorRelationship) -> None:
        self.records[rel].retired = True

    def lag_s(self, rel: MirrorRelationship, now: float) -> float | None:
        """Current lag of the destination; None once retired."""
        record = self.records[rel]
        return None if record.retired else now - record.lag_ref_s

    def lag_summary(self, rel: MirrorRelationship, end_s: float) -> tuple[float, float]:
        """(time-weighted mean, max) lag from the start of the run to `end_s` (or retirement)."""
        record = self.records[rel]
        if rel.retire_at_s is not None:
            end_s = min(end_s, rel.retire_at_s)
        area = record.lag_area + record.lag_area_until(end_s)
        peak = max(record.max_lag_s, end_s - record.lag_ref_s)
        return (area / end_s if end_s > 0 else peak), peak
