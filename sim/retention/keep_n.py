"""Keep-N retention (NetApp snapshot policies): the newest N PCPIs of the scope (a policy's
label, or all a vault received) that are neither locked nor busy stay; older unprotected ones go."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.deletion import RETENTION
from sim.retention.base import RetentionRule

if TYPE_CHECKING:
    from sim.engine.deletion import DeletionGate
    from sim.engine.storage import Pcpi, Volume


class KeepN(RetentionRule):
    """Delete the oldest unprotected PCPIs with the label until `keep` unprotected ones remain.

    Work per call: the PCPIs deleted plus the protected ones passed over on the way, whatever
    the keep count (protected PCPIs are counted from the few that are locked or busy).
    """

    def __init__(self, keep: int):
        self.keep = keep

    def doomed(self, volume: Volume, members: dict[int, Pcpi], gate: DeletionGate, now_s: float) -> list[int]:
        if not members:
            return []
        excess = len(members) - gate.protected_among(volume, members, RETENTION) - self.keep
        if excess <= 0:
            return []
        doomed: list[int] = []
        for pcpi_id in members:
            if len(doomed) == excess:
                break
            if gate.may_delete(volume, pcpi_id, RETENTION):
                doomed.append(pcpi_id)
        return doomed

    def keeps(self, volume: Volume, members: dict[int, Pcpi], pcpi: Pcpi, older_in_scope: int,
              protected: set[int], now_s: float) -> bool:
        newer = len(members) - 1 - older_in_scope
        pcpi_id, newer_protected = pcpi.id, 0
        for pid in protected:  # a loop, not sum(...): no generator each time the lock-space meter asks
            if pid > pcpi_id and pid in members:
                newer_protected += 1
        return newer - newer_protected < self.keep
