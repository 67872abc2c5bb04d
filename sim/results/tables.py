"""A run's tables by name, each DataFrame built when it is first read.

A run that just finished does not hold its tables as DataFrames: its collectors wrote them out
in chunks as it went (`sim.observe.collectors`). `Tables` gives them as a mapping of
DataFrames all the same, building each from its source on first access and keeping it, and
writes a table's Parquet file straight from its source (`write_parquet`), so that writing a
results folder does not build a DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

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


def write_parquet(tables: Mapping[str, pd.DataFrame], name: str, path: Path) -> None:
    """Write table `name` of `tables` at `path`: from its source when `tables` is a `Tables`,
    else with `DataFrame.to_parquet` (tables loaded from a folder, or made by hand)."""
    if isinstance(tables, Tables):
        tables.write_parquet(name, path)
    else:
        tables[name].to_parquet(path, index=False)
