"""Appliances, volumes and PCPIs: changed bytes, snapshot space, busy PCPIs and autodelete.

Space model (a documented approximation): a volume's live size is constant, every write
overwrites blocks, and each changed byte is held in snapshot space for as long as any PCPI
taken before the change is retained. A volume's snapshot space is therefore the bytes
changed since its oldest retained PCPI: `cum_changed(newest state) - cum_changed(oldest)`.
It is an upper bound (it ignores blocks overwritten twice between two retained PCPIs).

Writes are accounted per write interval: when a PCPI closes an interval, the interval's
changed bytes must fit in the appliance's free space (they add to snapshot space whenever
an older PCPI exists); what does not fit is a failed write. A qtree-mirror destination's
writes are the bytes each transfer brings.

Autodelete (space pressure): under this space model only deleting a volume's oldest PCPI
frees space, so autodelete deletes oldest first and stops at the first PCPI its commitment
may not delete (deleting younger ones would free nothing and only lose history).

A PCPI that a running transfer reads (its base or the PCPI it sends) is busy: no deletion
path removes it while it is read. Retention, mirror rotation and autodelete pass over it;
an image update that would remove it from a read-only volume removes it when the last
transfer reading it ends (as a storage system refuses to delete a busy snapshot and lets
the next cleanup take it). Whether a PCPI may go is decided in one place, the deletion gate
(`sim.engine.deletion`): busy PCPIs, locks, the autodelete commitment and the dependency
strategy's veto. A vetoed image deletion waits for the next image update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy

from sim.engine.deletion import AUTODELETE, IMAGE, ROLLBACK, DeletionGate
from sim.engine.lock_table import LockTable, VolumeLocks

if TYPE_CHECKING:
    import numpy as np

    from sim.engine.events import DomainEvents
    from sim.engine.mirror import MirrorRelationship
    from sim.scenario.schema import AutodeleteSpec


@dataclass(slots=True, frozen=True)
class Pcpi:
    """A persistent consistency point image (snapshot) of a volume. Immutable.

    A volume mirror copies PCPIs with the same `id`; `cum_changed_bytes` is the origin
    volume's cumulative changed bytes when it was taken, so the bytes between two PCPIs of
    the same lineage are a subtraction. `data_s` is when the data it holds was captured at
    the head of the cascade (its own `created_s`, except on a qtree-mirror destination,
    whose PCPIs hold data captured upstream); lag (RPO) is measured from it.
    """

    id: int
    origin: str
    name: str
    label: str
    created_s: float
    cum_changed_bytes: float
    changed_bytes: float
    data_s: float


class Appliance:
    """A storage system: capacity shared by its volumes' live data and snapshot space, and,
    where it limits them, slots for concurrent transfers (to and from it)."""

    __slots__ = ("name", "capacity_bytes", "used_bytes", "peak_used_bytes", "volumes", "transfer_slots")

    def __init__(self, name: str, capacity_bytes: float, transfer_slots: simpy.Resource | None = None):
        self.name = name
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0.0
        self.peak_used_bytes = 0.0
        """The most it has held at once (its high-water mark)."""
        self.volumes: list[Volume] = []
        self.transfer_slots = transfer_slots

    def use(self, delta_bytes: float) -> None:
        """Its use grows (or shrinks) by `delta_bytes`."""
        used = self.used_bytes = self.used_bytes + delta_bytes
        if used > self.peak_used_bytes:
            self.peak_used_bytes = used

    @property
    def free_bytes(self) -> float:
        return max(self.capacity_bytes - self.used_bytes, 0.0)


class PcpiIds:
    """PCPI ids, global to a run (a volume mirror copies a PCPI with its id)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 1

    def take(self) -> int:
        pcpi_id = self._next
        self._next += 1
        return pcpi_id


@dataclass(frozen=True, slots=True)
class StorageServices:
    """What every volume of a run shares: the clock, the domain events, the lock table, the
    deletion gate and the PCPI ids."""

    env: simpy.Environment
    events: DomainEvents
    locks: LockTable
    gate: DeletionGate
    ids: PcpiIds


