"""The random-worlds gate (issue 10 item 5): whole scenarios drawn by hypothesis, each run
under every protocol, every invariant of `invariants.py` checked on every run.

CI runs `CI_EXAMPLES` derandomized examples (the same worlds every time). `make fuzz` sets
`CASCADESIM_FUZZ_EXAMPLES` to run thousands with a fresh seed, printed in the failure and
taken from `CASCADESIM_FUZZ_SEED` when set, so a fuzz run can be repeated.

A failing world is written as a scenario file under `results/random_worlds/` (its protocol
set to the one that failed) and the failure names it: `cascadesim run FILE` reproduces it.
Hypothesis calls the test again while it shrinks, so each failing call writes its own file;
the failure it finally reports names the smallest.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, Phase, find, given, seed, settings
from invariants import CHECKS, Check, check_all
from random_worlds import world_yaml, worlds

from sim.engine.model import simulate
from sim.protocols.registry import names
from sim.results import Results
from sim.scenario import Plan, Scenario, load_scenario

CI_EXAMPLES = 250
"""Worlds CI draws: about 185 s of CPU on this machine (0.75 s a world: 11 protocols, 11 checks each; 195 s
before faults were drawn and checked, the old worlds and checks under the same 11 protocols, measured alike)."""

FUZZ_EXAMPLES = int(os.environ.get("CASCADESIM_FUZZ_EXAMPLES") or 0)
FUZZ_SEED = (int(os.environ.get("CASCADESIM_FUZZ_SEED") or random.SystemRandom().getrandbits(32))
             if FUZZ_EXAMPLES else None)

WORLDS_OUT = ROOT / "results" / "random_worlds"
"""Where failing worlds are written (outside the source tree; results/ is not tracked)."""


def write_world(document: dict[str, Any], protocol: str) -> Path:
    """Write a world as a scenario file that runs under `protocol`; its name is its content hash."""
    text = world_yaml({**document, "protocol": protocol})
    path = WORLDS_OUT / f"world-{hashlib.sha256(text.encode()).hexdigest()[:10]}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_world(document: dict[str, Any], checks: Iterable[Check] = CHECKS) -> None:
    """Run a world under every protocol and apply `checks`; on the first failure (a check, or
    the engine raising), write the world out and fail naming the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "world.yaml"
        path.write_text(world_yaml(document))
        scenario = load_scenario(path)
    for protocol in names():
        try:
            check_all(document, simulate(scenario.model_copy(update={"protocol": protocol})), checks)
        except Exception as err:
            written = write_world(document, protocol)
            again = (f"CASCADESIM_FUZZ_EXAMPLES={FUZZ_EXAMPLES} CASCADESIM_FUZZ_SEED={FUZZ_SEED} make fuzz; "
                     if FUZZ_SEED is not None else "")
            raise AssertionError(f"world {written} fails under protocol {protocol} "
                                 f"(reproduce: {again}.venv/bin/cascadesim run {written}; copy it into tests/worlds/ "
                                 f"to keep it as a regression test):\n{err}") from err


