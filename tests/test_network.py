"""Transfers against closed forms (idle-link time, equal sharing, max-min over bottlenecks, outages)
and a from-scratch reference, and the completion timers: one per group of flows sharing links."""

import math
import random

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


def start_outage(network: Network, link: int, *, at: float, for_: float) -> None:
    """Take link number `link` down at `at` for `for_` seconds."""
    env = network.env

    def outage():
        yield env.timeout(at)
        network.set_link_down(network.links[link])
        yield env.timeout(for_)
        network.set_link_up(network.links[link])

    env.process(outage())


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
    start_outage(network, 0, at=2.0, for_=5.0)
    # 1000 B at 100 B/s = 10 s of sending, plus 5 s stalled.
    assert finish_times(network, [("A", "B", 1000.0, 0.0)]) == [pytest.approx(15.0)]


def test_a_flow_started_on_a_down_private_path_waits_for_it_then_takes_its_narrowest_link():
    # A -50 B/s- B -20 B/s- C, B-C down until t=3: 100 B at 20 B/s from then, done at 8.
    network = make_network([("A", "B", 50.0, 0.0), ("B", "C", 20.0, 0.0)])
    env = network.env
    network.set_link_down(network.links[1])

    def restore():
        yield env.timeout(3.0)
        network.set_link_up(network.links[1])

    env.process(restore())
    assert finish_times(network, [("A", "C", 100.0, 0.0)]) == [pytest.approx(8.0)]


def test_control_message_waits_for_the_link_then_pays_latency_and_size():
    network = make_network([("A", "B", 1000.0, 0.25)])
    env = network.env
    link = network.links[0]
    network.set_link_down(link)
    arrived = []

    def send():
        yield from network.wait_for_path("A", "B")
        yield env.timeout(network.message_time("A", "B", 500.0))
        arrived.append(env.now)

    def restore():
        yield env.timeout(3.0)
        network.set_link_up(link)

    env.process(send())
    env.process(restore())
    env.run()
    assert arrived == [pytest.approx(3.0 + 0.25 + 0.5)]


def test_a_message_time_is_latency_summed_plus_size_over_the_narrowest_capacity_now():
    network = make_network([("A", "B", 1000.0, 0.25), ("B", "C", 250.0, 0.5)])
    assert network.message_time("A", "C", 500.0) == pytest.approx(0.25 + 0.5 + 500.0 / 250.0)
    network.set_link_bandwidth(network.links[0], 100.0)
    assert network.message_time("A", "C", 500.0) == pytest.approx(0.75 + 500.0 / 100.0)
    assert network.message_time("A", "A", 500.0) is None


def test_routes_take_the_lowest_latency_path():
    network = make_network([("A", "B", 1.0, 0.1), ("B", "C", 1.0, 0.1), ("A", "C", 1.0, 0.5)])
    assert [link.name for link in network.path("A", "C")] == ["A-B", "B-C"]


# -- completion timers: one per connected group of flows ----------------------------------------

def events_to_finish(network: Network, transfers: list[tuple[str, str, float, float]]) -> int:
    """Run each (src, dst, bytes, at) transfer to its end and return how many SimPy events it took."""
    env = network.env

    def one(src, dst, size, at):
        yield env.timeout(at)
        yield from network.transfer(src, dst, size)

    for spec in transfers:
        env.process(one(*spec))
    events = 0
    while env.peek() < float("inf"):
        env.step()
        events += 1
    return events


def test_a_transfer_on_a_private_path_is_four_events_and_arrives_one_latency_after_its_last_byte():
    # Its start (the process), its completion timer, its last byte's arrival (the flow's
    # `done`, triggered when the byte is sent and fired one latency later) and the process's
    # end; a zero-byte transfer waits the latency alone.
    network = make_network([("A", "B", 100.0, 0.25), ("B", "C", 50.0, 0.5)])
    env = network.env
    flow = network.start_flow("A", "C", 1000.0)
    arrived: list[float] = []

    def wait():
        yield from network.complete(flow)
        arrived.append(env.now)

    env.process(wait())
    env.run(until=20.5)  # sent at 20 s, not yet arrived
    assert flow.done.triggered and flow.sent_bytes(20.5) == 1000.0 and not arrived
    env.run()
    assert arrived == [pytest.approx(1000.0 / 50.0 + 0.75)]
    assert events_to_finish(make_network([("A", "B", 100.0, 0.25)]), [("A", "B", 1000.0, 0.0)]) == 5  # + the start's timeout
    assert finish_times(make_network([("A", "B", 100.0, 0.25)]), [("A", "B", 0.0, 0.0)]) == [0.25]


