"""What a user writes: the scenario format as pydantic models (frozen, `extra="forbid"`).

Each model is one thing a scenario declares (an appliance, a link, a volume, a snapshot policy,
a mirror relationship, an application hold, an outcome bound) and says what it models. Field
types read human units once: a `Duration` is seconds, a `Size` bytes, a `Rate` bytes per
second, a `Cron` a checked five-field schedule. The models check each field alone; what needs
the whole scenario (references, paths, limits) is `sim.scenario.validate`.

The models also describe the format to editors (`sim.scenario.json_schema`): each unit type
says, with `WithJsonSchema`, how it is written in a file (`15m`, `2TiB`, `1Gbit/s`,
`0 * * * *`), and the docstrings of the models and of their fields are the descriptions.
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
    GetJsonSchemaHandler,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from sim.observe.kpis import NAMES
from sim.scenario.schedule import check_cron
from sim.scenario.units import parse_duration, parse_rate, parse_size

FORMAT_VERSION = 1
"""The scenario format this code reads: a file's optional top-level `version` must be it. A
change that makes existing files mean something else, or be refused, is a new version."""

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


# Each type's `WithJsonSchema` is what a file holds (text with a unit, a checked name), not the
# number or string the model keeps: the JSON Schema describes the input.
FormatVersion = Annotated[int, BeforeValidator(_check_version),
                          WithJsonSchema({"type": "integer", "const": FORMAT_VERSION})]
Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_finite), WithJsonSchema({
    "type": "string", "description": "A duration: 30s, 15m, 4h, 7d, 3d12h, 1w.", "examples": ["15m", "7d"]})]
Offset = Annotated[float, BeforeValidator(_duration_at_least_zero), AfterValidator(_finite), WithJsonSchema({
    "anyOf": [{"type": "string"}, {"const": 0}], "description": "A duration, e.g. 1ms or 3d12h, or 0."})]
Size = Annotated[float, BeforeValidator(parse_size), AfterValidator(_finite), WithJsonSchema({
    "type": "string", "description": "A size: a number and a unit (B, KB, KiB, ..., bit, Gbit), e.g. 500GiB, 1.5 TB.",
    "examples": ["500GiB", "4TiB"]})]
Rate = Annotated[float, BeforeValidator(parse_rate), AfterValidator(_finite), WithJsonSchema({
    "type": "string", "pattern": "/", "description": "A rate: a size per duration, e.g. 1Gbit/s, 20GiB/h, 1TiB/7d.",
    "examples": ["1Gbit/s", "20GiB/h"]})]
Cron = Annotated[str, AfterValidator(check_cron), WithJsonSchema({
    "type": "string", "pattern": r"^\s*(@[A-Za-z]+|\S+(\s+\S+){4})\s*$",
    "description": "A cron schedule in UTC: minute hour day-of-month month day-of-week, or an alias such as @daily.",
    "examples": ["0 * * * *", "*/15 * * * *", "@daily"]})]
VolumeName = Annotated[str, AfterValidator(_check_volume_name), WithJsonSchema({
    "type": "string", "pattern": "^[^:]+:/", "description": "A volume, APPLIANCE:/vol/NAME (a qtree: .../QTREE).",
    "examples": ["A:/vol/db"]})]
Name = Annotated[str, AfterValidator(_check_name), WithJsonSchema({"type": "string", "pattern": _NAME.pattern})]
ScenarioName = Annotated[str, AfterValidator(_check_scenario_name), WithJsonSchema({
    "type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9_.-]*$", "maxLength": MAX_NAME_LENGTH})]


def _check_protocol(name: str) -> str:
    """A registered dependency strategy (`sim.protocols.registry`, read when a file is checked
    so that strategies registered at run time count)."""
    from sim.protocols.registry import names

    if name not in names():
        raise ValueError(f"unknown protocol {name!r}; choose from {', '.join(names())}")
    return name


Protocol = Annotated[str, AfterValidator(_check_protocol), WithJsonSchema({
    "type": "string", "description": "A registered lock protocol (`cascadesim schema` lists them)."})]
def _check_regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as error:
        raise ValueError(f"{text!r} is not a regular expression: {error}") from None
    return text


def _check_retention(value: object) -> tuple[dict[str, Any], ...]:
    """One retention rule or a list of them, each checked by its grammar (`sim.retention.registry`)."""
    from sim.retention.registry import normalise

    return normalise(value)


def _retention_json_schema() -> dict[str, Any]:
    from sim.retention.registry import GRAMMARS, KEEP

    rule = {"type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": {KEEP: {"type": "integer", "minimum": 1, "description": "keep-N: the newest N unlocked PCPIs"},
                           **{key: {"description": info.description} for key, info in GRAMMARS.items()},
                           "regex": {"type": "string", "description": "grid and last_n: the names the rule applies to"}}}
    return {"anyOf": [rule, {"type": "array", "items": rule, "minItems": 1}],
            "description": "A retention rule, or a list (a PCPI goes only if every rule lets it go): "
                           "keep, grid, last_n, not_replicated, sanoid, znapzend, btrbk, thinner."}


Retention = Annotated[tuple[dict[str, Any], ...], BeforeValidator(_check_retention),
                      WithJsonSchema(_retention_json_schema())]

KpiName = Literal[KPIS]  # type: ignore[valid-type]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


class ApplianceSpec(_Spec):
    """A storage system: its capacity bounds live data plus snapshot space."""

    capacity: Size
    """Live data plus snapshot space, e.g. `4TiB`."""
    max_transfers: StrictInt | None = Field(default=None, ge=1, le=100_000)
    """At most this many transfers to and from it at once; more wait in order (default: no limit)."""


class OutageSpec(_Spec):
    """A window during which a link carries nothing (starts `at` after the run start)."""

    at: Offset
    """When the outage starts, after the start of the run."""
    for_: Duration = Field(alias="for")
    """How long it lasts."""


class BandwidthChangeSpec(_Spec):
    """From every firing of `schedule` on, the link's bandwidth is `bandwidth`."""

    schedule: Cron
    """When the change happens (UTC)."""
    bandwidth: Rate
    """The link's bandwidth from then on, e.g. `100Mbit/s`."""


