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


def _observer_memory(days: int, protocol: str) -> tuple[int, int]:
    """After a `days`-long run of the quickstart without tables: PCPI ids the gap watch holds,
    and propagation delays recorded."""
    from sim.engine.model import Model

    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml", {"protocol": protocol, "duration": f"{days}d"})
    model = Model(scenario, tables=False)
    model.start()
    model.run()
    delays = sum(len(delays) for delays in model.traffic.propagation.values())
    return model.gap_watch.remembered(), delays


@pytest.mark.parametrize("protocol", ["none", "softlock"])
def test_the_observers_memory_does_not_grow_with_the_run(protocol):
    """The gap watch holds the heads' live PCPIs that reached a destination and the gap
    candidates (the quickstart's outage on day 3 makes 22 for C), whatever the run's length;
    lock propagation delays are kept (exact percentiles), one raw double per lock."""
    (short, short_delays), (long_, long_delays) = _observer_memory(5, protocol), _observer_memory(20, protocol)
    assert short > 22 and long_ <= short + 2
    if protocol == "softlock":
        assert long_delays > 3 * short_delays
