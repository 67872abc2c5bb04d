"""Loading a results folder in one call."""

import json
import shutil

import pandas as pd
import pytest
from conftest import SCENARIOS

from sim.model import simulate
from sim.output import write_results
from sim.results import TABLES, ResultsError, load
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
    assert results.scenario["links"][1]["between"] == ["B", "C"]
    assert results.scenario["links"][1]["bandwidth"] == 125_000_000  # 1Gbit/s in bytes/s
    assert results.scenario["links"][1]["outages"] == [{"at": 3 * 86400, "for": 86400}]
    assert results.title == "quickstart, protocol softlock, seed 42"


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
    for name in TABLES:
        pd.DataFrame({"x": [1]}).to_parquet(tmp_path / f"{name}.parquet")
    with pytest.raises(ResultsError, match="not a cascadesim summary"):
        load(tmp_path)


def test_a_folder_written_without_its_scenario_still_loads(written, tmp_path):
    folder = copy_of(written, tmp_path)
    (folder / "scenario.json").unlink()
    assert load(folder).scenario is None
