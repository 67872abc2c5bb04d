"""Shrunk random worlds kept as regression tests: every `*.yaml` here, under every protocol,
must hold every invariant of `tests/invariants.py`.

Each file is a minimal world the random-worlds gate found violating an invariant; its
header says which check, what the world's shape is, and what the engine did wrong. While
main's engine still does it, its (file, protocol) pairs are listed in `KNOWN_VIOLATIONS`
and marked strict xfail: a fix makes the test pass, strict xfail turns that into a failure,
and the entry is then deleted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from invariants import check_all

from sim.model import simulate
from sim.scenario import PROTOCOLS, load_scenario

WORLDS = Path(__file__).resolve().parent

ALL = PROTOCOLS
KNOWN_VIOLATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "retired_intermediate_deletes_what_its_transfer_reads.yaml":
        (ALL, "issue 10 item 2: retiring an intermediate deletes the PCPI its outgoing transfer sends, "
              "and the transfer completes from a volume that is gone"),
}
"""World file name -> (protocols under which main's engine violates it, why)."""


def cases() -> list:
    """(file, protocol) for every kept world and protocol, strict xfail where known to fail."""
    params = []
    for path in sorted(WORLDS.glob("*.yaml")):
        failing, why = KNOWN_VIOLATIONS.get(path.name, ((), ""))
        for protocol in PROTOCOLS:
            marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=why)] if protocol in failing else []
            params.append(pytest.param(path.name, protocol, marks=marks, id=f"{path.stem}-{protocol}"))
    return params


def test_every_known_violation_names_a_kept_world_and_real_protocols():
    for name, (protocols, why) in KNOWN_VIOLATIONS.items():
        assert (WORLDS / name).is_file(), name
        assert protocols and set(protocols) <= set(PROTOCOLS) and why, name


@pytest.mark.parametrize(("name", "protocol"), cases())
def test_kept_world_holds_every_invariant(name: str, protocol: str):
    result = simulate(load_scenario(WORLDS / name).model_copy(update={"protocol": protocol}))
    check_all(result.scenario, result)
