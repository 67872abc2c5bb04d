"""Protocol `syncoid`: syncoid's sync snapshots, their pruning, the forced receive's rollback
and `--use-hold`, as a dependency strategy on vault mirrors.

What syncoid does (jimsalterjrs/sanoid at 8e1d11e0, the `syncoid` perl script):

- *Sync snapshot*: unless `--no-sync-snap`, each run first takes a snapshot of the source named
  `syncoid_<identifier_><hostid>_<stamp>` (`newsyncsnap`, lines 1830-1852: `$identifier` is
  `--identifier=EXTRA` plus `_`, line 140; `$hostid` the hostname of the machine running
  syncoid) and sends up to it (`syncdataset`, lines 461-486). With `--no-sync-snap` it sends
  up to the newest snapshot the source has (`getnewestsnapshot`).
- *Common snapshot*: the newest source snapshot the target has with the same guid
  (`getmatchingsnapshot`, lines 1817-1828), or else a source bookmark; with none, syncoid
  refuses ("Cowardly refusing to destroy your existing target", lines 654-676) unless
  `--force-delete`.
- *Rollback*: the receive runs `zfs receive -F` unless `--no-rollback` (`buildsynccmd`, line
  950: "if no rollbacks are allowed, disable forced receive"): the target is rolled back to
  the incremental source, so its snapshots newer than the common one are destroyed.
- *Pruning*: after a successful run that took a sync snapshot and without `--keep-sync-snap`,
  `pruneoldsyncsnaps` (lines 885-886, 1756-1815) destroys, on the source and on the target,
  every snapshot of the run's start-of-run lists whose name begins with
  `syncoid_<identifier_><hostid>` except the new sync snapshot.
- *`--use-hold`* (lines 820-854): after a successful run, hold the new sync snapshot (the
  newest snapshot sent) on source and target with tag `syncoid_<identifier_><hostid>` and
  release that tag on the run's common snapshot on both sides.

How it is modelled here: syncoid runs on the destination's appliance (it pulls), so `hostid`
is the destination's appliance name and a fan-out's relationships name and prune sync
snapshots of their own. Each vault update takes a sync snapshot (label `syncoid`, or
`syncoid_<identifier>` with an identifier) unless `no_sync_snap` or the source is a
volume-mirror destination (its PCPI set is its source's image: it sends its newest PCPI); the destination is rolled
back to the common base before it receives while `rollback` (`zfs receive -F`; the engine
destroys its PCPIs newer than the base, reason `rollback`); after an applied transfer the
older PCPIs whose names begin with the relationship's sync prefix go on the source and on the
destination (reason `mirror_rotation`, where the deletion gate allows: a held or busy one
stays, as a held snapshot survives `zfs destroy`). The prefix is matched as syncoid matches
it, without a separator after the hostname. With `use_hold` the PCPI sent is hard-locked on
both sides (owner `syncoid_<identifier_><host>`) and that hold is released on the transfer's
common base.

The cascade hazard: in A -> B -> C, syncoid on C takes its sync snapshots on B; the next
A -> B receive with `-F` rolls B back to its common base with A and destroys them, and with
them C's base (blamed on B -> C, as a deletion on its source).

Left out: `--no-stream` (`-i`), `--create-bookmark` and the bookmark path of a send,
`--keep-sync-snap`, `--delete-target-snapshots`, `--force-delete` (the engine re-baselines
where syncoid would refuse), resumable receives, recursion, `syncoid:sync` properties, and a
push from one host to several targets with one identifier (their runs would prune each
other's sync snapshots on the source). ZFS refuses an incremental receive without `-F` while
the target has snapshots newer than the base; the engine receives anyway, so `rollback:
false` here is the best case of `--no-rollback` (in the cascade above the real A -> B receive
would fail until C's sync snapshots on B are gone). Likewise `zfs receive -F` fails when a
snapshot it would destroy is held, where the engine's rollback passes over the held one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sim.engine.deletion import ROTATION
from sim.protocols.base import DependencyStrategy

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Volume

SYNC_LABEL = "syncoid"


class SyncoidConfig(BaseModel):
    """Settings of protocol `syncoid`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    rollback: bool = True
    """Receive with `zfs receive -F` (false: syncoid's `--no-rollback`)."""
    no_sync_snap: bool = False
    """syncoid's `--no-sync-snap`: send up to the newest existing snapshot, take and prune none."""
    use_hold: bool = False
    """syncoid's `--use-hold`: hold the newest snapshot sent on both sides until the next run."""
    identifier: str = Field(default="", pattern=r"^[a-zA-Z0-9_:.-]*$")
    """syncoid's `--identifier=EXTRA`: part of the sync snapshots' names, prefix and hold tag."""


