"""Protocol `none`: no soft locks. Each source hard-locks only its own relationship's base,
so a cascade's tail is protected by nobody upstream of its direct source."""

from __future__ import annotations

from sim.protocols.base import DependencyStrategy


class NoLocks(DependencyStrategy):
    """Sends nothing and vetoes nothing: the engine's hard lock on each base is all there is."""