class LinkSpec(_Spec):
    """A network link between two appliances or routers."""

    between: tuple[str, str]
    """Its two ends: appliances or routers. Links are undirected."""
    bandwidth: Rate
    """Shared fairly by the transfers that cross the link, e.g. `10Gbit/s`."""
    latency: Offset
    """One way, e.g. `1ms` (or 0)."""
    outages: tuple[OutageSpec, ...] = ()
    """Windows during which the link carries nothing."""
    bandwidth_schedule: tuple[BandwidthChangeSpec, ...] = ()
    """Bandwidth changes on a schedule (throttled during business hours, say): from each firing
    of an entry's `schedule` the link carries that entry's `bandwidth`, until another entry fires."""


class QtreeSpec(_Spec):
    """A named sub-tree of a volume with its share of the volume's size and change."""

    share: StrictFloat = Field(gt=0, le=1)
    """Its fraction of the volume's size and change, more than 0 and at most 1."""


class AutodeleteSpec(_Spec):
    """Space-pressure deletion of a volume's oldest PCPIs (like NetApp snapshot autodelete).

    When the volume's snapshot space passes `trigger`, its oldest PCPIs go first until the
    space is at most `target` (default: `trigger`). `commitment` says what may go: `try`
    never touches a locked PCPI; `disrupt` may delete soft-locked ones (not those held by
    protocol `hard`, whose locks are never overridable); `destroy` may delete anything but
    the base or the sent PCPI of a running transfer.
    """

    commitment: Literal["try", "disrupt", "destroy"] = "try"
    """What may go: `try` nothing locked, `disrupt` soft-locked PCPIs too, `destroy` anything but a running transfer's."""
    trigger: Size
    """Snapshot space past which the oldest PCPIs go."""
    target: Size | None = None
    """Snapshot space autodelete brings the volume down to (default: the trigger)."""


