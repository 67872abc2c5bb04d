"""Protocol `zrepl`: zrepl's ZFS abstractions (step holds, replication cursor, last-received
hold) as a dependency strategy on vault mirrors.

What zrepl does (zrepl/zrepl at b93a06d2, default `replication.protection` =
`guarantee_resumability` for initial and incremental steps):

- *Step holds*, on the sender only: before a step, `Sender.Send` (internal/endpoint/endpoint.go
  lines 221-233) runs `ReplicationGuaranteeResumability.SenderPreSend`
  (endpoint_guarantees.go lines 157-180), which holds `to` and, unless it is a bookmark
  ("cannot hold a bookmark"), `from` with tag `zrepl_STEP_J_<job>` (`HoldStep`,
  endpoint_zfs_abstraction_step_hold.go lines 15-63). Then it destroys every other step hold
  and tentative cursor of the same job on that filesystem (`TryBatchDestroy`, endpoint.go
  lines 252-319: "there will only ever be one send for a (jobId,fs) combination").
- *Replication cursor*, on the sender: when the receiver has confirmed a step,
  `Sender.SendCompleted` (endpoint.go lines 363-415) runs `senderPostRecvConfirmedCommon`
  (endpoint_guarantees.go lines 191-210): a bookmark `#zrepl_CURSOR_G_<guid>_J_<job>` of `to`
  (`CreateReplicationCursor`, endpoint_zfs_abstraction_replication_cursor.go line 144; name
  from `makeJobAndGuidBookmarkName`, endpoint_zfs_helpers_repr.go line 15), then destroys
  every step hold, tentative cursor and replication cursor *of that job on that filesystem*
  but the new cursor. The job is the sending-side job's name: nothing of the receiver is in
  it (docs/configuration/overview.rst, "Fan-out": "zrepl's ZFS abstractions ... include the
  name of the source/push job, but not the receive-side job name or client identity ...
  All pull jobs would share the same replication cursor bookmark and trip over each other,
  breaking incremental replication guarantees quickly"; issue 380).
- *Last-received hold*, on the receiver: right after `zfs recv`, `Receiver.Receive`
  (endpoint.go lines 1030-1050) runs `receiverPostRecvCommon` (endpoint_guarantees.go
  lines 213-220): hold `to` with tag `zrepl_last_received_J_<job>` ("hold new one before
  releasing old hold", endpoint_zfs_abstraction_last_received_hold.go lines 66-92), then
  destroys the job's other last-received holds on that filesystem. Receiver-side pruning runs
  after replication, so the hold is in place before it.
- *Common base* (internal/replication/logic/diff/diff.go, `IncrementalPath`): the newest
  receiver snapshot whose guid the sender has as a snapshot *or a bookmark*; the step then
  sends incrementally from it. So the cursor bookmark is a base after the sender's pruning
  took the snapshot.

How it is modelled here: a relationship's job identity is `identities[rel.name]`, or its own
name. Step holds are hard locks owned by `zrepl_STEP_J_<identity>` on the PCPI sent and on
the base (when the base is a PCPI, not a bookmark) on the source, set when the transfer
starts (releasing the identity's other step holds on that volume) and released, with the
identity's other cursors, when it was applied; a transfer not applied (its relationship went
defunct) leaves them, as zrepl leaves them until that job sends again (or `zrepl
zfs-abstraction release-stale`). After an applied transfer the source bookmarks the PCPI
sent as the identity's cursor and destroys the identity's previous cursor; the destination
hard-locks the PCPI received with owner `zrepl_last_received_J_<identity>` and releases the
identity's previous last-received hold there. From the moment the PCPI arrives until then
(the engine applies a vault destination's retention in between) the strategy vetoes its
deletion on the destination: that is the hold as zrepl sets it, right after the receive.

Step holds on the destination: zrepl sets none (`SenderPreSend` runs on the sender only), and
none is needed: the receive's `from` is the destination's newest received PCPI, which the
last-received hold already holds, and what the destination is receiving is not there yet.
On the sender the step holds duplicate what the engine's busy PCPIs already keep while a
transfer reads them; they are modelled so that the lock tables show them, and so that a
shared identity releases another relationship's step holds as zrepl does.

Left out: `guarantee_incremental` (tentative cursor bookmarks instead of step holds) and
`guarantee_nothing`; zrepl's refusal to send when the receiver's newest snapshot is not the
common one (`ConflictDiverged`) or when there is no common base at all
(`ConflictNoCommonAncestor`: zrepl stops and needs an operator; here the update re-baselines,
which is what the blame counts); step-by-step `zfs send -i` per snapshot (the engine sends
`-I`); resumable receives; placeholders; its snapshotting and pruning jobs (scenario policies
and retention rules stand in). zrepl's `not_replicated` keep rule is a retention grammar
already (`sim.retention.zrepl_last_n.ZreplNotReplicated`): it keeps the snapshot at the
cursor and everything newer on the sender, protecting by retention what the cursor
bookmark protects by a bookmark; its adapter takes the cursor as the oldest base among the
volume's relationships, where zrepl's pruner reads the job's one cursor (with a shared
identity, whichever relationship moved it last).

The engine keeps one bookmark per PCPI per volume, where ZFS has one per name: the strategy
counts the identities whose cursor is on a PCPI and destroys the engine's bookmark only when
none is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sim.protocols.base import DependencyStrategy

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Volume

STEP_HOLD = "zrepl_STEP_J_{}"
LAST_RECEIVED_HOLD = "zrepl_last_received_J_{}"
CURSOR = "zrepl_CURSOR_G_{:016x}_J_{}"


class ZreplConfig(BaseModel):
    """Settings of protocol `zrepl`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    identities: dict[str, str] = Field(default_factory=dict)
    """Job identity per relationship (`SRC->DST`, as `rel.name`); a relationship not listed is
    its own job. Relationships sharing an identity share zrepl's abstractions on a volume (its
    cursor, step holds and last-received hold), as pull jobs sharing one source job do."""