@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_events_per_transfer_do_not_grow_with_the_flows_sharing_a_link(spread):
    # n flows of different sizes on one link, started together (spread 0) or one a second
    # apart: each start and each end re-times every flow on the link. A timeout per flow would
    # leave O(n) stale ones per transfer; one timer per group leaves at most one per start or end.
    def per_transfer(n: int) -> float:
        network = make_network([("A", "B", 1000.0, 0.0)])
        return events_to_finish(network, [("A", "B", 1000.0 + 7.0 * i, spread * i) for i in range(n)]) / n

    small, large = per_transfer(5), per_transfer(80)
    assert large <= small + 0.5
    assert large <= 7


def test_flows_that_end_at_the_same_instant_end_in_the_order_they_started():
    network = make_network([("A", "B", 100.0, 0.0)])
    env = network.env
    ended: list[int] = []

    def one(i):
        yield from network.transfer("A", "B", 300.0)
        ended.append(i)

    for i in range(4):
        env.process(one(i))
    env.run()
    assert ended == [0, 1, 2, 3]
    assert env.now == pytest.approx(12.0)


def test_finish_times_that_round_to_the_same_instant_tie_as_in_the_heap():
    # Both flows start at 2**20 s and get 50 B/s; the first has 1e-9 B more, so its delay is
    # longer by 2e-11 s, below half the float spacing at 2**20 s: both end at the same instant,
    # and, as their own timeouts would, in the order they got their rates.
    start = 2.0**20
    network = make_network([("A", "B", 100.0, 0.0)])
    env = network.env
    ended: list[tuple[int, float]] = []

    def one(i, size):
        yield env.timeout(start)
        yield from network.transfer("A", "B", size)
        ended.append((i, env.now))

    env.process(one(0, 100.0 + 1e-9))
    env.process(one(1, 100.0))
    env.run()
    assert start + (100.0 + 1e-9) / 50.0 == start + 2.0
    assert ended == [(0, start + 2.0), (1, start + 2.0)]


@pytest.mark.parametrize("how", ["finish", "cancel"])
def test_both_groups_left_by_a_flow_that_joined_them_keep_finishing(how):
    # X -L1- Y -L2- Z, 10 B/s each. f1: X->Y 100 B, f3: Y->Z 60 B, and f2: X->Z joins them.
    # Each link shares 5/5 B/s. At t=4 f2 ends (20 B sent) or is cancelled: f1 (80 B left) and
    # f3 (40 B left) are two groups now, each alone on its link at 10 B/s: f3 ends at 8, f1 at 12.
    network = make_network([("X", "Y", 10.0, 0.0), ("Y", "Z", 10.0, 0.0)])
    env = network.env
    done: dict[str, float] = {}

    def one(name, src, dst, size):
        yield from network.transfer(src, dst, size)
        done[name] = env.now

    def bridge():
        flow = network.start_flow("X", "Z", 20.0 if how == "finish" else 1e6)
        if how == "finish":
            yield from network.complete(flow)
        else:
            yield env.timeout(4.0)
            network.cancel_flow(flow)
            assert flow.sent_bytes(env.now) == pytest.approx(20.0)
        done["f2"] = env.now

    env.process(one("f1", "X", "Y", 100.0))
    env.process(bridge())
    env.process(one("f3", "Y", "Z", 60.0))
    env.run()
    assert done == {"f1": pytest.approx(12.0), "f2": pytest.approx(4.0), "f3": pytest.approx(8.0)}


def test_a_link_down_in_a_larger_group_stalls_its_flows_and_frees_the_others_share():
    # X -L1- Y -L2- Z, 10 B/s each. f1: X->Z 100 B, f2: X->Y 100 B share L1 at 5 B/s. L2 goes
    # down at t=2 (f1 sent 10 B, f2 10 B): f1 stalls, f2 takes L1 alone and ends at 2 + 9 = 11.
    # L2 comes back at t=20: f1 sends its 90 B at 10 B/s, done at 29.
    network = make_network([("X", "Y", 10.0, 0.0), ("Y", "Z", 10.0, 0.0)])
    start_outage(network, 1, at=2.0, for_=18.0)
    assert finish_times(network, [("X", "Z", 100.0, 0.0), ("X", "Y", 100.0, 0.0)]) == [
        pytest.approx(29.0), pytest.approx(11.0)]


