"""What a user writes: the scenario format as pydantic models (frozen, `extra="forbid"`).

Each model is one thing a scenario declares (an appliance, a link, a volume, a snapshot policy,
a mirror relationship, an application hold, an outcome bound) and says what it models. Field
types read human units once: a `Duration` is seconds, a `Size` bytes, a `Rate` bytes per
second, a `Cron` a checked five-field schedule. The models check each field alone; what needs
the whole scenario (references, paths, limits) is `sim.scenario.validate`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    model_validator,
)

from sim.observe.kpis import NAMES
from sim.scenario.schedule import check_cron
from sim.scenario.units import parse_duration, parse_rate, parse_size

FORMAT_VERSION = 1
"""The scenario format this code reads: a file's optional top-level `version` must be it. A
change that makes existing files mean something else, or be refused, is a new version."""

PROTOCOLS = ("none", "local", "softlock", "hard", "lease")
"""Lock protocols the engine implements (see `sim.protocols.softlock`)."""

KPIS = NAMES
"""Scalar outcomes of a run, as written to `summary.json` and bounded by `expect:` (`sim.observe.kpis`)."""

MAX_EXPECT_SEEDS = 100
"""Most seeds a statistical bound of `expect:` may ask `cascadesim check` to run."""
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_NAME_LENGTH = 100
"""Longest scenario name. It names a folder; with the longest run folder suffix a flat layout could
add (`-softlock-seed9223372036854775807`, 33 characters) it stays within eCryptfs's 143-byte file
names, the shortest limit of common filesystems (255 bytes elsewhere)."""


def _duration_at_least_zero(value: object) -> float:
    return parse_duration(value, allow_zero=True)


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a name: use letters, digits, '.', '_' and '-'")
    return name


def _check_scenario_name(name: str) -> str:
    """A scenario's name is one folder name under --out: letters, digits, '.', '_' and '-', not
    starting with '.' (so neither '.' nor '..', nor hidden), at most `MAX_NAME_LENGTH` long."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a name: use letters, digits, '.', '_' and '-'")
    if name.startswith("."):
        raise ValueError(f"{name!r} starts with '.'; it names the results folder, so it may not be '.', '..' "
                         f"or a hidden folder")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{len(name)} characters, more than {MAX_NAME_LENGTH}: it names the results folder")
    return name


def _check_version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value != FORMAT_VERSION:
        raise ValueError(f"{value!r} is not a scenario format version this cascadesim reads: it reads version "
                         f"{FORMAT_VERSION} (write `version: {FORMAT_VERSION}` or leave the field out)")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _check_volume_name(name: str) -> str:
    appliance, colon, path = name.partition(":")
    if not colon or not appliance or not path.startswith("/"):
        raise ValueError(f"{name!r} is not a volume name; write APPLIANCE:/vol/NAME")
    return name


FormatVersion = Annotated[int, BeforeValidator(_check_version)]
Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_finite)]
Offset = Annotated[float, BeforeValidator(_duration_at_least_zero), AfterValidator(_finite)]
Size = Annotated[float, BeforeValidator(parse_size), AfterValidator(_finite)]
Rate = Annotated[float, BeforeValidator(parse_rate), AfterValidator(_finite)]
Cron = Annotated[str, AfterValidator(check_cron)]
VolumeName = Annotated[str, AfterValidator(_check_volume_name)]
Name = Annotated[str, AfterValidator(_check_name)]
ScenarioName = Annotated[str, AfterValidator(_check_scenario_name)]
Protocol = Literal["none", "local", "softlock", "hard", "lease"]
KpiName = Literal[KPIS]  # type: ignore[valid-type]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class ApplianceSpec(_Spec):
    """A storage system: its capacity bounds live data plus snapshot space."""

    capacity: Size


class OutageSpec(_Spec):
    """A window during which a link carries nothing (starts `at` after the run start)."""

    at: Offset
    for_: Duration = Field(alias="for")


class LinkSpec(_Spec):
    """A network link between two appliances or routers."""

    between: tuple[str, str]
    bandwidth: Rate
    latency: Offset
    outages: tuple[OutageSpec, ...] = ()


class QtreeSpec(_Spec):
    """A named sub-tree of a volume with its share of the volume's size and change."""

    share: StrictFloat = Field(gt=0, le=1)


class AutodeleteSpec(_Spec):
    """Space-pressure deletion of a volume's oldest PCPIs (like NetApp snapshot autodelete).

    When the volume's snapshot space passes `trigger`, its oldest PCPIs go first until the
    space is at most `target` (default: `trigger`). `commitment` says what may go: `try`
    never touches a locked PCPI; `disrupt` may delete soft-locked ones (not those held by
    protocol `hard`, whose locks are never overridable); `destroy` may delete anything but
    the base or the sent PCPI of a running transfer.
    """

    commitment: Literal["try", "disrupt", "destroy"] = "try"
    trigger: Size
    target: Size | None = None


class VolumeSpec(_Spec):
    """A writable volume: live size, mean change rate, and how bursty the change is.

    `change_variability` is the coefficient of variation of the write rate, which is redrawn
    (gamma distribution, mean `change_rate`) each time a PCPI closes a write interval.
    """

    size: Size
    change_rate: Rate
    change_variability: StrictFloat = Field(default=0.0, ge=0, le=10)
    qtrees: dict[str, QtreeSpec] = Field(default_factory=dict)
    autodelete: AutodeleteSpec | None = None


