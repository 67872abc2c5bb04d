"""A run's tables by name, each DataFrame built when it is first read.

A run that just finished does not hold its tables as DataFrames: its collectors wrote them out
in chunks as it went (`sim.observe.collectors`). `Tables` gives them as a mapping of
DataFrames all the same, building each from its source on first access and keeping it, and
writes a table's Parquet file straight from its source (`write_parquet`), so that writing a
results folder does not build a DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class TableSource(Protocol):
    """Where a table's rows are until its DataFrame is read."""

    def frame(self) -> pd.DataFrame:
        """The table's DataFrame."""
        ...

    def write_parquet(self, path: Path) -> None:
        """Write the table at `path` as `frame().to_parquet(path, index=False)` would."""
        ...


class Tables(Mapping[str, pd.DataFrame]):
    """Tables by name, from their sources; each DataFrame is built on first access and kept."""

    def __init__(self, sources: Mapping[str, TableSource]):
        self._sources = dict(sources)
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        frame = self._frames.get(name)
        if frame is None:
            frame = self._frames[name] = self._sources[name].frame()
        return frame

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return f"Tables({', '.join(self._sources)})"

    def write_parquet(self, name: str, path: Path) -> None:
        """Write table `name` at `path` from its source (whatever was done to a DataFrame read from it)."""
        self._sources[name].write_parquet(path)

    def source(self, name: str) -> TableSource:
        """Where table `name`'s rows are (to merge them with another run's, or send them elsewhere)."""
        return self._sources[name]


def merged_id(ids: Any, index: int, count: int) -> Any:
    """PCPI id(s) `ids` of the run of part `index` of `count`, as numbered in the merged tables."""
    return (ids - 1) * count + index + 1


def _dtype_of_all(kinds: set[object]) -> object:
    """The dtype `pd.DataFrame.from_records` gives a column whose parts have `kinds` (and, some of
    them, only missing values): numbers with a gap are float64, text stays text, the rest object."""
    numeric = all(isinstance(kind, np.dtype) and np.issubdtype(kind, np.number) for kind in kinds)
    if numeric:
        return np.float64
    if len(kinds) == 1 and not (isinstance(kind := next(iter(kinds)), np.dtype) and kind == np.bool_):
        return kind
    return object


class ConcatenatedTable:
    """The rows of several runs' tables one after the other (a `TableSource`): the tables of a
    scenario's independent cascades, each run on its own (`sim.engine.cascade_runs`).

    Each cascade's run numbers its PCPIs from 1: in the merged table, id n of part i (of k
    parts) in the `id_columns` becomes (n - 1) * k + i + 1, so that ids stay unique and each
    part's are known without the others' (`cascadesim locks` numbers them alike). A column's
    dtype is the one `pd.DataFrame.from_records` would give all the rows together: numbers with
    a missing value in some part are float64, text stays text, anything else mixed is object.
    """

    def __init__(self, parts: Sequence[TableSource], id_columns: Sequence[str], keep: object = None):
        """`keep`: what must live as long as this table (the folder its parts' files are in)."""
        self._parts = list(parts)
        self._id_columns = tuple(id_columns)
        self._keep = keep

    def _part(self, index: int) -> pd.DataFrame:
        """Part `index`'s frame, its PCPI ids renumbered."""
        frame = self._parts[index].frame()
        count = len(self._parts)
        renumbered = {column: merged_id(frame[column], index, count) for column in self._id_columns
                      if count > 1 and frame[column].dtype != object}
        return frame.assign(**renumbered) if renumbered else frame

    def _dtypes(self, frames: Iterable[pd.DataFrame]) -> dict[str, object] | None:
        """Per column, the dtype the parts' rows have together (None when no part has a row)."""
        kinds: dict[str, set[object]] = {}
        gaps: set[str] = set()
        for frame in frames:
            if len(frame):
                for column in frame.columns:
                    if frame[column].dtype == object and frame[column].isna().all():
                        gaps.add(column)
                    else:
                        kinds.setdefault(column, set()).add(frame[column].dtype)
                    kinds.setdefault(column, set())
        if not kinds:
            return None
        return {column: next(iter(found)) if len(found) == 1 and column not in gaps else _dtype_of_all(found) if found
                else object for column, found in kinds.items()}

    def frame(self) -> pd.DataFrame:
        frames = [self._part(index) for index in range(len(self._parts))]
        dtypes = self._dtypes(frames)
        if dtypes is None:
            return frames[0].reset_index(drop=True)
        combined = pd.concat([frame for frame in frames if len(frame)], ignore_index=True)
        return combined.astype({column: dtype for column, dtype in dtypes.items() if combined[column].dtype != dtype})

    def write_parquet(self, path: Path) -> None:
        """Write the table as `frame().to_parquet(path, index=False)` would, one part at a time
        (two passes: the dtypes of all the rows first, then the rows), so that writing a fleet's
        table never holds more than one cascade's rows."""
        count = len(self._parts)
        dtypes = self._dtypes(self._part(index) for index in range(count))
        if dtypes is None or count == 1:
            self.frame().to_parquet(path, index=False)
            return
        writer = None
        try:
            for index in range(count):
                frame = self._part(index)
                if not len(frame):
                    continue
                frame = frame.astype({column: dtype for column, dtype in dtypes.items() if frame[column].dtype != dtype})
                table = pa.Table.from_pandas(frame, preserve_index=False, schema=writer.schema if writer else None)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


class ParquetFileTable:
    """A table in a Parquet file (a `TableSource`): what a cascade's run in another process
    wrote for the merge to read."""

    def __init__(self, path: Path):
        self.path = path

    def frame(self) -> pd.DataFrame:
        return pd.read_parquet(self.path)

    def write_parquet(self, path: Path) -> None:
        self.frame().to_parquet(path, index=False)


def write_parquet(tables: Mapping[str, pd.DataFrame], name: str, path: Path) -> None:
    """Write table `name` of `tables` at `path`: from its source when `tables` is a `Tables`,
    else with `DataFrame.to_parquet` (tables loaded from a folder, or made by hand)."""
    if isinstance(tables, Tables):
        tables.write_parquet(name, path)
    else:
        tables[name].to_parquet(path, index=False)
