"""The one registry of dependency strategies (lock protocols): name -> strategy class, config
model, chart colour and one-line description.

Scenario validation, the command line, `compare`, plots, the library catalog and the notebooks
read it. A new strategy is one file under `sim/protocols/` plus one `register` line below (or
a `register` call from elsewhere, e.g. a test registering a strategy of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from sim.protocols.base import DependencyStrategy, NoConfig
from sim.protocols.btrbk import BtrbkCleanup
from sim.protocols.ceph import CephConfig, CephMirroring
from sim.protocols.hard import HardLocks
from sim.protocols.lease import LeaseConfig, LeaseLocks
from sim.protocols.local import LocalLocks
from sim.protocols.none import NoLocks
from sim.protocols.softlock import SoftLockProtocol
from sim.protocols.softlock_pending import SoftLockPending, SoftlockPendingConfig
from sim.protocols.syncoid import SyncoidConfig, SyncoidRuns
from sim.protocols.znapzend import ZnapzendCleanup, ZnapzendConfig
from sim.protocols.zrepl import ZreplAbstractions, ZreplConfig

if TYPE_CHECKING:
    from sim.scenario import Scenario


@dataclass(frozen=True)
class ProtocolInfo:
    """A registered strategy: what to build, how it is configured, how it is drawn and said."""

    name: str
    strategy: type[DependencyStrategy]
    config: type[BaseModel]
    colour: str
    description: str


_REGISTRY: dict[str, ProtocolInfo] = {}


def register(info: ProtocolInfo) -> None:
    """Add a strategy (a name may be registered once)."""
    if info.name in _REGISTRY:
        raise ValueError(f"protocol {info.name!r} is already registered")
    _REGISTRY[info.name] = info


def unregister(name: str) -> None:
    """Remove a strategy registered from outside this module (a test's own)."""
    del _REGISTRY[name]


def protocol(name: str) -> ProtocolInfo:
    """The registered strategy called `name` (KeyError if there is none)."""
    return _REGISTRY[name]


def names() -> tuple[str, ...]:
    """Every registered strategy's name, in registration order."""
    return tuple(_REGISTRY)


def settings_problems(name: str, settings: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a scenario's `protocols.NAME` settings, as (location within them, message)."""
    if name not in _REGISTRY:
        return [((), f"unknown protocol {name!r}; choose from {', '.join(_REGISTRY)}")]
    try:
        _REGISTRY[name].config.model_validate(settings)
    except ValidationError as error:
        return [(tuple(e["loc"]), e["msg"]) for e in error.errors()]
    return []


def strategy_config(scenario: Scenario) -> BaseModel:
    """The settings of the scenario's protocol: its entry under `protocols:`; a top-level field
    with the name of a setting (`lease:`, the older way to write it) fills a setting the entry
    leaves out."""
    info = _REGISTRY[scenario.protocol]
    config = info.config.model_validate(scenario.protocols.get(info.name, {}))
    fallback = {field: getattr(scenario, field) for field in info.config.model_fields
                if field in type(scenario).model_fields and field not in config.model_fields_set}
    return config.model_copy(update=fallback)


register(ProtocolInfo("none", NoLocks, NoConfig, "tab:red",
                      "no soft locks: each source hard-locks only its own relationship's base"))
register(ProtocolInfo("local", LocalLocks, NoConfig, "tab:orange",
                      "each destination locks its base on its direct source; nothing is forwarded"))
register(ProtocolInfo("softlock", SoftLockProtocol, NoConfig, "tab:green",
                      "the patent: lock sets before and after every update, forwarded up the chain"))
register(ProtocolInfo("hard", HardLocks, NoConfig, "tab:purple",
                      "softlock's propagation with locks space pressure may not override"))
register(ProtocolInfo("lease", LeaseLocks, LeaseConfig, "tab:blue",
                      "softlock whose locks expire unless renewed within the lease"))
register(ProtocolInfo("btrbk", BtrbkCleanup, NoConfig, "tab:brown",
                      "btrbk: no source retention while a target is unreachable; each target's latest common kept"))
register(ProtocolInfo("znapzend", ZnapzendCleanup, ZnapzendConfig, "tab:pink",
                      "znapzend: no source retention after a failed send (clean_offline: keep last synced instead)"))
register(ProtocolInfo("softlock_pending", SoftLockPending, SoftlockPendingConfig, "tab:olive",
                      "softlock plus locks on the scheduled PCPIs a destination has not received yet (closes gaps)"))
register(ProtocolInfo("ceph", CephMirroring, CephConfig, "tab:gray",
                      "Ceph RBD mirror snapshots: peers unlink after syncing; past the cap a peer is unlinked"))
register(ProtocolInfo("zrepl", ZreplAbstractions, ZreplConfig, "darkgoldenrod",
                      "zrepl: step holds while sending, a replication cursor bookmark and last-received hold per job"))
register(ProtocolInfo("syncoid", SyncoidRuns, SyncoidConfig, "tab:cyan",
                      "syncoid: a sync snapshot per run, pruned after success; the target rolled back before receiving"))
