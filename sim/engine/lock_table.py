"""Every hard and soft lock on every volume, with one owner: the lock table.

A *hard lock* is a relationship's hold on its base on the source ("base of SRC->DST"): nothing
but autodelete at `destroy` overrides it. A *soft lock* (`SoftLock`, patent claims 3-9 and
32-34) says "a system downstream depends on this PCPI": the PCPI (resource) id, a type
(`owner`, `destination_path`, `qtree`), a user-visible string, and the locking dataset (the
downstream resource that needs it), held on a volume on behalf of a sender (the system that
sent it, or the application holding it).

The table sets, renews, releases and re-pins locks and announces each change as a domain
event (rows, propagation and lock space are the observers' business). It keeps two indexes
of the same soft locks, always together: per PCPI (what protects a PCPI: retention, rotation
and autodelete ask this) and per sender (what a sender's lock set replaces).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from sim.engine.events import DomainEvents
    from sim.engine.storage import Pcpi, Volume


@dataclass(slots=True, unsafe_hash=True, init=False)
class SoftLock:
    """An advisory lock on a PCPI held on behalf of a downstream dataset.

    `candidates` are the locking dataset's PCPIs, newest first, that it could use as a
    base, narrowed at every hop to those the hop shares with its own source. Each system
    that holds the lock pins the newest candidate it still has (`pcpi_id`). `created_s` is
    when the locking dataset created it and `hops` how far it has travelled from there.

    A value: nothing assigns a field after construction (`pinned_on` makes a new lock), as
    lock sets already sent and the holders share these objects; `tests/test_lock_set_costs.py`
    checks that every lock sent keeps its fields to the end of a run. It is not a `frozen`
    dataclass only because that costs about five times as much to construct, and a run
    constructs thousands of locks per simulated day; it hashes by value as a frozen one would.
    """

    pcpi_id: int
    type: str
    string: str
    locking_dataset: str
    created_s: float
    hops: int
    candidates: tuple[int, ...]

    def __init__(self, pcpi_id: int, type: str, string: str, locking_dataset: str,  # noqa: A002 - the patent's field name
                 created_s: float, hops: int, candidates: tuple[int, ...]):
        # Written out: the one `dataclass` generates runs interpreted, and every lock set builds locks.
        self.pcpi_id = pcpi_id
        self.type = type
        self.string = string
        self.locking_dataset = locking_dataset
        self.created_s = created_s
        self.hops = hops
        self.candidates = candidates

    def pinned_on(self, pcpi_id: int, candidates: tuple[int, ...] | None = None, hops: int | None = None) -> SoftLock:
        """The same lock pinning `pcpi_id` (built directly: `dataclasses.replace` is slow on the hot path)."""
        if pcpi_id == self.pcpi_id and candidates is None and hops is None:
            return self
        return SoftLock(pcpi_id, self.type, self.string, self.locking_dataset, self.created_s,
                        self.hops if hops is None else hops, self.candidates if candidates is None else candidates)


HeldSoftLock = tuple[SoftLock, float, float | None]
"""A soft lock in force: the lock, when it was set here, its propagation delay (or None)."""


class VolumeLocks:
    """The locks in force on one volume, per PCPI (read by the volume and the observers; only
    the lock table changes them)."""

    __slots__ = ("hard", "soft")

    def __init__(self) -> None:
        self.hard: dict[int, dict[str, float]] = {}
        """Per PCPI, owning relationship -> when its hard lock was set."""
        self.soft: dict[int, dict[tuple[str, str], HeldSoftLock]] = {}
        """Per PCPI, (sender, locking dataset) -> the soft lock held."""

    def is_locked(self, pcpi_id: int) -> bool:
        return pcpi_id in self.hard or pcpi_id in self.soft


class LockTable:
    """The hard and soft locks of one run, on every volume."""

    def __init__(self, env: simpy.Environment, events: DomainEvents):
        self.env = env
        self.events = events
        self._from_sender: dict[tuple[str, str], dict[tuple[int, str], SoftLock]] = {}
        """Per (volume, sender): (PCPI, locking dataset) -> the lock as that sender's set holds it."""

    # -- hard locks ------------------------------------------------------------------------

    def set_hard(self, volume: Volume, pcpi_id: int, owner: str) -> None:
        volume.locks.hard.setdefault(pcpi_id, {})[owner] = self.env.now
        self.events.protection_changed(volume)

    def release_hard(self, volume: Volume, pcpi_id: int, owner: str, reason: str = "released") -> None:
        held = volume.locks.hard.get(pcpi_id)
        if held is None or owner not in held:
            return
        set_s = held.pop(owner)
        if not held:
            del volume.locks.hard[pcpi_id]
        self.events.protection_changed(volume)
        self.events.hard_lock_released(self.env.now, volume, pcpi_id, owner, set_s, reason)

    # -- soft locks ------------------------------------------------------------------------

    def held_from(self, volume: Volume, sender: str) -> dict[tuple[int, str], SoftLock]:
        """The soft locks `sender` holds on `volume`, by (PCPI, locking dataset)."""
        return self._from_sender.setdefault((volume.name, sender), {})

    def holds(self, volume: Volume, sender: str, key: tuple[int, str]) -> bool:
        return key in self._from_sender.get((volume.name, sender), {})

    def set_soft(self, volume: Volume, sender: str, lock: SoftLock, *, arrived: bool = True) -> None:
        """Hold `lock` on `volume` for `sender`. `arrived`: it came in a lock set (so its delay
        since creation at the locking dataset is a propagation sample), rather than moving to
        the next candidate when its PCPI went."""
        key = (lock.pcpi_id, lock.locking_dataset)
        now = self.env.now
        self._from_sender.setdefault((volume.name, sender), {})[key] = lock
        delay = now - lock.created_s if arrived else None
        volume.locks.soft.setdefault(lock.pcpi_id, {})[(sender, lock.locking_dataset)] = (lock, now, delay)
        self.events.soft_lock_set(now, volume, sender, lock, delay)
        self.events.protection_changed(volume)

    def renew_soft(self, volume: Volume, sender: str, lock: SoftLock) -> None:
        """Replace a held lock's record (same PCPI, new candidates), keeping its set time."""
        self._from_sender[(volume.name, sender)][(lock.pcpi_id, lock.locking_dataset)] = lock
        held = volume.locks.soft[lock.pcpi_id]
        _old, set_s, delay = held[(sender, lock.locking_dataset)]
        held[(sender, lock.locking_dataset)] = (lock, set_s, delay)

    def release_soft(self, volume: Volume, sender: str, key: tuple[int, str], reason: str) -> None:
        pcpi_id, dataset = key
        self._from_sender[(volume.name, sender)].pop(key, None)
        held = volume.locks.soft.get(pcpi_id)
        if held is None or (sender, dataset) not in held:
            return
        lock, set_s, delay = held.pop((sender, dataset))
        if not held:
            del volume.locks.soft[pcpi_id]
        self.events.protection_changed(volume)
        self.events.soft_lock_released(self.env.now, volume, sender, lock, set_s, delay, reason)

    # -- a PCPI leaves -----------------------------------------------------------------------

    def pcpi_deleted(self, volume: Volume, pcpi: Pcpi) -> None:
        """Release every lock on a PCPI that left `volume`; a soft lock moves to the locking
        dataset's next usable base on that volume, if it has one."""
        for owner in list(volume.locks.hard.get(pcpi.id, ())):
            self.release_hard(volume, pcpi.id, owner, "pcpi_deleted")
        for (sender, dataset), (lock, _set_s, _delay) in list(volume.locks.soft.get(pcpi.id, {}).items()):
            self.release_soft(volume, sender, (pcpi.id, dataset), "pcpi_deleted")
            repin = next((c for c in lock.candidates if c in volume.pcpis), None)
            if repin is not None:
                self.set_soft(volume, sender, lock.pinned_on(repin), arrived=False)

    # -- reading the table ---------------------------------------------------------------------

    @staticmethod
    def owners(volume: Volume, pcpi_id: int) -> Iterator[tuple[str, str | None, SoftLock | None]]:
        """Who locks a PCPI on a volume: (`hard`, owning relationship, None) for each hard lock,
        then (`soft`, sender, lock) for each soft lock."""
        for owner in volume.locks.hard.get(pcpi_id, ()):
            yield "hard", owner, None
        for (sender, _dataset), (lock, _set_s, _delay) in volume.locks.soft.get(pcpi_id, {}).items():
            yield "soft", sender, lock

    def close(self, volumes: list[Volume]) -> None:
        """At the end of the run: announce every lock still in force (reason None)."""
        now = self.env.now
        for volume in volumes:
            for pcpi_id, owners in volume.locks.hard.items():
                for owner, set_s in owners.items():
                    self.events.hard_lock_released(now, volume, pcpi_id, owner, set_s, None)
            for held in volume.locks.soft.values():
                for (sender, _dataset), (lock, set_s, delay) in held.items():
                    self.events.soft_lock_released(now, volume, sender, lock, set_s, delay, None)
