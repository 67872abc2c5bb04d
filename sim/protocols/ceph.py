"""Protocol `ceph`: Ceph RBD snapshot-based mirroring (mirror snapshots linked to their peers).

What Ceph does (ceph/ceph, `src/librbd/mirror/snapshot/` and `src/tools/rbd_mirror/`):

- *A mirror snapshot records the peers that must sync it.* `CreatePrimaryRequest.cc`
  (`get_mirror_peers`, `create_snapshot`) lists the pool's tx peers and creates one snapshot
  in the mirror namespace whose `mirror_peer_uuids` are all of them. One snapshot serves every
  peer: it is taken per image, by `rbd mirror image snapshot` or the rbd_support manager
  module's mirror-snapshot schedule, not per peer.
- *At capacity a peer is unlinked from one of its snapshots.* Right after creating,
  `CreatePrimaryRequest::unlink_peer` counts, per peer and oldest first, the primary mirror
  snapshots linked with that peer; when there are more than
  `rbd_mirroring_max_mirroring_snapshots` (`src/common/options/rbd.yaml.in`: default 5,
  minimum 3) it unlinks the peer from the one counted at the limit, i.e. the newest one before
  the snapshot just created, and repeats until no peer is over. Which one is unlinked has
  changed, and as the commits tell it was never the oldest: the second oldest until a888bff8d00e
  ("librbd/mirror: tweak which snapshot is unlinked when at capacity"), then a later one, and
  since 01aca9a2f077 ("librbd: unlink newest mirror snapshot when at capacity, bump capacity",
  ceph/ceph#46454, backported to octopus, pacific and quincy) the newest before the new one,
  with the default raised from 3 to 5: unlinking a snapshot the rbd-mirror daemon was about to
  sync from left the peer in "split-brain". Dropping the peer from its *oldest* snapshot is
  what was first proposed in the review of snapshot mirroring (ceph/ceph#30548). The
  documentation (`doc/rbd/rbd-mirroring.rst`) says "the most recent mirror-snapshot is
  automatically pruned if the limit is reached".
- *A snapshot with no peer left is removed.* `UnlinkPeerRequest.cc` (`unlink_peer`,
  `remove_snapshot`) removes the snapshot instead of unlinking when the peer is its last one
  and a newer mirror snapshot exists; otherwise it only drops the peer from the snapshot.
- *The peer syncs from its last synced snapshot to the next, then unlinks from the older.*
  `src/tools/rbd_mirror/image_replayer/snapshot/Replayer.cc`
  (`scan_remote_mirror_snapshots`): the start is the remote snapshot the last complete local
  non-primary snapshot came from, the end the first newer primary snapshot linked with this
  peer; user snapshots in between are copied too; after syncing, it unlinks itself from the
  snapshots before the end (those it no longer needs). If the start snapshot was deleted
  ("the remote start snapshot was deleted out from under us"), the replayer stops with
  "split-brain" and the image needs a full resync.

How it is modelled here:

- A *primary image* is a writable volume; its *peers* are its outgoing `vault` relationships
  that are not defunct (a defunct one is a peer removed: its links are dropped).
- When a peer's update is about to send, the volume takes a mirror snapshot (`sync_snapshot`,
  label `ceph_mirror`) linked with every peer, after the capacity pass (below). Peers whose
  updates fire at the same instant share the snapshot the first of them took, as Ceph's one
  scheduled snapshot per image serves all peers: with one schedule for all peers that is one
  snapshot per tick. (The hooks take a snapshot only when a relationship's update runs, after
  it waited for its path, so peers on different schedules each add snapshots, all linked with
  every peer, as if the image had the union of their schedules.)
- *Capacity pass*, before the new snapshot is taken: while a peer would be linked with more
  than `max_mirror_snapshots` counting the new one, it is unlinked from the snapshot at the
  limit (`unlink_at_capacity: newest`, today's Ceph: the newest before the new one) or from
  its oldest (`unlink_at_capacity: oldest`, the variant first proposed, not a released Ceph's:
  the lagging peer's sync start goes, which in Ceph would stop it in split-brain until a full
  resync; here it re-baselines, blamed on the primary).
- After a peer's transfer is applied it is unlinked from every mirror snapshot older than the
  one it received. A snapshot left with no peer is removed (reason `mirror_rotation`) once a
  newer mirror snapshot exists and the deletion gate lets it go (not while a transfer reads it;
  it is tried again after the next transfer or capacity pass).
- Retention on other snapshots proceeds as the scenario's policies say; a mirror snapshot
  linked with a peer is vetoed for `retention` and `rollback` (Ceph's snapshot schedules and
  `rbd snap rm` act on user snapshots, not the mirror namespace), so within the cap the
  snapshots peers still need stay. `protects_base = False`: nothing else protects a peer's base.
- Relationships that are not Ceph peers (volume and qtree mirrors in the same world, and any
  hop out of a read-only volume, which takes no mirror snapshot) keep what the engine gives
  them: for volume and qtree mirrors, the storage system's hard lock on the base (the engine
  keeps it whatever `protects_base` says, which concerns vaults only).

What it leaves out: journal-based mirroring (a journal of writes replayed on the peer);
non-primary images, demotion and promotion (the `PRIMARY_DEMOTED`/`NON_PRIMARY` states and
the counter reset at a promotion in `unlink_peer`), failover and failback; Ceph has no cascade
(rbd-mirror pulls only from a primary), so a hop out of a destination is a plain vault here;
image-level vs pool-level mirroring and peer direction (every vault out of a writable volume is
a tx peer); the rbd-mirror daemon's own scheduling (one snapshot delta at a time, its polling,
its concurrency limits): a peer that catches up sends everything from its base to the newest
snapshot in one transfer; incomplete snapshots and their cleanup; `rbd mirror image resync`
being manual (a split-brain waits for an administrator; here the next update re-baselines);
and the engine finds the newest common PCPI of any label, where rbd-mirror starts only from a
mirror snapshot, so a user snapshot both sides still have can save a peer Ceph would stop.
Ceph refuses `rbd_mirroring_max_mirroring_snapshots` below 3; this model takes 1 and up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sim.engine.deletion import RETENTION, ROLLBACK, ROTATION
from sim.protocols.base import DependencyStrategy

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.storage import Volume

MIRROR_SNAPSHOT_LABEL = "ceph_mirror"


class CephConfig(BaseModel):
    """Settings of protocol `ceph`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_mirror_snapshots: int = Field(default=5, ge=1)
    """`rbd_mirroring_max_mirroring_snapshots`: how many mirror snapshots a peer stays linked
    with; past it the peer is unlinked from one (default 5, Ceph's since 2022)."""
    unlink_at_capacity: Literal["newest", "oldest"] = "newest"
    """Which snapshot a peer over the limit is unlinked from: `newest` (before the one being
    taken; Ceph since ceph/ceph#46454) or `oldest` (as first proposed in ceph/ceph#30548, not
    a released Ceph's: a lagging peer loses its sync start and must resync in full)."""


