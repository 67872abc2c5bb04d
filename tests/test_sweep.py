"""Sweeps: the sweep file (expansion and refusals), the dataset (one row per run, resumable, never
overwritten unasked) and the executors (local processes and a Dask LocalCluster give the same rows)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.experiments.sweep as sweep_module
from sim.cli import main
from sim.engine.model import simulate
from sim.experiments.sweep_file import load_sweep_file
from sim.results.sweep_dataset import LOCK_FILE, RUNS_DIR, load_sweep
from sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def write_sweep(folder: Path, body: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(f"scenario: {QUICKSTART}\n" + body)
    return path


SMALL = """\
name: small
set:
  duration: 3d
  links[1].outages[0].at: 1d
parameters:
  links[1].outages[0].for:
    label: B-C outage
    values: [2h, 20h]
protocols: [none, softlock]
seeds: 2
"""


def outcome_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Everything a run decides (the wall time is the machine's)."""
    return frame.drop(columns=["wall_seconds"])


# -- the sweep file -----------------------------------------------------------------------

def test_runs_are_the_grid_times_protocols_times_seeds_in_a_fixed_order(tmp_path):
    plan = load_sweep_file(write_sweep(tmp_path, SMALL))
    assert [(j.run_id, j.point, j.protocol, j.seed, j.values) for j in plan.jobs] == [
        (0, 0, "none", 42, (7200.0,)), (1, 0, "none", 43, (7200.0,)),
        (2, 0, "softlock", 42, (7200.0,)), (3, 0, "softlock", 43, (7200.0,)),
        (4, 1, "none", 42, (72000.0,)), (5, 1, "none", 43, (72000.0,)),
        (6, 1, "softlock", 42, (72000.0,)), (7, 1, "softlock", 43, (72000.0,))]
    assert plan.jobs[4].sets == ('duration="3d"', 'links[1].outages[0].at="1d"', 'links[1].outages[0].for="20h"')
    assert [(p.path, p.kind, p.unit, p.label) for p in plan.parameters] == [
        ("links[1].outages[0].for", "duration", "s", "B-C outage")]


def test_a_range_includes_its_end_and_keeps_its_kind(tmp_path):
    plan = load_sweep_file(write_sweep(tmp_path, """\
name: r
parameters:
  snapshot_policies.hourly.keep: {range: {from: 2, to: 8, step: 3}}
  volumes["A:/vol/db"].change_rate: {range: {from: 1GiB/h, to: 2GiB/h, step: 0.5GiB/h}}
"""))
    points = sorted({j.values for j in plan.jobs})
    assert [p.kind for p in plan.parameters] == ["number", "rate"]
    gib_h = 2**30 / 3600
    assert points == sorted((k, r * gib_h) for k in (2.0, 5.0, 8.0) for r in (1.0, 1.5, 2.0))
    assert 'snapshot_policies.hourly.keep=5' in plan.jobs[3].sets  # whole numbers stay whole


def test_the_runs_a_sweep_makes_are_the_runs_cascadesim_run_makes(tmp_path):
    """A row's KPIs are those of the base scenario with the row's values, protocol and seed."""
    plan = load_sweep_file(write_sweep(tmp_path, SMALL))
    assert main(["sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"), "--jobs", "2", "--quiet"]) == 0
    rows = load_sweep(tmp_path / "out" / "small")
    for job in (plan.jobs[1], plan.jobs[6]):
        scenario = load_scenario(QUICKSTART, {"protocol": job.protocol, "seed": job.seed}, sets=list(job.sets))
        expected = simulate(scenario, tables=False).summary
        got = rows.loc[rows["run_id"] == job.run_id].iloc[0]
        assert {k: got[k] for k in expected["kpis"]} == pytest.approx(expected["kpis"], nan_ok=True)
        assert got["events"] == expected["events_processed"]
    assert (rows["status"] == "ok").all() and rows["error"].eq("").all()
    # the outage matters, and so does the protocol: the sweep really varies what it says
    by = rows.set_index(["protocol", "links[1].outages[0].for", "seed"]).sort_index()
    assert (by.loc["none", "rebaselines"] >= 1).all() and (by.loc["softlock", "rebaselines"] == 0).all()
    held = by.loc["softlock", "lock_space_byte_hours"]
    assert held.loc[72000.0].min() > held.loc[7200.0].max()


