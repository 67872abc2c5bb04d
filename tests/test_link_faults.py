"""Per-flow caps (throttles), against closed forms."""

from __future__ import annotations

from typing import Any

import pytest
import simpy

from sim.engine.network import Flow, Network
from sim.scenario import Plan, Scenario

# -- networks of a tiny scenario -------------------------------------------------------------------

def two_appliances(bandwidth: str = "100B/s", latency: str = "500ms") -> dict[str, Any]:
    """A tiny scenario: two appliances and one link, for networks built from its plan."""
    return {"name": "tiny", "seed": 1, "duration": "1d",
            "appliances": {"A": {"capacity": "1TiB"}, "B": {"capacity": "1TiB"}},
            "links": [{"between": ["A", "B"], "bandwidth": bandwidth, "latency": latency}]}


def network_of(scenario: Scenario) -> Network:
    return Network(simpy.Environment(), Plan(scenario))


# -- throttles: per-flow caps ----------------------------------------------------------------

def rates_after_start(network: Network, flows: list[tuple[float, float | None]]) -> list[Flow]:
    """Start each (size, cap) flow from A to B at time 0 and return them with their rates set."""
    return [network.start_flow("A", "B", size, cap) for size, cap in flows]


def test_a_capped_flow_alone_takes_size_over_cap(make_scenario):
    network = network_of(make_scenario(two_appliances()))
    env = network.env
    flow = network.start_flow("A", "B", 1000.0, cap_bps=40.0)
    env.process(network.complete(flow))
    env.run()
    assert env.now == pytest.approx(1000.0 / 40.0 + 0.5)


def test_a_capped_flow_gets_its_cap_and_the_other_flow_the_rest(make_scenario):
    # 100 B/s shared by a flow capped at 30 B/s and one without a cap: 30 and 70 B/s, so 300 B
    # and 700 B both finish at 10 s; then nothing is left to share.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    capped, free = rates_after_start(network, [(300.0, 30.0), (700.0, None)])
    assert (capped.rate_bps, free.rate_bps) == pytest.approx((30.0, 70.0))
    network.env.run()
    assert network.env.now == pytest.approx(10.0)
    assert capped.done.triggered and free.done.triggered


def test_caps_above_the_fair_share_leave_it_fair(make_scenario):
    network = network_of(make_scenario(two_appliances()))
    flows = rates_after_start(network, [(1000.0, 80.0), (1000.0, 70.0)])
    assert [flow.rate_bps for flow in flows] == pytest.approx([50.0, 50.0])


def test_progressive_filling_with_caps_is_max_min_with_demands(make_scenario):
    # 100 B/s: the cap 10 is below the fair share 25, then the cap 20 below the next, 90 / 3;
    # the two uncapped flows share the remaining 70. A fifth flow capped at 40: 10 is below
    # 100 / 5, 20 below 90 / 4, and 40 above 70 / 3, so it gets what the uncapped ones get.
    network = network_of(make_scenario(two_appliances()))
    flows = rates_after_start(network, [(1e6, 10.0), (1e6, None), (1e6, 20.0), (1e6, None)])
    assert [flow.rate_bps for flow in flows] == pytest.approx([10.0, 35.0, 20.0, 35.0])
    flows.append(network.start_flow("A", "B", 1e6, cap_bps=40.0))
    assert [flow.rate_bps for flow in flows] == pytest.approx([10.0, 70 / 3, 20.0, 70 / 3, 70 / 3])


def test_a_capped_flow_finishing_gives_the_others_its_rate(make_scenario):
    # 100 B/s: 100 B capped at 20 B/s ends at 5 s; the other sent 400 B at 80 B/s, then the
    # remaining 600 B at 100 B/s: done at 11 s.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    env = network.env
    done = []

    def send(size, cap):
        yield from network.complete(network.start_flow("A", "B", size, cap))
        done.append(env.now)

    env.process(send(100.0, 20.0))
    env.process(send(1000.0, None))
    env.run()
    assert done == [pytest.approx(5.0), pytest.approx(11.0)]
