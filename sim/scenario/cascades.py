"""Independent cascades: the parts of a scenario that share nothing, so that each can be
simulated on its own (in another process, on another machine) and the results merged.

Two appliances (or routers) are in one cascade when anything joins them: a link (its outages,
bandwidth schedule and random failures go with it), a mirror, or a re-point (its new source
joins its destination). Everything else in a scenario belongs to exactly one appliance:
volumes, holds, appliance faults, releases. A snapshot policy over volumes of several cascades
is split: each cascade gets the policy over its own volumes (a firing snapshots, prunes and
autodeletes each volume on its own, so nothing joins them). A transfer only
ever crosses links between its two ends, so two cascades never share a link, a volume, an
appliance or a PCPI, and what happens in one cannot change what happens in another.

A cascade is a `Scenario` of its own: the scenario's settings (name, seed, protocol, duration,
start, sample interval, protocol options) and the parts that belong to it, each in its
scenario order. Cascades are ordered by their first appliance name; that name is the cascade's
`key`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from sim.scenario.schema import Scenario


def appliance_of(volume: str) -> str:
    """The appliance a volume name (`appliance:/vol/name`) lives on."""
    return volume.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Cascade:
    """One independent cascade: its key (first appliance name), its appliances and routers, and
    the scenario of its parts alone."""

    key: str
    nodes: frozenset[str]
    scenario: Scenario


def _joined(scenario: Scenario) -> nx.Graph:
    """Appliances and routers, with an edge for everything that makes two of them one cascade."""
    graph = nx.Graph()
    graph.add_nodes_from(scenario.appliances)
    graph.add_nodes_from(scenario.routers)
    graph.add_edges_from(link.between for link in scenario.links)
    graph.add_edges_from((appliance_of(m.source_volume), appliance_of(m.destination_volume)) for m in scenario.mirrors)
    graph.add_edges_from((appliance_of(change.source), appliance_of(change.destination))
                         for change in scenario.faults.repoints)
    return graph


def split(scenario: Scenario) -> list[Cascade]:
    """The scenario's independent cascades, by key. Routers joined to no appliance (whose links
    carry nothing, but go down and up, and are sampled) go with the first cascade; a scenario of
    one cascade gives one `Cascade` whose scenario is `scenario` itself."""
    components = [frozenset(nodes) for nodes in nx.connected_components(_joined(scenario))]
    groups = sorted((nodes for nodes in components if any(node in scenario.appliances for node in nodes)),
                    key=lambda nodes: min(node for node in nodes if node in scenario.appliances))
    groups[0] = groups[0].union(*(nodes for nodes in components if not any(n in scenario.appliances for n in nodes)))
    if len(groups) == 1:
        return [Cascade(min(scenario.appliances), groups[0], scenario)]
    return [Cascade(min(node for node in nodes if node in scenario.appliances), nodes, _restrict(scenario, nodes))
            for nodes in groups]


def _restrict(scenario: Scenario, nodes: frozenset[str]) -> Scenario:
    """`scenario` with only the parts that belong to the appliances and routers `nodes`."""
    def on(volume: str) -> bool:
        return appliance_of(volume) in nodes

    faults = scenario.faults
    part_faults = faults.model_copy(update={
        "links": tuple(f for f in faults.links if f.between[0] in nodes),
        "appliances": {name: spec for name, spec in faults.appliances.items() if name in nodes},
        "repoints": tuple(r for r in faults.repoints if on(r.destination)),
        "releases": tuple(r for r in faults.releases if on(r.destination))})
    return scenario.model_copy(update={
        "appliances": {name: spec for name, spec in scenario.appliances.items() if name in nodes},
        "routers": tuple(name for name in scenario.routers if name in nodes),
        "links": tuple(link for link in scenario.links if link.between[0] in nodes),
        "volumes": {name: spec for name, spec in scenario.volumes.items() if on(name)},
        "snapshot_policies": {name: spec.model_copy(update={"volumes": tuple(v for v in spec.volumes if on(v))})
                              for name, spec in scenario.snapshot_policies.items() if any(map(on, spec.volumes))},
        "mirrors": tuple(m for m in scenario.mirrors if on(m.source_volume)),
        "holds": tuple(h for h in scenario.holds if on(h.volume)),
        "faults": part_faults,
    })


def volume_names(cascades: Iterable[Cascade]) -> list[str]:
    """Every volume of the cascades, declared and mirror-created, in name order."""
    names: set[str] = set()
    for cascade in cascades:
        names.update(cascade.scenario.volumes)
        names.update(m.destination_volume for m in cascade.scenario.mirrors)
    return sorted(names)
