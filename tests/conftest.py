"""Shared helpers: build small scenarios as YAML files, as a user would write them."""

from __future__ import annotations

import sim  # noqa: F401 - first: then SimPy too loads compiled in the tests, as under cascadesim (sim.native)

# isort: split
import io
import json
from pathlib import Path
from typing import Any

import pytest
import simpy
from ruamel.yaml import YAML

from sim.engine.deletion import RETENTION, DeletionGate
from sim.engine.events import DomainEvents
from sim.engine.lock_table import LockTable, SoftLock
from sim.engine.storage import Appliance, PcpiIds, StorageServices, Volume
from sim.protocols.base import NoConfig, Services
from sim.protocols.none import NoLocks
from sim.retention.keep_n import KeepN
from sim.scenario import Scenario, ScenarioError, load_scenario

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


def assert_refused(path: Path, line: int, field: str, message: str) -> None:
    """Loading the scenario at `path` is refused with a problem at `path:line` naming `field`
    and saying `message`."""
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert any(p.startswith(f"{path}:{line}: {field}:") and message in p for p in error.value.problems), \
        error.value.problems


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


class Storage:
    """Volumes outside a run, for unit tests: their clock, events, lock table and gate (with
    a strategy that vetoes nothing), and every deletion as (PCPI id, reason, by)."""

    def __init__(self, strategy_class: type = NoLocks):
        self.env = simpy.Environment()
        self.events = DomainEvents()
        self.locks = LockTable(self.env, self.events)
        self.strategy = strategy_class("test", Services(self.env, None, self.locks, self.events, 128), NoConfig())
        self.gate = DeletionGate(self.strategy)
        self.services = StorageServices(self.env, self.events, self.locks, self.gate, PcpiIds())
        self.deleted: list[tuple[int, str, str]] = []
        self.events.pcpi_deleted.subscribe(lambda _t, _v, pcpi, reason, by: self.deleted.append((pcpi.id, reason, by)))

    def volume(self, name: str = "A:/vol/v", *, capacity: float = 1e15, size: float = 10 * 2.0**30,
               writable: bool = True, rate_bps: float = 0.0) -> Volume:
        return Volume(name, Appliance(name.partition(":")[0], capacity), size, self.services, writable=writable,
                      change_rate_bps=rate_bps)

    def at(self, t: float) -> None:
        """Move the clock to `t`."""
        if t > self.env.now:
            self.env.run(until=t)

    def take(self, volume: Volume, at_s: float, label: str = "hourly") -> object:
        self.at(at_s)
        return volume.take_pcpi(f"{label}.{at_s:g}", label)

    def keep(self, volume: Volume, label: str, keep: int) -> None:
        """Apply keep-N retention to the label, as a snapshot policy named after it does."""
        for pcpi_id in KeepN(keep).doomed(volume, volume.by_label.get(label, {}), self.gate, self.env.now):
            volume.delete_pcpi(pcpi_id, RETENTION, label)

    def soft_lock(self, volume: Volume, pcpi_id: int, dataset: str = "C:/vol/v") -> None:
        self.locks.set_soft(volume, "B:/vol/v", SoftLock(pcpi_id, "destination_path", "snapmirror test", dataset,
                                                          self.env.now, 1, (pcpi_id,)))
