"""`cascadesim check`: bounds of every kind against measured outcomes, exit codes, parallel
runs printed in a fixed order with their times, and `--update` suggestions that, pasted by
hand, make the check pass (the library itself is checked in test_library.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import chain_document, dump_yaml
from ruamel.yaml import YAML

from sim.cli import main
from sim.engine.model import simulate
from sim.experiments.expect import check_kpis, describe, holds, suggest
from sim.experiments.library import load_library, run_library
from sim.scenario import Bound, load_scenario

TIMING = re.compile(r"^ +(\S+) +(\d+) runs? in ([\d.]+ (?:ms|s|min))  \((.+), sha256 [0-9a-f]{12}\)$")
VOLUMES = {"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h", "change_variability": 0.5}}
"""The small chain's volume with bursty writes, so that seeds differ."""
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed; (\d+) runs of (\d+) scenarios in [\d.]+ (ms|s|min) on \d+ process(es)?$")


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, dict[int, dict[str, float]]]:
    """KPIs of the small chain under none and softlock, seeds 1 to 3, run directly."""
    path = tmp_path_factory.mktemp("measured") / "chain.yaml"
    path.write_text(dump_yaml(chain_document(volumes=VOLUMES)))
    scenario = load_scenario(path)
    return {protocol: {seed: simulate(scenario.model_copy(update={"protocol": protocol, "seed": seed})).summary["kpis"]
                       for seed in (1, 2, 3)}
            for protocol in ("none", "softlock")}


def write_check(tmp_path: Path, expect: dict[str, Any], name: str = "chain", **changes: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_yaml(chain_document(name=name, expect=expect, volumes=VOLUMES, **changes)))
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def rows(lines: list[str]) -> list[list[str]]:
    """The verdict rows: status, scenario, protocol, kpi, then the rest."""
    return [line.split(None, 4) for line in lines if line.startswith(("pass ", "FAIL "))]


def test_exact_and_range_bounds_pass_with_the_measured_value_printed(tmp_path, capsys, measured):
    none, soft = measured["none"][1], measured["softlock"][1]
    expect = {"none": {"bytes_transferred": none["bytes_transferred"], "updates_completed": {"min": 1},
                       "max_lag_s": {"min": none["max_lag_s"] - 1, "max": none["max_lag_s"] + 1}},
              "softlock": {"lock_messages": soft["lock_messages"], "rebaselines": {"max": 0}}}
    path = write_check(tmp_path, expect)
    code, lines, err = check(capsys, str(path))
    assert code == 0 and err == ""
    in_file = YAML(typ="rt").load(path.read_text())["expect"]
    assert [r[:4] for r in rows(lines)] == [["pass", "chain", protocol, kpi]  # in the order of the file
                                            for protocol, bounds in in_file.items() for kpi in bounds]
    assert len(rows(lines)) == 5
    completed = next(r for r in rows(lines) if r[3] == "updates_completed")[4]
    assert completed.split()[0] == str(none["updates_completed"]) and completed.endswith(">= 1")
    assert SUMMARY.match(lines[-1]).groups()[:4] == ("5", "0", "2", "1")  # type: ignore[union-attr]


def test_a_moved_outcome_fails_with_exit_1(tmp_path, capsys, measured):
    updates = measured["none"][1]["updates_completed"]
    code, lines, _err = check(capsys, str(write_check(tmp_path, {"none": {"updates_completed": updates + 1}})))
    assert code == 1
    [row] = rows(lines)
    assert row[0] == "FAIL" and row[4].split() == [str(updates), "==", str(updates + 1)]
    assert SUMMARY.match(lines[-1]).groups()[:2] == ("0", "1")  # type: ignore[union-attr]


def test_bounds_over_seeds_use_every_seed_and_their_mean(tmp_path, capsys, measured):
    values = [measured["none"][seed]["bytes_transferred"] for seed in (1, 2, 3)]
    assert len(set(values)) == 3  # the seeds differ, so the mean is not any one run's value
    mean = sum(values) / 3
    expect = {"none": {"bytes_transferred": {"min": min(values), "max": max(values),
                                             "mean": {"min": mean * 0.999, "max": mean * 1.001}, "seeds": 3}}}
    [outcome] = run_library(load_library([write_check(tmp_path, expect)]), workers=1)
    assert [kpis["bytes_transferred"] for kpis in outcome.kpis["none"]] == values
    [verdict] = outcome.verdicts()
    assert verdict.passed and verdict.value == pytest.approx(mean) and verdict.values == tuple(values)
    assert outcome.runs == 3
    narrower = {"none": {"bytes_transferred": {"max": sorted(values)[1], "seeds": 3}}}  # one seed above it
    code, lines, _err = check(capsys, str(write_check(tmp_path, narrower)))
    assert code == 1 and rows(lines)[0][0] == "FAIL"


def test_update_prints_bounds_that_pass_once_pasted_and_writes_nothing(tmp_path, capsys, measured):
    none, soft = measured["none"], measured["softlock"][1]
    expect = {"none": {"updates_completed": none[1]["updates_completed"] + 5,
                       "bytes_transferred": {"max": 1.0},
                       "max_lag_s": {"min": 1.0, "max": 2.0},
                       "updates_skipped": {"min": 0},
                       "lock_space_byte_hours": {"mean": {"min": 1.0, "max": 2.0}, "seeds": 2, "tolerance": 0.5}},
              "softlock": {"lock_messages": {"min": soft["lock_messages"] + 1, "max": soft["lock_messages"] + 9}}}
    path = write_check(tmp_path, expect)
    before = path.read_bytes()
    code, lines, _err = check(capsys, str(path), "--update")
    assert code == 1 and path.read_bytes() == before
    failing = {(r[2], r[3]) for r in rows(lines) if r[0] == "FAIL"}
    assert failing == {("none", "updates_completed"), ("none", "bytes_transferred"), ("none", "max_lag_s"),
                       ("none", "lock_space_byte_hours"), ("softlock", "lock_messages")}
    pasted = paste(path, lines[lines.index("# Bounds the measured outcomes meet, to paste by hand (no file was changed):") + 1:])
    assert pasted == failing
    code, lines, _err = check(capsys, str(path))
    assert code == 0, lines
    document = YAML(typ="rt").load(path.read_text())
    assert document["expect"]["none"]["updates_completed"] == none[1]["updates_completed"]
    assert document["expect"]["none"]["lock_space_byte_hours"] == {"mean": {"min": 0, "max": 2}, "tolerance": 0.5,
                                                                     "seeds": 2}