@pytest.mark.parametrize("method", ["random", "latin_hypercube"])
def test_samples_stay_in_their_interval_and_depend_only_on_their_seed(tmp_path, method):
    body = f"""\
name: s
parameters:
  snapshot_policies.hourly.keep: {{between: {{from: 2, to: 9}}}}
  links[1].outages[0].for: {{between: {{from: 1h, to: 30h}}}}
  mirrors[1].schedule: {{values: ["0 */4 * * *", "0 */2 * * *"]}}
sample: {{method: {method}, count: 12, seed: 5}}
"""
    plan = load_sweep_file(write_sweep(tmp_path, body))
    again = load_sweep_file(write_sweep(tmp_path, body, "again.yaml"))
    other = load_sweep_file(write_sweep(tmp_path, body.replace("seed: 5", "seed: 6"), "other.yaml"))
    assert [j.sets for j in plan.jobs] == [j.sets for j in again.jobs]
    assert [j.sets for j in plan.jobs] != [j.sets for j in other.jobs]
    assert len(plan.jobs) == 2 * 12
    values = np.array([j.values[:2] for j in plan.jobs[:12]], dtype=float)
    keeps, outages = values[:, 0], values[:, 1]
    assert set(keeps) <= set(map(float, range(2, 10))) and len(set(keeps)) > 3
    assert ((outages >= 3600) & (outages <= 30 * 3600)).all()
    if method == "latin_hypercube":  # one draw in each twelfth of the interval
        strata = np.floor((outages - 3600) / (29 * 3600) * 12)
        assert sorted(strata) == list(range(12))
    assert [p.kind for p in plan.parameters] == ["number", "duration", "text"]  # the file's order
    assert plan.jobs[0].values[2] == "0 */4 * * *" and plan.jobs[12].values[2] == "0 */2 * * *"


def test_seeds_may_be_listed(tmp_path):
    plan = load_sweep_file(write_sweep(tmp_path, "name: l\nseeds: [7, 3]\n"))
    assert [(j.protocol, j.seed) for j in plan.jobs] == [("none", 7), ("none", 3)]


BAD = [
    ("parameters:\n  duration: {values: [1d], step: 2}\n", 4, "parameters.duration.step", "unknown field"),
    ("parameters:\n  duration: {values: [8d, 2x]}\n", 4, "parameters.duration.values[1]", "'2x' is not a duration"),
    ("parameters:\n  duration: {range: {from: 1d, to: 2TiB, step: 1h}}\n", 4, "parameters.duration.range",
     "mix duration and size"),
    ("parameters:\n  duration: {values: [1d], range: {from: 1d, to: 2d, step: 1h}}\n", 4, "parameters.duration",
     "exactly one of values, range or between"),
    ("parameters:\n  duration: {between: {from: 1d, to: 2d}}\n", 3, "parameters", "add e.g. `sample:"),
    ("protocols: [none, softlok]\n", 3, "protocols", "unknown protocol"),
    ("seeds: 0\n", 3, "seeds", "at least 1"),
    ("seeds: true\n", 3, "seeds", "give a number of seeds per point (e.g. 10) or a list of seeds"),
    ("seeds: [1, 1]\n", 3, "seeds", "a seed is listed twice"),
    ("parameters:\n  mirrors[9].schedule: {values: ['0 * * * *']}\n", 4, 'parameters["mirrors[9].schedule"].values[0]',
     "mirrors has 2 items, no [9]"),
    ("parameters:\n  protocol: {values: [none]}\n", 4, "parameters.protocol", "use protocols:"),
    ("parameters:\n  '[\"protocol\"]': {values: [hard]}\n", 4, 'parameters["[\\"protocol\\"]"]', "use protocols:"),
    ("set:\n  seed: 5\n", 4, "set.seed", "use protocols: and seeds:"),
    ("parameters:\n  duration: {values: [1d]}\n  '[\"duration\"]': {values: [2d]}\n", 5,
     'parameters["[\\"duration\\"]"]', "the same field as parameter 'duration'"),
    ("parameters:\n  duration: {range: {from: 0, to: 1e300, step: 1e-300}}\n", 4, "parameters.duration.range",
     "more than 100,000 values"),
    ("seeds: 1000000000000\n", 3, "seeds", "more than the limit of 100,000"),
    ("parameters:\n  volumes[: {values: [1]}\n", 4, 'parameters["volumes["]', "cannot read the field path"),
    ("set:\n  duration: 2d\n", 3, "set", "starts after the end of the run"),
    ("parameters:\n  snapshot_policies.hourly.keep: {range: {from: 1, to: 200000, step: 1}}\n", 4,
     'parameters["snapshot_policies.hourly.keep"].range', "the limit of runs"),
]


