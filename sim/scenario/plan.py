"""The plan: what a validated scenario resolves to, once, for everyone.

Today: the volume layout (every volume's size and qtree shares, mirror destinations included)
and the mirrors in dependency order.
"""

from __future__ import annotations

from sim.scenario.schema import MirrorSpec, Scenario


def volume_layout(s: Scenario) -> tuple[dict[str, tuple[float, dict[str, float]]], list[int]]:
    """Every volume's size and qtree shares, mirror destinations included, and the indexes of
    mirrors whose source volume is unknown.

    A volume-mirror destination has its source's size and qtrees; a qtree-mirror destination
    volume holds that one qtree (share 1) and is the qtree's size.
    """
    layout = {name: (v.size, {q: spec.share for q, spec in v.qtrees.items()}) for name, v in s.volumes.items()}
    pending = list(range(len(s.mirrors)))
    while pending:
        ready = [i for i in pending if s.mirrors[i].source_volume in layout]
        if not ready:
            break
        for i in ready:
            mirror = s.mirrors[i]
            size, qtrees = layout[mirror.source_volume]
            if mirror.type == "volume":
                layout.setdefault(mirror.destination_volume, (size, qtrees))
            else:
                share = qtrees.get(mirror.source_qtree or "", 0.0)
                layout.setdefault(mirror.destination_volume, (size * share, {mirror.destination.rpartition("/")[2]: 1.0}))
        pending = [i for i in pending if i not in ready]
    return layout, pending


def mirrors_in_dependency_order(s: Scenario) -> list[MirrorSpec]:
    """Mirrors ordered so that each source volume exists before its mirror (validated scenarios)."""
    known = set(s.volumes)
    pending, ordered = list(s.mirrors), []
    while pending:
        ready = [m for m in pending if m.source_volume in known]
        if not ready:
            raise ValueError("mirror sources that are neither volumes nor mirror destinations")
        ordered += ready
        known.update(m.destination_volume for m in ready)
        pending = [m for m in pending if m not in ready]
    return ordered
