"""Protocol `hard`: soft-lock propagation whose locks space pressure may not override."""

from __future__ import annotations

from sim.protocols.softlock import SoftLockProtocol


class HardLocks(SoftLockProtocol):
    """Locks travel like `softlock`'s, but autodelete at `try` or `disrupt` leaves them (only
    `destroy` does not care).

    It is the safe extreme: no downstream ever loses its base to autodelete, and the price is
    snapshot space that cannot be reclaimed, then failed writes, when a downstream is gone for
    long.
    """

    soft_locks_overridable = False