@pytest.mark.parametrize(("body", "line", "field", "words"), BAD, ids=[b[2] for b in BAD])
def test_a_sweep_file_with_a_mistake_is_refused_with_its_line_and_field(tmp_path, capsys, body, line, field, words):
    path = write_sweep(tmp_path, "name: bad\n" + body)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: {field}: " in err and words in err, err
    assert not (tmp_path / "out").exists(), "nothing is written for a sweep that is refused"


def test_a_missing_base_scenario_and_a_non_mapping_are_refused(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nscenario: nowhere.yaml\n")
    assert main(["sweep", str(path)]) == 2
    assert f"{path}:2: scenario: the base scenario" in capsys.readouterr().err
    path.write_text("- a list\n")
    assert main(["sweep", str(path)]) == 2
    assert "a sweep file is a mapping" in capsys.readouterr().err


def test_a_combination_the_scenario_refuses_is_recorded_as_invalid_and_the_sweep_goes_on(tmp_path, capsys):
    path = write_sweep(tmp_path, """\
name: combo
set:
  links[1].outages[0].at: 1d
parameters:
  duration: {values: [2d, 4d]}
  links[1].outages[0].at: {values: [1d, 3d]}
""")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 1
    rows = load_sweep(out / "combo")
    assert rows["status"].tolist() == ["ok", "invalid", "ok", "ok"]
    assert "starts after the end of the run" in rows.loc[1, "error"]
    assert np.isnan(rows.loc[1, "rebaselines"]) and pd.isna(rows.loc[1, "events"])
    assert "1 invalid" in capsys.readouterr().out
    # --retry-failed runs it again: still invalid, and still one row per run
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--resume", "--retry-failed"]) == 1
    again = load_sweep(out / "combo")
    assert outcome_columns(again).equals(outcome_columns(rows))
    assert len(list((out / "combo" / RUNS_DIR).glob("part-*.parquet"))) == 2


# -- the dataset --------------------------------------------------------------------------

def test_an_existing_dataset_is_never_overwritten_unasked(tmp_path, capsys):
    path = write_sweep(tmp_path, SMALL.replace("seeds: 2", "seeds: 1").replace("[2h, 20h]", "[2h]"))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    first = load_sweep(out / "small")
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 2
    assert "exists: --resume continues it, --force starts it over" in capsys.readouterr().err
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--resume"]) == 0
    assert load_sweep(out / "small").equals(first), "resuming a complete sweep runs nothing"
    path.write_text("# a comment changes the file, not its runs\n" + path.read_text())
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--resume"]) == 0
    path.write_text(path.read_text().replace("seeds: 1", "seeds: 2"))
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--resume"]) == 2
    assert "the sweep's runs (values, protocols or seeds) changed since it was started" in capsys.readouterr().err
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--resume", "--force"]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert load_sweep(out / "small").equals(first)
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--force"]) == 0
    assert len(load_sweep(out / "small")) == 4


def test_a_second_sweep_into_the_same_dataset_is_refused_while_the_first_runs(tmp_path, capsys):
    path = write_sweep(tmp_path, SMALL)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    fd = os.open(out / "small" / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert main(["sweep", str(path), "--out", str(out), "--quiet", "--resume"]) == 2
        assert "another cascadesim sweep is writing into it" in capsys.readouterr().err
    finally:
        os.close(fd)


def _sweep_process(path: Path, out: Path) -> subprocess.Popen:
    """`cascadesim sweep` in a process of its own, marked in its environment by its --out path."""
    return subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(path), "--out", str(out), "--jobs", "2", "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TEST_MARK": str(out)})


