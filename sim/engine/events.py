"""The engine's typed domain events, as signals that observers subscribe to.

The engine says what happens (a PCPI taken, arrived or deleted with its reason; a transfer
started or ended; a lock set or released; a link down or up; ...) and knows nothing of
tables, plots or KPIs. Each kind of event is a `Signal` whose call signature is its type:
emitting one calls every subscriber, in the order they subscribed, with the same arguments.
No event object is built, and while the clock runs a signal nobody listens to is a call that
does nothing (`DomainEvents.dispatching_directly`). Times are the simulated seconds of the
moment, passed by the emitter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Generic, ParamSpec

if TYPE_CHECKING:
    from sim.engine.lock_table import SoftLock
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link
    from sim.engine.storage import Pcpi, Volume

P = ParamSpec("P")


class Signal(Generic[P]):
    """One kind of domain event: subscribers are called, in order, with the event's fields."""

    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        self._subscribers: list[Callable[P, None]] = []

    def subscribe(self, subscriber: Callable[P, None]) -> None:
        self._subscribers.append(subscriber)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for subscriber in self._subscribers:
            subscriber(*args, **kwargs)


def _nobody(*_args: object, **_kwargs: object) -> None:
    """What emitting a signal nobody subscribed to does while the clock runs."""


class DomainEvents:
    """Every kind of event one run's engine emits (one instance per Model)."""

    def __init__(self) -> None:
        self.pcpi_taken: Signal[[float, Volume, Pcpi]] = Signal()
        """A volume took a PCPI of its own (a snapshot, a mirror PCPI, a qtree destination's PCPI)."""
        self.pcpi_arrived: Signal[[float, Volume, Pcpi]] = Signal()
        """A PCPI arrived on a volume-mirror destination with an image."""
        self.autodeleted: Signal[[float, Volume, Pcpi, float, str]] = Signal()
        """Space pressure deleted a PCPI (the volume's snapshot space after it, who deleted it);
        emitted just before the `pcpi_deleted` of the same deletion."""
        self.pcpi_deleted: Signal[[float, Volume, Pcpi, str, str]] = Signal()
        """A PCPI left a volume (reason, who deleted it), its locks already released."""
        self.bookmark_created: Signal[[float, Volume, Pcpi, str]] = Signal()
        """A bookmark of a PCPI was made on a volume (by whom)."""
        self.bookmark_destroyed: Signal[[float, Volume, Pcpi, str]] = Signal()
        """A bookmark left a volume (by whom)."""
        self.volume_changed: Signal[[Volume]] = Signal()
        """A volume's PCPIs changed (taken, arrived, deleted, rolled back)."""
        self.protection_changed: Signal[[Volume]] = Signal()
        """A volume's locks or busy PCPIs changed, and its PCPIs did not."""
        self.update_skipped: Signal[[float, MirrorRelationship, str | None]] = Signal()
        """An update was due but did not start (still transferring, or a source with no PCPI)."""
        self.transfer_started: Signal[[float, MirrorRelationship, str, float, Pcpi | None, Pcpi]] = Signal()
        """A transfer started: its kind (baseline, incremental, rebaseline), bytes, base, PCPI sent."""
        self.transfer_ended: Signal[[float, MirrorRelationship, float, float, float, str, Pcpi | None, Pcpi, bool, int,
                                     float]] = Signal()
        """A transfer ended (start time, its bytes, bytes sent over all its attempts, kind, base,
        PCPI sent, whether it was applied at the destination: otherwise its relationship became
        defunct or was re-pointed, or its break policy gave up; attempts; bytes sent and thrown away)."""
        self.transfer_running: Signal[[float, MirrorRelationship, float, float, float, str, Pcpi | None, Pcpi, int,
                                       float]] = Signal()
        """At the end of the run, a transfer still running (start time, its bytes, bytes sent so
        far, kind, base, PCPI sent, attempts so far, bytes thrown away so far)."""
        self.destination_retired: Signal[[float, MirrorRelationship]] = Signal()
        self.source_removed: Signal[[float, MirrorRelationship]] = Signal()
        """A relationship's source volume was removed (it was a retired destination)."""
        self.hard_lock_released: Signal[[float, Volume, int, str, float, str | None]] = Signal()
        """A relationship's hard lock on its base left (PCPI id, owner, set time, reason; reason
        None and time the end of the run for a lock still in force then)."""
        self.soft_lock_set: Signal[[float, Volume, str, SoftLock, float | None]] = Signal()
        """A soft lock came into force on a volume for a sender (propagation delay, or None when
        it moved to the next candidate rather than arriving in a lock set)."""
        self.soft_lock_released: Signal[[float, Volume, str, SoftLock, float, float | None, str | None]] = Signal()
        """A soft lock left (set time, delay as when set, reason; reason None and time the end of
        the run for a lock still in force then)."""
        self.lock_set_sent: Signal[[float, str, float]] = Signal()
        """A lock set left an appliance (its bytes on the wire)."""
        self.lock_set_lost: Signal[[float, str, str]] = Signal()
        """A lock set the appliance sent never arrived, no copy of it (why: `loss`, a message
        fault, or `crash`, its sender or receiver crashed while it travelled); emitted when
        its last copy would have arrived."""
        self.link_down: Signal[[float, Link, float]] = Signal()
        self.link_up: Signal[[float, Link]] = Signal()
        self.transfer_broken: Signal[[float, MirrorRelationship, str, int, float, float]] = Signal()
        """A transfer attempt broke (cause `link_down`, `crash` or `no_space`; the attempt's
        number; bytes it had sent; bytes the break threw away, to be sent again or never)."""
        self.transfer_failed: Signal[[float, MirrorRelationship, str]] = Signal()
        """A transfer's break policy gave up after its last break (its cause): it ends not applied."""
        self.appliance_down: Signal[[float, str]] = Signal()
        """An appliance crashed."""
        self.appliance_up: Signal[[float, str]] = Signal()
        """A crashed appliance restarted."""
        self.firing_missed: Signal[[float, str, str]] = Signal()
        """A scheduled snapshot or update did not fire because its appliance was down (what: the
        policy and volume, or the relationship; the appliance)."""
        self.relationship_repointed: Signal[[float, MirrorRelationship, Volume]] = Signal()
        """A relationship took a new source (the old source given); its old source released what
        it kept for it."""
        self.relationship_released: Signal[[float, MirrorRelationship]] = Signal()
        """An administrator released on its source what a retired relationship left locked."""

    @contextmanager
    def dispatching_directly(self) -> Iterator[None]:
        """While the clock runs (`Model.run`), each signal's attribute is the cheapest call with
        the same effect: `_nobody` for a signal nobody subscribed to, its one subscriber itself,
        or the signal when it has several; so an emission skips the signal's loop and its
        arguments' packing. The signals are back when it ends, for whatever subscribes next;
        nothing subscribes while the clock runs (observers subscribe when they are built)."""
        signals = {name: value for name, value in vars(self).items() if isinstance(value, Signal)}
        try:
            for name, signal in signals.items():
                subscribers = signal._subscribers
                setattr(self, name, _nobody if not subscribers else subscribers[0] if len(subscribers) == 1 else signal)
            yield
        finally:
            for name, signal in signals.items():
                setattr(self, name, signal)