class Volume:
    """A volume on an appliance and its PCPIs, oldest first, with the locks that hold them.

    A writable volume takes PCPIs of its own; a volume-mirror destination is read-only and
    its PCPI set is replaced by its source's set on every update (`apply_image`); a vault
    destination adds what it receives to what it keeps (`receive`).
    """

    __slots__ = (
        "name", "appliance", "size_bytes", "writable", "change_rate_bps", "change_cv",
        "rng", "pcpis", "arrived_s", "by_label", "cum_changed_bytes", "_rate_bps",
        "_interval_start_s", "locks", "incoming", "outgoing",
        "failed_writes", "failed_write_bytes", "autodelete_commitment",
        "autodelete_trigger_bytes", "autodelete_target_bytes", "reading",
        "_deferred", "_services", "bookmarks",
    )

    def __init__(self, name: str, appliance: Appliance, size_bytes: float, services: StorageServices, *,
                 writable: bool, change_rate_bps: float = 0.0, change_cv: float = 0.0,
                 rng: np.random.Generator | None = None):
        self.name = name
        self.appliance = appliance
        self.size_bytes = size_bytes
        self.writable = writable
        self.change_rate_bps = change_rate_bps
        self.change_cv = change_cv
        self.rng = rng
        self._services = services
        self.pcpis: dict[int, Pcpi] = {}
        self.arrived_s: dict[int, float] = {}
        self.by_label: dict[str, dict[int, Pcpi]] = {}
        self.cum_changed_bytes = 0.0
        self._rate_bps = self._draw_rate()
        self._interval_start_s = 0.0
        self.locks = VolumeLocks()
        """The hard and soft locks in force on this volume (changed only by the lock table)."""
        self.incoming: MirrorRelationship | None = None
        self.outgoing: list[MirrorRelationship] = []
        self.failed_writes = 0
        self.failed_write_bytes = 0.0
        self.autodelete_commitment: str | None = None
        self.autodelete_trigger_bytes = float("inf")
        self.autodelete_target_bytes = float("inf")
        self.reading: dict[int, int] = {}
        """Busy PCPIs: those running transfers read (as base or as the PCPI sent), with how many."""
        self._deferred: dict[int, str] = {}
        """Busy PCPIs an image update removed, with who removed them: they go when no longer read."""
        self.bookmarks: dict[int, Pcpi] = {}
        """Bookmarks by PCPI id, oldest first: zero-space records of PCPIs (present or deleted)
        from which a vault's incremental send can still start (ZFS `zfs bookmark`)."""
        appliance.volumes.append(self)
        appliance.use(size_bytes)

    # -- state -------------------------------------------------------------------------

    @property
    def snapshot_space_bytes(self) -> float:
        if not self.pcpis:
            return 0.0
        return self.cum_changed_bytes - next(iter(self.pcpis.values())).cum_changed_bytes

    def newest(self) -> Pcpi | None:
        return next(reversed(self.pcpis.values()), None)

    def newest_first(self) -> Iterator[Pcpi]:
        return reversed(self.pcpis.values())

    def may_delete(self, pcpi_id: int, reason: str) -> bool:
        """Whether the PCPI may be deleted for `reason` (the deletion gate decides)."""
        return self._services.gate.may_delete(self, pcpi_id, reason)

    # -- busy PCPIs --------------------------------------------------------------------

    def start_reading(self, pcpi_ids: tuple[int, ...]) -> None:
        """A transfer starts reading these PCPIs: they are busy until `stop_reading`."""
        reading = self.reading
        for pcpi_id in pcpi_ids:
            reading[pcpi_id] = reading.get(pcpi_id, 0) + 1
        self._services.events.protection_changed(self)

    def stop_reading(self, pcpi_ids: tuple[int, ...]) -> None:
        """A transfer stopped reading these PCPIs; an image update's deferred deletion of one
        no longer read happens now, unless the dependency strategy vetoes it (then it waits
        for the next image update, as any vetoed image deletion does)."""
        reading = self.reading
        for pcpi_id in pcpi_ids:
            count = reading.get(pcpi_id, 0)
            if count > 1:
                reading[pcpi_id] = count - 1
                continue
            reading.pop(pcpi_id, None)
            by = self._deferred.pop(pcpi_id, None)
            if by is not None and pcpi_id in self.pcpis and self.may_delete(pcpi_id, IMAGE):
                self.delete_pcpi(pcpi_id, IMAGE, by)
        self._services.events.protection_changed(self)

    # -- writes and PCPIs ----------------------------------------------------------------

    def _draw_rate(self) -> float:
        if self.change_cv <= 0 or self.rng is None or self.change_rate_bps <= 0:
            return self.change_rate_bps
        shape = 1.0 / (self.change_cv * self.change_cv)
        return float(self.rng.gamma(shape, self.change_rate_bps / shape))

    def take_pcpi(self, name: str, label: str, received_bytes: float | None = None,
                  data_s: float | None = None) -> Pcpi:
        """Close the current write interval and take a PCPI.

        A writable volume's interval wrote at its drawn rate; a qtree-mirror destination's
        interval wrote `received_bytes` (what the transfer brought), and its PCPI holds data
        captured at `data_s` upstream.
        """
        services = self._services
        now = services.env.now
        pcpi_id = services.ids.take()
        changed = self._rate_bps * (now - self._interval_start_s) if received_bytes is None else received_bytes
        if self.pcpis:
            free = self.appliance.free_bytes
            if changed > free:
                self.failed_writes += 1
                self.failed_write_bytes += changed - free
                changed = free
            self.appliance.use(changed)
        self.cum_changed_bytes += changed
        self._interval_start_s = now
        self._rate_bps = self._draw_rate()
        pcpi = Pcpi(pcpi_id, self.name, name, label, now, self.cum_changed_bytes, changed,
                    now if data_s is None else data_s)
        self.pcpis[pcpi_id] = pcpi
        self.arrived_s[pcpi_id] = now
        self.by_label.setdefault(label, {})[pcpi_id] = pcpi
        services.events.volume_changed(self)
        services.events.pcpi_taken(now, self, pcpi)
        return pcpi

    def delete_pcpi(self, pcpi_id: int, reason: str, by: str) -> None:
        """Remove one PCPI (`by` names the policy, relationship or autodelete that did);
        snapshot space shrinks when it was the oldest. Its locks go with it."""
        services = self._services
        before = self.snapshot_space_bytes
        pcpi = self.pcpis.pop(pcpi_id)
        label_set = self.by_label.get(pcpi.label)
        if label_set is not None:
            label_set.pop(pcpi_id, None)
        self.appliance.use(self.snapshot_space_bytes - before)
        self._deferred.pop(pcpi_id, None)
        now = services.env.now
        if reason == AUTODELETE:
            services.events.autodeleted(now, self, pcpi, self.snapshot_space_bytes, by)
        services.locks.pcpi_deleted(self, pcpi)
        services.events.pcpi_deleted(now, self, pcpi, reason, by)
        self.arrived_s.pop(pcpi_id, None)
        services.events.volume_changed(self)

    def apply_image(self, image: dict[int, Pcpi]) -> None:
        """Make this read-only volume's PCPI set `image` (its source's set, by id, oldest
        first). A busy PCPI missing from the image stays until no transfer reads it; one the
        dependency strategy vetoes stays until a later image update."""
        services = self._services
        now = services.env.now
        by = self.incoming.name if self.incoming else "mirror"
        pcpis, reading = self.pcpis, self.reading
        for pcpi_id in [pid for pid in pcpis if pid not in image]:
            if pcpi_id in reading:
                self._deferred[pcpi_id] = by
            elif self.may_delete(pcpi_id, IMAGE):
                self.delete_pcpi(pcpi_id, IMAGE, by)
        before = self.snapshot_space_bytes
        arrived = [pcpi for pcpi_id, pcpi in image.items() if pcpi_id not in pcpis]
        arrived_s = self.arrived_s
        for pcpi in arrived:
            pcpis[pcpi.id] = pcpi
            arrived_s[pcpi.id] = now
        if image:
            self.cum_changed_bytes = next(reversed(image.values())).cum_changed_bytes
        self.appliance.use(self.snapshot_space_bytes - before)
        services.events.volume_changed(self)
        for pcpi in arrived:
            services.events.pcpi_arrived(now, self, pcpi)

    # -- room for what arrives ------------------------------------------------------------

    def growth_on_image(self, image: dict[int, Pcpi]) -> float:
        """Bytes `apply_image(image)` would add to the appliance's use now: the snapshot space
        from the oldest PCPI it would keep (one the image has, or one it cannot delete yet:
        busy, locked or vetoed) to the image's newest."""
        if not image:
            return 0.0
        reading = self.reading
        oldest = None
        for pcpi_id, pcpi in self.pcpis.items():
            if pcpi_id in image or pcpi_id in reading or not self.may_delete(pcpi_id, IMAGE):
                oldest = pcpi
                break
        if oldest is None:
            oldest = next(iter(image.values()))
        return next(reversed(image.values())).cum_changed_bytes - oldest.cum_changed_bytes - self.snapshot_space_bytes

    def growth_on_receive(self, received: tuple[Pcpi, ...]) -> float:
        """Bytes `receive(received)` would add to the appliance's use now (before the vault's
        retention runs): the snapshot space from its oldest PCPI to the PCPI sent."""
        if not received:
            return 0.0
        oldest = min(next(iter(self.pcpis.values()), received[0]), received[0], key=lambda pcpi: pcpi.id)
        return received[-1].cum_changed_bytes - oldest.cum_changed_bytes - self.snapshot_space_bytes

    def growth_on_write(self, changed_bytes: float) -> float:
        """Bytes a PCPI closing an interval that wrote `changed_bytes` would add (a qtree
        destination's own PCPI after a transfer): held in snapshot space once a PCPI exists."""
        return changed_bytes if self.pcpis else 0.0

    def make_room(self, growth: Callable[[], float], spare: tuple[int, ...], by: str) -> None:
        """Autodelete on a destination that what arrived does not fit: its oldest PCPIs go
        (as its commitment allows, never those in `spare`) until `growth()` fits or nothing
        more may go. Without autodelete nothing goes."""
        if self.autodelete_commitment is None:
            return
        while len(self.pcpis) > 1 and growth() > self.appliance.free_bytes:
            oldest = next(iter(self.pcpis))
            if oldest in spare or not self.may_delete(oldest, AUTODELETE):
                return
            self.delete_pcpi(oldest, AUTODELETE, f"autodelete ({self.autodelete_commitment}) for {by}")

    # -- bookmarks -----------------------------------------------------------------------

    def create_bookmark(self, pcpi_id: int, by: str) -> None:
        """Bookmark a PCPI the volume has (`by`: the tool that did). It outlives the PCPI and
        holds no space; a vault can send incrementally from it while its destination still
        has the PCPI."""
        if pcpi_id in self.bookmarks:
            return
        bookmarks = self.bookmarks
        bookmarks[pcpi_id] = self.pcpis[pcpi_id]
        if len(bookmarks) > 1 and pcpi_id < next(reversed(bookmarks)):
            self.bookmarks = dict(sorted(bookmarks.items()))
        self._services.events.bookmark_created(self._services.env.now, self, bookmarks[pcpi_id], by)

    def destroy_bookmark(self, pcpi_id: int, by: str) -> None:
        """Remove the bookmark of a PCPI (`by`: who did)."""
        pcpi = self.bookmarks.pop(pcpi_id)
        self._services.events.bookmark_destroyed(self._services.env.now, self, pcpi, by)

    # -- receiving ---------------------------------------------------------------------

    def receive(self, received: tuple[Pcpi, ...]) -> None:
        """A vault destination receives PCPIs of its source (same ids) and keeps what it had:
        its own retention, not its source's deletions, decides what goes."""
        services = self._services
        now = services.env.now
        before = self.snapshot_space_bytes
        arrived = [pcpi for pcpi in received if pcpi.id not in self.pcpis]
        newest = next(reversed(self.pcpis), 0)
        for pcpi in arrived:
            self.pcpis[pcpi.id] = pcpi
            self.arrived_s[pcpi.id] = now
            self.by_label.setdefault(pcpi.label, {})[pcpi.id] = pcpi
        if arrived and arrived[0].id < newest:  # an older PCPI came after newer ones: keep the order by id
            self.pcpis = dict(sorted(self.pcpis.items()))
            self.by_label = {label: dict(sorted(members.items())) for label, members in self.by_label.items()}
        if received:
            self.cum_changed_bytes = received[-1].cum_changed_bytes  # its content is now the PCPI sent
        self.appliance.use(self.snapshot_space_bytes - before)
        services.events.volume_changed(self)
        for pcpi in arrived:
            services.events.pcpi_arrived(now, self, pcpi)

    def roll_back(self, base: Pcpi, by: str) -> None:
        """`zfs receive -F` on a vault destination: its PCPIs newer than `base` are destroyed
        (those the deletion gate lets go, reason `rollback`) and its content is `base`'s again."""
        for pcpi_id in [pid for pid in self.pcpis if pid > base.id]:
            if self.may_delete(pcpi_id, ROLLBACK):
                self.delete_pcpi(pcpi_id, ROLLBACK, by)
        before = self.snapshot_space_bytes
        self.cum_changed_bytes = base.cum_changed_bytes
        self.appliance.use(self.snapshot_space_bytes - before)
        self._services.events.volume_changed(self)

    def autodelete(self) -> int:
        """Past the trigger, delete the oldest PCPIs the commitment allows until the target.

        Returns how many PCPIs went. Stops at the first PCPI it may not delete: in this
        space model only the oldest PCPI's deletion frees space.
        """
        if self.autodelete_commitment is None or self.snapshot_space_bytes <= self.autodelete_trigger_bytes:
            return 0
        deleted = 0
        while len(self.pcpis) > 1 and self.snapshot_space_bytes > self.autodelete_target_bytes:
            oldest = next(iter(self.pcpis))
            if not self.may_delete(oldest, AUTODELETE):
                break
            self.delete_pcpi(oldest, AUTODELETE, f"autodelete ({self.autodelete_commitment})")
            deleted += 1
        return deleted


def configure_autodelete(volume: Volume, spec: AutodeleteSpec) -> None:
    """Give `volume` the space-pressure deletion the scenario declares for it."""
    volume.autodelete_commitment = spec.commitment
    volume.autodelete_trigger_bytes = spec.trigger
    volume.autodelete_target_bytes = spec.target if spec.target is not None else spec.trigger
