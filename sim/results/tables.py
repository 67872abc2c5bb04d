"""A run's tables by name, each DataFrame built when it is first read.

A run that just finished does not hold its tables as DataFrames: its collectors wrote them out
in chunks as it went (`sim.observe.collectors`). `Tables` gives them as a mapping of
DataFrames all the same, building each from its source on first access and keeping it, and
writes a table's Parquet file straight from its source (`write_parquet`), so that writing a
results folder does not build a DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd


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

    def __init__(self, parts: Sequence[TableSource], id_columns: Sequence[str]):
        self._parts = list(parts)
        self._id_columns = tuple(id_columns)

    def frame(self) -> pd.DataFrame:
        frames = []
        count = len(self._parts)
        for index, source in enumerate(self._parts):
            frame = source.frame()
            renumbered = {column: merged_id(frame[column], index, count) for column in self._id_columns
                          if count > 1 and frame[column].dtype != object}
            frames.append(frame.assign(**renumbered) if renumbered else frame)
        filled = [frame for frame in frames if len(frame)]
        if len(filled) <= 1:
            return (filled or frames)[0].reset_index(drop=True)
        combined = pd.concat(filled, ignore_index=True)
        for column in combined.columns:
            kinds = {frame[column].dtype for frame in filled
                     if not (frame[column].dtype == object and frame[column].isna().all())}
            if len(kinds) > 1 or (kinds and combined[column].dtype != next(iter(kinds))):
                combined[column] = combined[column].astype(_dtype_of_all(kinds))
        return combined

    def write_parquet(self, path: Path) -> None:
        self.frame().to_parquet(path, index=False)


def write_parquet(tables: Mapping[str, pd.DataFrame], name: str, path: Path) -> None:
    """Write table `name` of `tables` at `path`: from its source when `tables` is a `Tables`,
    else with `DataFrame.to_parquet` (tables loaded from a folder, or made by hand)."""
    if isinstance(tables, Tables):
        tables.write_parquet(name, path)
    else:
        tables[name].to_parquet(path, index=False)
