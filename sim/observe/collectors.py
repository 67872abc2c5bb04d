"""The run's tables: rows appended as the engine's events arrive, written out in chunks as the
run goes, so that what they hold in memory does not grow with the run's length; one DataFrame
per table, built only when it is read.

`events`, `transfers`, `pcpis` and `locks` are filled by `RunTables` from the domain events
(and the oracle's blame); `timeseries` by the sampler (`sim.observe.sampler`). Each table's
columns are its record type's fields.

A `Collector` holds at most `chunk_rows` rows. When it has that many it turns them into one
Arrow record batch (a typed array per column: every number float64, strings, bools) and
appends it as a row group to a Parquet file in a temporary folder of its own (the *spill*,
under the system's temporary folder: `sim.observe.spill`), then empties its buffer. At
the end of the run `Collector.finish` gives the finished table (`FinishedTable`): the spilled
row groups and the rows still in memory, from which its DataFrame is built on first read,
or its Parquet file written, one chunk at a time. The spill folder is removed as soon as
nothing refers to the finished table (the run's `Results` gone), or when the process exits;
a collector that never filled a chunk never creates one. A finished table is pickled as its
DataFrame (`FrameTable`), so a `Results` can go to another process.

The DataFrame is the one `pd.DataFrame.from_records` makes of all the rows. That call infers
each column's dtype from the Python types its values have over the whole table (only ints:
int64; a float, or ints and None: float64; only None, or no rows: object; strings: str;
bools: bool, or object with a None), which a chunk alone does not show (the first chunks'
ints, a None in a later one). So every number is kept as float64 (exact for integers up to
2**53; Arrow refuses a larger one), each collector notes per column whether it has seen a
None, a float and any value at all, and at the end `from_records` is called on two rows with
the same types: pandas' own answer for the table's dtypes, whose Arrow schema (with the pandas
metadata `DataFrame.to_parquet` writes) every chunk is cast to when it is read or written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, get_args, get_type_hints

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.engine.events import DomainEvents
from sim.observe.oracle import Oracle
from sim.observe.spill import SpillFolder

if TYPE_CHECKING:
    from sim.engine.lock_table import SoftLock
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link
    from sim.engine.storage import Pcpi, Volume

CHUNK_ROWS = 1 << 14
"""Rows a collector holds in memory before it writes them out as one row group."""
SPILL_FILE = "table.parquet"
"""The Parquet file in a collector's spill folder."""

_STORAGE = {float: pa.float64(), int: pa.float64(), bool: pa.bool_(), str: pa.string()}
"""The Arrow type a column annotated with each Python type is kept as while the run goes."""
_SEEN = {pa.float64(): (pa.null(), pa.int64(), pa.float64()), pa.bool_(): (pa.null(), pa.bool_()),
         pa.string(): (pa.null(), pa.string())}
"""Per storage type, the types Arrow may infer for a chunk of the column's values; any other
(a bool among numbers, a number among strings) is refused rather than guessed at."""
_SAMPLE = {pa.bool_(): True, pa.string(): ""}
"""A value of each non-numeric storage type, for the two-row sample of a table's types."""


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


def _storage_type(hint: Any) -> pa.DataType:
    """The Arrow type a column annotated `hint` (`float`, `int | None`, ...) is kept as."""
    return _STORAGE[next(t for t in (get_args(hint) or (hint,)) if t is not type(None))]


