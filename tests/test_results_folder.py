"""Results are never lost or mixed: output paths checked before the run, folders replaced so that a
complete one always exists (whatever kills the writer, and when), writers taking turns, another
scenario file's results kept, compare tables that agree with their folders, leftovers cleaned,
and incomplete folders refused by `load`."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, chain_document, dump_yaml, rewrite_summary

from sim.cli import main
from sim.engine.model import run_whole, simulate
from sim.results import COMPLETE_FILE, SCHEMA_VERSION, ResultsError, load
from sim.results.folders import clean_leftovers, parent_lock, temp_path
from sim.results.plan import OutputError, plan_run_folder
from sim.results.write import write_results
from sim.scenario import load_scenario

DAY = 86400


def chain(tmp_path: Path, file_name: str = "chain.yaml", **changes) -> Path:
    path = tmp_path / file_name
    path.write_text(dump_yaml(chain_document(**{"duration": "6h", **changes})))
    return path


def run(path: Path, out: Path, *extra: str) -> int:
    return main(["run", str(path), "--out", str(out), "--quiet", *extra])


def no_simulation(monkeypatch) -> None:
    """Make any simulation fail the test: the command must refuse before it starts one."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("the simulation started")
    monkeypatch.setattr("sim.cli.simulate_with_progress", refuse)


# -- names and paths, before the run -------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a" * 101])
def test_a_name_that_is_not_one_safe_folder_name_is_refused(tmp_path, capsys, name):
    out = tmp_path / "deep" / "out"
    code = run(chain(tmp_path, name=name), out)
    assert code == 2
    assert ": name: " in capsys.readouterr().err
    assert not (tmp_path / "deep").exists()


def test_a_name_of_dot_dot_cannot_reach_outside_out_even_past_validation(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "none-seed1").mkdir()
    (tmp_path / "precious" / "none-seed1" / "notes.txt").write_text("keep me")
    out = tmp_path / "precious" / "out"
    for name in ("..", ".", "../precious", "a/b"):
        with pytest.raises(OutputError):
            plan_run_folder(out, name, "none", 1, None)
    assert (tmp_path / "precious" / "none-seed1" / "notes.txt").read_text() == "keep me"


def test_the_longest_name_is_accepted(tmp_path):
    assert run(chain(tmp_path, name="n" * 100), tmp_path / "out") == 0


def test_out_pointing_at_a_file_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    no_simulation(monkeypatch)
    (tmp_path / "file").write_text("x")
    assert run(chain(tmp_path), tmp_path / "file") == 2
    assert capsys.readouterr().err == f"--out {tmp_path / 'file'}: not a folder\n"
    assert run(chain(tmp_path), tmp_path / "file" / "below") == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into: immutable for root (chattr +i), mode 0555 for others."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root on a filesystem without chattr +i: root can write anywhere")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_a_read_only_out_is_refused_before_the_run(tmp_path, read_only, capsys, monkeypatch):
    no_simulation(monkeypatch)
    assert run(chain(tmp_path), read_only / "out") == 2
    assert capsys.readouterr().err == f"--out {read_only / 'out'}: {read_only} is not writable\n"


def test_compare_checks_every_output_path_before_the_first_run(tmp_path, capsys, monkeypatch):
    no_simulation(monkeypatch)
    path = chain(tmp_path)
    (tmp_path / "out" / "chain" / "softlock-seed1").mkdir(parents=True)
    (tmp_path / "out" / "chain" / "softlock-seed1" / "mine.txt").write_text("not a result")
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(tmp_path / "out")]) == 2
    assert "softlock-seed1 exists and is not a complete cascadesim results folder" in capsys.readouterr().err
    assert not (tmp_path / "out" / "chain" / "none-seed1").exists()


# -- what is already there -----------------------------------------------------------------


def test_an_unrelated_folder_at_the_target_is_kept_unless_forced(tmp_path, capsys):
    target = tmp_path / "out" / "chain" / "none-seed1"
    target.mkdir(parents=True)
    (target / "thesis.tex").write_text("five years of work")
    assert run(chain(tmp_path), tmp_path / "out") == 2
    assert "not a complete cascadesim results folder" in capsys.readouterr().err
    assert (target / "thesis.tex").read_text() == "five years of work"
    assert run(chain(tmp_path), tmp_path / "out", "--force") == 0
    assert load(target).summary["scenario"] == "chain"