@settings(max_examples=FUZZ_EXAMPLES or CI_EXAMPLES, derandomize=not FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@seed(FUZZ_SEED)
@given(world=worlds())
def test_random_worlds_hold_every_invariant(world: dict[str, Any]) -> None:
    run_world(world)


def _same_run(a: Results, b: Results) -> None:
    assert {**a.summary, "wall_seconds": 0} == {**b.summary, "wall_seconds": 0}
    for name, table in a.tables.items():
        pd.testing.assert_frame_equal(table, b.tables[name])


@settings(max_examples=5, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_a_failing_world_is_written_as_a_scenario_file_that_reproduces_its_run(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fails_on_any_run(_scenario: Any, result: Results) -> None:
        raise AssertionError(f"{result.summary['protocol']} ran")

    monkeypatch.setattr(sys.modules[__name__], "WORLDS_OUT", tmp_path)
    with pytest.raises(AssertionError, match="fails under protocol none") as failure:
        run_world(world, (fails_on_any_run,))
    written = Path(str(failure.value).split()[1])
    assert written.parent == tmp_path and "none ran" in str(failure.value)
    reloaded = load_scenario(written)
    assert reloaded.protocol == "none"
    with tempfile.TemporaryDirectory() as folder:
        original = Path(folder) / "world.yaml"
        original.write_text(world_yaml(world))
        _same_run(simulate(load_scenario(original)), simulate(reloaded))


def _volume(mirror: dict[str, Any], end: str) -> str:
    return mirror[end].rpartition("/")[0] if mirror["type"] == "qtree" else mirror[end]


def _qtree_destinations(world: dict[str, Any]) -> set[str]:
    return {_volume(m, "destination") for m in world["mirrors"] if m["type"] == "qtree"}


def _depth(world: dict[str, Any]) -> int:
    depth: dict[str, int] = {}
    for mirror in world["mirrors"]:
        depth[_volume(mirror, "destination")] = depth.get(_volume(mirror, "source"), 0) + 1
    return max(depth.values())


def _autodelete_at(commitment: str) -> Callable[[dict[str, Any]], bool]:
    return lambda w: any(v.get("autodelete", {}).get("commitment") == commitment for v in w["volumes"].values())


def _tight(world: dict[str, Any], factor: float = 1.5) -> bool:
    scenario = Scenario.model_validate(world)
    used: dict[str, float] = {}
    for name, volume in Plan(scenario).volume_layout.items():
        used[name.partition(":")[0]] = used.get(name.partition(":")[0], 0.0) + volume.size_bytes
    return any(scenario.appliances[a].capacity < factor * size for a, size in used.items())


def _on_break(policy: str) -> Callable[[dict[str, Any]], bool]:
    return lambda w: any(m.get("on_break", {}).get("policy") == policy for m in w["mirrors"])


def _random_crashes(family: str) -> Callable[[dict[str, Any]], bool]:
    return lambda w: any("mtbf" in a and a.get("repair", {}).get("distribution", "exponential") == family
                         for a in w.get("faults", {}).get("appliances", {}).values())


def _two_hops_up(world: dict[str, Any], repoint: dict[str, Any]) -> bool:
    into = {m["destination"]: m["source"] for m in world["mirrors"]}
    return into.get(into.get(into.get(repoint["destination"], ""), ""), "") == repoint["source"]


FEATURES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "8 appliances": lambda w: len(w["appliances"]) == 8,
    "routers": lambda w: len(w.get("routers", ())) == 2,
    "extra links": lambda w: len(w["links"]) > len(w["appliances"]) + len(w.get("routers", ())) - 1,
    "two outages on a link": lambda w: any(len(link.get("outages", ())) == 2 for link in w["links"]),
    "10 Mbit/s": lambda w: any(link["bandwidth"] == "10Mbit/s" for link in w["links"]),
    "two heads with qtrees": lambda w: len(w["volumes"]) == 2 and all("qtrees" in v for v in w["volumes"].values()),
    "change variability": lambda w: any("change_variability" in v for v in w["volumes"].values()),
    **{f"autodelete {c}": _autodelete_at(c) for c in ("try", "disrupt", "destroy")},
    "two snapshot policies": lambda w: len(w.get("snapshot_policies", {})) == 2,
    "chain of depth 4": lambda w: _depth(w) >= 4,
    "fan-out": lambda w: len({m["source"] for m in w["mirrors"]}) < len(w["mirrors"]),
    "qtree destination feeding a qtree mirror": lambda w: any(
        m["type"] == "qtree" and _volume(m, "source") in _qtree_destinations(w) for m in w["mirrors"]),
    "volume mirror below a qtree hop": lambda w: any(
        m["type"] == "volume" and m["source"] in _qtree_destinations(w) for m in w["mirrors"]),
    "qtree mirror of a volume-mirror image": lambda w: any(
        m["type"] == "qtree" and _volume(m, "source") not in w["volumes"]
        and _volume(m, "source") not in _qtree_destinations(w) for m in w["mirrors"]),
    "retirement": lambda w: any("retire_at" in m for m in w["mirrors"]),
    "vault below a vault": lambda w: any(
        m["type"] == "vault" and m["source"] in {v["destination"] for v in w["mirrors"] if v["type"] == "vault"}
        for m in w["mirrors"]),
    "volume mirror below a vault hop": lambda w: any(
        m["type"] == "volume" and m["source"] in {v["destination"] for v in w["mirrors"] if v["type"] == "vault"}
        for m in w["mirrors"]),
    "vault with a name filter and a grammar": lambda w: any(
        m["type"] == "vault" and "filter" in m and "retention" in m for m in w["mirrors"]),
    "policy with a grammar": lambda w: any("retention" in p for p in w.get("snapshot_policies", {}).values()),
    "holds": lambda w: len(w.get("holds", ())) == 3,
    "tight capacity": _tight,
    "three days, 1 h samples, a lease": lambda w: (w["duration"], w["sample_interval"]) == ("3d", "1h") and "lease" in w,
    **{f"on_break {p}": _on_break(p) for p in ("abort", "resume", "stall")},
    "transfer slots": lambda w: any("max_transfers" in a for a in w["appliances"].values()),
    "crash windows": lambda w: any("crashes" in a for a in w.get("faults", {}).get("appliances", {}).values()),
    **{f"random crashes, {r} repairs": _random_crashes(r) for r in ("exponential", "weibull", "lognormal")},
    "vault destination autodelete": lambda w: any("autodelete" in m for m in w["mirrors"]),
    "capacity within 1 % of the live data": lambda w: _tight(w, 1.01),
    "re-point": lambda w: bool(w.get("faults", {}).get("repoints")),
    "re-point two hops up": lambda w: any(_two_hops_up(w, r) for r in w.get("faults", {}).get("repoints", ())),
    "release": lambda w: bool(w.get("faults", {}).get("releases")),
    "random link failures": lambda w: bool(w.get("faults", {}).get("links")),
    "bandwidth schedule": lambda w: any("bandwidth_schedule" in link for link in w["links"]),
    "throttle": lambda w: any("throttle" in m for m in w["mirrors"]),
    "lost, late, duplicated and reordered lock sets": lambda w: all(
        w.get("faults", {}).get("messages", {}).get(k) for k in ("loss", "delay", "duplicate", "reorder")),
}
"""What issues 10 and 13 ask the worlds to cover, and the faults, each as a predicate on a drawn world."""


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_the_strategy_draws(feature: str) -> None:
    """Within as many worlds as CI's gate runs (not the same ones: a feature the strategy
    loses fails here, by name, rather than going untested in silence)."""
    find(worlds(), FEATURES[feature], settings=settings(
        max_examples=CI_EXAMPLES, derandomize=True, database=None, phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))