class FinishedTable:
    """A finished table: its row groups (in its spill file, then in memory) and the Arrow schema
    of its DataFrame, to which each is cast as it is read (a `sim.results.tables.TableSource`).
    It keeps its spill folder: the folder goes when the table does."""

    def __init__(self, schema: pa.Schema, spill: SpillFolder | None, memory: Sequence[pa.RecordBatch]):
        self.schema = schema
        self._spill = spill
        self._memory = memory

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its DataFrame: the spill folder belongs to this process (a `Results` sent
        to another process carries its tables with it)."""
        return FrameTable, (self.frame(),)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        """Every row group, in order, cast to the DataFrame's schema (a column of only None to nulls).
        The spill file is read one row group at a time (`pre_buffer` would read all of it ahead)."""
        if self._spill is not None:
            with pq.ParquetFile(self._spill.path / SPILL_FILE, pre_buffer=False) as file:
                yield from map(self._cast, file.iter_batches(batch_size=CHUNK_ROWS))
        yield from map(self._cast, self._memory)

    def _cast(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        arrays = [pa.nulls(batch.num_rows) if field.type == pa.null() else column.cast(field.type)
                  for column, field in zip(batch.columns, self.schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def frame(self) -> pd.DataFrame:
        """The table's DataFrame, as `pd.DataFrame.from_records` of its rows would be."""
        return pa.Table.from_batches(list(self._batches()), schema=self.schema).to_pandas()

    def write_parquet(self, path: Path) -> None:
        """Write the table at `path` as `frame().to_parquet(path, index=False)` would (the same
        schema, pandas metadata and values), one row group at a time, without building the frame."""
        with pq.ParquetWriter(path, self.schema) as writer:
            for batch in self._batches():
                writer.write_batch(batch)


class FrameTable:
    """A table held as its DataFrame (a `sim.results.tables.TableSource`): what a pickled
    `FinishedTable` becomes in the process that unpickles it."""

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame

    def frame(self) -> pd.DataFrame:
        return self._frame

    def write_parquet(self, path: Path) -> None:
        self._frame.to_parquet(path, index=False)


class Collector(Generic[Row]):
    """One table's rows: at most `chunk_rows` in memory, the others written out to its spill
    file (see the module docstring). `finish` gives the table at the end of the run."""

    __slots__ = ("name", "columns", "chunk_rows", "rows", "_schema", "_count", "_none", "_float", "_value",
                 "_spill", "_writer")

    def __init__(self, name: str, record: type[Row], chunk_rows: int | None = None):
        hints = get_type_hints(record)
        self.name = name
        self.columns: tuple[str, ...] = record._fields  # type: ignore[attr-defined]
        self.chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
        """Rows held before they are written out (`CHUNK_ROWS` as it is when the collector is made)."""
        self.rows: list[Row] = []
        """The rows not written out yet: never more than `chunk_rows`."""
        self._schema = pa.schema([(column, _storage_type(hints[column])) for column in self.columns])
        self._count = 0
        """Rows turned into record batches so far."""
        self._none = [False] * len(self.columns)
        self._float = [False] * len(self.columns)
        self._value = [False] * len(self.columns)
        """Per column: whether those rows held a None, a float, and anything but None."""
        self._spill: SpillFolder | None = None
        self._writer: pq.ParquetWriter | None = None

    @property
    def spill_folder(self) -> Path | None:
        """The temporary folder the rows are written out to; None until the first chunk is."""
        return None if self._spill is None else self._spill.path

    def append(self, row: Row) -> None:
        """Add a row at the end of the table; write the buffer out when it is full."""
        rows = self.rows
        rows.append(row)
        if len(rows) >= self.chunk_rows:
            self._write_out()

    def _batch(self) -> pa.RecordBatch:
        """The buffered rows (at least one) as a record batch of the storage types, empties the
        buffer and notes what each column held."""
        arrays = []
        for i, (values, field) in enumerate(zip(zip(*self.rows), self._schema)):
            array = pa.array(values)
            if array.type not in _SEEN[field.type]:
                raise TypeError(f"{self.name}.{field.name}: a value of Arrow type {array.type} "
                                f"in a column kept as {field.type}")
            self._none[i] = self._none[i] or array.null_count > 0
            self._value[i] = self._value[i] or array.null_count < len(array)
            self._float[i] = self._float[i] or array.type == pa.float64()
            arrays.append(array.cast(field.type))
        self._count += len(self.rows)
        self.rows.clear()
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def _write_out(self) -> None:
        """Append the buffered rows to the spill file as one row group, creating it the first time."""
        if self._writer is None:
            self._spill = SpillFolder(self.name)
            # Without dictionary encoding a chunk is written in a third of the time, and snappy
            # still compresses the repeated names; the results folder's files are encoded afresh.
            self._writer = pq.ParquetWriter(self._spill.path / SPILL_FILE, self._schema, use_dictionary=False)
        self._writer.write_batch(self._batch())

    def _frame_schema(self) -> pa.Schema:
        """The Arrow schema (and pandas metadata) of `pd.DataFrame.from_records` of every row:
        that of two rows whose values have, per column, the types the rows had."""
        sample: list[tuple[Any, ...]] = []
        if self._count:
            typical = [_SAMPLE.get(field.type, 0.5 if floats else 0) if seen else None
                       for field, seen, floats in zip(self._schema, self._value, self._float)]
            sample = [tuple(typical), tuple(None if none else value for value, none in zip(typical, self._none))]
        return pa.Schema.from_pandas(pd.DataFrame.from_records(sample, columns=list(self.columns)), preserve_index=False)

    def finish(self) -> FinishedTable:
        """The table of every row appended; call it once, at the end of the run."""
        memory = [self._batch()] if self.rows else []
        if self._writer is not None:
            for batch in memory:
                self._writer.write_batch(batch)
            self._writer.close()
            memory = []
        table = FinishedTable(self._frame_schema(), self._spill, memory)
        self._spill = self._writer = None
        return table


