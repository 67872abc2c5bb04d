"""What a retention rule is: given the PCPIs it manages on a volume and the time, which may go now.

A rule manages a scope of a volume's PCPIs: a snapshot policy's rule the PCPIs of its label,
a vault destination's rule every PCPI the vault received. It only proposes: the PCPIs it
names are deleted by its owner, and it names only PCPIs the deletion gate lets go for
retention (busy, locked and vetoed ones stay). The lock-space meter asks it the
counterfactual question too: would it keep a PCPI if only hard locks and busy PCPIs
protected anything?
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.engine.deletion import DeletionGate
    from sim.engine.storage import Pcpi, Volume


class RetentionRule(ABC):
    """One owner's retention of a scope of PCPIs (`members`, oldest first) on a volume."""

    @abstractmethod
    def doomed(self, volume: Volume, members: dict[int, Pcpi], gate: DeletionGate, now_s: float) -> list[int]:
        """The PCPIs of `members` on `volume` to delete at `now_s` (simulated), oldest first."""

    @abstractmethod
    def keeps(self, volume: Volume, members: dict[int, Pcpi], pcpi: Pcpi, older_in_scope: int,
              protected: set[int], now_s: float) -> bool:
        """Whether the rule would keep `pcpi` (with `older_in_scope` PCPIs of `members` older
        than it) at `now_s` if only the PCPIs in `protected` were protected."""