def _wait_for_a_part(runs: Path, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (runs.exists() and any(runs.glob("part-*.parquet"))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


LONGER = SMALL.replace("seeds: 2", "seeds: 40").replace("duration: 3d", "duration: 5d")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The LONGER sweep run to the end in one go: its file and its rows."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    path = write_sweep(folder, LONGER)
    assert main(["sweep", str(path), "--out", str(folder / "out"), "--jobs", "2", "--quiet"]) == 0
    return path, outcome_columns(load_sweep(folder / "out" / "small"))


def _processes_marked(marker: str) -> set[int]:
    """Processes started with `TEST_MARK=marker` in their environment: a sweep process, its fork
    server and workers (which inherit it)."""
    found = set()
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and f"TEST_MARK={marker}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.add(int(proc.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_a_sweep_killed_halfway_resumes_to_the_same_dataset(tmp_path, uninterrupted, sig):
    path, expected = uninterrupted
    out = tmp_path / "out"
    process = _sweep_process(path, out)
    _wait_for_a_part(out / "small" / RUNS_DIR, process)
    process.send_signal(sig)
    process.communicate(timeout=60)  # returns once every process holding its output has ended, workers included
    assert process.returncode == {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    partial = load_sweep(out / "small")
    assert 0 < len(partial) < len(expected), "killed halfway: some runs recorded, not all"
    assert outcome_columns(partial).equals(expected.loc[expected["run_id"].isin(partial["run_id"])].reset_index(drop=True))

    assert main(["sweep", str(path), "--out", str(out), "--jobs", "2", "--quiet", "--resume"]) == 0
    assert outcome_columns(load_sweep(out / "small")).equals(expected)
    resumed = json.loads((out / "small" / "manifest.json").read_text())["resumed"]
    assert len(resumed) == 1


def test_the_workers_of_a_killed_sweep_end_with_it(tmp_path, uninterrupted):
    path, _expected = uninterrupted
    out = tmp_path / "out"
    process = _sweep_process(path, out)
    _wait_for_a_part(out / "small" / RUNS_DIR, process)
    assert len(_processes_marked(str(out))) >= 3, "the sweep, its fork server and its workers"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 30
    while left := _processes_marked(str(out)):
        assert time.monotonic() < deadline, f"processes of the killed sweep left running: {left}"
        time.sleep(0.1)


# -- executors ----------------------------------------------------------------------------

def test_a_dask_local_cluster_gives_the_same_dataset_as_local_processes(tmp_path):
    path = write_sweep(tmp_path, SMALL)
    assert main(["sweep", str(path), "--out", str(tmp_path / "local"), "--jobs", "2", "--quiet"]) == 0
    assert main(["sweep", str(path), "--out", str(tmp_path / "dask"), "--jobs", "2", "--quiet",
                 "--executor", "dask"]) == 0
    local, dask = (outcome_columns(load_sweep(tmp_path / where / "small")) for where in ("local", "dask"))
    assert len(local) == 8 and local.equals(dask)


def test_an_unreachable_scheduler_is_refused_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sim.experiments.executors.SCHEDULER_TIMEOUT_S", 2.0)
    path = write_sweep(tmp_path, SMALL)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler there" in err
    assert not (tmp_path / "out").exists(), "the executor is opened before the dataset is created"


def test_jobs_size_local_workers_only(tmp_path, capsys):
    path = write_sweep(tmp_path, SMALL)
    assert main(["sweep", str(path), "--scheduler", "tcp://127.0.0.1:9", "--jobs", "4"]) == 2
    assert "a Dask cluster at --scheduler has its own workers" in capsys.readouterr().err


def test_run_folders_on_request_hold_each_runs_results(tmp_path):
    from sim.results import load

    path = write_sweep(tmp_path, SMALL.replace("seeds: 2", "seeds: 1").replace("[2h, 20h]", "[2h]"))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet", "--run-folders"]) == 0
    rows = load_sweep(out / "small")
    for run_id, protocol, seed in rows[["run_id", "protocol", "seed"]].itertuples(index=False):
        results = load(out / "small" / "run-folders" / f"{run_id:06d}" / "quickstart" / f"{protocol}-seed{seed}")
        assert results.summary["kpis"]["bytes_transferred"] == rows.loc[run_id, "bytes_transferred"]
        assert results.summary["provenance"]["overrides"][-1] == 'links[1].outages[0].for="2h"'


def test_the_example_sweep_is_valid():
    plan = load_sweep_file(ROOT / "scenarios" / "sweeps" / "outage_vs_protocol.yaml")
    assert len(plan.jobs) == 9 * 4 * 10


def test_load_sweep_file_raises_scenario_error(tmp_path):
    with pytest.raises(ScenarioError) as caught:
        load_sweep_file(write_sweep(tmp_path, "name: x\nseeds: -1\n"))
    assert caught.value.problems[0].startswith(f"{tmp_path / 'sweep.yaml'}:3: seeds: ")


@pytest.mark.parametrize("sets", [['duration="2d"'], ['links[1].outages[0].for="2x"'], ["mirrors[5].x=1"],
                                  ['links[1].bandwidth="100Mbit/s"', "seed=7"]])
def test_a_document_parsed_once_takes_sets_as_a_fresh_parse_does(sets):
    """Workers parse the base file once and apply each run's values to a copy (`with_sets`):
    the same scenario, or the same problems with the same lines, and the parsed base unchanged."""
    from sim.scenario import parse_scenario, read_source
    from sim.scenario.load import with_sets

    source = read_source(QUICKSTART)
    base = parse_scenario(source)

    def outcome(make):
        try:
            return make().validate()
        except ScenarioError as err:
            return err.problems

    assert outcome(lambda: with_sets(base, sets)) == outcome(lambda: parse_scenario(source, sets=sets))
    assert base.validate() == load_scenario(QUICKSTART)


def test_a_sweep_runs_on_an_existing_dask_cluster_with_the_same_rows(tmp_path):
    """`--scheduler`: a scheduler and two workers started as a user would (`dask scheduler`, `dask worker`)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{port}"
    cluster = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        cluster.append(subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        path = write_sweep(tmp_path, SMALL)
        assert main(["sweep", str(path), "--out", str(tmp_path / "local"), "--jobs", "1", "--quiet"]) == 0
        assert main(["sweep", str(path), "--out", str(tmp_path / "cluster"), "--quiet", "--scheduler", address]) == 0
        local, remote = (outcome_columns(load_sweep(tmp_path / where / "small")) for where in ("local", "cluster"))
        assert local.equals(remote)
    finally:
        for process in cluster:
            process.terminate()
        for process in cluster:
            process.wait(timeout=30)


DEEP_CHAIN = "name: deep\nseed: 1\nduration: 1d\nappliances:\n" + "".join(f"  N{i}: {{capacity: 4TiB}}\n" for i in range(8)) \
    + "links:\n" + "".join(f"  - {{between: [N{i}, N{i + 1}], bandwidth: 10Gbit/s, latency: 1ms}}\n" for i in range(7)) \
    + "volumes:\n  N0:/vol/v: {size: 1GiB, change_rate: 1GiB/h}\n" \
    + "snapshot_policies:\n  p: {schedule: '0 * * * *', keep: 6, label: hourly, volumes: [N0:/vol/v]}\n" \
    + "mirrors:\n" + "".join(f"  - {{source: N{i}:/vol/v, destination: N{i + 1}:/vol/v, schedule: '* * * * *'}}\n"
                             for i in range(7))


def test_each_value_is_checked_under_every_protocol(tmp_path, capsys):
    """The limits depend on the protocol: a value only `softlock` cannot run is refused up front."""
    (tmp_path / "deep.yaml").write_text(DEEP_CHAIN)
    path = tmp_path / "sweep.yaml"
    path.write_text("name: deep\nscenario: deep.yaml\nparameters:\n  duration:\n    values: [1d, 90d]\n"
                    "protocols: [none, softlock]\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5: parameters.duration.values[1]: the base scenario refuses it" in err and "lock records" in err
    path.write_text(path.read_text().replace("[none, softlock]", "[none]"))
    assert len(load_sweep_file(path).jobs) == 2


def test_two_sweeps_into_one_new_dataset_never_replace_each_other(tmp_path):
    """The second finds the first's dataset, held: refused, even with --force."""
    from sim.cli import _sweep_manifest
    from sim.results.plan import OutputError
    from sim.results.sweep_dataset import open_dataset

    plan = load_sweep_file(write_sweep(tmp_path, SMALL))
    folder = tmp_path / "out" / "small"
    with open_dataset(folder, _sweep_manifest(plan), "a", "b") as first:
        for flags in ({}, {"resume": True}, {"force": True}):
            with pytest.raises(OutputError, match="exists|another cascadesim sweep is writing into it"), \
                    open_dataset(folder, _sweep_manifest(plan), "c", "d", **flags):
                pass
        first.append([])
    assert (folder / "sweep.yaml").read_text() == "a"


def test_quantities_are_written_so_the_scenario_reads_them_back(tmp_path):
    """Zero durations are durations, tiny and huge numbers are written without an exponent, dates
    and non-ASCII text reach the scenario as they were written."""
    plan = load_sweep_file(write_sweep(tmp_path, """\
name: q
parameters:
  links[1].outages[0].at: {values: [0s, 6h]}
  links[0].latency: {between: {from: 0.01ms, to: 0.2ms}}
  start: {values: [2024-01-01, 2025-06-30]}
  holds: {values: [[], [{volume: "A:/vol/db", owner: "backup é😀", label: hourly, for: 2h}]]}
sample: {method: random, count: 3, seed: 1}
"""))
    assert [p.kind for p in plan.parameters] == ["duration", "duration", "text", "text"]
    assert sorted({j.values[0] for j in plan.jobs}) == [0.0, 21600.0]
    for job in plan.jobs:
        assert "e-" not in job.sets[1] and "e+" not in job.sets[1]
        scenario = load_scenario(QUICKSTART, sets=list(job.sets))
        assert scenario.links[0].latency == pytest.approx(job.values[1], abs=1e-6)  # read to the microsecond
        assert str(scenario.start.date()) == job.values[2]
        assert [h.owner for h in scenario.holds] in ([], ["backup é😀"])


def test_an_output_folder_under_a_file_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    path = write_sweep(tmp_path, SMALL)
    assert main(["sweep", str(path), "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    assert "is not a folder" in capsys.readouterr().err


_real_run_one = sweep_module.run_one


def run_one_killing_run_3(base, job, enforce_limits=True, folder=None):
    """`run_one`, but the worker running run 3 dies as if the system killed it (out of memory)."""
    if job.run_id == 3:
        os._exit(9)
    return _real_run_one(base, job, enforce_limits, folder)


def test_a_run_that_kills_its_worker_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """The runs in flight when the pool broke go again alone: only the guilty one is an error."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sim.cli import _sweep_manifest
    from sim.experiments.executors import Workers
    from sim.results.sweep_dataset import open_dataset

    path = write_sweep(tmp_path, SMALL)
    assert main(["sweep", str(path), "--out", str(tmp_path / "whole"), "--jobs", "2", "--quiet"]) == 0
    expected = outcome_columns(load_sweep(tmp_path / "whole" / "small"))

    monkeypatch.setattr(sweep_module, "run_one", run_one_killing_run_3)  # forked workers inherit it

    @contextlib.contextmanager
    def forked(slots: int):
        with ProcessPoolExecutor(slots, mp_context=multiprocessing.get_context("fork")) as pool:
            yield Workers(pool, slots, "forked")

    plan = load_sweep_file(path)
    with open_dataset(tmp_path / "out" / "small", _sweep_manifest(plan), "", "") as dataset, forked(2) as workers:
        progress = sweep_module.run_sweep(plan, dataset, workers, reopen=forked)
    assert (progress.done, progress.failed) == (8, 1)
    rows = outcome_columns(load_sweep(tmp_path / "out" / "small"))
    assert rows.loc[3, "status"] == "error" and rows.loc[3, "error"] == sweep_module.DIED
    others = rows.index != 3
    assert rows[others].equals(expected[others])

    with open_dataset(tmp_path / "stops" / "small", _sweep_manifest(plan), "", "") as dataset, forked(2) as workers, \
            pytest.raises(sweep_module.SweepBroken):
        sweep_module.run_sweep(plan, dataset, workers)  # nothing to reopen it with
    assert 3 not in set(load_sweep(tmp_path / "stops" / "small")["run_id"])


def test_validate_checks_sweep_files_like_scenarios(tmp_path, capsys):
    """`cascadesim validate` tells a sweep file by its top-level `scenario:` field."""
    good = write_sweep(tmp_path, SMALL)
    bad = write_sweep(tmp_path, "name: bad\nseeds: 0\n", "bad.yaml")
    assert main(["validate", str(good), str(ROOT / "scenarios" / "quickstart.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"{good}: ok (sweep small: 8 runs of quickstart.yaml)" in out and "ok (quickstart)" in out
    assert main(["validate", str(good), str(bad)]) == 2
    assert f"{bad}:3: seeds: the number of seeds per point must be at least 1" in capsys.readouterr().err
    assert main(["validate", str(good), "--set", "seed=3"]) == 2
    assert "--set: applies to scenario files" in capsys.readouterr().err
    assert main(["validate", str(ROOT / "scenarios" / "sweeps")]) == 0


def test_ctrl_c_on_a_dask_local_cluster_stops_the_sweep_quietly(tmp_path):
    """A terminal's Ctrl-C goes to the whole process group: the cluster's processes ignore it
    (they are closed with the sweep), so the sweep exits 130 and no worker prints its
    KeyboardInterrupt. (Dask's client may still log a future it cancelled on the way out.)"""
    path = write_sweep(tmp_path, SMALL.replace("seeds: 2", "seeds: 200"))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(path), "--out", str(out), "--jobs", "2",
                                "--quiet", "--executor", "dask"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_a_part(out / "small" / RUNS_DIR, process)
    os.killpg(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "KeyboardInterrupt" not in err, err
    assert 0 < len(load_sweep(out / "small")) < 800