class RunTables:
    """Events, transfers, PCPIs and locks of one run, recorded from the domain events."""

    def __init__(self, events: DomainEvents, oracle: Oracle):
        self.events: Collector[EventRow] = Collector("events", EventRow)
        self.transfers: Collector[TransferRow] = Collector("transfers", TransferRow)
        self.pcpis: Collector[PcpiRow] = Collector("pcpis", PcpiRow)
        self.locks: Collector[LockRow] = Collector("locks", LockRow)
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
        self.events.append(EventRow(now, "update_skipped", rel.name, None, None, why))

    def autodeleted(self, now: float, volume: Volume, pcpi: Pcpi, space_bytes: float, by: str) -> None:
        self.events.append(EventRow(now, "autodelete", volume.name, pcpi.id, space_bytes, by))

    def premature(self, now: float, volume: Volume, pcpi: Pcpi, broken: list[MirrorRelationship]) -> None:
        self._premature.add((volume.name, pcpi.id))
        for rel in broken:
            self.events.append(EventRow(now, "premature_deletion", volume.name, pcpi.id, None, rel.name))

    def stranded(self, now: float, rel: MirrorRelationship) -> None:
        self.events.append(EventRow(now, "base_lost", rel.name, None, None, "transfer ended unapplied"))

    def destination_retired(self, now: float, rel: MirrorRelationship) -> None:
        self.events.append(EventRow(now, "destination_retired", rel.name, None, None, None))

    def source_removed(self, now: float, rel: MirrorRelationship) -> None:
        self.events.append(EventRow(now, "source_removed", rel.name, None, None, None))

    def link_down(self, now: float, link: Link, for_s: float) -> None:
        self.events.append(EventRow(now, "link_down", link.name, None, for_s, None))

    def link_up(self, now: float, link: Link) -> None:
        self.events.append(EventRow(now, "link_up", link.name, None, None, None))

    def bookmark_created(self, now: float, volume: Volume, pcpi: Pcpi, by: str) -> None:
        self.events.append(EventRow(now, "bookmark", volume.name, pcpi.id, None, by))

    def bookmark_destroyed(self, now: float, volume: Volume, pcpi: Pcpi, by: str) -> None:
        self.events.append(EventRow(now, "bookmark_destroyed", volume.name, pcpi.id, None, by))

    # -- transfers ---------------------------------------------------------------------------

    def transfer_ended(self, now: float, rel: MirrorRelationship, start_s: float, size: float, sent_bytes: float,
                       kind: str, base: Pcpi | None, send: Pcpi, applied: bool, attempts: int,
                       wasted_bytes: float) -> None:
        if applied and kind == "rebaseline":
            self.events.append(EventRow(now, "rebaseline", rel.name, send.id, size, None))
        self.transfers.append(TransferRow(rel.name, start_s, now, size, sent_bytes, kind,
                                               base.id if base else None, send.id, applied, not applied, attempts,
                                               wasted_bytes))

    def transfer_running(self, _now: float, rel: MirrorRelationship, start_s: float, size: float, sent_bytes: float,
                         kind: str, base: Pcpi | None, send: Pcpi, attempts: int, wasted_bytes: float) -> None:
        self.transfers.append(TransferRow(rel.name, start_s, None, size, sent_bytes, kind,
                                               base.id if base else None, send.id, False, False, attempts,
                                               wasted_bytes))

    def transfer_broken(self, now: float, rel: MirrorRelationship, cause: str, attempt: int, sent_bytes: float,
                        thrown_bytes: float) -> None:
        self.events.append(EventRow(now, "transfer_broken", rel.name, None, thrown_bytes,
                                         f"{cause}, attempt {attempt}, {sent_bytes:.0f} bytes sent"))

    def transfer_failed(self, now: float, rel: MirrorRelationship, cause: str) -> None:
        self.events.append(EventRow(now, "transfer_failed", rel.name, None, None, cause))

    def appliance_down(self, now: float, appliance: str) -> None:
        self.events.append(EventRow(now, "appliance_down", appliance, None, None, None))

    def appliance_up(self, now: float, appliance: str) -> None:
        self.events.append(EventRow(now, "appliance_up", appliance, None, None, None))

    def firing_missed(self, now: float, what: str, appliance: str) -> None:
        self.events.append(EventRow(now, "firing_missed", what, None, None, appliance))

    def relationship_repointed(self, now: float, rel: MirrorRelationship, old: Volume) -> None:
        self.events.append(EventRow(now, "repointed", rel.name, None, None,
                                         f"from {old.name} to {rel.source.name}"
                                         f"{'' if rel not in self._oracle.cut else ', no common base'}"))

    def relationship_released(self, now: float, rel: MirrorRelationship) -> None:
        self.events.append(EventRow(now, "released", rel.name, None, None, rel.source.name))

    # -- PCPIs -------------------------------------------------------------------------------

    def pcpi_deleted(self, now: float, volume: Volume, pcpi: Pcpi, reason: str, by: str) -> None:
        key = (volume.name, pcpi.id)
        premature = key in self._premature
        if premature:
            self._premature.discard(key)
        self.pcpis.append(PcpiRow(volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin, pcpi.created_s,
                                       volume.arrived_s.get(pcpi.id), now, reason, by, premature, pcpi.changed_bytes))

    def close(self, volumes: list[Volume]) -> None:
        """At the end of the run: a row for every PCPI still on a volume."""
        add = self.pcpis.append
        for volume in volumes:
            for pcpi in volume.pcpis.values():
                add(PcpiRow(volume.name, pcpi.id, pcpi.name, pcpi.label, pcpi.origin, pcpi.created_s,
                                    volume.arrived_s[pcpi.id], None, None, None, False, pcpi.changed_bytes))

    # -- locks -------------------------------------------------------------------------------

    def hard_lock_released(self, now: float, volume: Volume, pcpi_id: int, owner: str, set_s: float,
                           reason: str | None) -> None:
        self.locks.append(LockRow(volume.name, pcpi_id, "hard", f"base of {owner}", owner, volume.name, 0,
                                       set_s, set_s, None, None if reason is None else now, reason))

    def soft_lock_released(self, now: float, volume: Volume, sender: str, lock: SoftLock, set_s: float,
                           delay: float | None, reason: str | None) -> None:
        self.locks.append(LockRow(volume.name, lock.pcpi_id, lock.type, lock.string, lock.locking_dataset, sender,
                                       lock.hops, lock.created_s, set_s, delay, None if reason is None else now, reason))

    def finish(self) -> dict[str, FinishedTable]:
        """The four tables, once `close` and the lock table's `close` have added the last rows."""
        return {"events": self.events.finish(), "transfers": self.transfers.finish(),
                "pcpis": self.pcpis.finish(), "locks": self.locks.finish()}
