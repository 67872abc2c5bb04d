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

    A holder's expiry timers are volatile: while it is down none of its leases expires (it
    is down: nothing runs there), and when it restarts it gives every lease it holds a full
    term from the restart. That is the conservative choice: its downstreams could not renew
    while it was down, and cannot have renewed since; a holder that instead expired on restart
    every lease whose term had run out would release their bases at once, before any of them
    could send a set again.
    """

    config: LeaseConfig

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        self._renewed_s: dict[tuple[Volume, str], float] = {}
        """When each (holder volume, sender) lease was last renewed (or restarted)."""
        self._down: set[str] = set()
        """Appliances down now: their leases do not expire."""

    def receive_lock_set(self, rel: MirrorRelationship, locks: list[SoftLock], sequence: int) -> None:
        super().receive_lock_set(rel, locks, sequence)
        self._renew(rel.source, rel.destination.name)

    def appliance_crashed(self, appliance: str) -> None:
        """Its expiry timers stop: none of the leases it holds expires while it is down."""
        self._down.add(appliance)

    def appliance_restarted(self, appliance: str) -> None:
        """Every lease it holds gets a full term from now."""
        self._down.discard(appliance)
        for volume, sender in [key for key in self._renewed_s if key[0].appliance.name == appliance]:
            self._renew(volume, sender)

    def _renew(self, volume: Volume, sender: str) -> None:
        """The lease of `sender`'s locks on `volume` runs a full term from now."""
        env = self.services.env
        now = env.now
        self._renewed_s[(volume, sender)] = now
        expiry = env.timeout(self.config.lease)
        expiry.callbacks.append(lambda _event: self._expire(volume, sender, now))

    def _expire(self, volume: Volume, sender: str, renewed_s: float) -> None:
        if self._renewed_s.get((volume, sender)) != renewed_s or volume.appliance.name in self._down:
            return  # renewed since, or its holder is down (it renews every lease when it restarts)
        held = self.services.locks.held_from(volume, sender)
        if not held:
            return
        for key in list(held):
            self.services.locks.release_soft(volume, sender, key, "lease_expired")
        self.forward(volume)
