"""`--set PATH=VALUE`: a field overridden from the command line is validated like the file,
changes the run, and is recorded in the summary; a bad override is a clean refusal."""

from __future__ import annotations

import json
import shlex

import pandas as pd
import pytest
from conftest import chain_document, dump_yaml

from sim.cli import main
from sim.scenario import ScenarioError, load_scenario, parse_set_path

GIB = 2**30


@pytest.fixture
def chain(write_scenario):
    """A -> B -> C over two days; B -> C every two hours (24 firings)."""
    return write_scenario(chain_document())


def run(path, tmp_path, *sets: str, protocol: str = "none") -> dict:
    args = ["run", str(path), "--protocol", protocol, "--out", str(tmp_path / "out")]
    for text in sets:
        args += ["--set", text]
    assert main(args) == 0
    return json.loads((tmp_path / "out" / "chain" / f"{protocol}-seed1" / "summary.json").read_text())


def firings(summary: dict, relationship: str) -> int:
    rel = summary["relationships"][relationship]
    return rel["updates_completed"] + rel["updates_skipped"]


def test_a_schedule_override_changes_the_run_and_is_recorded(chain, tmp_path):
    plain = run(chain, tmp_path)
    assert firings(plain, "B:/vol/v->C:/vol/v") == 24
    assert plain["provenance"]["overrides"] == []
    overridden = run(chain, tmp_path, "mirrors[1].schedule=0 */4 * * *")
    assert firings(overridden, "B:/vol/v->C:/vol/v") == 12  # two days of 4-hourly updates
    assert firings(overridden, "A:/vol/v->B:/vol/v") == firings(plain, "A:/vol/v->B:/vol/v")
    assert overridden["provenance"]["overrides"] == ["mirrors[1].schedule=0 */4 * * *"]


def test_values_are_yaml_flow_nodes_and_keys_may_be_quoted_or_new(chain, tmp_path):
    summary = run(chain, tmp_path, 'volumes["A:/vol/v"]={size: 50GiB, change_rate: 1GiB/h}',
                  "volumes.A:/vol/v.change_variability=0.5", "seed=7", "seed=1")
    transfers = pd.read_parquet(tmp_path / "out" / "chain" / "none-seed1" / "transfers.parquet")
    assert transfers["bytes"].iloc[0] == 50 * GIB  # the baseline sends the overridden size
    assert summary["seed"] == 1  # the last --set of a field wins
    assert len(summary["provenance"]["overrides"]) == 4


def test_compare_records_the_overrides_in_every_summary(chain, tmp_path):
    assert main(["compare", str(chain), "--protocols", "none,softlock", "--out", str(tmp_path),
                 "--set", "duration=1d"]) == 0
    for protocol in ("none", "softlock"):
        summary = json.loads((tmp_path / "chain" / f"{protocol}-seed1" / "summary.json").read_text())
        assert summary["duration_s"] == 86400 and summary["provenance"]["overrides"] == ["duration=1d"]


@pytest.mark.parametrize(("override", "field", "message"), [
    ("mirrors[1].schedule=every hour", "mirrors[1].schedule", "is not a cron schedule (five fields"),
    ("mirrors[1].schedule=", "mirrors[1].schedule", "Input should be a valid string"),
    ("volumes.A:/vol/v.size=-3GiB", "volumes.A:/vol/v.size", "a size must be positive"),
    ("volumes.A:/vol/v.colour=red", "volumes.A:/vol/v.colour", "unknown field"),
    ("mirrors[5].schedule=0 * * * *", "mirrors[5]", "mirrors has 2 items, no [5]"),
    ("volumes.X.size=1GiB", "volumes.X", "volumes has no field 'X'"),
    ("duration.days=2", "duration.days", "duration is a single value"),
    ("links[0].latency=[1", "links[0].latency", "cannot read the value '[1' as YAML"),
    ("seed=true", "seed", "Input should be a valid integer"),
    ("a..b=1", None, "cannot read the field path 'a..b'"),
    ("duration", None, "write PATH=VALUE"),
])
def test_a_bad_override_is_blamed_on_the_flag_not_on_the_file(chain, tmp_path, capsys, override, field, message):
    assert main(["run", str(chain), "--set", override, "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not (tmp_path / "out").exists()
    [problem] = err.splitlines()
    blame = f"{chain}: --set {shlex.quote(override)}: " + (f"{field}: " if field else "")
    assert problem.startswith(blame) and message in problem[len(blame):], problem


def test_overrides_apply_in_the_loader_so_every_command_validates_them(chain):
    assert load_scenario(chain, sets=["mirrors[-1].schedule=0 0 * * *"]).mirrors[1].schedule == "0 0 * * *"
    with pytest.raises(ScenarioError) as refused:
        load_scenario(chain, sets=["duration=20y"])
    assert "limit of 10 years" in refused.value.problems[0]
    assert load_scenario(chain, sets=["duration=20y"], enforce_limits=False).duration == pytest.approx(20 * 365.25 * 86400,
                                                                                                      rel=1e-2)


@pytest.mark.parametrize(("text", "loc"), [
    ("duration", ("duration",)),
    ("mirrors[1].schedule", ("mirrors", 1, "schedule")),
    ("volumes.A:/vol/db.size", ("volumes", "A:/vol/db", "size")),
    ('volumes["A:/vol/db.v2"].qtrees.q1.share', ("volumes", "A:/vol/db.v2", "qtrees", "q1", "share")),
    ("links[0].outages[-1].for", ("links", 0, "outages", -1, "for")),
])
def test_field_paths(text, loc):
    assert parse_set_path(text) == loc


@pytest.mark.parametrize("text", ["", ".duration", "a..b", "a.", "a[x]", "a]b", "[0]x"])
def test_malformed_field_paths(text):
    with pytest.raises(ValueError, match="field path"):
        parse_set_path(text)


def test_the_file_itself_is_not_changed(chain, tmp_path):
    before = chain.read_bytes()
    run(chain, tmp_path, "mirrors[1].schedule=0 */4 * * *")
    assert chain.read_bytes() == before
    assert dump_yaml(chain_document()).encode() == before