class VolumeSpec(_Spec):
    """A writable volume: live size, mean change rate, and how bursty the change is.

    `change_variability` is the coefficient of variation of the write rate, which is redrawn
    (gamma distribution, mean `change_rate`) each time a PCPI closes a write interval.
    """

    size: Size
    """Live data, constant; a full (re)baseline sends all of it."""
    change_rate: Rate
    """Mean bytes overwritten per unit of time, e.g. `20GiB/h`."""
    change_variability: StrictFloat = Field(default=0.0, ge=0, le=10)
    """Coefficient of variation of the write rate (0 to 10), redrawn at each PCPI."""
    qtrees: dict[str, QtreeSpec] = Field(default_factory=dict)
    """Named sub-trees and their shares; the shares add up to at most 1."""
    autodelete: AutodeleteSpec | None = None
    """Space-pressure deletion of the volume's oldest PCPIs."""


class SnapshotPolicySpec(_Spec):
    """A cron schedule that takes PCPIs with `label` and prunes them by its retention: `keep`
    unlocked ones, or a `retention` grammar (one of the two)."""

    schedule: Cron
    """When it takes a PCPI of each of its volumes (UTC)."""
    label: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """The label of the PCPIs it takes (hourly, daily, ...); retention counts per label."""
    keep: StrictInt | None = Field(default=None, ge=1, le=100_000)
    """How many unlocked PCPIs with the label each volume keeps (short for `retention: {keep: N}`)."""
    retention: Retention | None = None
    """Which PCPIs with the label go: a rule or a list of rules of the retention grammars."""
    volumes: tuple[VolumeName, ...] = Field(min_length=1)
    """Writable volumes it snapshots (a mirror destination's PCPIs come from its source)."""

    @model_validator(mode="after")
    def _one_retention(self) -> SnapshotPolicySpec:
        if (self.keep is None) == (self.retention is None):
            raise ValueError("give either keep (a count) or retention (a grammar), not both and not neither")
        return self

    @property
    def rules(self) -> tuple[dict[str, Any], ...]:
        """The retention rules, `keep: N` as `({keep: N},)`."""
        return self.retention if self.retention is not None else ({"keep": self.keep},)


class HoldSpec(_Spec):
    """An application that depends on a volume's PCPIs (a backup or a clone, say): every PCPI
    with `label` that appears on `volume` gets a soft lock of type `owner` naming `owner`,
    released `for` later. Under a forwarding protocol, a hold on a mirror destination
    travels upstream like any other lock."""

    volume: VolumeName
    """The volume whose PCPIs the application uses."""
    label: str = Field(min_length=1)
    """The label of the PCPIs it holds."""
    owner: str = Field(min_length=1)
    """The application's name, the lock's user-visible string."""
    for_: Duration = Field(alias="for")
    """How long after a PCPI appears the application releases it."""


class BreakPolicySpec(_Spec):
    """What happens to a transfer that breaks: its path goes down, one of its ends crashes, or
    it does not fit on its destination.

    `stall` (the default, SnapMirror over a broken link): a flow whose path goes down waits,
    at zero rate, and goes on where it was when the path is back; a transfer whose end
    crashed restarts from its checkpoint when the end is back, with no back-off; one that
    did not fit fails, and the next scheduled update starts anew. `abort`: the transfer
    fails and is retried from zero after a back-off (`retry_after`, times `backoff` per
    attempt, at most `backoff_cap`), at most `attempts` times in all. `resume`: the same
    retries, but a retry sends only what the destination had not received (the resumable
    send token of ZFS, SnapMirror's checkpoint restart); a transfer that did not fit
    restarts from zero. After the last attempt the update has failed: the next scheduled
    update starts anew.
    """

    policy: Literal["stall", "abort", "resume"] = "stall"
    """`stall`: wait where it is; `abort`: retry from zero after a back-off; `resume`: retry from the bytes received."""
    retry_after: Duration = Field(default="1m", validate_default=True)
    """The first back-off, from the break to the retry (`abort` and `resume`)."""
    backoff: StrictFloat = Field(default=2.0, ge=1, le=100)
    """Each further back-off is the previous one times this (1: constant)."""
    backoff_cap: Duration = Field(default="1h", validate_default=True)
    """The longest back-off."""
    attempts: StrictInt = Field(default=10, ge=1, le=10_000)
    """Attempts in all per update, the first included."""


