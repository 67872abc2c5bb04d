"""The plan: how a scenario's parts fit together, resolved once for everyone.

A `Scenario` says what exists; a `Plan` says how it connects, so that validation, the run
limits and the engine (topology, model, lock space, oracle) read one answer instead of each
working it out again:

- the network: a networkx graph of appliances and routers whose edges are the links, and the
  lowest-latency route between two of them;
- the mirrors in dependency order: each mirror after the one that creates its source volume
  (the order in which the engine builds relationships, and their indexes);
- the volume layout: every volume's size and qtree shares, mirror destinations included;
- lineages: a read-only volume-mirror image holds its source's PCPIs, so it belongs to the
  lineage of the volume whose PCPIs they are, its head (a writable volume, or a qtree-mirror
  destination, which takes its own PCPIs).

A plan is built from a scenario that pydantic accepted. Cross-reference validation builds one
before it knows the references resolve, so a plan resolves what it can: a mirror whose source
volume is neither declared nor created by another resolved mirror (or that is part of a cycle)
is left in `unresolved_mirrors` and out of everything else. For a validated scenario that tuple
is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

from sim.scenario.schema import MirrorSpec, Scenario

HOP_PENALTY_S = 1e-9
"""Added to every link's latency when routing, so that of equal-latency routes the one with
fewer hops wins."""


@dataclass(frozen=True, slots=True)
class PlannedLink:
    """A network link: its index (its position in the scenario's `links`), its name `A-B`, its
    two ends, its bandwidth and its latency."""

    index: int
    name: str
    ends: tuple[str, str]
    bandwidth_bps: float
    latency_s: float


@dataclass(frozen=True, slots=True)
class VolumeLayout:
    """A volume's live size and the share of it each of its qtrees holds (read-only mapping).

    A volume-mirror destination has its source's layout; a qtree-mirror destination volume
    holds that one qtree (share 1) and is the qtree's size."""

    size_bytes: float
    qtree_shares: Mapping[str, float]


class Plan:
    """What `scenario` resolves to (see the module's docstring). Read-only once built.

    Attributes:
        scenario: the scenario it was built from.
        graph: networkx `Graph`; nodes are appliances (attribute `kind="appliance"`, added in
            name order) then routers (`kind="router"`, in name order); one edge per link with
            `index`, `bandwidth_bps`, `latency_s` and the routing `weight` (latency plus
            `HOP_PENALTY_S`). Link ends that name nothing declared are nodes without `kind`
            (only in a scenario that fails validation).
        links: every link as a `PlannedLink`, in scenario order.
        mirrors_in_dependency_order: the resolved mirrors, each after the mirror that creates its
            source volume; position i is relationship i of a run.
        unresolved_mirrors: scenario indexes of the mirrors whose source does not resolve.
        volume_layout: every volume's `VolumeLayout` by name: declared volumes in scenario order,
            then mirror destinations in dependency order.
    """

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.graph = nx.Graph()
        for name in sorted(scenario.appliances):
            self.graph.add_node(name, kind="appliance")
        for name in sorted(scenario.routers):
            self.graph.add_node(name, kind="router")
        links = []
        for index, link in enumerate(scenario.links):
            a, b = link.between
            self.graph.add_edge(a, b, index=index, weight=link.latency + HOP_PENALTY_S,
                                bandwidth_bps=link.bandwidth, latency_s=link.latency)
            links.append(PlannedLink(index, f"{a}-{b}", (a, b), link.bandwidth, link.latency))
        self.links: tuple[PlannedLink, ...] = tuple(links)
        self._routes: dict[tuple[str, str], tuple[int, ...]] = {}

        self.volume_layout: dict[str, VolumeLayout] = {
            name: VolumeLayout(v.size, {q: spec.share for q, spec in v.qtrees.items()})
            for name, v in scenario.volumes.items()}
        self._head: dict[str, str] = {name: name for name in scenario.volumes}
        self._incoming: dict[str, MirrorSpec] = {}
        ordered: list[MirrorSpec] = []
        pending = list(range(len(scenario.mirrors)))
        while pending:
            ready = [i for i in pending if scenario.mirrors[i].source_volume in self.volume_layout]
            if not ready:
                break
            for i in ready:
                mirror = scenario.mirrors[i]
                ordered.append(mirror)
                if mirror.destination_volume not in self.volume_layout:
                    self._create_destination(mirror)
            pending = [i for i in pending if i not in ready]
        self.mirrors_in_dependency_order: tuple[MirrorSpec, ...] = tuple(ordered)
        self.unresolved_mirrors: tuple[int, ...] = tuple(pending)
        images: dict[str, list[str]] = {}
        for name, head in self._head.items():
            if head != name:
                images.setdefault(head, []).append(name)
        self._images = {head: tuple(names) for head, names in images.items()}

    def _create_destination(self, mirror: MirrorSpec) -> None:
        """Lay out the volume `mirror` creates and place it in its source's lineage."""
        source = self.volume_layout[mirror.source_volume]
        destination = mirror.destination_volume
        if mirror.type == "volume":
            self.volume_layout[destination] = source
            self._head[destination] = self._head[mirror.source_volume]
        elif mirror.type == "vault":
            self.volume_layout[destination] = source
            self._head[destination] = destination
        else:
            share = source.qtree_shares.get(mirror.source_qtree or "", 0.0)
            self.volume_layout[destination] = VolumeLayout(source.size_bytes * share,
                                                           {mirror.destination.rpartition("/")[2]: 1.0})
            self._head[destination] = destination
        self._incoming[destination] = mirror

    def route(self, source: str, destination: str) -> tuple[int, ...]:
        """Indexes of the links on the lowest-latency path from appliance (or router) `source` to
        `destination`, in order; empty from a node to itself. Of equal-latency paths, the one
        with fewer hops; of those, the one networkx's Dijkstra meets first, which follows the
        order of `links` in the scenario (not names): the same every run. Computed on first use,
        then remembered. Raises `networkx.NetworkXNoPath` when no path joins them (never between
        a validated mirror's ends)."""
        key = (source, destination)
        route = self._routes.get(key)
        if route is None:
            if source == destination:
                route = ()
            else:
                nodes = nx.shortest_path(self.graph, source, destination, weight="weight")
                route = tuple(self.graph.edges[a, b]["index"] for a, b in zip(nodes, nodes[1:]))
            self._routes[key] = route
        return route

    def incoming(self, volume: str) -> MirrorSpec | None:
        """The mirror that creates `volume`, None for a declared (writable) volume."""
        return self._incoming.get(volume)

    def head(self, volume: str) -> str:
        """The head of `volume`'s lineage: the volume itself unless it is a volume-mirror
        destination, whose head is its source's head (a writable volume, or a qtree-mirror or
        vault destination: those keep PCPIs under rules of their own)."""
        return self._head[volume]

    def lineage(self, volume: str) -> tuple[str, ...]:
        """`volume`, its volume-mirror source, that one's, ..., up to its head (last). Its length
        less one is the number of volume-mirror hops between the volume and its head."""
        chain = [volume]
        head = self._head[volume]
        while chain[-1] != head:
            chain.append(self._incoming[chain[-1]].source_volume)
        return tuple(chain)

    def images(self, head: str) -> tuple[str, ...]:
        """The read-only volume-mirror images whose lineage `head` heads (all volumes with that
        head but the head itself), in `volume_layout` order; empty for a volume that heads none."""
        return self._images.get(head, ())
