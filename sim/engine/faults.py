"""Faults of the scenario: link outage windows, random link failures and destinations retired
for good."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.durations import exponential, repair_time

if TYPE_CHECKING:
    import numpy as np

    from sim.engine.events import DomainEvents
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link, Network
    from sim.scenario.schema import LinkFailureSpec


def link_outage(env: simpy.Environment, network: Network, events: DomainEvents, link: Link,
                at_s: float, for_s: float) -> Generator[simpy.Event, Any, None]:
    """Process: take `link` down at `at_s` for `for_s` seconds (its flows stall meanwhile)."""
    yield env.timeout(at_s)
    network.set_link_down(link)
    events.link_down(env.now, link, for_s)
    yield env.timeout(for_s)
    network.set_link_up(link)
    events.link_up(env.now, link)


def random_link_failures(env: simpy.Environment, network: Network, events: DomainEvents, link: Link,
                         rng: np.random.Generator, spec: LinkFailureSpec) -> Generator[simpy.Event, Any, None]:
    """Process: `link` fails and is repaired again and again until the run ends: up for an
    exponential time of mean `spec.mtbf`, then down for a repair time of mean `spec.mttr` (of
    the `spec.repair` family). Every draw comes from `rng`, the link's own stream; a failure may
    overlap an outage window (the link is up again when both are over)."""
    while True:
        yield env.timeout(exponential(rng, spec.mtbf))
        repair_s = repair_time(rng, spec.mttr, spec.repair)
        network.set_link_down(link)
        events.link_down(env.now, link, repair_s)
        yield env.timeout(repair_s)
        network.set_link_up(link)
        events.link_up(env.now, link)


def retirement(env: simpy.Environment, rel: MirrorRelationship, at_s: float) -> Generator[simpy.Event, Any, None]:
    """Process: remove `rel`'s destination for good at `at_s`."""
    yield env.timeout(at_s)
    rel.retire()