class MirrorSpec(_Spec):
    """An asynchronous mirror relationship from a source to a destination on another appliance.

    `volume`: source and destination are volumes (`APP:/vol/NAME`); the destination is an
    exact read-only image of the source, PCPIs included. `qtree`: source and destination are
    qtrees (`APP:/vol/NAME/QTREE`); the destination volume holding the qtree is created by
    the mirror and its appliance takes its own PCPI after each transfer. `vault`: volumes; the
    destination receives the source's PCPIs (all of them since the common base, or those whose
    name matches `filter`), keeps them under its own `retention` and does not replay the
    source's deletions (`zfs send -I | zfs recv`, btrfs send/receive, SnapVault).
    """

    source: VolumeName
    """The volume (or qtree) it reads: a declared volume or another mirror's destination."""
    destination: VolumeName
    """The volume (or qtree) it creates and writes, on another appliance."""
    type: Literal["volume", "qtree", "vault"] = "volume"
    """`volume`: an exact read-only image, PCPIs included; `qtree`: the qtree's data, with the
    destination's own PCPIs; `vault`: the source's PCPIs, kept under the destination's retention."""
    schedule: Cron
    """When an update starts (UTC); an update that finds the previous one still running is skipped."""
    retire_at: Offset | None = None
    """When the destination is removed for good: no more updates, and it tells nobody."""
    retention: Retention | None = None
    """Vault only (required there): which received PCPIs the destination keeps, over all of them."""
    filter: Annotated[str, Field(min_length=1), AfterValidator(_check_regex)] | None = None
    """Vault only: a regular expression; only source PCPIs whose name it matches are sent."""
    throttle: Rate | None = None
    """The most this relationship's transfers may use, e.g. `50Mbit/s` (SnapMirror's throttle,
    syncoid's `--target-bwlimit`); it shares links fairly below that."""
    on_break: BreakPolicySpec = Field(default_factory=lambda: BreakPolicySpec())
    """What a transfer does when its path goes down, an end crashes or its destination is full."""
    autodelete: AutodeleteSpec | None = None
    """Vault only: the destination's space-pressure deletion of its oldest PCPIs (it also runs
    when a received transfer would not fit)."""

    @model_validator(mode="after")
    def _vault_settings(self) -> MirrorSpec:
        if self.type == "vault" and self.retention is None:
            raise ValueError("a vault mirror needs retention: what its destination keeps of what it receives")
        if self.type != "vault" and (self.retention is not None or self.filter is not None):
            raise ValueError(f"retention and filter are for vault mirrors; a {self.type} mirror replays its source")
        if self.type != "vault" and self.autodelete is not None:
            raise ValueError(f"autodelete on a destination is for vault mirrors; a {self.type} mirror's destination "
                             f"is an image of its source")
        return self

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


class RepairSpec(_Spec):
    """How long a random repair (or an extra delay) lasts around its mean.

    `exponential` (memoryless); `weibull` with `shape` k (k > 1: repairs bunch around the
    mean; k < 1: a long tail); `lognormal` with `shape` the standard deviation sigma of the
    logarithm. The mean is always the given mean (MTTR), whatever the shape.
    """

    distribution: Literal["exponential", "weibull", "lognormal"] = "exponential"
    """The distribution's family."""
    shape: StrictFloat | None = Field(default=None, gt=0, le=20)
    """Weibull: the shape k; lognormal: sigma of the logarithm (required for both)."""

    @model_validator(mode="after")
    def _shape_where_needed(self) -> RepairSpec:
        if self.distribution != "exponential" and self.shape is None:
            raise ValueError(f"a {self.distribution} distribution needs its shape")
        if self.distribution == "exponential" and self.shape is not None:
            raise ValueError("an exponential distribution has no shape")
        return self


class LinkFailureSpec(_Spec):
    """Random failures of one link: up for an exponential time of mean `mtbf`, then down for a
    repair time of mean `mttr` (its `repair` distribution), and so on. Its long-run
    availability is MTBF / (MTBF + MTTR)."""

    between: tuple[str, str]
    """The link's two ends, as in `links`."""
    mtbf: Duration
    """Mean time between failures (the mean up time)."""
    mttr: Duration
    """Mean time to repair (the mean down time)."""
    repair: RepairSpec = Field(default_factory=lambda: RepairSpec())
    """The repair time's distribution (exponential by default)."""


