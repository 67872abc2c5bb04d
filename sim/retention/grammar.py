"""Retention grammars as pure rules: given a set of snapshots and the time now, which stay.

The replication tools each have a grammar of their own for what to keep (zrepl's grid and
last_n, sanoid's counts per period, znapzend's plans, btrbk's preserve, zfs-autobackup's
thinner). Each is written here as a `Grammar`: a pure function of the snapshots it is shown
and the moment, with no knowledge of locks, holds or the simulator. `sim.retention` adapts a
grammar to a volume's PCPIs; locked and busy PCPIs then stay whatever the grammar says, as a
held ZFS snapshot survives `zfs destroy`.

A list of grammars keeps the union of what each keeps: a snapshot goes only if every rule
lets it go (zrepl's semantics for a list of `keep` rules).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a grammar may look at of one snapshot.

    `id` increases with creation; `created_s` is seconds since the Unix epoch (UTC) in the
    run's calendar; `name` is what a regex filter matches (`<label>.<n>` for the simulator's
    PCPIs); `replicated` says whether every destination that reads from this volume has it.
    """

    id: int
    created_s: float
    name: str
    replicated: bool = True


class Grammar(ABC):
    """A retention rule: which of a set of snapshots to keep at a moment."""

    @abstractmethod
    def keep(self, snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
        """The ids of `snapshots` (oldest first, all created at or before `now_s`) to keep."""


def kept_by_all(rules: Sequence[Grammar], snapshots: Sequence[Snapshot], now_s: float) -> set[int]:
    """The ids some rule of `rules` keeps: a snapshot goes only if every rule lets it go."""
    kept: set[int] = set()
    for rule in rules:
        kept |= rule.keep(snapshots, now_s)
    return kept
