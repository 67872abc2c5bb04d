"""Same scenario + seed = byte-identical Parquet tables and summary (wall time aside), across
runs and across processes, for every library scenario; and the summary says what produced it."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT, SCENARIOS, chain_document, dump_yaml
from ruamel.yaml import YAML

import sim
from sim.cli import main
from sim.engine.model import simulate
from sim.experiments.provenance import code_version
from sim.scenario import load_scenario, scenario_files

FILES = scenario_files([SCENARIOS])
SHORT = "3d"
"""The fleet runs for three days here instead of thirty, to keep the test fast (--set)."""


def run_args(path: Path, out: Path) -> list[str]:
    """`cascadesim run` arguments: the protocol with the most to record (softlock when the
    scenario's expect: block names it), and the fleet shortened with --set."""
    scenario = load_scenario(path)
    protocol = "softlock" if "softlock" in scenario.expect else next(iter(scenario.expect), "none")
    args = ["run", str(path), "--protocol", protocol, "--out", str(out)]
    if scenario.duration > 7 * 86400:
        args += ["--set", f"duration={SHORT}"]
        document = YAML(typ="safe").load(path.read_text())
        args += [arg for i, link in enumerate(document.get("links", [])) if link.get("outages")
                 for arg in ("--set", f"links[{i}].outages=[]")]
    return args


SUBPROCESS = """
import sys
import sim.results.write
import sim
from sim.cli import main
sim.results.write.write_plots = lambda results, folder, **_: None
for args in eval(sys.argv[1]):
    assert main(args) == 0
"""
"""Runs `cascadesim run` for each argument list in a fresh process, without the plots."""


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Each library scenario run here and once more in another process. Plots are not drawn:
    they are not part of the claim, and for the fleet they take longer than the run."""
    here, there = tmp_path_factory.mktemp("here"), tmp_path_factory.mktemp("there")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sim.results.write.write_plots", lambda results, folder, **_: None)
        for path in FILES:
            assert main(run_args(path, here)) == 0
    subprocess.run([sys.executable, "-c", SUBPROCESS, repr([run_args(path, there) for path in FILES])], check=True,
                   capture_output=True, cwd=ROOT)
    found = {}
    for path in FILES:
        [one] = [p for p in (here / load_scenario(path).name).iterdir() if p.is_dir()]
        found[path.stem] = one, there / one.parent.name / one.name
    return found


@pytest.mark.parametrize("name", [path.stem for path in FILES])
def test_same_seed_gives_identical_tables_and_summary_across_processes(folders, name):
    one, two = folders[name]
    tables = sorted(p.name for p in one.glob("*.parquet"))
    assert tables == sorted(p.name for p in two.glob("*.parquet")) and len(tables) >= 5
    for table in tables:
        assert (one / table).read_bytes() == (two / table).read_bytes(), table
    summaries = [json.loads((folder / "summary.json").read_text()) for folder in (one, two)]
    for summary in summaries:
        assert summary.pop("wall_seconds") > 0
    assert summaries[0] == summaries[1]
    assert (one / "scenario.json").read_bytes() == (two / "scenario.json").read_bytes()


def test_the_summary_records_what_produced_the_result(folders):
    one, _two = folders["quickstart"]
    provenance = json.loads((one / "summary.json").read_text())["provenance"]
    path = SCENARIOS / "quickstart.yaml"
    assert provenance["scenario_file"] == "quickstart.yaml"
    assert provenance["scenario_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert provenance["overrides"] == [] and provenance["limits_enforced"] is True
    assert provenance["package_version"] == metadata.version("cascadesim")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert provenance["git_commit"] == head.stdout.strip()
        assert isinstance(provenance["git_dirty"], bool)
    else:
        assert provenance["git_commit"] is None
    fleet, _ = folders["fleet_100"]
    overrides = json.loads((fleet / "summary.json").read_text())["provenance"]["overrides"]
    assert overrides[0] == f"duration={SHORT}" and all(re.fullmatch(r"links\[\d+\]\.outages=\[\]", o) for o in overrides[1:])


def test_provenance_asks_git_about_the_whole_package(monkeypatch):
    asked = []
    monkeypatch.setattr("sim.experiments.provenance._git", lambda folder, *args: asked.append(folder) or "")
    code_version.__wrapped__()
    assert asked == [Path(sim.__file__).resolve().parent] * 2  # sim/, not the module's own sub-package


def test_provenance_without_git_is_recorded_as_unknown(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no git to run: what an installed copy outside a checkout sees
    assert code_version.__wrapped__() == {"package_version": metadata.version("cascadesim"), "git_commit": None,
                                          "git_dirty": None}


COLLIDING = ("A:/vol/uejgtcuo", "A:/vol/iiwucoup")
"""Two volume names whose CRC32 checksums are equal (1228834020)."""


def test_volumes_whose_names_share_a_crc32_draw_different_write_rates(make_scenario):
    volumes = {name: {"size": "100GiB", "change_rate": "1GiB/h", "change_variability": 0.5} for name in COLLIDING}
    scenario = make_scenario({"name": "colliding", "seed": 3, "duration": "1d", "appliances": {"A": {"capacity": "1TiB"}},
                              "volumes": volumes,
                              "snapshot_policies": {"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 30,
                                                               "volumes": list(COLLIDING)}}})
    pcpis = simulate(scenario).tables["pcpis"]
    changed = [pcpis.loc[pcpis["volume"] == name].sort_values("created_s")["changed_bytes"].tolist() for name in COLLIDING]
    assert len(changed[0]) == len(changed[1]) == 24
    assert changed[0] != changed[1]


def test_provenance_does_not_depend_on_how_the_path_is_spelled(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "chain.yaml").write_text(dump_yaml(chain_document(duration="6h")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sim.results.write.write_plots", lambda results, folder, **_: None)
    summaries = []
    for i, spelled in enumerate(["sub/chain.yaml", "./sub/../sub/chain.yaml", str(tmp_path / "sub" / "chain.yaml")]):
        assert main(["run", spelled, "--out", f"out{i}", "--quiet"]) == 0
        summary = json.loads((tmp_path / f"out{i}" / "chain" / "none-seed1" / "summary.json").read_text())
        assert summary.pop("wall_seconds") > 0
        summaries.append(summary)
    assert summaries[0] == summaries[1] == summaries[2]
    assert summaries[0]["provenance"]["scenario_file"] == "chain.yaml"
    text = dump_yaml(chain_document(duration="6h")).encode()
    assert summaries[0]["provenance"]["scenario_sha256"] == hashlib.sha256(text).hexdigest()