def test_a_file_at_the_target_is_kept_unless_forced(tmp_path, capsys):
    target = tmp_path / "out" / "chain" / "none-seed1"
    target.parent.mkdir(parents=True)
    target.write_text("a file that happens to have this name")
    assert run(chain(tmp_path), tmp_path / "out") == 2
    assert "exists and is not a folder (--force replaces it)" in capsys.readouterr().err
    assert run(chain(tmp_path), tmp_path / "out", "--force") == 0
    assert load(target).summary["scenario"] == "chain"
    assert [p.name for p in target.parent.iterdir()] == ["none-seed1"]


def test_another_scenario_file_with_the_same_name_does_not_overwrite_results(tmp_path, capsys):
    first = chain(tmp_path, "first.yaml")
    second = chain(tmp_path, "second.yaml", duration="4h")
    out = tmp_path / "out"
    assert run(first, out) == 0
    assert run(first, out) == 0  # the same file again replaces its own results
    capsys.readouterr()
    assert run(second, out) == 2
    err = capsys.readouterr().err
    assert "holds the results of another scenario file (first.yaml" in err and "--force replaces it" in err
    assert load(out / "chain" / "none-seed1").summary["provenance"]["scenario_file"] == "first.yaml"
    assert run(second, out, "--force") == 0
    assert load(out / "chain" / "none-seed1").summary["provenance"]["scenario_file"] == "second.yaml"


def test_a_folder_of_another_schema_version_from_the_same_file_is_replaced(tmp_path):
    path, out = chain(tmp_path), tmp_path / "out"
    assert run(path, out) == 0
    folder = out / "chain" / "none-seed1"
    old = {k: v for k, v in json.loads((folder / "summary.json").read_text()).items() if k != "schema_version"}
    rewrite_summary(folder, old)  # as an earlier cascadesim wrote it
    with pytest.raises(ResultsError, match="has no schema_version"):
        load(folder)
    assert run(path, out) == 0
    assert load(folder).summary["schema_version"] == SCHEMA_VERSION


def test_load_refuses_a_folder_its_writer_did_not_finish(tmp_path):
    out = tmp_path / "out"
    assert run(chain(tmp_path), out) == 0
    folder = out / "chain" / "none-seed1"
    half = shutil.copytree(folder, tmp_path / "half")
    (half / COMPLETE_FILE).unlink()
    with pytest.raises(ResultsError, match="no complete.json"):
        load(half)
    half_deleted = shutil.copytree(folder, tmp_path / "half_deleted")
    (half_deleted / "report.html").unlink()  # a folder half removed by rmtree: the marker survived
    with pytest.raises(ResultsError, match="missing report.html"):
        load(half_deleted)
    truncated = shutil.copytree(folder, tmp_path / "truncated")
    (truncated / "locks.parquet").write_bytes(b"")
    with pytest.raises(ResultsError, match="locks.parquet changed since it was written"):
        load(truncated)
    assert load(folder).kpis["rebaselines"] == 0


# -- leftovers, writers taking turns, compare tables --------------------------------------------


def test_leftovers_of_killed_writers_are_cleaned_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    assert run(chain(tmp_path), out) == 0
    scenario_dir = out / "chain"
    staging = temp_path(scenario_dir, "new", "none-seed1")
    staging.mkdir()
    (staging / "events.parquet").write_bytes(b"x" * 1000)
    legacy = scenario_dir / ".softlock-seed1-k3j_x9ab"  # what cascadesim 0.1 left behind
    legacy.mkdir()
    part = temp_path(scenario_dir, "tmp", "compare-seed1.csv")
    part.write_text("kpi,none\n")
    mine = scenario_dir / ".my-notes"
    mine.mkdir()
    assert run(chain(tmp_path), out) == 0
    assert sorted(p.name for p in scenario_dir.iterdir()) == [".my-notes", "none-seed1"]