class ApplianceFaultSpec(_Spec):
    """Crashes of one appliance: fixed windows and, with `mtbf` and `mttr`, random ones.

    While it is down its transfers (to and from it) break, its snapshot and mirror-update
    schedules do not fire (missed firings are counted), it sends and receives no message,
    and messages in flight to or from it are lost. Its persistent state survives a crash:
    PCPIs, the lock sets it received, the relationships' bases, holds. Its volatile state is
    lost: messages in flight and the timers of leases it holds for others (on restart it
    gives each lease it holds a full term from the restart).
    """

    crashes: tuple[OutageSpec, ...] = ()
    """Windows during which it is down (`at`, `for`)."""
    mtbf: Duration | None = None
    """Mean time between random crashes (with `mttr`)."""
    mttr: Duration | None = None
    """Mean time to restart after a random crash (with `mtbf`)."""
    repair: RepairSpec = Field(default_factory=lambda: RepairSpec())
    """The restart time's distribution (exponential by default)."""

    @model_validator(mode="after")
    def _both_or_neither(self) -> ApplianceFaultSpec:
        if (self.mtbf is None) != (self.mttr is None):
            raise ValueError("random crashes need both mtbf and mttr")
        return self


class DelaySpec(RepairSpec):
    """An extra delay drawn per message, of mean `mean`."""

    mean: Duration
    """The mean extra delay."""


class MessageFaultSpec(_Spec):
    """Faults of the control messages (lock sets), each message drawn independently.

    A lost message never arrives; a delayed one arrives that much later; a duplicated one
    arrives twice (the copy after another extra delay); a reordered one is held back by
    `reorder_delay`, so that messages sent after it can overtake it. Lock sets are
    state-based (each replaces the sender's previous set, older sequence numbers ignored),
    so they heal at the next exchange.
    """

    loss: StrictFloat = Field(default=0.0, ge=0, lt=1)
    """Probability that a message is lost (less than 1)."""
    delay: DelaySpec | None = None
    """Extra delay added to every message."""
    duplicate: StrictFloat = Field(default=0.0, ge=0, lt=1)
    """Probability that a message arrives twice."""
    reorder: StrictFloat = Field(default=0.0, ge=0, lt=1)
    """Probability that a message is held back by `reorder_delay`."""
    reorder_delay: Duration = Field(default="1m", validate_default=True)
    """How long a reordered message is held back."""


class RepointSpec(_Spec):
    """At `at`, the mirror into `destination` takes `source` as its new source (a cascade
    re-pointed around a system taken out). The old source keeps what it kept for the
    relationship (its base lock, the destination's soft locks, its mirror PCPIs) until a
    release; the next update looks for a common base on the new source and re-baselines if
    there is none."""

    destination: VolumeName
    """The destination of a volume or vault mirror."""
    source: VolumeName
    """Its new source: a declared volume or another mirror's destination."""
    at: Offset
    """When, after the start of the run."""


class ReleaseSpec(_Spec):
    """At `at`, an administrator releases what a relationship left on the sources it no longer
    uses (NetApp `snapmirror release`): those it was re-pointed away from, and its last once
    it is retired: its base lock, its destination's soft locks and its mirror PCPIs."""

    destination: VolumeName
    """The destination of a mirror retired (`retire_at`) or re-pointed at or before `at`."""
    at: Offset
    """When, after the start of the run."""