class ZreplAbstractions(DependencyStrategy):
    """Step holds while a transfer runs, a replication cursor bookmark per job on the source,
    a last-received hold per job on the destination."""

    protects_base = False
    config: ZreplConfig

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        self._step_holds: dict[tuple[str, str], set[int]] = {}
        """Per (source volume, identity): the PCPIs its step hold tag holds."""
        self._cursors: dict[tuple[str, str], int] = {}
        """Per (source volume, identity): the PCPI its replication cursor bookmarks."""
        self._last_received: dict[tuple[str, str], int] = {}
        """Per (destination volume, identity): the PCPI its last-received hold holds."""
        self._receiving: dict[str, dict[int, MirrorRelationship]] = {}
        """Per destination volume: the PCPI each running transfer into it sends (held from arrival)."""

    def identity(self, rel: MirrorRelationship) -> str:
        """The zrepl job a relationship's abstractions are named after."""
        return self.config.identities.get(rel.name, rel.name)

    # -- a step starts: step holds on the sender ------------------------------------------

    def transfer_started(self, rel: MirrorRelationship) -> None:
        if rel.kind != "vault":
            return
        src, identity = rel.source, self.identity(rel)
        to_id, *from_ids = rel.transfer_reads  # the PCPI sent, then the base if it is a PCPI
        held = {pid for pid in (to_id, *from_ids) if pid in src.pcpis}
        self._set_step_holds(src, identity, held)
        self._receiving.setdefault(rel.destination.name, {})[to_id] = rel

    def _set_step_holds(self, volume: Volume, identity: str, held: set[int]) -> None:
        """The identity's step hold tag holds exactly `held` on the volume (zrepl holds the new
        ones, then destroys the job's other step holds on the filesystem)."""
        locks, tag = self.services.locks, STEP_HOLD.format(identity)
        key = (volume.name, identity)
        for pcpi_id in held:
            locks.set_hard(volume, pcpi_id, tag)
        for pcpi_id in self._step_holds.get(key, set()) - held:
            locks.release_hard(volume, pcpi_id, tag)
        if held:
            self._step_holds[key] = held
        else:
            self._step_holds.pop(key, None)

    # -- a step ends: cursor on the sender, last-received hold on the receiver ------------------

    def transfer_ended(self, rel: MirrorRelationship, reads: tuple[int, ...], applied: bool) -> None:
        if rel.kind != "vault":
            return
        receiving = self._receiving.get(rel.destination.name)
        if receiving is not None and reads:
            receiving.pop(reads[0], None)
        if not applied or rel.base is None:
            return  # an aborted step keeps its step holds, as zrepl does until the job sends again
        sent = rel.base.id
        self.hold_last_received(rel, sent)
        self.move_cursor(rel, sent)

    def move_cursor(self, rel: MirrorRelationship, sent: int) -> None:
        """`SendCompleted`: bookmark the PCPI sent as the identity's cursor, then destroy the
        identity's step holds and its other cursors on the source."""
        src, identity = rel.source, self.identity(rel)
        key = (src.name, identity)
        if sent not in src.pcpis:
            return  # zrepl: "validate `to` exists" fails; nothing moves
        src.create_bookmark(sent, CURSOR.format(sent, identity))
        old = self._cursors.get(key)
        self._cursors[key] = sent
        self._set_step_holds(src, identity, set())
        if old is not None and old != sent:
            self._drop_bookmark(src, old, CURSOR.format(old, identity))

    def _drop_bookmark(self, volume: Volume, pcpi_id: int, name: str) -> None:
        """Destroy a cursor; the engine's bookmark of the PCPI goes once no identity's cursor is on it."""
        still = any(vol == volume.name and pid == pcpi_id for (vol, _), pid in self._cursors.items())
        if not still and pcpi_id in volume.bookmarks:
            volume.destroy_bookmark(pcpi_id, name)

    def hold_last_received(self, rel: MirrorRelationship, received: int) -> None:
        """`ReceiverPostRecv`: hold the PCPI received, then release the identity's previous
        last-received hold on the destination."""
        dst, identity = rel.destination, self.identity(rel)
        key, tag, locks = (dst.name, identity), LAST_RECEIVED_HOLD.format(identity), self.services.locks
        if received in dst.pcpis:
            locks.set_hard(dst, received, tag)
        old = self._last_received.get(key)
        self._last_received[key] = received
        if old is not None and old != received:
            locks.release_hard(dst, old, tag)

    # -- the hold from the moment of receipt ------------------------------------------------

    def vetoes(self, volume: Volume, pcpi_id: int, reason: str) -> bool:
        """The PCPI a running transfer delivers is held on its destination from its arrival
        (zrepl holds it right after `zfs recv`, before any receiver-side pruning)."""
        receiving = self._receiving.get(volume.name)
        return bool(receiving) and pcpi_id in receiving  # type: ignore[operator]
