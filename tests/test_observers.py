"""Observers are apart from the engine: switching the tables and the sampler off changes no KPI."""

from pathlib import Path

import pytest

from sim.engine.model import simulate
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def outcomes(summary: dict) -> dict:
    """A summary without what says how the run was made: its wall time, and the count of SimPy
    events (the sampler is a process of its own, so it adds events)."""
    return {key: value for key, value in summary.items() if key not in ("wall_seconds", "events_processed")}


@pytest.mark.parametrize("protocol", ["none", "softlock", "lease"])
@pytest.mark.parametrize("name", ["quickstart", "fanout_tree", "destination_retired"])
def test_a_run_without_tables_has_the_same_summary_and_no_tables(name, protocol):
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml", {"protocol": protocol})
    full = simulate(scenario)
    light = simulate(scenario, tables=False)
    assert full.tables and all(len(frame) for name, frame in full.tables.items() if name != "timeseries")
    assert light.tables == {}
    assert outcomes(light.summary) == outcomes(full.summary)
