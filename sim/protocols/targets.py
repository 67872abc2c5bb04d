"""What btrbk and znapzend share: a source's view of its targets. A target is unreachable
("aborted" in btrbk, "send failed" in znapzend) while the path to it is down, and from an
update due or running while that path is down until its relationship next completes an
update; a target's latest common PCPI per label is the newest its destination received that
the source still has. See `sim.protocols.btrbk` and `sim.protocols.znapzend` for the sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.protocols.base import DependencyStrategy

if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

    import simpy

    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link
    from sim.engine.storage import Volume


@dataclass(slots=True)
class TargetState:
    """What a source knows of one target: whether a send to it failed since its last success."""

    send_failed: bool = False


class TargetWatch(DependencyStrategy):
    """What btrbk and znapzend share: which targets are unreachable ("aborted", "send failed")
    and which PCPI is a target's latest common one. Vetoes nothing by itself."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        self._seen: dict[MirrorRelationship, None] = {}
        self.services.events.link_down.subscribe(self._link_down)

    def new_state(self, rel: MirrorRelationship) -> TargetState:
        return TargetState()

    # -- when a send fails, and when it succeeds ----------------------------------------

    def before_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        self._seen[rel] = None
        if not self._path_up(rel):
            self.state_of(rel).send_failed = True  # this update cannot reach its target
        yield from ()  # a generator that yields nothing

    def _link_down(self, _now: float, link: Link, _for_s: float) -> None:
        """An update due or running across the link fails (its transfer stalls)."""
        network = self.services.network
        for rel in self._seen:
            if rel.busy and not rel.defunct and link in network.path(rel.source.appliance.name,
                                                                     rel.destination.appliance.name):
                self.state_of(rel).send_failed = True

    def transfer_ended(self, rel: MirrorRelationship, reads: tuple[int, ...], applied: bool) -> None:
        if applied:
            self.state_of(rel).send_failed = False

    # -- what the cleanup asks ------------------------------------------------------------

    def _path_up(self, rel: MirrorRelationship) -> bool:
        return self.services.network.path_is_up(rel.source.appliance.name, rel.destination.appliance.name)

    def aborted(self, rel: MirrorRelationship) -> bool:
        """Whether the target is unreachable now, or its last send failed and none succeeded since."""
        return not self._path_up(rel) or self.state_of(rel).send_failed

    @staticmethod
    def targets(volume: Volume) -> list[MirrorRelationship]:
        """The volume's relationships that can still update."""
        return [rel for rel in volume.outgoing if not rel.defunct]

    @staticmethod
    def latest_common(rel: MirrorRelationship, label: str) -> int | None:
        """The newest PCPI with `label` that the destination has received and the source still
        has (volume mirror: the destination's PCPIs; qtree mirror: the last PCPI transferred)."""
        source = rel.source.pcpis
        if rel.kind == "qtree":
            base = rel.base
            return base.id if base is not None and base.label == label and base.id in source else None
        for pcpi in rel.destination.newest_first():
            if pcpi.label == label and pcpi.id in source:
                return pcpi.id
        return None
