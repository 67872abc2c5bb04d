"""What a dependency strategy is: the hooks the engine calls, and the deletion veto.

A dependency strategy (a lock protocol) models how a source learns what its downstream still
needs. The engine calls it at fixed points of every mirror update, and every path that deletes
a PCPI asks it first:

- `before_update(rel)` / `after_update(rel)`: process bodies run at the destination before an
  update's transfer starts and after it was applied (claims 10, 20: send the lock set);
- `transfer_started(rel)` / `transfer_ended(rel, reads, applied)`: at the source, when a
  transfer starts reading its PCPIs and when it ends (applied, or not: its relationship
  became defunct);
- `locks_changed(volume)`: a lock was set or released on a volume outside a lock set (an
  application hold's lock);
- `sync_snapshot(rel)` / `rolls_back(rel)`: for a vault update, whether the source takes a
  snapshot of the tool's own to send, and whether the destination is rolled back to the
  common base first (syncoid); a strategy can also make and destroy bookmarks on a volume
  (`Volume.create_bookmark`, `destroy_bookmark`: zrepl's replication cursor);
- `vetoes(volume, pcpi_id, reason)`: whether the strategy forbids a deletion. Retention,
  mirror rotation, autodelete and image updates all consult it (through the engine's
  deletion gate, after the locks and busy PCPIs it already honours); a vetoed image deletion
  waits for the next image update. A strategy that never vetoes leaves it alone.

A strategy keeps what it needs per relationship in a state object of its own (`state_of`),
and gets its settings from a pydantic config model (`Config`), declared next to it in the
registry (`sim.protocols.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import simpy
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from sim.engine.events import DomainEvents
    from sim.engine.lock_table import LockTable
    from sim.engine.messages import MessageFaults
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Network
    from sim.engine.storage import Volume


class NoConfig(BaseModel):
    """A protocol without settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Services:
    """What a strategy may use of the run: the clock, the network, the lock table, the
    domain events, the wire size of one lock record, and the faults of control messages
    (None: every message arrives once, on time)."""

    env: simpy.Environment
    network: Network
    locks: LockTable
    events: DomainEvents
    lock_record_bytes: int
    messages: MessageFaults | None = None


class _States(dict):
    """A strategy's state per relationship, made by `new_state` the first time it is asked for."""

    __slots__ = ("_new",)

    def __init__(self, new: Callable[[MirrorRelationship], Any]):
        super().__init__()
        self._new = new

    def __missing__(self, rel: MirrorRelationship) -> Any:
        state = self[rel] = self._new(rel)
        return state


class DependencyStrategy:
    """The base of every strategy, and protocol `none` itself: no soft locks, only each
    source's hard lock on its own relationship's base (which the engine keeps)."""

    soft_locks_overridable: ClassVar[bool] = True
    """Whether autodelete at commitment `disrupt` may delete a soft-locked PCPI."""
    sends_lock_sets: ClassVar[bool] = False
    """Whether destinations send lock sets to their sources (the run limits estimate their load)."""
    forwards: ClassVar[bool] = False
    """Whether an intermediate system passes the locks it received on to its own source."""
    protects_base: ClassVar[bool] = True
    """Whether the storage system hard-locks each vault relationship's base on its source
    (NetApp SnapVault does; ZFS and btrfs do not: a replication tool protects its base itself,
    with holds, bookmarks or by what its cleanup spares, or not at all). Volume and qtree
    mirrors are SnapMirror's: their bases are always hard-locked."""

    def __init__(self, name: str, services: Services, config: BaseModel):
        self.name = name
        self.services = services
        self.config = config
        self._states = _States(self.new_state)
        """Per relationship, the strategy's state: `self._states[rel]` is `state_of(rel)`, a
        dictionary look-up where a call costs too much (a lock set reads it several times)."""

    def new_state(self, rel: MirrorRelationship) -> Any:
        """The strategy's own state for one relationship (None: it keeps none)."""
        return None

    def state_of(self, rel: MirrorRelationship) -> Any:
        return self._states[rel]

    def forget(self, rel: MirrorRelationship) -> None:
        """Drop the strategy's state for `rel` (it was re-pointed: it starts afresh)."""
        self._states.pop(rel, None)

    def before_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Runs at the destination before an update's transfer starts."""
        yield from ()  # a generator that yields nothing

    def after_update(self, rel: MirrorRelationship) -> Generator[simpy.Event, Any, None]:
        """Runs at the destination after an update has been applied."""
        yield from ()  # a generator that yields nothing

    def transfer_started(self, rel: MirrorRelationship) -> None:
        """Runs at the source when an update's transfer starts reading `rel.transfer_reads`."""

    def transfer_ended(self, rel: MirrorRelationship, reads: tuple[int, ...], applied: bool) -> None:
        """Runs at the source when a transfer that read `reads` ended (`applied` at the
        destination, or not: the relationship became defunct while it ran)."""

    def locks_changed(self, volume: Volume) -> None:
        """Runs when a lock was set or released on `volume` outside a lock set."""

    def sync_snapshot(self, rel: MirrorRelationship) -> tuple[str, str] | None:
        """For a vault update: the (name, label) of a PCPI to take on the source and send (a
        tool's own sync snapshot), or None to send the newest PCPI the source has."""
        return None

    def rolls_back(self, rel: MirrorRelationship) -> bool:
        """For a vault update: whether the destination is rolled back to the common base before
        it receives (its PCPIs newer than the base are destroyed, reason `rollback`)."""
        return False

    def appliance_crashed(self, appliance: str) -> None:
        """Appliance `appliance` crashed: the strategy's volatile state there is lost."""

    def appliance_restarted(self, appliance: str) -> None:
        """Appliance `appliance` is back up, with its persistent state (PCPIs, received lock sets)."""

    def vetoes(self, volume: Volume, pcpi_id: int, reason: str) -> bool:
        """Whether the strategy forbids deleting the PCPI from the volume for `reason`
        (`retention`, `mirror_rotation`, `autodelete`, `mirror_image`, `rollback`)."""
        return False

    @property
    def has_veto(self) -> bool:
        """Whether this strategy overrides `vetoes` (the gate skips asking one that does not)."""
        return type(self).vetoes is not DependencyStrategy.vetoes