# -- a straightforward reference: fluid max-min with demands, recomputed from scratch ----------

def reference_finish_times(capacities: list[float], windows: list[tuple[int, float, float]],
                           flows: list[tuple[tuple[int, ...], float, float, float | None]]) -> list[float]:
    """When each (link indexes, bytes, start, cap) flow sends its last byte, over links of
    `capacities` that are down in each (link, from, to) window: at every start, end and window
    edge, every rate is recomputed by water-filling (raise all unfrozen flows together; a flow
    freezes at its cap or when one of its links is full)."""
    remaining = [size for _, size, _, _ in flows]
    finish = [math.inf] * len(flows)
    edges = sorted({t for _, start, end in windows for t in (start, end)} | {start for _, _, start, _ in flows})
    now = 0.0
    while True:
        active = [i for i, (_, _, start, _) in enumerate(flows) if start <= now and finish[i] == math.inf]
        capacity = [0.0 if any(link == w and start <= now < end for w, start, end in windows) else c
                    for link, c in enumerate(capacities)]
        rates = dict.fromkeys(active, 0.0)
        unfrozen = set(active)
        while unfrozen:
            left = {link: capacity[link] - sum(rates[i] for i in active if link in flows[i][0])
                    for link in range(len(capacities))}
            crossing = {link: [i for i in unfrozen if link in flows[i][0]] for link in left}
            step = min([left[link] / len(on) for link, on in crossing.items() if on]
                       + [flows[i][3] - rates[i] for i in unfrozen if flows[i][3] is not None])
            for i in unfrozen:
                rates[i] += step
            unfrozen -= {i for i in unfrozen if flows[i][3] is not None and rates[i] >= flows[i][3] - 1e-12}
            unfrozen -= {i for link, on in crossing.items() if on and left[link] - step * len(on) <= 1e-12
                         for i in on}
        ends = [now + remaining[i] / rates[i] for i in active if rates[i] > 0]
        later = [t for t in edges if t > now]
        following = min(ends + later[:1], default=math.inf)
        if following == math.inf:
            return finish
        for i in active:
            remaining[i] -= rates[i] * (following - now)
            if rates[i] > 0 and remaining[i] <= 1e-9 * flows[i][1]:
                finish[i] = following
        now = following


@pytest.mark.parametrize("seed", range(25))
def test_random_flows_finish_when_a_from_scratch_max_min_reference_says(seed):
    rng = random.Random(seed)
    nodes = "ABCDE"
    capacities = [rng.choice([10.0, 20.0, 50.0]) for _ in range(len(nodes) - 1)]
    network = make_network([(a, b, capacity, 0.0) for a, b, capacity in zip(nodes, nodes[1:], capacities)])
    env = network.env
    windows = []
    for link in rng.sample(range(len(capacities)), 2):
        start = round(rng.uniform(0.0, 30.0), 1)
        windows.append((link, start, start + round(rng.uniform(1.0, 10.0), 1)))
    flows = []
    for _ in range(rng.randint(3, 12)):
        a, b = sorted(rng.sample(range(len(nodes)), 2))
        flows.append((nodes[a], nodes[b], float(rng.randint(20, 400)), round(rng.uniform(0.0, 40.0), 1),
                      rng.choice([None, None, 4.0, 15.0])))
    done = [math.inf] * len(flows)

    def one(i, src, dst, size, at, cap):
        yield env.timeout(at)
        yield from network.complete(network.start_flow(src, dst, size, cap))
        done[i] = env.now

    for i, spec in enumerate(flows):
        env.process(one(i, *spec))
    for link, start, end in windows:
        start_outage(network, link, at=start, for_=end - start)
    env.run()
    expected = reference_finish_times(
        capacities, windows,
        [(tuple(range(nodes.index(src), nodes.index(dst))), size, at, cap) for src, dst, size, at, cap in flows])
    assert done == [pytest.approx(t, rel=1e-9) for t in expected]
