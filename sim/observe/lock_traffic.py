"""Lock traffic: lock sets sent per appliance (messages and bytes on the wire), those of them
that never arrived, and how long locks took to come into force: from creation at the locking
dataset to being set at a holder."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.events import DomainEvents

if TYPE_CHECKING:
    from sim.engine.lock_table import SoftLock
    from sim.engine.storage import Volume


class LockTraffic:
    """Counts lock messages and samples propagation delays from the engine's lock events."""

    def __init__(self, events: DomainEvents, appliances: list[str]):
        self.messages = {name: 0 for name in appliances}
        self.message_bytes = {name: 0.0 for name in appliances}
        self.lost = {name: 0 for name in appliances}
        """Lock sets each appliance sent of which no copy arrived (lost, or lost to a crash)."""
        self.propagation: dict[tuple[int, bool], array[float]] = {}
        """Seconds from creation at the locking dataset to being set here, per lock that arrived
        in a set, by (hops, whether here is the head of a cascade, a writable volume): raw
        doubles, 8 bytes a lock, so that a long run's delays cost little memory."""
        events.lock_set_sent.subscribe(self.lock_set_sent)
        events.lock_set_lost.subscribe(self.lock_set_lost)
        events.soft_lock_set.subscribe(self.soft_lock_set)

    def lock_set_sent(self, _now: float, appliance: str, size_bytes: float) -> None:
        self.messages[appliance] += 1
        self.message_bytes[appliance] += size_bytes

    def lock_set_lost(self, _now: float, appliance: str, _why: str) -> None:
        self.lost[appliance] += 1

    def soft_lock_set(self, _now: float, volume: Volume, _sender: str, lock: SoftLock, delay: float | None) -> None:
        if delay is not None:
            key = (lock.hops, volume.writable)
            delays = self.propagation.get(key)
            if delays is None:
                delays = self.propagation[key] = array("d")
            delays.append(delay)

    def delays(self, *, to_head: bool = False) -> np.ndarray:
        """Every propagation delay (or only those set at heads of cascades), grouped by hops."""
        return delays_of(self.propagation, to_head=to_head)

    def propagation_summary(self) -> dict[str, Any]:
        """summary.json's `lock_propagation_s` of this run (see `propagation_summary`)."""
        return propagation_summary(self.propagation)


Propagation = dict[tuple[int, bool], "array[float]"]
"""Raw propagation delays by (hops, whether set at the head of a cascade)."""


def delays_of(propagation: Propagation, *, to_head: bool = False) -> np.ndarray:
    """Every delay of `propagation` (or only those set at heads of cascades), grouped by hops."""
    chosen = [delays for (_hops, head), delays in sorted(propagation.items()) if head or not to_head]
    return np.concatenate([np.frombuffer(delays) for delays in chosen]) if chosen else np.empty(0)


def propagation_summary(propagation: Propagation) -> dict[str, Any]:
    """Seconds from a lock's creation at its locking dataset to being set at a holder:
    percentiles overall, at the heads of cascades (writable volumes: the end-to-end
    delay), and per number of hops travelled (1 = the direct source). Percentiles and maxima
    do not depend on the order of the delays, so the delays of several cascades give the same
    figures in any order."""
    def stats(delays: np.ndarray) -> dict[str, float | int | None]:
        if not delays.size:
            return {"count": 0, "p50": None, "p95": None, "max": None}
        p50, p95 = np.percentile(delays, [50, 95])
        return {"count": int(delays.size), "p50": float(p50), "p95": float(p95), "max": float(delays.max())}
    by_hops: dict[int, list[array[float]]] = {}
    for (hops, _head), delays in sorted(propagation.items()):
        by_hops.setdefault(hops, []).append(delays)
    return {**stats(delays_of(propagation)), "to_head": stats(delays_of(propagation, to_head=True)),
            "by_hops": {str(h): stats(np.concatenate([np.frombuffer(d) for d in by_hops[h]])) for h in sorted(by_hops)}}
