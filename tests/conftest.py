"""Shared helpers: build small scenarios as YAML files, as a user would write them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def chain_document(**overrides: Any) -> dict[str, Any]:
    """A deterministic A -> B -> C volume chain, small and fast, as a YAML-ready dict."""
    doc: dict[str, Any] = {
        "name": "chain",
        "seed": 1,
        "duration": "2d",
        "protocol": "none",
        "appliances": {"A": {"capacity": "10TiB"}, "B": {"capacity": "10TiB"}, "C": {"capacity": "10TiB"}},
        "links": [
            {"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
            {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"},
        ],
        "volumes": {"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h"}},
        "snapshot_policies": {"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 3,
                                         "volumes": ["A:/vol/v"]}},
        "mirrors": [
            {"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "*/15 * * * *"},
            {"source": "B:/vol/v", "destination": "C:/vol/v", "schedule": "0 */2 * * *"},
        ],
    }
    doc.update(overrides)
    return doc


def rewrite_summary(folder: Path, summary: dict[str, Any]) -> None:
    """Replace a results folder's summary.json as its writer would have written it (with
    complete.json listing its new size), e.g. as an earlier cascadesim wrote it."""
    (folder / "summary.json").write_text(json.dumps(summary))
    marker = json.loads((folder / "complete.json").read_text())
    marker["files"]["summary.json"] = (folder / "summary.json").stat().st_size
    (folder / "complete.json").write_text(json.dumps(marker))


def dump_yaml(doc: dict[str, Any]) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, stream)
    return stream.getvalue()


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario dict (or YAML text) to a file and return its path."""
    def write(doc: dict[str, Any] | str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else dump_yaml(doc))
        return path
    return write


@pytest.fixture
def make_scenario(write_scenario):
    """Load a validated scenario from a dict, as the command line would."""
    def make(doc: dict[str, Any]) -> Scenario:
        return load_scenario(write_scenario(doc))
    return make


def assert_replaced_in_one_step(rows):
    """A record released as `replaced` (a transfer's request handed over to the destination's
    own lock, or back) is followed at the same instant by another record on the same PCPI for
    the same dataset from the same sender: the PCPI is never unlocked in between."""
    replaced = rows[rows["release_reason"] == "replaced"]
    keys = ["volume", "pcpi_id", "locking_dataset", "via"]
    successors = replaced[keys + ["released_s"]].merge(rows[keys + ["set_s"]], on=keys)
    followed = successors[successors["set_s"] == successors["released_s"]]
    assert len(followed.drop_duplicates(keys + ["released_s"])) == len(replaced)
