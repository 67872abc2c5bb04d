"""The deletion gate: the one place that decides whether a PCPI may leave a volume.

Every path that deletes asks it, with its reason:

- `retention` and `mirror_rotation` leave a PCPI that is busy (a running transfer reads it)
  or locked (a hard lock, or a soft lock: retention honours both);
- `autodelete` (space pressure) leaves a busy PCPI and, by its commitment: `try` any locked
  one, `disrupt` hard-locked ones and soft-locked ones the strategy does not let space
  pressure override (protocol `hard`), `destroy` nothing else;
- `mirror_image` (an image update replaying the source's deletions) leaves a busy PCPI (the
  volume removes it when the read ends); locks on a read-only image keep nothing;
- `rollback` (a vault destination rolled back to the common base before a receive, as
  `zfs receive -F` does for syncoid) leaves busy and locked PCPIs, as retention does;

and then the dependency strategy's veto (`DependencyStrategy.vetoes`), for every reason.
A retired destination's removal (`destination_retired`) asks nobody: the volume is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.engine.storage import Volume
    from sim.protocols.base import DependencyStrategy

RETENTION = "retention"
ROTATION = "mirror_rotation"
AUTODELETE = "autodelete"
IMAGE = "mirror_image"
ROLLBACK = "rollback"
RETIRED = "destination_retired"


class DeletionGate:
    """Busy PCPIs, locks, the autodelete commitment and the strategy's veto, in one decision."""

    __slots__ = ("strategy", "_veto")

    def __init__(self, strategy: DependencyStrategy):
        self.strategy = strategy
        self._veto = strategy.has_veto

    def may_delete(self, volume: Volume, pcpi_id: int, reason: str) -> bool:
        if pcpi_id in volume.reading:
            return False
        locks = volume.locks
        if reason == AUTODELETE:
            commitment = volume.autodelete_commitment
            if commitment != "destroy":
                if pcpi_id in locks.hard:
                    return False
                if pcpi_id in locks.soft and not (commitment == "disrupt" and self.strategy.soft_locks_overridable):
                    return False
        elif reason != IMAGE and (pcpi_id in locks.hard or pcpi_id in locks.soft):
            return False
        return not (self._veto and self.strategy.vetoes(volume, pcpi_id, reason))

    def protected_among(self, volume: Volume, pcpi_ids: dict[int, object], reason: str) -> int:
        """How many of `pcpi_ids` (on `volume`) may not go for `reason`. Without a veto only
        busy and locked PCPIs are protected, and there are few: this looks at those rather
        than at every PCPI (retention's work stays independent of the keep count)."""
        if self._veto:
            return sum(1 for pcpi_id in pcpi_ids if not self.may_delete(volume, pcpi_id, reason))
        locks = volume.locks
        protected = {pid for pid in locks.hard if pid in pcpi_ids}
        protected.update(pid for pid in locks.soft if pid in pcpi_ids)
        protected.update(pid for pid in volume.reading if pid in pcpi_ids)
        return len(protected)
