"""Faults scheduled by the scenario: link outage windows and destinations retired for good."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from sim.engine.events import DomainEvents
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link, Network


def link_outage(env: simpy.Environment, network: Network, events: DomainEvents, link: Link,
                at_s: float, for_s: float) -> Generator[simpy.Event, Any, None]:
    """Process: take `link` down at `at_s` for `for_s` seconds (its flows stall meanwhile)."""
    yield env.timeout(at_s)
    network.set_link_down(link)
    events.link_down(env.now, link, for_s)
    yield env.timeout(for_s)
    network.set_link_up(link)
    events.link_up(env.now, link)


def retirement(env: simpy.Environment, rel: MirrorRelationship, at_s: float) -> Generator[simpy.Event, Any, None]:
    """Process: remove `rel`'s destination for good at `at_s`."""
    yield env.timeout(at_s)
    rel.retire()
