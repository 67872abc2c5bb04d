"""Loading a results folder in one call, and runs with a progress bar giving identical results."""

import io
import json
import shutil
import sys

import pandas as pd
import pytest
from conftest import SCENARIOS, chain_document, rewrite_summary

from sim.cli import main, simulate_with_progress
from sim.engine.model import simulate
from sim.results import SCHEMA_VERSION, TABLES, ResultsError, load, load_summary
from sim.results.write import write_results
from sim.scenario import load_scenario

QUICKSTART = SCENARIOS / "quickstart.yaml"


@pytest.fixture(scope="module")
def softlock_run():
    return simulate(load_scenario(QUICKSTART, {"protocol": "softlock"}))


@pytest.fixture(scope="module")
def written(softlock_run, tmp_path_factory):
    """The run's results folder, written once; tests that change it work on a copy."""
    return write_results(softlock_run, tmp_path_factory.mktemp("results"))


def copy_of(written, tmp_path):
    return shutil.copytree(written.parent.parent, tmp_path / "results") / "quickstart" / "softlock-seed42"


def test_load_gives_back_the_summary_every_table_and_the_scenario(softlock_run, written):
    folder = written
    results = load(folder)
    assert results.path == folder
    assert results.summary == softlock_run.summary
    assert results.kpis["premature_deletions"] == 0
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(results, name), softlock_run.tables[name])
    assert type(results) is type(softlock_run) and softlock_run.path is None
    assert results.scenario == softlock_run.scenario  # the same plain data in memory and on disk
    assert results.scenario["links"][1]["between"] == ["B", "C"]
    assert results.scenario["links"][1]["bandwidth"] == 125_000_000  # 1Gbit/s in bytes/s
    assert results.scenario["links"][1]["outages"] == [{"at": 3 * 86400, "for": 86400}]
    assert results.title == "quickstart, protocol softlock, seed 42"


def test_the_summary_says_first_which_schema_version_it_follows(softlock_run, written):
    assert list(softlock_run.summary)[0] == "schema_version"
    assert json.loads((written / "summary.json").read_text())["schema_version"] == SCHEMA_VERSION == 3


@pytest.mark.parametrize(("version", "said"), [(None, "has no schema_version"), (1, "has schema version 1"),
                                                (2, "has schema version 2"), ("3", "has schema version '3'")])
def test_a_folder_of_a_schema_version_it_does_not_read_is_refused(written, tmp_path, version, said):
    folder = copy_of(written, tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    rewrite_summary(folder, {k: v for k, v in summary.items() if k != "schema_version"} if version is None
                    else {**summary, "schema_version": version})
    for read in (load, load_summary):
        with pytest.raises(ResultsError) as refused:
            read(folder)
        assert str(refused.value).startswith(f"{folder / 'summary.json'} {said}; this cascadesim reads schema version 3 ")


def test_load_accepts_the_summary_file_itself(written):
    assert load(written / "summary.json").path == written


def test_a_folder_without_a_summary_is_refused_with_the_runs_it_holds(written):
    with pytest.raises(ResultsError, match=r"not a cascadesim results folder: no summary.json; it holds the runs "
                                           r"softlock-seed42"):
        load(written.parent)
    with pytest.raises(ResultsError, match="no such results folder"):
        load(written.parent / "nowhere")


def test_a_folder_missing_a_table_names_it(written, tmp_path):
    folder = copy_of(written, tmp_path)
    (folder / "locks.parquet").unlink()
    with pytest.raises(ResultsError, match=r"missing locks.parquet"):
        load(folder)


def test_a_summary_that_is_not_ours_is_refused(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "scenario.json").write_text("{}")
    for name in TABLES:
        pd.DataFrame({"x": [1]}).to_parquet(tmp_path / f"{name}.parquet")
    files = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    (tmp_path / "complete.json").write_text(json.dumps({"format": 1, "files": files}))
    with pytest.raises(ResultsError, match="not a cascadesim summary"):
        load(tmp_path)


def test_a_folder_missing_any_file_it_was_written_with_is_refused(written, tmp_path):
    folder = copy_of(written, tmp_path)
    (folder / "scenario.json").unlink()
    with pytest.raises(ResultsError, match=r"not a complete results folder: missing scenario.json"):
        load(folder)


@pytest.mark.parametrize("protocol", ["none", "softlock"])
def test_the_progress_bar_does_not_change_the_results(make_scenario, protocol):
    scenario = make_scenario(chain_document(protocol=protocol, duration="3d",
                                            links=[{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
                                                   {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms",
                                                    "outages": [{"at": "1d", "for": "12h"}]}]))
    plain = simulate(scenario)
    bar = io.StringIO()
    chunked = simulate_with_progress(scenario, bar, protocol)
    assert "/72.0 simulated hours" in bar.getvalue()
    assert chunked.summary["events_processed"] == plain.summary["events_processed"] > 0
    assert {**chunked.summary, "wall_seconds": 0} == {**plain.summary, "wall_seconds": 0}
    for name in TABLES:
        pd.testing.assert_frame_equal(chunked.tables[name], plain.tables[name])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("flags", "drawn"), [([], True), (["--quiet"], False)])
def test_the_bar_is_drawn_on_a_terminal_unless_quiet(write_scenario, tmp_path, monkeypatch, flags, drawn):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    path = write_scenario(chain_document(duration="1d"))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), *flags]) == 0
    assert ("simulated hours" in terminal.getvalue()) == drawn


def test_no_bar_when_stderr_is_not_a_terminal(write_scenario, tmp_path, monkeypatch):
    redirected = io.StringIO()
    monkeypatch.setattr(sys, "stderr", redirected)
    path = write_scenario(chain_document(duration="1d"))
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(tmp_path / "out")]) == 0
    assert redirected.getvalue() == ""