class SyncoidRuns(DependencyStrategy):
    """Sync snapshots sent and pruned after each success, the destination rolled back before it
    receives, optional holds on the newest common snapshot."""

    protects_base = False
    config: SyncoidConfig

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        self._matching: dict[MirrorRelationship, int | None] = {}
        """Per relationship, the common base of its running transfer (whose hold a success releases)."""

    @property
    def label(self) -> str:
        """The sync snapshots' label: one per identifier."""
        identifier = self.config.identifier
        return f"{SYNC_LABEL}_{identifier}" if identifier else SYNC_LABEL

    def prefix(self, rel: MirrorRelationship) -> str:
        """`syncoid_<identifier_><hostid>`: the sync snapshots' name prefix and the hold tag."""
        identifier = self.config.identifier
        return f"syncoid_{identifier + '_' if identifier else ''}{rel.destination.appliance.name}"

    def sync_snapshot(self, rel: MirrorRelationship) -> tuple[str, str] | None:
        incoming = rel.source.incoming
        if self.config.no_sync_snap or (incoming is not None and incoming.kind == "volume"):
            return None  # a volume-mirror image holds its source's PCPIs only: nothing of its own to take
        return f"{self.prefix(rel)}_{self.services.env.now:.0f}", self.label

    def rolls_back(self, rel: MirrorRelationship) -> bool:
        return self.config.rollback

    def transfer_started(self, rel: MirrorRelationship) -> None:
        if rel.kind == "vault" and self.config.use_hold:
            base = rel.find_common_base()
            self._matching[rel] = None if base is None else base.id

    def transfer_ended(self, rel: MirrorRelationship, reads: tuple[int, ...], applied: bool) -> None:
        if rel.kind != "vault":
            return
        matching = self._matching.pop(rel, None)
        if not applied or rel.base is None:
            return
        sent = rel.base.id
        if self.config.use_hold:
            self._move_hold(rel, rel.source, sent, matching)
            self._move_hold(rel, rel.destination, sent, matching)
        if not self.config.no_sync_snap:
            self._prune(rel, rel.source, sent)
            self._prune(rel, rel.destination, sent)

    def _move_hold(self, rel: MirrorRelationship, volume: Volume, sent: int, matching: int | None) -> None:
        """Hold the PCPI sent, then release the tag on the run's common snapshot."""
        locks, tag = self.services.locks, self.prefix(rel)
        if sent in volume.pcpis:
            locks.set_hard(volume, sent, tag)
        if matching is not None and matching != sent:
            locks.release_hard(volume, matching, tag)

    def _prune(self, rel: MirrorRelationship, volume: Volume, sent: int) -> None:
        """`pruneoldsyncsnaps`: the older snapshots whose name begins with the prefix go."""
        prefix = self.prefix(rel)
        doomed = [pid for pid, pcpi in volume.pcpis.items() if pid < sent and pcpi.name.startswith(prefix)]
        for pcpi_id in doomed:
            if volume.may_delete(pcpi_id, ROTATION):
                volume.delete_pcpi(pcpi_id, ROTATION, rel.name)