def test_a_folder_moved_aside_by_a_writer_killed_between_its_renames_is_restored(tmp_path, monkeypatch):
    """Where renameat2 cannot exchange folders, the old folder is renamed aside, then the new one
    in. A writer killed between the two leaves no folder at the final path: the next writer puts
    the old one back before anything else."""
    scenario = load_scenario(chain(tmp_path))
    out = tmp_path / "out"
    folder = write_results(simulate(scenario), out)
    monkeypatch.setattr("sim.results.folders._exchange", lambda a, b: False)
    renames = []
    real_rename = Path.rename

    def killed_on_second_rename(self, target):
        renames.append(self.name)
        if len(renames) == 2:
            raise SystemExit("killed")  # the writer dies here, between its two renames
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", killed_on_second_rename)
    with pytest.raises(SystemExit):
        write_results(simulate(scenario.model_copy(update={"duration": 2 * 3600.0})), out)
    monkeypatch.setattr(Path, "rename", real_rename)
    assert not folder.exists()
    [aside] = [p for p in folder.parent.iterdir() if p.name.startswith(".cascadesim-old-none-seed1-")]
    with parent_lock(folder.parent):
        clean_leftovers(folder.parent, COMPLETE_FILE)
    assert load(folder).summary["duration_s"] == 6 * 3600
    assert [p.name for p in folder.parent.iterdir()] == ["none-seed1"]
    folder = write_results(simulate(scenario.model_copy(update={"duration": 2 * 3600.0})), out)  # and the fallback works
    assert load(folder).summary["duration_s"] == 2 * 3600 and not aside.exists()


def test_writers_into_one_scenario_folder_take_turns(tmp_path):
    path = chain(tmp_path)
    out = tmp_path / "out"
    scenario_dir = out / "chain"
    with parent_lock(scenario_dir):  # another writer is busy in this folder
        proc = subprocess.Popen([sys.executable, "-m", "sim", "run", str(path), "--out", str(out), "--quiet"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stderr.readline()
        assert line == f"cascadesim: waiting for another cascadesim writing into {scenario_dir}\n"
        time.sleep(0.5)
        assert proc.poll() is None and list(scenario_dir.iterdir()) == []
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert load(scenario_dir / "none-seed1").kpis["rebaselines"] == 0


def test_compare_tables_always_agree_with_the_folders_next_to_them(tmp_path, capsys, monkeypatch):
    path = chain(tmp_path)
    out = tmp_path / "out"
    csv = out / "chain" / "compare-seed1.csv"
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(csv, index_col="kpi")
    assert list(table.columns) == ["none", "softlock"]
    for protocol in table.columns:
        assert table[protocol].to_dict() == load(out / "chain" / f"{protocol}-seed1").kpis
    # A run that replaces one of its folders removes the table (and its figure) that summarised it.
    assert run(path, out, "--protocol", "softlock", "--set", "duration=2h") == 0
    assert not csv.exists() and not csv.with_suffix(".png").exists()
    # A compare interrupted after its first run leaves no table at all, not a stale one.
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(out), "--quiet"]) == 0
    real = run_whole

    def interrupted_on_softlock(scenario, *options):
        if scenario.protocol == "softlock":
            raise KeyboardInterrupt
        return real(scenario, *options)

    monkeypatch.setattr("sim.engine.model.run_whole", interrupted_on_softlock)
    capsys.readouterr()
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(out), "--quiet",
                 "--set", "duration=3h"]) == 130
    assert not csv.exists()
    assert load(out / "chain" / "none-seed1").summary["duration_s"] == 3 * 3600
    assert sorted(p.name for p in (out / "chain").iterdir()) == ["none-seed1", "softlock-seed1"]


# -- kills at random points of the write phase --------------------------------------------------