def paste(path: Path, suggestion_lines: list[str]) -> set[tuple[str, str]]:
    """Do what the person does with `--update`'s output: put each printed bound into the
    file's expect: block. Returns the (protocol, kpi) bounds replaced."""
    assert suggestion_lines[0] == f"# {path}: replace these bounds of its expect: block"
    printed = YAML(typ="rt").load(io.StringIO("\n".join(suggestion_lines[1:])))
    document = YAML(typ="rt").load(path.read_text())
    replaced = set()
    for protocol, bounds in printed["expect"].items():
        for kpi, bound in bounds.items():
            document["expect"][protocol][kpi] = bound
            replaced.add((protocol, kpi))
    stream = io.StringIO()
    YAML(typ="rt").dump(document, stream)
    path.write_text(stream.getvalue())
    return replaced


def test_parallel_runs_print_in_library_order_with_each_scenario_time(tmp_path, capsys, measured):
    for name in ("b_second", "a_first", "c_third"):
        write_check(tmp_path, {"none": {"rebaselines": {"min": 0}}, "softlock": {"rebaselines": 0}}, name=name)
    outputs = []
    for jobs in ("1", "2"):
        code, lines, _err = check(capsys, str(tmp_path), "--jobs", jobs)
        assert code == 0
        timings = [TIMING.match(line) for line in lines if TIMING.match(line)]
        assert [(m.group(1), m.group(2), m.group(4)) for m in timings] == [  # type: ignore[union-attr]
            (name, "2", str(tmp_path / f"{name}.yaml")) for name in ("a_first", "b_second", "c_third")]
        outputs.append([line for line in lines if line.startswith(("pass", "FAIL"))])
    assert outputs[0] == outputs[1]


def test_check_refuses_bad_input_before_running_anything(tmp_path, capsys):
    write_check(tmp_path, {"none": {"rebaselines": 0}}, name="good")
    write_check(tmp_path, {"none": {"happiness": 0}}, name="bad_kpi")
    (tmp_path / "bad_yaml.yaml").write_text("name: [x\n")
    code, lines, err = check(capsys, str(tmp_path))
    assert code == 2 and lines == []
    problems = err.splitlines()
    assert [p.split(":")[0] for p in problems] == [str(tmp_path / "bad_kpi.yaml"), str(tmp_path / "bad_yaml.yaml")]
    assert "expect.none.happiness: Input should be" in problems[0]
    code, _lines, err = check(capsys, str(tmp_path / "missing"))
    assert code == 2 and "cannot read" in err


def test_a_scenario_without_expect_is_reported_and_not_run(tmp_path, capsys):
    path = tmp_path / "plain.yaml"
    path.write_text(dump_yaml(chain_document()))
    code, lines, _err = check(capsys, str(path))
    assert code == 0
    assert f"{path}: no expect: block" in lines[2]
    assert SUMMARY.match(lines[-1]).groups()[:4] == ("0", "0", "0", "1")  # type: ignore[union-attr]


@pytest.mark.parametrize(("bound", "values", "passes", "text"), [
    ({"min": 2, "max": 2}, [2], True, "== 2"),
    ({"min": 2, "max": 2}, [3], False, "== 2"),
    ({"min": 1}, [1], True, ">= 1"),
    ({"max": 1}, [1.5], False, "<= 1"),
    ({"min": 1, "max": 3}, [3], True, "in [1, 3]"),
    ({"min": 2, "max": 2, "tolerance": 0.5}, [2.5], True, "== 2 ± 0.5"),
    ({"min": 2, "max": 2, "tolerance": 0.5}, [2.6], False, "== 2 ± 0.5"),
    ({"max": 0, "seeds": 3}, [0, 0, 1], False, "each <= 0 over 3 seeds"),
    ({"max": 0, "seeds": 3}, [0, 0, 0, 9], True, "each <= 0 over 3 seeds"),  # a fourth seed is not this bound's
    ({"mean": {"min": 1, "max": 2}, "seeds": 2}, [0, 3], True, "mean in [1, 2] over 2 seeds"),
    ({"mean": {"min": 1, "max": 1}, "tolerance": 0.4, "seeds": 2}, [0, 3], False, "mean == 1 ± 0.4 over 2 seeds"),
    ({"min": 0, "max": 5, "mean": {"max": 1}, "seeds": 2}, [0, 3], False, "each in [0, 5], mean <= 1 over 2 seeds"),
])
def test_bound_semantics(bound, values, passes, text):
    parsed = Bound.model_validate(bound)
    assert holds(parsed, values) is passes
    assert describe(parsed) == text
    [verdict] = check_kpis("none", {"rebaselines": parsed}, [{"rebaselines": v} for v in values])
    assert verdict.passed is passes
    assert holds(Bound.model_validate(YAML(typ="safe").load(suggest(parsed, verdict))), values)
