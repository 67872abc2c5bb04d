"""The plan: routes, mirror order, volume layout and lineages, resolved once from a scenario."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from sim.scenario import Plan, Scenario
from sim.scenario.plan import PlannedLink

GIB = 2**30


def network(links: list[tuple[str, str, str]], appliances: str = "ABCD", routers: tuple[str, ...] = ()) -> Plan:
    """The plan of a scenario with these appliances, routers and (end, end, latency) links."""
    return Plan(Scenario.model_validate({
        "name": "net", "seed": 1, "duration": "1d",
        "appliances": {name: {"capacity": "1TiB"} for name in appliances}, "routers": list(routers),
        "links": [{"between": [a, b], "bandwidth": "1Gbit/s", "latency": latency} for a, b, latency in links]}))


def names(plan: Plan, route: tuple[int, ...]) -> list[str]:
    return [plan.links[index].name for index in route]


def test_links_keep_their_scenario_order_and_units():
    plan = network([("A", "B", "2ms"), ("B", "C", "0")])
    assert plan.links == (PlannedLink(0, "A-B", ("A", "B"), 125e6, 0.002), PlannedLink(1, "B-C", ("B", "C"), 125e6, 0.0))
    assert plan.graph.nodes["A"]["kind"] == "appliance"
    assert plan.graph.edges["B", "C"]["index"] == 1


def test_a_route_is_the_lowest_latency_path_even_over_more_hops_and_routers():
    plan = network([("A", "B", "10ms"), ("A", "R1", "1ms"), ("R1", "B", "1ms")], routers=("R1",))
    assert names(plan, plan.route("A", "B")) == ["A-R1", "R1-B"]
    assert names(plan, plan.route("B", "A")) == ["R1-B", "A-R1"]
    assert plan.route("A", "A") == ()


def test_of_equal_latency_paths_the_one_with_fewer_hops_wins():
    plan = network([("A", "C", "1ms"), ("C", "B", "1ms"), ("A", "B", "2ms")])
    assert names(plan, plan.route("A", "B")) == ["A-B"]


@pytest.mark.parametrize(("links", "expected"), [
    ([("A", "B"), ("B", "D"), ("A", "C"), ("C", "D")], ["A-B", "B-D"]),
    ([("A", "C"), ("C", "D"), ("A", "B"), ("B", "D")], ["A-C", "C-D"]),
])
def test_equal_paths_tie_on_the_order_of_the_links_not_on_names(links, expected):
    # The engine's routing since the first version: networkx's Dijkstra meets A's links in the
    # order they were added. Outcomes depend on it, so it must not move.
    plan = network([(a, b, "1ms") for a, b in links])
    assert names(plan, plan.route("A", "D")) == expected


def test_no_path_is_an_error_of_networkx():
    plan = network([("A", "B", "1ms")])
    with pytest.raises(nx.NetworkXNoPath):
        plan.route("A", "C")


def estate(mirrors: list[dict[str, Any]]) -> Plan:
    """A head volume A:/vol/db of 100 GiB with qtree q1 (a quarter), and these mirrors."""
    return Plan(Scenario.model_validate({
        "name": "estate", "seed": 1, "duration": "1d",
        "appliances": {name: {"capacity": "1PiB"} for name in "ABCDE"},
        "volumes": {"A:/vol/db": {"size": "100GiB", "change_rate": "1GiB/h", "qtrees": {"q1": {"share": 0.25}}}},
        "mirrors": [{"schedule": "0 * * * *", **mirror} for mirror in mirrors]}))


TAIL_FIRST = [
    {"source": "D:/vol/q1", "destination": "E:/vol/q1"},
    {"source": "B:/vol/db", "destination": "C:/vol/db"},
    {"source": "A:/vol/db/q1", "destination": "D:/vol/q1/q1", "type": "qtree"},
    {"source": "A:/vol/db", "destination": "B:/vol/db"},
]
"""A -> B -> C by volume mirrors; A's qtree q1 -> D by a qtree mirror, D -> E by a volume mirror;
listed from the tails up."""


def test_mirrors_come_after_the_mirror_that_creates_their_source():
    plan = estate(TAIL_FIRST)
    assert [m.destination_volume for m in plan.mirrors_in_dependency_order] == ["D:/vol/q1", "B:/vol/db",
                                                                               "E:/vol/q1", "C:/vol/db"]
    assert plan.unresolved_mirrors == ()
    assert plan.incoming("C:/vol/db") is plan.scenario.mirrors[1]
    assert plan.incoming("A:/vol/db") is None


def test_destinations_are_laid_out_like_what_they_receive():
    layout = estate(TAIL_FIRST).volume_layout
    assert list(layout) == ["A:/vol/db", "D:/vol/q1", "B:/vol/db", "E:/vol/q1", "C:/vol/db"]
    assert layout["C:/vol/db"].size_bytes == 100 * GIB and layout["C:/vol/db"].qtree_shares == {"q1": 0.25}
    assert layout["D:/vol/q1"].size_bytes == 25 * GIB and layout["D:/vol/q1"].qtree_shares == {"q1": 1.0}
    assert layout["E:/vol/q1"] == layout["D:/vol/q1"]


def test_a_volume_mirror_image_belongs_to_the_lineage_of_its_head():
    plan = estate(TAIL_FIRST)
    assert plan.lineage("C:/vol/db") == ("C:/vol/db", "B:/vol/db", "A:/vol/db")
    assert plan.head("C:/vol/db") == "A:/vol/db"
    assert plan.images("A:/vol/db") == ("B:/vol/db", "C:/vol/db")
    # A qtree destination takes its own PCPIs: it heads a lineage of its own.
    assert plan.lineage("E:/vol/q1") == ("E:/vol/q1", "D:/vol/q1")
    assert plan.head("D:/vol/q1") == "D:/vol/q1"
    assert plan.images("D:/vol/q1") == ("E:/vol/q1",)
    assert plan.images("C:/vol/db") == ()


def test_a_plan_of_an_invalid_scenario_leaves_out_what_does_not_resolve():
    plan = estate([{"source": "A:/vol/db", "destination": "B:/vol/db"},
                   {"source": "X:/vol/none", "destination": "C:/vol/x"},
                   {"source": "D:/vol/c", "destination": "E:/vol/c"},
                   {"source": "E:/vol/c", "destination": "D:/vol/c"},
                   {"source": "B:/vol/db", "destination": "A:/vol/db"}])
    assert plan.unresolved_mirrors == (1, 2, 3)
    assert [m.destination_volume for m in plan.mirrors_in_dependency_order] == ["B:/vol/db", "A:/vol/db"]
    # A mirror onto a declared volume (refused by validation) does not make a loop of lineages.
    assert plan.lineage("B:/vol/db") == ("B:/vol/db", "A:/vol/db")
    assert plan.incoming("A:/vol/db") is None
