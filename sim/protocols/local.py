"""Protocol `local`: a source keeps what its direct destinations need, nothing is forwarded."""

from __future__ import annotations

from sim.protocols.softlock import SoftLockProtocol


class LocalLocks(SoftLockProtocol):
    """Each destination sends its lock set to its direct source, which keeps it; an intermediate
    passes nothing on.

    Like the holds ZFS replication tools put on the sending side's snapshots: each hop
    protects its own next hop, so the head of a chain knows nothing of the tail (in a volume
    cascade this protects nothing: the intermediate is a read-only image of the head).
    """

    forwards = False
