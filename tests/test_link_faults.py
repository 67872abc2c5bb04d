"""Per-flow caps (throttles) and bandwidth schedules, against closed forms."""

from __future__ import annotations

from typing import Any

import pytest
import simpy
from conftest import chain_document

from sim.engine.model import Model
from sim.engine.network import Flow, Network, bandwidth_changes
from sim.scenario import Plan, Scenario
from sim.scenario.limits import planned_firings
from sim.scenario.schedule import ScheduleBook

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


# -- bandwidth schedules ---------------------------------------------------------------------------

def test_a_transfer_spanning_a_bandwidth_change_sends_at_each_rate_in_turn(make_scenario):
    # 1000 B: 400 B at 100 B/s until t=4, then 600 B at 25 B/s (24 s), then 0.5 s latency.
    network = network_of(make_scenario(two_appliances()))
    env, link = network.env, network.links[0]
    env.process(network.follow_bandwidth_schedule(link, [(4.0, 25.0)]))
    done = []

    def send():
        yield from network.transfer("A", "B", 1000.0)
        done.append(env.now)

    env.process(send())
    env.run()
    assert done == [pytest.approx(4.0 + 600.0 / 25.0 + 0.5)]
    assert (link.capacity_bps, link.bandwidth_bps) == (25.0, 100.0)


def test_utilisation_is_relative_to_the_nominal_bandwidth(make_scenario):
    # Throttled to 50 B/s from the start and saturated for 20 s: half the nominal 100 B/s.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    env, link = network.env, network.links[0]
    network.set_link_bandwidth(link, 50.0)
    env.process(network.transfer("A", "B", 1000.0))
    env.run()
    assert env.now == pytest.approx(20.0)
    usage = link.usage(20.0)
    assert (usage["mean_utilisation"], usage["peak_utilisation"], usage["busy_fraction"]) == pytest.approx((0.5, 0.5, 1.0))


def test_a_change_during_an_outage_applies_when_the_link_returns(make_scenario):
    # 100 B/s for 2 s (200 B), down from 2 to 6 s while the bandwidth becomes 50 B/s at 3 s,
    # then the remaining 800 B at 50 B/s: done at 22 s.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    env, link = network.env, network.links[0]

    def outage():
        yield env.timeout(2.0)
        network.set_link_down(link)
        yield env.timeout(4.0)
        network.set_link_up(link)

    env.process(outage())
    env.process(network.follow_bandwidth_schedule(link, [(3.0, 50.0)]))
    env.process(network.transfer("A", "B", 1000.0))
    env.run()
    assert env.now == pytest.approx(22.0)


def test_the_entries_of_a_schedule_merge_and_the_later_entry_wins_a_tie():
    assert bandwidth_changes([((0.0, 10.0, 20.0), 1.0), ((5.0, 10.0), 2.0)]) == [
        (0.0, 1.0), (5.0, 2.0), (10.0, 2.0), (20.0, 1.0)]


def test_a_links_bandwidth_follows_its_schedule_in_a_run(make_scenario):
    """Business hours (08:00 to 18:00 UTC) at 100 Mbit/s, 1 Gbit/s otherwise; before the first
    firing the link has its own bandwidth; planned firings count the changes."""
    doc = chain_document(duration="2d")
    doc["links"][1]["bandwidth"] = "10Gbit/s"
    doc["links"][1]["bandwidth_schedule"] = [{"schedule": "0 8 * * *", "bandwidth": "100Mbit/s"},
                                             {"schedule": "0 18 * * *", "bandwidth": "1Gbit/s"}]
    scenario = make_scenario(doc)
    plain = make_scenario(chain_document(duration="2d"))
    assert planned_firings(scenario) == planned_firings(plain) + 4
    model = Model(scenario, tables=False)
    model.start()
    link = model.network.links[1]
    seen = []
    for hour in (7, 9, 17, 19, 31, 33, 43):
        model.run(hour * 3600.0)
        seen.append(link.capacity_bps * 8)
    assert seen == [10e9, 100e6, 100e6, 1e9, 1e9, 100e6, 1e9]
    assert link.bandwidth_bps * 8 == 10e9
    assert ScheduleBook(scenario.start_ts, scenario.duration).firings("0 8 * * *") == (8 * 3600.0, 32 * 3600.0)