class SnapshotPolicySpec(_Spec):
    """A cron schedule that takes PCPIs with `label` and keeps `keep` unlocked ones."""

    schedule: Cron
    label: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    keep: StrictInt = Field(ge=1, le=100_000)
    volumes: tuple[VolumeName, ...] = Field(min_length=1)


class HoldSpec(_Spec):
    """An application that depends on a volume's PCPIs (a backup or a clone, say): every PCPI
    with `label` that appears on `volume` gets a soft lock of type `owner` naming `owner`,
    released `for` later. Under a forwarding protocol, a hold on a mirror destination
    travels upstream like any other lock."""

    volume: VolumeName
    label: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    for_: Duration = Field(alias="for")


class MirrorSpec(_Spec):
    """An asynchronous mirror relationship from a source to a destination on another appliance.

    `volume`: source and destination are volumes (`APP:/vol/NAME`); the destination is an
    exact read-only image of the source, PCPIs included. `qtree`: source and destination are
    qtrees (`APP:/vol/NAME/QTREE`); the destination volume holding the qtree is created by
    the mirror and its appliance takes its own PCPI after each transfer.
    """

    source: VolumeName
    destination: VolumeName
    type: Literal["volume", "qtree"] = "volume"
    schedule: Cron
    retire_at: Offset | None = None
    """When the destination is removed for good: no more updates, and it tells nobody."""

    @property
    def source_volume(self) -> str:
        """The volume the mirror reads (the qtree's volume for a qtree mirror)."""
        return self.source.rpartition("/")[0] if self.type == "qtree" else self.source

    @property
    def destination_volume(self) -> str:
        """The volume the mirror creates and writes (the qtree's volume for a qtree mirror)."""
        return self.destination.rpartition("/")[0] if self.type == "qtree" else self.destination

    @property
    def source_qtree(self) -> str | None:
        """The mirrored qtree's name, for a qtree mirror."""
        return self.source.rpartition("/")[2] if self.type == "qtree" else None


def _number_as_range(value: Any) -> Any:
    """A plain number means exactly that value; anything else must be a mapping."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"min": value, "max": value}
    if not isinstance(value, dict):
        raise ValueError("a bound is a number or a mapping such as {min: 1, max: 5}")
    return value


class Range(_Spec):
    """Inclusive bounds; a plain number in the file means exactly that value."""

    min: StrictFloat | None = None
    max: StrictFloat | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        return _number_as_range(value)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is larger than max {self.max:g}")
        return self


class Bound(Range):
    """What `cascadesim check` requires of one KPI under one protocol.

    `2` means exactly 2; `{min: 1}`, `{max: 5}`, `{min: 1, max: 5}` are inclusive bounds.
    With `seeds: N` the protocol runs with seeds `seed`, `seed + 1`, ..., `seed + N - 1`:
    `min`/`max` must then hold for every seed, and `mean` (a number or `{min, max}`) bounds
    the mean over the seeds. `tolerance` widens every bound of the entry by that much
    (`{mean: 1.4, tolerance: 0.5, seeds: 10}`).
    """

    mean: Range | None = None
    tolerance: StrictFloat = Field(default=0.0, ge=0)
    seeds: StrictInt = Field(default=1, ge=1, le=MAX_EXPECT_SEEDS)

    @model_validator(mode="after")
    def _meaningful(self) -> Bound:
        if self.min is None and self.max is None and self.mean is None:
            raise ValueError("a bound needs min, max or mean")
        if self.mean is not None and self.mean.min is None and self.mean.max is None:
            raise ValueError("a mean needs min, max or a number")
        if self.mean is not None and self.seeds < 2:
            raise ValueError("a mean is over several seeds: add `seeds: N` with N >= 2")
        return self


class Scenario(_Spec):
    """A whole scenario, units resolved. Times are seconds from `start`."""

    version: FormatVersion = FORMAT_VERSION
    """The scenario format version (optional): 1, the only one so far."""
    name: ScenarioName
    seed: StrictInt = Field(ge=0, lt=2**63)
    duration: Duration
    start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    protocol: Protocol = "none"
    sample_interval: Duration = 3600.0
    lock_record_bytes: StrictInt = Field(default=128, ge=1, le=1 << 20)
    lease: Duration = 86400.0
    """Protocol `lease`: a lock set not renewed within this long expires at its holder."""
    appliances: dict[Name, ApplianceSpec] = Field(min_length=1)
    routers: tuple[Name, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    volumes: dict[VolumeName, VolumeSpec] = Field(default_factory=dict)
    snapshot_policies: dict[str, SnapshotPolicySpec] = Field(default_factory=dict)
    mirrors: tuple[MirrorSpec, ...] = ()
    holds: tuple[HoldSpec, ...] = ()
    expect: dict[Protocol, dict[KpiName, Bound]] = Field(default_factory=dict)
    """Outcome bounds per protocol, for `cascadesim check` (see `Bound`)."""

    @property
    def start_ts(self) -> float:
        """The start as a POSIX timestamp (UTC when the file gives no zone)."""
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=dt.UTC)
        return start.timestamp()


Loc = tuple[str | int, ...]
"""Where a field is in a scenario document: keys and list indexes, e.g. `("mirrors", 1, "schedule")`."""
