"""Shrunk random worlds kept as regression tests: every `*.yaml` here, under every protocol,
must hold every invariant of `tests/invariants.py`.

Each file is a minimal world the random-worlds gate found violating an invariant; its
header says which check, what the world's shape is, and what the engine did wrong then.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from invariants import check_all

from sim.engine.model import simulate
from sim.protocols.registry import names
from sim.scenario import load_scenario

WORLDS = Path(__file__).resolve().parent


def cases() -> list:
    """(file, protocol) for every kept world and protocol."""
    return [pytest.param(path.name, protocol, id=f"{path.stem}-{protocol}")
            for path in sorted(WORLDS.glob("*.yaml")) for protocol in names()]


@pytest.mark.parametrize(("name", "protocol"), cases())
def test_kept_world_holds_every_invariant(name: str, protocol: str):
    world = load_scenario(WORLDS / name).model_copy(update={"protocol": protocol})
    check_all(world, simulate(world))
