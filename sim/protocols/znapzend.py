"""Protocol `znapzend`: znapzend's source cleanup after sending, as a dependency strategy.

What znapzend does (oetiker/znapzend at f45331bf, `lib/ZnapZend.pm`, `lib/ZnapZend/ZFS.pm`,
`doc/znapzend.pod`): after each snapshot, `sendRecvCleanup` (ZnapZend.pm line 500) sends to
every destination, then cleans the source.

- *A send fails* when a destination cannot be reached or its `zfs send | recv` fails: the
  error is pushed on `@sendFailed` (lines 960-964; also an offline destination that is to be
  auto-created, line 629, and a failed pre-send command with `--skipOnPreSendCmdFail`,
  line 571). The list is per run: the next run retries.
- *Default: no source cleanup after a failed send*: with `@sendFailed` non-empty and without
  `--cleanOffline`, "ERROR: suspending cleanup source dataset ... because N send task(s)
  failed" (lines 1086-1099), and the cleanup block runs only
  `if (scalar(@sendFailed) == 0 or $self->cleanOffline)` (line 1130).
- *Whenever it cleans, each destination's most recent common snapshot stays*: the names that
  `mostRecentCommonSnapshot` returns are taken out of the destroy list (lines 1251-1275,
  and 1160-1190 for recursive sets). That snapshot is, "as tracked on source for resilience"
  (znapzend.pod, `--cleanOffline`), the newest source snapshot carrying the
  `<dst>_synced` property, which `sendRecvSnapshots` sets on the last snapshot it delivered
  (ZFS.pm lines 674-681 and 826; `mostRecentCommonSnapshot`, line 520: its live lookup
  keeps only element [1] of `lastAndCommonSnapshots`, line 570, so the property search is
  what answers). So an offline destination's last synced snapshot is kept too.
- *`--cleanOffline`*: cleanup proceeds despite failed sends (znapzend.pod: "Clean snapshots
  of a source dataset even if one or more destination datasets failed during replication
  ..."), keeping each destination's last synced snapshot; but if a send failed and some
  destination has no common snapshot at all, cleanup of that dataset is suspended ("ERROR:
  suspending cleanup of source ... because a send task failed and no common snapshot was
  found for at least destination ...", line 1273).

How it is modelled here: a volume's destinations are its outgoing relationships that are not
defunct; a send to one has failed while its path is down, and from an update due or running
while the path was down until the relationship next completes an update (as protocol
`btrbk`'s aborted target, `sim.protocols.btrbk.TargetWatch`). A label stands for the
snapshot name filter (`snapCleanFilter`) of one backup plan, and a destination's last synced
snapshot for a label is the newest PCPI of the label it has received that the source still
has (for a qtree mirror, the last PCPI transferred).

- default (`clean_offline: false`): no retention on a volume while a send from it has
  failed; otherwise each destination's last synced PCPI per label is kept;
- `clean_offline: true`: retention goes on, keeping each destination's last synced PCPI per
  label, online or not; while a send has failed and some destination has no synced PCPI of
  the label on the source, retention of that label deletes nothing.

What it leaves out: znapzend's own retention plans (the scenario's retention rule stands in);
destination cleanup (destinations here keep what their source sends; znapzend skips it for a
destination whose send failed); a destination found offline when the daemon starts, which
without auto-creation is skipped without counting as a failed send (line 622); recursive
datasets, `--since`, and `dst_X_synced` surviving a destination rollback. Only `retention`
is vetoed: mirror rotation, autodelete and image updates (`mirror_image`) are not
znapzend's cleanup. As for `btrbk`, keep-N does not count a kept PCPI towards the keep
count, so the source holds one more PCPI of the label than znapzend would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from sim.engine.deletion import RETENTION
from sim.protocols.targets import TargetWatch

if TYPE_CHECKING:
    from sim.engine.storage import Volume


class ZnapzendConfig(BaseModel):
    """Settings of protocol `znapzend`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    clean_offline: bool = False
    """znapzend's `--cleanOffline`: clean the source even when a send failed, keeping each
    destination's last synced snapshot."""


class ZnapzendCleanup(TargetWatch):
    """No retention on a volume after a failed send (unless `clean_offline`); each
    destination's last synced PCPI (per label) is always kept."""

    config: ZnapzendConfig

    def vetoes(self, volume: Volume, pcpi_id: int, reason: str) -> bool:
        if reason != RETENTION:
            return False
        targets = self.targets(volume)
        if not targets:
            return False
        send_failed = any(self.aborted(rel) for rel in targets)
        if send_failed and not self.config.clean_offline:
            return True  # "suspending cleanup source dataset ... because N send task(s) failed"
        label = volume.pcpis[pcpi_id].label
        synced = [self.latest_common(rel, label) for rel in targets]
        if send_failed and None in synced:
            return True  # "... a send task failed and no common snapshot was found ..."
        return pcpi_id in synced
