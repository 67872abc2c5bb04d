"""Protocol `softlock_pending`: `softlock`, plus locks on what a destination has not received yet.

`softlock` protects what a destination has (its common base), so it closes re-baselines but
not gaps: a scheduled PCPI that the head's retention deletes before a slow or disconnected
destination got it is lost to that destination for good (`gap_pcpis`). This strategy is our
own, beyond every tool and the patent: a destination also asks its source to pin the PCPIs
it is scheduled to receive but has not yet.

The request. A volume-mirror or vault destination's lock set carries, besides `softlock`'s
locks, one `pending` record per PCPI it is waiting for: its source's scheduled PCPIs (any
label but `mirror` and `qtree_mirror`; for a vault with a name filter, those it matches)
newer than the destination's newest PCPI (while a transfer runs, the newest of the image it
is receiving), at most `pending_cap` of them. A record is a `destination_path` lock with
string `pending for DESTINATION`, its locking dataset the destination, so the lock-space
meter charges what it holds to the protocol (`lock_space_byte_hours`).

A standing request. The source keeps the request (the destination's newest PCPI, read from
the destination's own lock in the set) and re-evaluates it against its own PCPIs whenever one
is taken or arrives: a new scheduled PCPI is pinned at once, without waiting for a lock set
the destination could not send (its link is down, which is exactly when gaps happen). An
intermediate's new pins go upstream with the lock set sent after the update that brought them.

Which ones, past the cap: the oldest. Retention deletes a label's oldest PCPIs first, so the
oldest pending PCPIs are the ones about to be lost; the newest are the ones retention keeps
longest anyway (a pin on a PCPI within the keep count costs a cap slot and protects nothing).
When the oldest arrive, the window slides to the next ones. What the cap does not cover, in
the middle between the pinned oldest and the newest retention keeps, can still be a gap.

Release. A pending lock goes when the destination's next set no longer lists it (it arrived:
the destination's newest moved past it), like any lock replaced by a newer set; a PCPI that
leaves the source takes its locks with it. A slot freed that way is filled at the next PCPI
the source takes or receives, or at the next set.

Forwarding. Pending locks are locks like any other: an intermediate forwards them with its
set, narrowed to the PCPIs it shares with its source, so a PCPI the tail is waiting for is
pinned at the head, by the tail's request while the intermediate has it and by the
intermediate's own request while it has not received it either.

The price, in space. Each pending lock holds, at the head, the bytes changed between its PCPI
and the next one (the space model frees only a volume's oldest PCPI), up to the cap: worst
case `pending_cap` x (change per snapshot interval) per source volume and per destination
waiting, charged on the head and on every image of it. Where an older lock (the waiting
destination's base) already holds the span, a pending lock adds little of its own. During an
outage the head of a label with keep count N holds at most N + `pending_cap` + (its locked
bases) PCPIs of that label, where `softlock` holds N + (its locked bases): keep-N does not
count locked PCPIs, so next to the pinned pending ones retention also keeps N unlocked older
ones, which the destination may already have (the lock-space meter counts soft-locked PCPIs
in the keep, so it does not charge those N to the protocol). The price is paid without any
outage too: whatever a destination has not received since its last update is pinned, and
keep-N keeps N besides. On the test chain (hourly, keep 3, C updating every 2 hours) the head
holds 5 to 6 hourlies instead of `softlock`'s 3, for about 1.5 times its lock space.
`pending_cap: 0` is `softlock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sim.engine.lock_table import SoftLock
from sim.engine.mirror import MIRROR_LABEL, QTREE_MIRROR_LABEL
from sim.protocols.softlock import LockSetState, SoftLockProtocol

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Pcpi, Volume

PENDING_LOCK_TYPE = "destination_path"
UNSCHEDULED_LABELS = frozenset({MIRROR_LABEL, QTREE_MIRROR_LABEL})
"""Labels of transfer artefacts, never pending (the gap definition does not count them either)."""


class SoftlockPendingConfig(BaseModel):
    """Settings of protocol `softlock_pending`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    pending_cap: int = Field(default=24, ge=0)
    """At most this many pending PCPIs pinned per destination on its source (the oldest)."""


@dataclass(slots=True)
class PendingState(LockSetState):
    """`softlock`'s state, plus the standing request the source keeps for its destination."""

    pending_after: int | None = None
    """The destination's newest PCPI as of its last set applied at the source (None: no
    request, e.g. before its first transfer)."""


def pending_string(rel: MirrorRelationship) -> str:
    """The string of a pending lock for `rel`'s destination."""
    return f"pending for {rel.destination_name}"


