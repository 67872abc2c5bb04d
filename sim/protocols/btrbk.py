"""Protocol `btrbk`: btrbk's source-side cleanup rules as a dependency strategy.

What btrbk does (digint/btrbk at 2bda102f, the `btrbk` perl script and `doc/btrbk.1.asciidoc`):
one `btrbk run` reads every target (step 0), snapshots the source (1), sends what each target
is missing (2), deletes backups (3) and deletes source snapshots (4), in that order.

- *A target is aborted* when it cannot be reached or a send to it fails in this run:
  `vinfo_init_root` failing marks it `ABORTED($droot, "Failed to fetch subvolume detail")`
  (script lines 6325-6331, target initialisation) and a failed `btrfs send | receive` marks it
  `ABORTED($config_target, "Failed to send/receive subvolume")` (`macro_send_receive`, line
  4409). `ABORTED`/`IS_ABORTED` (lines 489-523) keep the mark on the run's configuration:
  it lasts for that run only.
- *No snapshot cleanup while a target is aborted*: in the cleanup loop (lines 6857-6949) each
  subvolume's targets are scanned; any `IS_ABORTED($droot)` sets `$target_aborted`, and then
  "Skipping cleanup of snapshots for subvolume ..., as at least one target aborted earlier"
  (line 6934) replaces `macro_delete` of the snapshots. The manual says it in step 4: "If any
  target is unreachable or has errors, all snapshots are preserved in order not to break the
  incremental chain."
- *The latest common snapshot is always preserved*: for every incremental target, the newest
  source snapshot (of the subvolume's `snapshot_name`) that has a receive target on it
  (`get_receive_targets(..., exact => 1)`, line 3424) gets `FORCE_PRESERVE = 'preserve forced:
  latest common snapshot'` (lines 6883-6897) and survives the retention schedule.

How it is modelled here:

- A source volume's *targets* are its outgoing relationships that are not defunct. A target is
  aborted while the network path from the source's appliance to the destination's is down
  (btrbk's step 0 would fail), and from the moment an update of the relationship was due or
  running while that path was down (its send failed) until the relationship next completes
  an update (the run whose sends succeed, after which btrbk cleans up again). A stalled
  transfer that resumes after the outage and completes stands for that next, successful run.
  An outage between two updates, which no update saw, aborts nothing once the path is back.
- While any target of a volume is aborted, retention deletes nothing on it.
- Otherwise retention may not delete, for each target and each label, the newest PCPI of
  that label that the destination has received and the source still has (a label stands for
  btrbk's `snapshot_name`: one subvolume section per label). For a qtree mirror the PCPI
  received is the last one transferred.

What it leaves out: btrbk's own retention schedule (the scenario's retention rule stands in
for `snapshot_preserve`); backup (target-side) cleanup, since destinations here keep what
their source sends; targets skipped from the command line (same effect, logged as INFO);
`incremental no` targets (no latest-common preservation) and raw targets; and the order of
one run: here retention runs at snapshot firings and mirror updates on their own schedule,
so "aborted" is judged at the time retention runs. Only `retention` is vetoed: mirror
rotation of a relationship's own mirror PCPIs, autodelete (space pressure, which btrbk does
not have) and image updates of read-only mirrors (`mirror_image`) are not btrbk's cleanup.

One difference in counting: the engine's keep-N retention does not count a protected PCPI
towards its keep count (as it does not count a locked one), while btrbk's schedule preserves
the latest common snapshot on top of its time buckets without shifting them. So with
keep N the source holds N + 1 PCPIs of the label in steady state (the latest common one is
usually not the newest just after a snapshot), where btrbk would hold N.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.deletion import RETENTION
from sim.protocols.targets import TargetWatch

if TYPE_CHECKING:
    from sim.engine.storage import Volume


class BtrbkCleanup(TargetWatch):
    """No retention on a volume while any of its targets is aborted; otherwise each target's
    latest common PCPI (per label) survives retention."""

    def vetoes(self, volume: Volume, pcpi_id: int, reason: str) -> bool:
        if reason != RETENTION:
            return False
        targets = self.targets(volume)
        if not targets:
            return False
        if any(self.aborted(rel) for rel in targets):
            return True  # "Skipping cleanup of snapshots ..., as at least one target aborted earlier"
        label = volume.pcpis[pcpi_id].label
        return any(self.latest_common(rel, label) == pcpi_id for rel in targets)