class FaultsSpec(_Spec):
    """Faults as they happen: random link failures, appliance crashes, control-message faults,
    and cascade changes. Random processes draw from their own streams (named after the link,
    the appliance, or the appliance sending a message), so adding one leaves every other draw unchanged."""

    links: tuple[LinkFailureSpec, ...] = ()
    """Random failures per link (fixed windows are the links' `outages`)."""
    appliances: dict[Name, ApplianceFaultSpec] = Field(default_factory=dict)
    """Crashes per appliance."""
    messages: MessageFaultSpec | None = None
    """Faults of every control message."""
    repoints: tuple[RepointSpec, ...] = ()
    """Mirrors re-pointed to another source at a time."""
    releases: tuple[ReleaseSpec, ...] = ()
    """Administrators' releases of what retired or re-pointed relationships left on their sources."""


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
    """The smallest value allowed."""
    max: StrictFloat | None = None
    """The largest value allowed."""

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        return _number_as_range(value)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """In a file, a plain number is a range too (exactly that value)."""
        return {"anyOf": [{"type": "number"}, handler(core_schema)]}

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
    """Bounds of the mean over the seeds (a number or `{min, max}`); needs `seeds` of 2 or more."""
    tolerance: StrictFloat = Field(default=0.0, ge=0)
    """Widens every bound of the entry by this much."""
    seeds: StrictInt = Field(default=1, ge=1, le=MAX_EXPECT_SEEDS)
    """How many seeds to run, from the scenario's `seed` up."""

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
    """A cascadesim scenario: storage systems, network, volumes, snapshot policies, mirror
    relationships, application holds, and the outcomes `cascadesim check` expects. Once loaded,
    durations are seconds (times count from `start`), sizes bytes and rates bytes per second."""

    version: FormatVersion = FORMAT_VERSION
    """The scenario format version (optional): 1, the only one so far."""
    name: ScenarioName
    """Letters, digits, `.`, `_` and `-`, at most 100, not starting with `.`: it names the results folder."""
    seed: StrictInt = Field(ge=0, lt=2**63)
    """The seed of every random stream: the same scenario and seed give identical results."""
    duration: Duration
    """How long the simulated run lasts."""
    start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    """The wall clock at time 0, for cron schedules and PCPI names (UTC when no zone is given)."""
    protocol: Protocol = "none"
    """The lock protocol the run uses (`cascadesim compare` runs several)."""
    sample_interval: Duration = Field(default="1h", validate_default=True)
    """Time between two samples of the time series."""
    lock_record_bytes: StrictInt = Field(default=128, ge=1, le=1 << 20)
    """Size of one soft-lock record on the wire, in bytes."""
    lease: Duration = Field(default="1d", validate_default=True)
    """Protocol `lease`: a lock set not renewed within this long expires at its holder (the
    older way to write `protocols: {lease: {lease: ...}}`, which wins when both are given)."""
    protocols: dict[Protocol, dict[str, Any]] = Field(default_factory=dict)
    """Settings per protocol, used when that protocol runs: `protocols: {lease: {lease: 2d}}`."""
    appliances: dict[Name, ApplianceSpec] = Field(min_length=1)
    """Storage systems by name (letters, digits, `.`, `_` and `-`)."""
    routers: tuple[Name, ...] = ()
    """Network nodes that are not storage systems."""
    links: tuple[LinkSpec, ...] = ()
    """The network; a transfer takes the lowest-latency path, over several hops if need be."""
    volumes: dict[VolumeName, VolumeSpec] = Field(default_factory=dict)
    """Writable volumes by name, `APPLIANCE:/vol/NAME` (mirror destinations are created by their mirrors)."""
    snapshot_policies: dict[str, SnapshotPolicySpec] = Field(default_factory=dict)
    """Schedules that take labelled PCPIs of writable volumes, by policy name."""
    mirrors: tuple[MirrorSpec, ...] = ()
    """Mirror relationships; chains and trees are mirrors whose source is another's destination."""
    holds: tuple[HoldSpec, ...] = ()
    """Applications that depend on PCPIs (backups, clones)."""
    faults: FaultsSpec = Field(default_factory=lambda: FaultsSpec())
    """Random link failures, appliance crashes, control-message faults and cascade changes."""
    expect: dict[Protocol, dict[KpiName, Bound]] = Field(default_factory=dict)
    """Outcome bounds per protocol, for `cascadesim check` (see `Bound`)."""

    @property
    def start_ts(self) -> float:
        """The start as a POSIX timestamp (UTC when the file gives no zone)."""
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=dt.UTC)
        return start.timestamp()


Loc = tuple[str | int, ...]
"""Where a field is in a scenario document: keys and list indexes, e.g. `("mirrors", 1, "schedule")`."""
