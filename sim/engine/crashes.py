"""What breaks transfers besides a stalled link: appliances that crash and restart, and links
that go down under a relationship whose policy is to abort or resume rather than stall.

An appliance crash (a scheduled window, or random with MTBF/MTTR drawn from the appliance's
own stream) takes the appliance off the network: paths to, from and through it are down, its
schedules miss their firings, every transfer attempt to or from it breaks (retried as its
relationship's break policy says once the appliance is back), and the dependency strategy
loses its volatile state there. Persistent state (PCPIs, received lock sets, relationship
bases, holds) survives: nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.engine.durations import exponential, repair_time
from sim.engine.mirror import CRASH, LINK_DOWN

if TYPE_CHECKING:
    import numpy as np

    from sim.engine.events import DomainEvents
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link, Network
    from sim.protocols.base import DependencyStrategy
    from sim.scenario.schema import ApplianceFaultSpec


class Crashes:
    """The crashes of every appliance of a run, and the transfers they break."""

    def __init__(self, env: simpy.Environment, network: Network, events: DomainEvents,
                 strategy: DependencyStrategy, relationships: list[MirrorRelationship]):
        self.env = env
        self.network = network
        self.events = events
        self.strategy = strategy
        self.relationships = relationships
        self._downs: dict[str, int] = {}
        """Per appliance, how many crash windows it is in now."""

    def crash(self, appliance: str) -> None:
        """`appliance` goes down: transfer attempts to and from it, or routed through it, break."""
        network = self.network
        network.set_appliance_down(appliance)
        self.events.appliance_down(self.env.now, appliance)
        self.strategy.appliance_crashed(appliance)
        for rel in self.relationships:
            if appliance in network.nodes_on(rel.source.appliance.name, rel.destination.appliance.name):
                rel.break_transfer(CRASH)

    def restart(self, appliance: str) -> None:
        """`appliance` is back with its persistent state."""
        self.network.set_appliance_up(appliance)
        self.events.appliance_up(self.env.now, appliance)
        self.strategy.appliance_restarted(appliance)

    def window(self, appliance: str, at_s: float, for_s: float) -> Generator[simpy.Event, Any, None]:
        """Process: `appliance` is down from `at_s` for `for_s` (overlapping windows and random
        crashes merge: it is down while any of them is)."""
        yield self.env.timeout(at_s)
        yield from self._down_for(appliance, for_s)

    def random(self, appliance: str, spec: ApplianceFaultSpec, rng: np.random.Generator,
               end_s: float) -> Generator[simpy.Event, Any, None]:
        """Process: up for an exponential time of mean MTBF, down for a repair time of mean
        MTTR, until the end of the run."""
        assert spec.mtbf is not None and spec.mttr is not None
        while True:
            up = exponential(rng, spec.mtbf)
            down = repair_time(rng, spec.mttr, spec.repair)
            if self.env.now + up >= end_s:
                return
            yield self.env.timeout(up)
            yield from self._down_for(appliance, down)

    def _down_for(self, appliance: str, for_s: float) -> Generator[simpy.Event, Any, None]:
        self._downs[appliance] = self._downs.get(appliance, 0) + 1
        if self._downs[appliance] == 1:
            self.crash(appliance)
        yield self.env.timeout(for_s)
        self._downs[appliance] -= 1
        if self._downs[appliance] == 0:
            self.restart(appliance)


def break_on_link_down(relationships: list[MirrorRelationship]) -> Callable[[float, Link, float], None]:
    """A subscriber to `link_down`: breaks the transfer attempts crossing the link of every
    relationship whose policy is `abort` or `resume` (under `stall` the flow just waits)."""
    breakable = [rel for rel in relationships if rel.on_break.policy != "stall"]

    def link_down(_now: float, link: Link, _for_s: float) -> None:
        for rel in breakable:
            transfer = rel.transfer
            if transfer is not None and transfer.flow is not None and link in transfer.flow.links:
                rel.break_transfer(LINK_DOWN)
    return link_down
