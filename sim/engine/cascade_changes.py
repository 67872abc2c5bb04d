"""Cascade changes at a time: a destination re-pointed to another source, and an
administrator's release of what a retired destination left locked on its source."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Volume


def repoint(env: simpy.Environment, rel: MirrorRelationship, new_source: Volume,
            at_s: float) -> Generator[simpy.Event, Any, None]:
    """Process: at `at_s`, `rel` takes `new_source` as its source."""
    yield env.timeout(at_s)
    rel.repoint(new_source)


def release(env: simpy.Environment, rel: MirrorRelationship, at_s: float) -> Generator[simpy.Event, Any, None]:
    """Process: at `at_s`, an administrator releases what retired `rel` left on its source."""
    yield env.timeout(at_s)
    rel.release()
