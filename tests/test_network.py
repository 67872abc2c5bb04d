"""Transfers against closed forms: idle-link time, equal sharing, max-min over bottlenecks, outages."""

import networkx as nx
import pytest
import simpy

from sim.engine.network import Network
from sim.scenario.plan import HOP_PENALTY_S, Plan, PlannedLink


class LinksOnly:
    """A network plan given directly as links, for network unit tests: a `Plan`'s links and
    routes without the rest of a scenario."""

    route = Plan.route

    def __init__(self, links: list[tuple[str, str, float, float]]):
        self.graph = nx.Graph()
        self._routes: dict = {}
        self.links = []
        for index, (a, b, bandwidth, latency) in enumerate(links):
            self.graph.add_edge(a, b, index=index, weight=latency + HOP_PENALTY_S)
            self.links.append(PlannedLink(index, f"{a}-{b}", (a, b), bandwidth, latency))


def finish_times(network: Network, transfers: list[tuple[str, str, float, float]]) -> list[float]:
    """Start each (src, dst, bytes, at) transfer and return when each one completes."""
    env = network.env
    done: list[float] = [0.0] * len(transfers)

    def one(i, src, dst, size, at):
        yield env.timeout(at)
        yield from network.transfer(src, dst, size)
        done[i] = env.now

    for i, spec in enumerate(transfers):
        env.process(one(i, *spec))
    env.run()
    return done


def make_network(links):
    return Network(simpy.Environment(), LinksOnly(links))


def test_idle_link_transfer_takes_latency_plus_size_over_bandwidth():
    network = make_network([("A", "B", 100.0, 0.5)])
    assert finish_times(network, [("A", "B", 1000.0, 0.0)]) == [pytest.approx(0.5 + 10.0)]


def test_two_equal_flows_on_one_link_each_take_twice_as_long():
    network = make_network([("A", "B", 100.0, 0.0)])
    single = finish_times(make_network([("A", "B", 100.0, 0.0)]), [("A", "B", 1000.0, 0.0)])[0]
    both = finish_times(network, [("A", "B", 1000.0, 0.0), ("A", "B", 1000.0, 0.0)])
    assert both == [pytest.approx(2 * single)] * 2


def test_n_equal_flows_each_get_bandwidth_over_n():
    n = 5
    network = make_network([("A", "B", 50.0, 0.0)])
    assert finish_times(network, [("A", "B", 100.0, 0.0)] * n) == [pytest.approx(100.0 * n / 50.0)] * n


def test_a_flow_that_ends_gives_its_share_back():
    # 100 B/s; flow 1 has 100 B, flow 2 has 300 B. Both at 50 B/s until t=2 (flow 1 done),
    # then flow 2 alone sends its remaining 200 B at 100 B/s: done at t=4.
    network = make_network([("A", "B", 100.0, 0.0)])
    assert finish_times(network, [("A", "B", 100.0, 0.0), ("A", "B", 300.0, 0.0)]) == [
        pytest.approx(2.0), pytest.approx(4.0)]


def test_three_flows_over_two_bottlenecks_match_max_min_by_hand():
    # Path X -L1- Y -L2- Z. L1 = 10 B/s, L2 = 4 B/s.
    # f1: X->Z (L1, L2), f2: Y->Z (L2), f3: X->Y (L1).
    # Max-min: L2 is the bottleneck, 4/2 = 2 each for f1 and f2; f3 gets L1's rest, 10 - 2 = 8.
    network = make_network([("X", "Y", 10.0, 0.0), ("Y", "Z", 4.0, 0.0)])
    size = 80.0
    # f3 finishes at 80/8 = 10, f1 and f2 keep 2 B/s on L2 (f1 is limited by L2): done at 40.
    assert finish_times(network, [("X", "Z", size, 0.0), ("Y", "Z", size, 0.0), ("X", "Y", size, 0.0)]) == [
        pytest.approx(40.0), pytest.approx(40.0), pytest.approx(10.0)]


def test_rates_inside_allocator_are_max_min_fair():
    network = make_network([("X", "Y", 10.0, 0.0), ("Y", "Z", 4.0, 0.0)])
    env = network.env
    for src, dst in (("X", "Z"), ("Y", "Z"), ("X", "Y")):
        env.process(network.transfer(src, dst, 1e9))
    env.run(until=1)
    rates = sorted(flow.rate_bps for link in network.links for flow in link.flows)
    assert rates == pytest.approx([2.0, 2.0, 2.0, 8.0])  # f1 is listed on both of its links


def test_a_flow_stalls_during_an_outage_and_resumes_where_it_was():
    network = make_network([("A", "B", 100.0, 0.0)])
    env = network.env
    link = network.links[0]

    def outage():
        yield env.timeout(2.0)
        network.set_link_down(link)
        yield env.timeout(5.0)
        network.set_link_up(link)

    env.process(outage())
    # 1000 B at 100 B/s = 10 s of sending, plus 5 s stalled.
    assert finish_times(network, [("A", "B", 1000.0, 0.0)]) == [pytest.approx(15.0)]


def test_control_message_waits_for_the_link_then_pays_latency_and_size():
    network = make_network([("A", "B", 1000.0, 0.25)])
    env = network.env
    link = network.links[0]
    network.set_link_down(link)
    arrived = []

    def send():
        yield from network.wait_for_path("A", "B")
        yield from network.transmit("A", "B", 500.0)
        arrived.append(env.now)

    def restore():
        yield env.timeout(3.0)
        network.set_link_up(link)

    env.process(send())
    env.process(restore())
    env.run()
    assert arrived == [pytest.approx(3.0 + 0.25 + 0.5)]


def test_routes_take_the_lowest_latency_path():
    network = make_network([("A", "B", 1.0, 0.1), ("B", "C", 1.0, 0.1), ("A", "C", 1.0, 0.5)])
    assert [link.name for link in network.path("A", "C")] == ["A-B", "B-C"]