def _kill_during_write(path: Path, out: Path, signum: int, delay_s: float) -> tuple[int, float]:
    """Start `cascadesim run`, wait until its staging folder appears, then `delay_s` more, and send
    `signum`; returns its exit code (negative: killed by that signal) and the seconds from the
    staging folder's appearance to its exit."""
    scenario_dir = out / "chain"
    proc = subprocess.Popen([sys.executable, "-m", "sim", "run", str(path), "--out", str(out), "--quiet",
                             "--set", "duration=8h"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None and not any(p.name.startswith(".cascadesim-new-") for p in scenario_dir.iterdir()):
        time.sleep(0.001)
    staged = time.perf_counter()
    try:
        code = proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signum)
        code = proc.wait(timeout=60)
    assert b"Traceback" not in proc.stderr.read()
    return code, time.perf_counter() - staged


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_kill_at_any_point_of_the_write_phase_leaves_the_old_or_the_new_folder_and_nothing_else(tmp_path, signum):
    path = chain(tmp_path)
    out = tmp_path / "out"
    folder = out / "chain" / "none-seed1"
    assert run(path, out) == 0  # the old result: 6 hours
    pristine = shutil.copytree(folder, tmp_path / "pristine")
    code, write_phase_s = _kill_during_write(path, out, signal.SIGKILL, 120.0)  # a whole write
    assert code == 0
    rng = random.Random(signum)
    points = [(k + rng.random()) / 6 * write_phase_s for k in range(6)]  # spread over the write phase
    durations = set()
    for delay_s in points:
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)  # back to the old result
        code, _seconds = _kill_during_write(path, out, signum, delay_s)
        duration = load(folder).summary["duration_s"]  # a complete folder is there, old or new
        assert duration in (6 * 3600, 8 * 3600)
        assert code != 0 or duration == 8 * 3600, (code, delay_s)
        durations.add(duration)
        left = sorted(p.name for p in folder.parent.iterdir())
        if signum == signal.SIGINT:
            # Ctrl-C cleans up after itself (-SIGINT: it came while the interpreter shut down, after the run)
            assert code in (0, 130, -signal.SIGINT) and left == ["none-seed1"], (code, left)
        else:
            assert code in (0, -signal.SIGKILL)
            with parent_lock(folder.parent):  # what the next writer does first
                clean_leftovers(folder.parent, COMPLETE_FILE)
            assert sorted(p.name for p in folder.parent.iterdir()) == ["none-seed1"]
            assert load(folder).summary["duration_s"] == duration
    assert 6 * 3600 in durations  # some kills landed before the new folder was in place


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_simulation_ends_quietly_and_leaves_nothing(tmp_path, capsys, monkeypatch, signum, code):
    def signalled(*_args, **_kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(5)
        raise AssertionError("the signal did not end the run")
    monkeypatch.setattr("sim.cli.simulate_with_progress", signalled)
    assert run(chain(tmp_path), tmp_path / "out") == code
    assert capsys.readouterr() == ("", "")
    assert not (tmp_path / "out").exists()


def test_a_closed_pipe_ends_quietly(tmp_path):
    path = chain(tmp_path, duration="30d",
                 snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 1000,
                                               "volumes": ["A:/vol/v"]}})
    shell = f"{sys.executable} -m sim locks {path} --at 29d --protocol softlock | head -1; echo \"${{PIPESTATUS[0]}}\" >&2"
    done = subprocess.run(["bash", "-c", shell], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.startswith("t = 29 d (")
    assert done.stderr == "141\n"  # the exit status, and nothing else: no traceback


def test_ctrl_c_while_a_first_run_writes_leaves_no_folder_it_created(tmp_path, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("sim.results.write.write_plots", interrupted)
    (tmp_path / "out").mkdir()
    assert run(chain(tmp_path), tmp_path / "out" / "new" / "deeper") == 130
    assert list((tmp_path / "out").iterdir()) == []  # what it created is gone; what existed stays


def test_a_waiting_writer_survives_the_writer_before_removing_the_folder_it_created(tmp_path):
    path = chain(tmp_path)
    out = tmp_path / "out"
    scenario_dir = out / "chain"
    with parent_lock(scenario_dir):  # a first writer, which will fail and remove the folder it made
        proc = subprocess.Popen([sys.executable, "-m", "sim", "run", str(path), "--out", str(out), "--quiet"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr.readline().startswith("cascadesim: waiting for another cascadesim")
        scenario_dir.rmdir()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert load(scenario_dir / "none-seed1").kpis["rebaselines"] == 0
