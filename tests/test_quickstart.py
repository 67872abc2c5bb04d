"""The default scenario: its outcomes per protocol, the oracle's consistency, reproducibility."""

import json
import subprocess
import sys

import pytest
from conftest import SCENARIOS

from sim.engine.model import simulate
from sim.experiments.expect import check_kpis
from sim.results.write import write_results
from sim.scenario import load_scenario

QUICKSTART = SCENARIOS / "quickstart.yaml"


@pytest.fixture(scope="module")
def quickstart():
    return load_scenario(QUICKSTART)


@pytest.fixture(scope="module")
def runs(quickstart):
    return {p: simulate(quickstart.model_copy(update={"protocol": p})) for p in quickstart.expect}


def test_quickstart_meets_its_expect_block(quickstart, runs):
    assert {"none", "softlock"} <= set(quickstart.expect)
    for protocol, bounds in quickstart.expect.items():
        verdicts = check_kpis(protocol, bounds, runs[protocol].summary["kpis"])
        assert verdicts and all(v.passed for v in verdicts), verdicts


def test_without_locks_the_tail_of_the_chain_rebaselines(runs):
    kpis = runs["none"].summary["kpis"]
    assert kpis["premature_deletions"] >= 1
    assert runs["none"].summary["relationships"]["B:/vol/db->C:/vol/db"]["rebaselines"] >= 1
    assert kpis["rebaseline_bytes"] == pytest.approx(kpis["rebaselines"] * 500 * 2**30)


def test_soft_locks_travel_from_the_tail_to_the_head(runs):
    locks = runs["softlock"].tables["locks"]
    at_head = locks[(locks["volume"] == "A:/vol/db") & (locks["locking_dataset"] == "C:/vol/db")]
    own = at_head["string"].str.startswith("snapmirror")
    assert own.any()
    assert (at_head[own]["hops"] == 2).all()  # C's own lock, forwarded by B
    assert (at_head[~own]["hops"] == 1).all()  # B's locks for its running transfers to C
    assert (at_head["set_s"] >= at_head["created_s"]).all()
    assert runs["softlock"].summary["kpis"]["lock_messages"] > 0


def test_the_same_pcpi_traffic_happens_under_both_protocols(runs):
    # Locks change what is deleted and re-sent, not the schedules.
    for kpi in ("updates_completed", "updates_skipped"):
        assert runs["none"].summary["kpis"][kpi] == runs["softlock"].summary["kpis"][kpi]


def rebaselines_without_a_prior_premature_deletion(result):
    events = result.tables["events"]
    transfers = result.tables["transfers"]
    orphans = []
    for row in transfers[transfers["kind"] == "rebaseline"].itertuples():
        blamed = events[(events["event"] == "premature_deletion") & (events["detail"] == row.relationship)
                        & (events["time_s"] <= row.start_s)]
        if blamed.empty:
            orphans.append((row.relationship, row.start_s))
    return orphans


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_oracle_blames_a_premature_deletion_for_every_rebaseline(quickstart, seed):
    result = simulate(quickstart.model_copy(update={"protocol": "none", "seed": seed}))
    assert result.summary["kpis"]["rebaselines"] >= 1
    assert rebaselines_without_a_prior_premature_deletion(result) == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_softlock_never_deletes_prematurely_in_a_three_deep_chain(quickstart, seed):
    kpis = simulate(quickstart.model_copy(update={"protocol": "softlock", "seed": seed})).summary["kpis"]
    assert kpis["premature_deletions"] == 0
    assert kpis["rebaselines"] == 0


def test_seed_changes_the_write_pattern(quickstart):
    a = simulate(quickstart.model_copy(update={"seed": 1})).summary["kpis"]["bytes_transferred"]
    b = simulate(quickstart.model_copy(update={"seed": 2})).summary["kpis"]["bytes_transferred"]
    assert a != b


def test_same_seed_gives_byte_identical_tables_and_summary(quickstart, tmp_path):
    folders = []
    for attempt in ("one", "two"):
        folders.append(write_results(simulate(quickstart.model_copy(update={"protocol": "softlock"})),
                                     tmp_path / attempt))
    for name in ("events", "transfers", "pcpis", "locks", "timeseries"):
        first = (folders[0] / f"{name}.parquet").read_bytes()
        assert first == (folders[1] / f"{name}.parquet").read_bytes(), name
    summaries = [json.loads((f / "summary.json").read_text()) for f in folders]
    for summary in summaries:
        summary.pop("wall_seconds")
    assert summaries[0] == summaries[1]


def test_same_seed_is_identical_across_processes(tmp_path):
    outputs = []
    for attempt in ("one", "two"):
        subprocess.run([sys.executable, "-m", "sim", "run", str(QUICKSTART), "--protocol", "none",
                        "--out", str(tmp_path / attempt)], check=True, capture_output=True)
        outputs.append((tmp_path / attempt / "quickstart" / "none-seed42" / "pcpis.parquet").read_bytes())
    assert outputs[0] == outputs[1]