class CephMirroring(DependencyStrategy):
    """Mirror snapshots linked with the peers that must sync them; a peer unlinks itself from
    the older ones after a sync, a snapshot with no peer left goes, and a peer linked with more
    than `max_mirror_snapshots` is unlinked from one at each new snapshot."""

    protects_base = False
    config: CephConfig

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - the base signature
        super().__init__(*args, **kwargs)
        self._links: dict[Volume, dict[int, dict[MirrorRelationship, None]]] = {}
        """Per primary volume, its mirror snapshots oldest first, each with its linked peers."""
        self._taken: dict[Volume, int] = {}

    # -- peers and links ---------------------------------------------------------------------

    @staticmethod
    def peers(volume: Volume) -> list[MirrorRelationship]:
        """The volume's Ceph peers: its vault relationships that can still update."""
        return [rel for rel in volume.outgoing if rel.kind == "vault" and not rel.defunct]

    def linked(self, volume: Volume, rel: MirrorRelationship) -> list[int]:
        """The mirror snapshots of `volume` linked with peer `rel`, oldest first."""
        return [pid for pid, peers in self._links.get(volume, {}).items() if rel in peers]

    def _tidy(self, volume: Volume) -> dict[int, dict[MirrorRelationship, None]]:
        """Forget snapshots gone from the volume (deleted by someone else) and peers gone."""
        links = self._links.setdefault(volume, {})
        for pcpi_id in [pid for pid in links if pid not in volume.pcpis]:
            del links[pcpi_id]
        for peers in links.values():
            for rel in [r for r in peers if r.defunct]:
                del peers[rel]
        return links

    def _remove_unlinked(self, volume: Volume, by: str) -> None:
        """Remove the mirror snapshots no peer is linked with, those with a newer one
        (`UnlinkPeerRequest::remove_snapshot`) that the deletion gate lets go."""
        links = self._links.get(volume)
        if not links:
            return
        newest = next(reversed(links))
        for pcpi_id in [pid for pid, peers in links.items() if not peers and pid != newest]:
            if volume.may_delete(pcpi_id, ROTATION):
                del links[pcpi_id]
                volume.delete_pcpi(pcpi_id, ROTATION, by)

    # -- the hooks ---------------------------------------------------------------------------

    def sync_snapshot(self, rel: MirrorRelationship) -> tuple[str, str] | None:
        src = rel.source
        if not src.writable:
            return None  # not a primary image: no mirror snapshots (Ceph has no cascade)
        links = self._tidy(src)
        now = self.services.env.now
        newest = src.newest()
        if (newest is not None and newest.id in links and newest.created_s == now and rel in links[newest.id]
                and (rel.name_filter is None or rel.name_filter.search(newest.name) is not None)):
            return None  # the snapshot another peer's update took at this instant: send it
        self._capacity_pass(src, rel.name)
        number = self._taken[src] = self._taken.get(src, 0) + 1
        return f"{MIRROR_SNAPSHOT_LABEL}.{number}", MIRROR_SNAPSHOT_LABEL

    def _capacity_pass(self, volume: Volume, by: str) -> None:
        """`CreatePrimaryRequest::unlink_peer` for the snapshot about to be taken: while a peer
        would be linked with more than the limit, unlink it from one snapshot."""
        links = self._links[volume]
        limit = self.config.max_mirror_snapshots
        oldest = self.config.unlink_at_capacity == "oldest"
        while True:
            for peer in self.peers(volume):
                linked = self.linked(volume, peer)
                if len(linked) + 1 > limit:  # counting the snapshot about to be taken
                    del links[linked[0] if oldest else linked[limit - 1]][peer]
                    break
            else:
                break
        self._remove_unlinked(volume, f"{by} (max_mirror_snapshots)")

    def transfer_started(self, rel: MirrorRelationship) -> None:
        src = rel.source
        if rel.kind != "vault" or not src.writable or not rel.transfer_reads:
            return
        send = src.pcpis.get(rel.transfer_reads[0])
        links = self._tidy(src)
        if send is not None and send.label == MIRROR_SNAPSHOT_LABEL and send.origin == src.name \
                and send.id not in links:
            links[send.id] = dict.fromkeys(self.peers(src))  # linked with every peer
            self._remove_unlinked(src, f"{rel.name} (max_mirror_snapshots)")

    def transfer_ended(self, rel: MirrorRelationship, reads: tuple[int, ...], applied: bool) -> None:
        src = rel.source
        if rel.kind != "vault" or not src.writable:
            return
        links = self._tidy(src)
        if applied and rel.base is not None:
            for pcpi_id, peers in links.items():
                if pcpi_id < rel.base.id:
                    peers.pop(rel, None)  # synced a newer one: unlink from the older
        self._remove_unlinked(src, rel.name)

    def vetoes(self, volume: Volume, pcpi_id: int, reason: str) -> bool:
        if reason in (RETENTION, ROLLBACK):
            peers = self._links.get(volume, {}).get(pcpi_id)
            if peers and any(not rel.defunct for rel in peers):
                return True  # a mirror snapshot a peer still needs
        return False
