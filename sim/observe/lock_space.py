"""What soft locks cost in snapshot space: per volume, the bytes it holds only because soft locks
overrode retention and rotation, integrated exactly over time, with its peak.

The space model (see `sim.engine.storage`) frees space only when a volume's oldest PCPI goes, so
what locks cost on a volume is the span at its old end that would be gone without them.

At the head of a lineage (a writable volume, or a qtree-mirror destination, which takes its
own PCPIs) a PCPI *would be kept without soft locks* when it is hard-locked (a relationship's
base), busy (a running transfer reads it), the newest of its label for rotation-managed labels
(a qtree destination's own PCPIs), kept by its label's retention rule (keep-N counts, as
retention does, among the PCPIs of the label that are neither hard-locked nor busy; a
grammar answers for itself), or a mirror PCPI
that is hard-locked or busy (rotation removes the others at each update). A vault destination
is a head too (it keeps what it received by its own retention): there a PCPI would be kept
when hard-locked, busy, or kept by the vault's rule. The PCPIs older
than the oldest such PCPI are held by soft locks, or are waiting for the next retention or
rotation pass after their lock went: each holds the bytes changed from it to the next PCPI.
That segment is charged to application holds when an `owner` lock holds the PCPI, to the
protocol's locks when a `destination_path` or `qtree` lock does or when the dependency
strategy vetoes the PCPI's retention (btrbk and znapzend suspending cleanup), and, once the lock is gone
but the PCPI still waits for its pass, to whichever held it last (a previous base kept one
extra update by the lock set sent before the update is a protocol cost).

A read-only volume-mirror image holds the same PCPIs as its head, as of its last update: its
own old end costs what the head's span costs for the PCPIs it still shares with the head.
A lock held on an image itself retains nothing there (the image replays its source).

Levels change only at events and stay constant between them, so their time integrals are
exact: changes are gathered during an instant and applied when simulated time moves on
(`flush`), so an instant's transient states weigh nothing.

A run of one cascade of a bigger scenario (`sim.engine.cascade_runs`) also keeps a
`TotalLockTrace`: every change of the all-appliance total, so that the merge can replay the
changes of every cascade in the order one run of the whole scenario would have added them.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING

from sim.engine.events import DomainEvents
from sim.engine.holds import HOLD_LOCK_TYPE
from sim.scenario.plan import Plan

if TYPE_CHECKING:
    from sim.engine.storage import Pcpi, Volume
    from sim.retention.base import RetentionRule

LOCK, HOLD = "lock", "hold"


class Level:
    """A piecewise-constant level over time: its current value, time integral and peak."""

    __slots__ = ("value", "since_s", "integral", "peak")

    def __init__(self) -> None:
        self.value = 0.0
        self.since_s = 0.0
        self.integral = 0.0
        self.peak = 0.0

    def add(self, now: float, delta: float) -> None:
        self.integral += self.value * (now - self.since_s)
        self.since_s = now
        self.value += delta
        if self.value > self.peak:
            self.peak = self.value

    def integral_until(self, end_s: float) -> float:
        return self.integral + self.value * (end_s - self.since_s)


class TotalLockTrace:
    """Every change of the total of protocol-lock bytes, as three columns: when, in what order
    within its instant, and by how much.

    A flush moves the total volume by volume: heads (and volumes that are their own head) in
    name order, then images in name order. An instant may have two flushes: the sampler's, in
    the middle of the instant, then the one at its end. `order` numbers that sequence over the
    volumes of the whole scenario (`ranks`: every volume's position in name order), so that
    sorting the changes of several cascades by (time, order) gives the sequence one run of the
    whole scenario adds them in (every cascade's sampler samples at the same times), and adding
    them up in that sequence gives its running total, to the last bit.
    """

    __slots__ = ("times", "order", "deltas", "sampling", "_ranks", "_images_after")

    def __init__(self, ranks: Mapping[str, int]):
        self.times = array("d")
        self.order = array("q")
        self.deltas = array("d")
        self.sampling = False
        """Whether the flush under way is the sampler's (in the middle of an instant)."""
        self._ranks = ranks
        self._images_after = len(ranks)

    def add(self, now: float, volume: str, is_head: bool, delta: float) -> None:
        self.times.append(now)
        self.order.append(self._ranks[volume] + (0 if is_head else self._images_after)
                          + (0 if self.sampling else 2 * self._images_after))
        self.deltas.append(delta)


_name = attrgetter("name")


class LockSpaceMeter:
    """Bytes held by protocol locks and by application holds, per volume and per appliance."""

    def __init__(self, events: DomainEvents, plan: Plan, volumes: dict[str, Volume],
                 retention: dict[str, dict[str | None, list[RetentionRule]]], rotated_labels: dict[str, str], mirror_label: str,
                 vetoed: Callable[[Volume, int], bool] | None = None, trace: TotalLockTrace | None = None):
        """`retention`: per volume, the retention rules of each policy label on it, or under
        the key None the rules of a vault destination over all its PCPIs (a PCPI stays only
        if every rule keeps it); `rotated_labels`: per qtree-destination volume,
        the label of its own PCPIs, of which rotation keeps the newest; `mirror_label`: the
        label of a writable source's mirror PCPIs; `vetoed`: whether the dependency strategy
        vetoes retention of a PCPI (its veto holds space as a lock does: charged to the
        protocol), None for a strategy without a veto; `trace`: where to record each change of
        the total, or None."""
        self._vetoed = vetoed
        self.trace = trace
        self._retention = retention
        self._rotated = rotated_labels
        self._mirror_label = mirror_label
        self.dirty: set[Volume] = set()
        self._span: dict[str, dict[int, str | None]] = {}
        """Per head volume: the PCPIs at its old end held by locks (or waiting), and to whom."""
        self._last_kind: dict[str, dict[int, str]] = {}
        """Per head volume: who held each PCPI last (lock or hold), while it lasts."""
        self._held: dict[str, tuple[float, float]] = {}
        """Per volume: bytes held now by (protocol locks, holds)."""
        self._images: dict[str, list[Volume]] = {}
        self._head: dict[str, Volume] = {}
        self.lock_levels: dict[str, Level] = {}
        self.hold_levels: dict[str, Level] = {}
        self.total_lock = Level()
        self.total_hold = Level()
        for volume in volumes.values():
            head = self._head[volume.name] = volumes[plan.head(volume.name)]
            self._images[volume.name] = [volumes[name] for name in plan.images(volume.name)] if head is volume else []
            self._held[volume.name] = (0.0, 0.0)
            self.lock_levels.setdefault(volume.appliance.name, Level())
            self.hold_levels.setdefault(volume.appliance.name, Level())
        events.volume_changed.subscribe(self.changed)
        events.protection_changed.subscribe(self.protection_changed)

    def changed(self, volume: Volume) -> None:
        """A volume's PCPIs changed: account it at the next flush."""
        self.dirty.add(volume)

    def protection_changed(self, volume: Volume) -> None:
        """A volume's locks or busy PCPIs changed: a head's are what bound its span (and so
        every image's charge), an image's own bound nothing here, so only a head is accounted
        again at the next flush."""
        if self._head[volume.name] is volume:
            self.dirty.add(volume)

    def held_bytes(self, volume: Volume) -> tuple[float, float]:
        """(protocol-lock bytes, hold bytes) the volume holds now (as of the last flush)."""
        return self._held[volume.name]

    def flush(self, now: float, *, sampling: bool = False) -> None:
        """Re-evaluate the volumes changed since the last flush, heads first, and move the
        levels at `now` (`sampling`: for the sampler, in the middle of the instant)."""
        if self.trace is not None:
            self.trace.sampling = sampling
        dirty = self.dirty
        self.dirty = set()
        images: dict[str, Volume] = {}
        for volume in sorted(dirty, key=_name) if len(dirty) > 1 else dirty:
            head = self._head[volume.name]
            if head is volume:
                if self._evaluate_head(volume, now):
                    images.update((image.name, image) for image in self._images.get(volume.name, ()))
                self._set(volume, now, self._charge(volume, self._span[volume.name]))
            else:
                images[volume.name] = volume
        for name in sorted(images) if len(images) > 1 else images:
            image = images[name]
            self._set(image, now, self._charge(image, self._span.get(self._head[name].name, {})))

    # -- evaluation ------------------------------------------------------------------------

    def _evaluate_head(self, head: Volume, now: float) -> bool:
        """Recompute the head's span; return whether it changed."""
        last_kind = self._last_kind.setdefault(head.name, {})
        span: dict[int, str | None] = {}
        seen_in_scope: dict[str | None, int] = {}
        pcpis = head.pcpis
        for pcpi in pcpis.values():
            if self._kept_without_soft_locks(head, pcpi, seen_in_scope, now):
                break
            kind = self._soft_kind(head, pcpi.id)
            if kind is None and self._vetoed is not None and self._vetoed(head, pcpi.id):
                kind = LOCK
            if kind is not None:
                last_kind[pcpi.id] = kind
            else:
                kind = last_kind.get(pcpi.id)
            span[pcpi.id] = kind
            seen_in_scope[pcpi.label] = seen_in_scope.get(pcpi.label, 0) + 1
            seen_in_scope[None] = seen_in_scope.get(None, 0) + 1
        if last_kind:
            for pcpi_id in [pid for pid in last_kind if pid not in pcpis]:
                del last_kind[pcpi_id]
        changed = span != self._span.get(head.name)
        self._span[head.name] = span
        return changed

    def _kept_without_soft_locks(self, head: Volume, pcpi: Pcpi, seen_in_scope: dict[str | None, int],
                                 now: float) -> bool:
        pcpi_id = pcpi.id
        hard, reading = head.locks.hard, head.reading
        if pcpi_id in hard or pcpi_id in reading:
            return True
        label = pcpi.label
        scopes = self._retention.get(head.name, {})
        if None in scopes:  # a vault destination: its retention rules every PCPI it received
            rules = scopes[None]
            protected = set(hard)
            protected.update(reading)
            older = seen_in_scope.get(None, 0)
            return all(rule.keeps(head, head.pcpis, pcpi, older, protected, now) for rule in rules)
        if label == self._mirror_label:
            return False
        if self._rotated.get(head.name) == label:
            newest = next(reversed(head.by_label[label]))
            return pcpi_id == newest
        rules = scopes.get(label)
        if not rules:
            return True
        protected = set(hard)
        protected.update(reading)
        older = seen_in_scope.get(label, 0)
        members = head.by_label[label]
        for rule in rules:  # noqa: SIM110 - a loop, not all(...): no generator per flush
            if not rule.keeps(head, members, pcpi, older, protected, now):
                return False
        return True

    @staticmethod
    def _soft_kind(head: Volume, pcpi_id: int) -> str | None:
        held = head.locks.soft.get(pcpi_id)
        if not held:
            return None
        if any(lock.type == HOLD_LOCK_TYPE for lock, _set_s, _delay in held.values()):
            return HOLD
        return LOCK

    @staticmethod
    def _charge(volume: Volume, span: dict[int, str | None]) -> tuple[float, float]:
        """(lock, hold) bytes of the volume's old end that lies in its head's span."""
        lock = hold = 0.0
        pcpis = iter(volume.pcpis.values())
        current = next(pcpis, None)
        while current is not None and current.id in span:
            following = next(pcpis, None)
            end = following.cum_changed_bytes if following is not None else volume.cum_changed_bytes
            kind = span[current.id]
            if kind == LOCK:
                lock += end - current.cum_changed_bytes
            elif kind == HOLD:
                hold += end - current.cum_changed_bytes
            current = following
        return lock, hold

    def _set(self, volume: Volume, now: float, held: tuple[float, float]) -> None:
        old_lock, old_hold = self._held[volume.name]
        lock, hold = held
        if lock == old_lock and hold == old_hold:
            return
        self._held[volume.name] = held
        appliance = volume.appliance.name
        if lock != old_lock:
            self.lock_levels[appliance].add(now, lock - old_lock)
            self.total_lock.add(now, lock - old_lock)
            if self.trace is not None:
                self.trace.add(now, volume.name, self._head[volume.name] is volume, lock - old_lock)
        if hold != old_hold:
            self.hold_levels[appliance].add(now, hold - old_hold)
            self.total_hold.add(now, hold - old_hold)
