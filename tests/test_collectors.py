"""The run's tables are written out in chunks as the run goes: a table spilled in many chunks
is the table that one `pd.DataFrame.from_records` of all its rows gives (columns, dtypes,
values, order), its Parquet file loads as `to_parquet` of that frame does, a collector never
holds more than a chunk in memory, and its spill folder does not outlive the results."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fingerprint import table_digest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.observe.collectors as collectors
from sim.engine.model import Model, simulate
from sim.observe.collectors import Collector
from sim.results import TABLES, load
from sim.results.write import write_results
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


class Row(NamedTuple):
    real: float
    real_or_none: float | None
    whole: int
    whole_or_none: int | None
    text: str
    text_or_none: str | None
    flag: bool


def reference(rows: list[Row]) -> pd.DataFrame:
    """The frame the collectors made before they spilled: one `from_records` of every row."""
    return pd.DataFrame.from_records(rows, columns=list(Row._fields))


def collected(rows: list[Row], chunk_rows: int) -> Collector[Row]:
    collector: Collector[Row] = Collector("test", Row, chunk_rows)
    for row in rows:
        collector.append(row)
    return collector


def assert_same_frame(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert table_digest(frame) == table_digest(expected)


numbers = st.one_of(st.integers(-2**53, 2**53), st.floats(allow_nan=False, width=64))
texts = st.sampled_from(["a", "b", "", "snapshot é"])
rows = st.builds(Row, numbers, st.none() | numbers, st.integers(-2**53, 2**53), st.none() | st.integers(0, 2**53),
                 texts, st.none() | texts, st.booleans())
"""Rows whose numeric columns mix ints, floats and None, so a chunk's types rarely are the table's."""


@settings(max_examples=150, deadline=None)
@given(st.lists(rows, max_size=30), st.integers(1, 8))
def test_a_table_spilled_in_many_chunks_is_the_frame_of_all_its_rows(table_rows, chunk_rows):
    assert_same_frame(collected(table_rows, chunk_rows).finish().frame(), reference(table_rows))


def test_a_none_or_a_float_in_a_later_chunk_changes_the_whole_columns_dtype():
    first = [Row(1, 2, 3, 4, "a", "b", True)] * 4
    later = [Row(1.5, None, 3, None, "a", None, False)]
    frame = collected(first + later, 2).finish().frame()
    assert_same_frame(frame, reference(first + later))
    assert frame.dtypes.astype(str).to_dict() == {"real": "float64", "real_or_none": "float64", "whole": "int64",
                                                  "whole_or_none": "float64", "text": "str", "text_or_none": "str",
                                                  "flag": "bool"}
    only_ints = collected(first, 2).finish().frame()
    assert_same_frame(only_ints, reference(first))
    assert only_ints["real"].dtype == "int64"  # as from_records: a float column that only got ints


@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_empty_and_all_none_columns_keep_their_dtypes(chunk_rows):
    assert_same_frame(collected([], chunk_rows).finish().frame(), reference([]))
    nones = [Row(0.5, None, 1, None, "a", None, True)] * 5
    frame = collected(nones, chunk_rows).finish().frame()
    assert_same_frame(frame, reference(nones))
    assert frame["real_or_none"].dtype == object and frame["text_or_none"].dtype == object


def test_a_value_of_a_type_the_column_cannot_hold_is_refused():
    collector: Collector[Row] = Collector("test", Row, 1)
    with pytest.raises(TypeError, match=r"test.real: a value of Arrow type bool"):
        collector.append(Row(True, None, 1, None, "a", None, True))  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk_rows", [2, 100])
@pytest.mark.parametrize("table_rows", [[], [Row(1, None, 2, None, "a", None, True)] * 3,
                                        [Row(1, None, 2, 3, "a", "b", True), Row(1.5, 0.5, 2, None, "a", None, False)]])
def test_the_parquet_file_written_from_the_chunks_loads_as_to_parquet_of_the_frame_does(tmp_path, table_rows,
                                                                                       chunk_rows):
    collected(table_rows, chunk_rows).finish().write_parquet(tmp_path / "streamed.parquet")
    reference(table_rows).to_parquet(tmp_path / "frame.parquet", index=False)
    streamed, frame = pq.read_schema(tmp_path / "streamed.parquet"), pq.read_schema(tmp_path / "frame.parquet")
    assert streamed.equals(frame, check_metadata=True)  # the same types and pandas metadata
    assert_same_frame(pd.read_parquet(tmp_path / "streamed.parquet"), pd.read_parquet(tmp_path / "frame.parquet"))


def test_a_collector_never_holds_more_than_a_chunk():
    collector: Collector[Row] = Collector("test", Row, 3)
    written: list[int] = []
    for i in range(10):
        collector.append(Row(i, None, i, None, "a", None, True))
        assert len(collector.rows) < collector.chunk_rows
        written.append(collector._count)
    assert written == [0, 0, 3, 3, 3, 6, 6, 6, 9, 9]
    assert collector.spill_folder is not None and (collector.spill_folder / collectors.SPILL_FILE).is_file()
    assert len(collector.finish().frame()) == 10


def spilled_run(monkeypatch: pytest.MonkeyPatch, chunk_rows: int) -> tuple[Model, list[Path]]:
    """A finalised model of quickstart (softlock) whose collectors write out every `chunk_rows`
    rows, and the spill folders they made; each write must be of exactly one chunk."""
    folders: list[Path] = []
    write_out = Collector._write_out

    def watched(collector: Collector) -> None:
        assert len(collector.rows) == collector.chunk_rows
        write_out(collector)
        if collector.spill_folder not in folders:
            folders.append(collector.spill_folder)

    monkeypatch.setattr(collectors, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(Collector, "_write_out", watched)
    model = Model(load_scenario(ROOT / "scenarios" / "quickstart.yaml", {"protocol": "softlock"}))
    model.start()
    return model, folders


def test_a_run_spilled_in_small_chunks_has_the_same_tables_and_folder(monkeypatch, tmp_path):
    plain = simulate(load_scenario(ROOT / "scenarios" / "quickstart.yaml", {"protocol": "softlock"}))
    model, folders = spilled_run(monkeypatch, 5)
    model.run()
    spilled = model.finalise(0.0)
    assert min(len(plain.tables[name]) for name in TABLES) > 5
    assert len(folders) == len(TABLES)  # every table was written out
    for name in TABLES:
        assert_same_frame(spilled.tables[name], plain.tables[name])
    loaded = load(write_results(spilled, tmp_path / "spilled"))
    for name in TABLES:
        assert_same_frame(loaded.tables[name], load(write_results(plain, tmp_path / "plain")).tables[name])
    assert sorted(p.name for p in loaded.path.iterdir() if p.suffix == ".parquet") == sorted(f"{t}.parquet"
                                                                                             for t in TABLES)


def test_the_spill_folders_go_with_the_results(monkeypatch, tmp_path):
    model, folders = spilled_run(monkeypatch, 50)
    model.run()
    results = model.finalise(0.0)
    del model
    assert folders and all(folder.is_dir() for folder in folders)  # the unread tables are there
    write_results(results, tmp_path)
    del results
    assert not any(folder.exists() for folder in folders)


def test_the_spill_folders_go_when_a_run_fails(monkeypatch):
    model, folders = spilled_run(monkeypatch, 50)
    model.env.process(_fail_after(model, 3 * 86400))
    with pytest.raises(RuntimeError, match="injected"):
        model.run()
    assert folders and all(folder.is_dir() for folder in folders)
    del model
    gc.collect()  # a model is full of reference cycles (SimPy processes)
    assert not any(folder.exists() for folder in folders)


def _fail_after(model: Model, at_s: float):
    yield model.env.timeout(at_s)
    raise RuntimeError("injected")


def test_a_run_with_spilled_tables_pickles_with_its_tables(monkeypatch, tmp_path):
    """A `Results` can go to another process (a sweep's `--run-folders`, a notebook's pool):
    its spilled tables travel as DataFrames and are written the same."""
    import pickle

    model, folders = spilled_run(monkeypatch, 50)
    model.run()
    results = model.finalise(0.0)
    copy = pickle.loads(pickle.dumps(results))
    assert folders and all(folder.is_dir() for folder in folders)
    for name in TABLES:
        assert_same_frame(copy.tables[name], results.tables[name])
    first, second = load(write_results(results, tmp_path / "a")), load(write_results(copy, tmp_path / "b"))
    for name in TABLES:
        assert_same_frame(second.tables[name], first.tables[name])


def test_a_forked_child_leaves_its_parents_spill_folders_alone(monkeypatch):
    model, folders = spilled_run(monkeypatch, 50)
    model.run()
    results = model.finalise(0.0)
    del model
    pid = os.fork()
    if pid == 0:  # the child drops what it inherited, as a worker process would
        del results
        gc.collect()
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert folders and all(folder.is_dir() for folder in folders)
    assert sum(len(results.tables[name]) for name in TABLES) > 50 * len(folders)  # still readable


def test_the_spill_folders_a_killed_run_left_are_removed_by_the_next_run(tmp_path, monkeypatch):
    import subprocess
    import sys

    from sim.observe import spill

    monkeypatch.setattr(spill.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(spill, "_swept", False)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = int(gone.stdout)  # a process that has ended (its pid is not reused this quickly)
    stale = tmp_path / f"{spill.PREFIX}{dead}-events-abc123"
    (stale / "table.parquet").parent.mkdir()
    (stale / "table.parquet").write_bytes(b"rows of a run killed by SIGKILL")
    live = tmp_path / f"{spill.PREFIX}{os.getppid()}-events-def456"
    live.mkdir()
    other = tmp_path / "cascadesim-events-old"  # a name without an owner: left alone
    other.mkdir()
    collector = collected([Row(1.0, None, 1, None, "a", None, True)] * 3, chunk_rows=2)
    assert collector.spill_folder is not None and collector.spill_folder.parent == tmp_path
    assert not stale.exists() and live.is_dir() and other.is_dir()
    assert collector.spill_folder.name.startswith(f"{spill.PREFIX}{os.getpid()}-test-")
