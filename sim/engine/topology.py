"""The network graph of appliances and routers, and routing over it.

Routes are shortest paths by latency (ties broken by fewer hops, then by name order,
so routing is deterministic).
"""

from __future__ import annotations

import networkx as nx

from sim.scenario import Scenario

_HOP_PENALTY_S = 1e-9
"""Added to every link's latency when routing so that equal-latency routes prefer fewer hops."""


class Topology:
    """networkx graph: nodes are appliances and routers, edges carry link index and specs."""

    def __init__(self, scenario: Scenario):
        self.graph = nx.Graph()
        for name in sorted(scenario.appliances):
            self.graph.add_node(name, kind="appliance")
        for name in sorted(scenario.routers):
            self.graph.add_node(name, kind="router")
        self._specs: list[tuple[str, float, float]] = []
        for index, link in enumerate(scenario.links):
            a, b = link.between
            self.graph.add_edge(a, b, index=index, weight=link.latency + _HOP_PENALTY_S,
                                bandwidth_bps=link.bandwidth, latency_s=link.latency)
            self._specs.append((f"{a}-{b}", link.bandwidth, link.latency))

    def link_specs(self) -> list[tuple[str, float, float]]:
        """(name, bandwidth_bps, latency_s) of every link, in scenario order."""
        return list(self._specs)

    def route(self, src: str, dst: str) -> list[int]:
        """Indices of the links on the lowest-latency path from `src` to `dst`."""
        if src == dst:
            return []
        nodes = nx.shortest_path(self.graph, src, dst, weight="weight")
        return [self.graph.edges[a, b]["index"] for a, b in zip(nodes, nodes[1:])]
