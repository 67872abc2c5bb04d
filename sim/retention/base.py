"""What a retention grammar is: given a volume's PCPIs of one policy, which may go now.

A grammar only proposes: the PCPIs it names are deleted by the snapshot policy, and it names
only PCPIs the deletion gate lets go for retention (busy, locked and vetoed ones stay and,
as in keep-N retention, do not count). The lock-space meter asks it the counterfactual
question too: would it keep a PCPI if only hard locks and busy PCPIs protected anything?
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.engine.deletion import DeletionGate
    from sim.engine.storage import Pcpi, Volume


class RetentionRule(ABC):
    """One policy's retention of the PCPIs with its label on a volume."""

    @abstractmethod
    def doomed(self, volume: Volume, label: str, gate: DeletionGate, now_s: float) -> list[int]:
        """The PCPIs with `label` on `volume` to delete now, oldest first."""

    @abstractmethod
    def keeps(self, volume: Volume, pcpi: Pcpi, older_in_label: int, protected: set[int]) -> bool:
        """Whether the rule would keep `pcpi` (with `older_in_label` PCPIs of its label older
        than it on the volume) if only the PCPIs in `protected` were protected."""