class SoftLockPending(SoftLockProtocol):
    """Soft locks as in `softlock`, plus locks on the scheduled PCPIs a destination has not
    received yet (the oldest `pending_cap`), kept as a standing request at the source."""

    config: SoftlockPendingConfig

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        events = self.services.events
        events.pcpi_taken.subscribe(self._pcpi_came)
        events.pcpi_arrived.subscribe(self._pcpi_came)

    def new_state(self, rel: MirrorRelationship) -> PendingState:
        return PendingState()

    # -- what is pending -------------------------------------------------------------------

    @staticmethod
    def _requests_pending(rel: MirrorRelationship) -> bool:
        """Volume-mirror and vault destinations wait for scheduled PCPIs; a qtree destination's
        PCPIs are its own (and gaps are not counted for it)."""
        return rel.kind != "qtree" and not rel.defunct

    def pending_ids(self, rel: MirrorRelationship, after: int) -> list[int]:
        """The source's scheduled PCPIs newer than `after` (the destination's newest) that the
        destination would receive, oldest first, at most `pending_cap`."""
        cap = self.config.pending_cap
        if cap <= 0:
            return []
        wanted = rel.name_filter if rel.kind == "vault" else None
        ids: list[int] = []
        for pcpi_id, pcpi in rel.source.pcpis.items():  # oldest first
            if pcpi_id <= after or pcpi.label in UNSCHEDULED_LABELS:
                continue
            if wanted is not None and wanted.search(pcpi.name) is None:
                continue
            ids.append(pcpi_id)
            if len(ids) == cap:
                break
        return ids

    def _pending_lock(self, rel: MirrorRelationship, pcpi_id: int) -> SoftLock:
        return SoftLock(pcpi_id, PENDING_LOCK_TYPE, pending_string(rel), rel.destination_name,
                        self.services.env.now, 1, (pcpi_id,))

    # -- at the destination: the set with its pending records ----------------------------------

    def lock_set(self, rel: MirrorRelationship) -> list[SoftLock]:
        """`softlock`'s set, plus one pending record per scheduled source PCPI newer than the
        destination's newest (the oldest `pending_cap`)."""
        locks = super().lock_set(rel)
        if not self._requests_pending(rel):
            return locks
        held = rel.held_base_ids()
        if not held:
            return locks
        newest = max(held)
        return locks + [self._pending_lock(rel, pcpi_id) for pcpi_id in self.pending_ids(rel, newest)]

    # -- at the source: the standing request ------------------------------------------------

    def receive_lock_set(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int) -> None:
        """Keep the request (the destination's newest PCPI, the first candidate of its own
        lock) and pin what it asks for among the source's PCPIs now: the records the
        destination sent, and any scheduled PCPI that arrived here since it built the set.
        Pending locks the set no longer asks for are released with the rest of the old set."""
        if rel.kind == "qtree":
            super().receive_lock_set(rel, locks, sequence)
            return
        string, dataset = pending_string(rel), rel.destination_name
        asked = {lock.pcpi_id: lock for lock in locks if lock.string == string and lock.locking_dataset == dataset}
        others = [lock for lock in locks if not (lock.string == string and lock.locking_dataset == dataset)]
        own = next((lock for lock in others if lock.hops == 1 and lock.locking_dataset == dataset
                    and lock.type == "destination_path" and lock.candidates), None)
        state = self.state_of(rel)
        state.pending_after = max(own.candidates) if own is not None else None
        pending = [] if state.pending_after is None or rel.defunct else [
            asked.get(pcpi_id) or self._pending_lock(rel, pcpi_id)
            for pcpi_id in self.pending_ids(rel, state.pending_after)]
        super().receive_lock_set(rel, others + pending, sequence)

    def _pcpi_came(self, _now: float, volume: Volume, pcpi: Pcpi) -> None:
        """A PCPI was taken on, or arrived at, `volume`: re-evaluate the standing requests of
        the destinations it feeds. (An intermediate's new pins go upstream with the set its
        destination step sends after the update that brought the PCPI.)"""
        if pcpi.label in UNSCHEDULED_LABELS or not volume.outgoing:
            return
        for rel in volume.outgoing:
            if self._requests_pending(rel):
                self._refresh(rel)

    def _refresh(self, rel: MirrorRelationship) -> None:
        state = self.state_of(rel)
        if state.pending_after is None:
            return
        table, volume, sender = self.services.locks, rel.source, rel.destination.name
        string = pending_string(rel)
        held = {key for key, lock in table.held_from(volume, sender).items() if lock.string == string}
        wanted = {(pcpi_id, rel.destination_name) for pcpi_id in self.pending_ids(rel, state.pending_after)}
        for key in sorted(held - wanted):
            table.release_soft(volume, sender, key, "released")
        for pcpi_id, _dataset in sorted(wanted - held):
            table.set_soft(volume, sender, self._pending_lock(rel, pcpi_id), arrived=False)
