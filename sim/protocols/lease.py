"""Protocol `lease`: `softlock` whose locks expire unless their sender renews them in time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sim.protocols.softlock import SoftLockProtocol
from sim.scenario.schema import Duration

if TYPE_CHECKING:
    from sim.engine.lock_table import SoftLock
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Volume


class LeaseConfig(BaseModel):
    """Settings of protocol `lease`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)

    lease: Duration = Field(default="1d", validate_default=True)
    """How long a lock set stays in force at its holder without renewal."""


class LeaseLocks(SoftLockProtocol):
    """Soft locks expire at a holder unless their sender renews them within `lease`.

    Every received set renews the sender's locks. A destination that disappears for good
    stops renewing, so its locks, and the locks forwarded on its behalf, are released one
    lease later instead of leaking forever. The trade-off: a downstream cut off for longer
    than the lease (a long outage) loses its protection too.
    """

    config: LeaseConfig

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        self._renewed_s: dict[tuple[str, str], float] = {}

    def receive_lock_set(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int) -> None:
        super().receive_lock_set(rel, locks, sequence)
        volume, sender = rel.source, rel.destination.name
        env = self.services.env
        now = env.now
        self._renewed_s[(volume.name, sender)] = now
        expiry = env.timeout(self.config.lease)
        expiry.callbacks.append(lambda _event: self._expire(volume, sender, now))

    def _expire(self, volume: Volume, sender: str, renewed_s: float) -> None:
        if self._renewed_s.get((volume.name, sender)) != renewed_s:
            return  # renewed since
        held = self.services.locks.held_from(volume, sender)
        if not held:
            return
        for key in list(held):
            self.services.locks.release_soft(volume, sender, key, "lease_expired")
        self.forward(volume)
