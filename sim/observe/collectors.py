"""The run's tables: a typed record per row, appended as the engine's events arrive, one
DataFrame per table at the end.

`events`, `transfers`, `pcpis` and `locks` are filled by `RunTables` from the domain events
(and the oracle's blame); `timeseries` by the sampler (`sim.observe.sampler`). Each table's
columns are its record type's fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

import pandas as pd

from sim.engine.events import DomainEvents
from sim.observe.oracle import Oracle

if TYPE_CHECKING:
    from sim.engine.lock_table import SoftLock
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link
    from sim.engine.storage import Pcpi, Volume


class EventRow(NamedTuple):
    time_s: float
    event: str
    component: str
    pcpi_id: int | None
    value: float | None
    detail: str | None


class TransferRow(NamedTuple):
    relationship: str
    start_s: float
    end_s: float | None
    bytes: float
    sent_bytes: float
    kind: str
    base_pcpi_id: int | None
    pcpi_id: int
    completed: bool
    aborted: bool
    attempts: int
    aborted_bytes: float


class PcpiRow(NamedTuple):
    volume: str
    pcpi_id: int
    name: str
    label: str
    origin: str
    created_s: float
    arrived_s: float | None
    deleted_s: float | None
    reason: str | None
    deleted_by: str | None
    premature: bool
    changed_bytes: float


class LockRow(NamedTuple):
    volume: str
    pcpi_id: int
    type: str
    string: str
    locking_dataset: str
    via: str
    hops: int
    created_s: float
    set_s: float
    propagation_s: float | None
    released_s: float | None
    release_reason: str | None


class SampleRow(NamedTuple):
    time_s: float
    metric: str
    component: str
    value: float


Row = TypeVar("Row", bound=tuple)


class Collector(Generic[Row]):
    """Rows of one table; `to_frame` builds the DataFrame once."""

    __slots__ = ("columns", "rows")

    def __init__(self, record: type[Row]):
        self.columns: tuple[str, ...] = record._fields  # type: ignore[attr-defined]
        self.rows: list[Row] = []

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.rows, columns=list(self.columns))


class RunTables:
    """Events, transfers, PCPIs and locks of one run, recorded from the domain events."""

    def __init__(self, events: DomainEvents, oracle: Oracle):
        self.events: Collector[EventRow] = Collector(EventRow)
        self.transfers: Collector[TransferRow] = Collector(TransferRow)
        self.pcpis: Collector[PcpiRow] = Collector(PcpiRow)
        self.locks: Collector[LockRow] = Collector(LockRow)
        self._premature: set[tuple[str, int]] = set()
        self._oracle = oracle
        events.update_skipped.subscribe(self.update_skipped)
        events.autodeleted.subscribe(self.autodeleted)
        oracle.premature.subscribe(self.premature)
        oracle.stranded.subscribe(self.stranded)
        events.pcpi_deleted.subscribe(self.pcpi_deleted)
        events.transfer_ended.subscribe(self.transfer_ended)
        events.transfer_running.subscribe(self.transfer_running)
        for signal, handler in ((events.transfer_broken, self.transfer_broken),
                                (events.transfer_failed, self.transfer_failed),
                                (events.appliance_down, self.appliance_down), (events.appliance_up, self.appliance_up),
                                (events.firing_missed, self.firing_missed),
                                (events.relationship_repointed, self.relationship_repointed),
                                (events.relationship_released, self.relationship_released)):
            signal.subscribe(handler)  # type: ignore[attr-defined]
        events.destination_retired.subscribe(self.destination_retired)
        events.source_removed.subscribe(self.source_removed)
        events.hard_lock_released.subscribe(self.hard_lock_released)
        events.soft_lock_released.subscribe(self.soft_lock_released)
        events.link_down.subscribe(self.link_down)
        events.link_up.subscribe(self.link_up)
        events.bookmark_created.subscribe(self.bookmark_created)
        events.bookmark_destroyed.subscribe(self.bookmark_destroyed)

    # -- events ------------------------------------------------------------------------------

    def update_skipped(self, now: float, rel: MirrorRelationship, why: str | None) -> None:
        self.events.rows.append(EventRow(now, "update_skipped", rel.name, None, None, why))

    def autodeleted(self, now: float, volume: Volume, pcpi: Pcpi, space_bytes: float, by: str) -> None:
        self.events.rows.append(EventRow(now, "autodelete", volume.name, pcpi.id, space_bytes, by))

    def premature(self, now: float, volume: Volume, pcpi: Pcpi, broken: list[MirrorRelationship]) -> None:
        self._premature.add((volume.name, pcpi.id))
        for rel in broken:
            self.events.rows.append(EventRow(now, "premature_deletion", volume.name, pcpi.id, None, rel.name))

    def stranded(self, now: float, rel: MirrorRelationship) -> None:
        self.events.rows.append(EventRow(now, "base_lost", rel.name, None, None, "transfer ended unapplied"))

    def destination_retired(self, now: float, rel: MirrorRelationship) -> None:
        self.events.rows.append(EventRow(now, "destination_retired", rel.name, None, None, None))

    def source_removed(self, now: float, rel: MirrorRelationship) -> None:
        self.events.rows.append(EventRow(now, "source_removed", rel.name, None, None, None))

    def link_down(self, now: float, link: Link, for_s: float) -> None:
        self.events.rows.append(EventRow(now, "link_down", link.name, None, for_s, None))

    def link_up(self, now: float, link: Link) -> None:
        self.events.rows.append(EventRow(now, "link_up", link.name, None, None, None))

    def bookmark_created(self, now: float, volume: Volume, pcpi: Pcpi, by: str) -> None:
        self.events.rows.append(EventRow(now, "bookmark", volume.name, pcpi.id, None, by))

    def bookmark_destroyed(self, now: float, volume: Volume, pcpi: Pcpi, by: str) -> None:
        self.events.rows.append(EventRow(now, "bookmark_destroyed", volume.name, pcpi.id, None, by))

    # -- transfers ---------------------------------------------------------------------------

    def transfer_ended(self, now: float, rel: MirrorRelationship, start_s: float, size: float, sent_bytes: float,
                       kind: str, base: Pcpi | None, send: Pcpi, applied: bool, attempts: int,
                       wasted_bytes: float) -> None:
        if applied and kind == "rebaseline":
            self.events.rows.append(EventRow(now, "rebaseline", rel.name, send.id, size, None))
        self.transfers.rows.append(TransferRow(rel.name, start_s, now, size, sent_bytes, kind,
                                               base.id if base else None, send.id, applied, not applied, attempts,
                                               wasted_bytes))

    def transfer_running(self, _now: float, rel: MirrorRelationship, start_s: float, size: float, sent_bytes: float,
                         kind: str, base: Pcpi | None, send: Pcpi, attempts: int, wasted_bytes: float) -> None:
        self.transfers.rows.append(TransferRow(rel.name, start_s, None, size, sent_bytes, kind,
                                               base.id if base else None, send.id, False, False, attempts,
                                               wasted_bytes))

    def transfer_broken(self, now: float, rel: MirrorRelationship, cause: str, attempt: int, sent_bytes: float,
                        thrown_bytes: float) -> None:
        self.events.rows.append(EventRow(now, "transfer_broken", rel.name, None, thrown_bytes,
                                         f"{cause}, attempt {attempt}, {sent_bytes:.0f} bytes sent"))

    def transfer_failed(self, now: float, rel: MirrorRelationship, cause: str) -> None:
        self.events.rows.append(EventRow(now, "transfer_failed", rel.name, None, None, cause))

    def appliance_down(self, now: float, appliance: str) -> None:
        self.events.rows.append(EventRow(now, "appliance_down", appliance, None, None, None))

    def appliance_up(self, now: float, appliance: str) -> None:
        self.events.rows.append(EventRow(now, "appliance_up", appliance, None, None, None))

    def firing_missed(self, now: float, what: str, appliance: str) -> None:
        self.events.rows.append(EventRow(now, "firing_missed", what, None, None, appliance))

    def relationship_repointed(self, now: float, rel: MirrorRelationship, old: Volume) -> None:
        self.events.rows.append(EventRow(now, "repointed", rel.name, None, None,
                                         f"from {old.name} to {rel.source.name}"
                                         f"{'' if rel not in self._oracle.cut else ', no common base'}"))

    def relationship_released(self, now: float, rel: MirrorRelationship) -> None:
        self.events.rows.append(EventRow(now, "released", rel.name, None, None, rel.source.name))

    # -- PCPIs -------------------------------------------------------------------------------

    def pcpi_deleted(self, now: float, volume: Volume, pcpi: Pcpi, reason: str, by: str) -> None:
        key = (volume.name, pcpi.id)
        premature = key in self._premature
        if premature:
            self._premature.discard(key)
        self.pcpis.rows.append(PcpiRow(volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin, pcpi.created_s,
                                       volume.arrived_s.get(pcpi.id), now, reason, by, premature, pcpi.changed_bytes))

    def close(self, volumes: list[Volume]) -> None:
        """At the end of the run: a row for every PCPI still on a volume."""
        rows = self.pcpis.rows
        for volume in volumes:
            for pcpi in volume.pcpis.values():
                rows.append(PcpiRow(volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin, pcpi.created_s,
                                    volume.arrived_s[pcpi.id], None, None, None, False, pcpi.changed_bytes))

    # -- locks -------------------------------------------------------------------------------

    def hard_lock_released(self, now: float, volume: Volume, pcpi_id: int, owner: str, set_s: float,
                           reason: str | None) -> None:
        self.locks.rows.append(LockRow(volume.name, pcpi_id, "hard", f"base of {owner}", owner, volume.name, 0,
                                       set_s, set_s, None, None if reason is None else now, reason))

    def soft_lock_released(self, now: float, volume: Volume, sender: str, lock: SoftLock, set_s: float,
                           delay: float | None, reason: str | None) -> None:
        self.locks.rows.append(LockRow(volume.name, lock.pcpi_id, lock.type, lock.string, lock.locking_dataset, sender,
                                       lock.hops, lock.created_s, set_s, delay, None if reason is None else now, reason))

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"events": self.events.to_frame(), "transfers": self.transfers.to_frame(),
                "pcpis": self.pcpis.to_frame(), "locks": self.locks.to_frame()}
