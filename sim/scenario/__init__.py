"""A scenario file: YAML -> validated, frozen, typed `Scenario` (pydantic v2).

Units become seconds, bytes and bytes per second here, once; cross references (link
endpoints, volumes, mirror sources and destinations, network paths) are checked here, once.
The engine receives a frozen object and never re-checks or defaults anything.

Every problem is reported as `file:line: field: message`, with the line taken from the
round-trip YAML document (ruamel.yaml keeps positions; its round-trip loader builds only
plain mappings, sequences and scalars, so loading is safe; `sim.scenario.file` reads the file
and bounds its aliases). A problem with a `--set` value is blamed on the flag instead:
`file: --set 'PATH=VALUE': field: message`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)

from sim.observe.kpis import NAMES
from sim.scenario.file import MAX_FILE_BYTES, InputError, ScenarioFile, compose, construct, duplicate_keys, read_scenario_file
from sim.scenario.limits import MAX_DURATION_S, first_firing, limit_problems, planned_firings, schedules
from sim.scenario.schedule import check_cron
from sim.scenario.units import parse_duration, parse_rate, parse_size

PROTOCOLS = ("none", "local", "softlock", "hard", "lease")
"""Lock protocols the engine implements (see `sim.protocols.softlock`)."""

KPIS = NAMES
"""Scalar outcomes of a run, as written to `summary.json` and bounded by `expect:` (`sim.observe.kpis`)."""

MAX_EXPECT_SEEDS = 100
"""Most seeds a statistical bound of `expect:` may ask `cascadesim check` to run."""
_FIRST_DAY = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""A run may not start before this: cron schedules and the clock count from the Unix epoch."""
_LAST_DAY = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
"""A run must end before this, well inside the calendar (Python's dates stop at the year 9999)."""
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


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _check_volume_name(name: str) -> str:
    appliance, colon, path = name.partition(":")
    if not colon or not appliance or not path.startswith("/"):
        raise ValueError(f"{name!r} is not a volume name; write APPLIANCE:/vol/NAME")
    return name


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


class ScenarioError(Exception):
    """A scenario file that cannot be used; `problems` are `file:line: field: message`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


Loc = tuple[str | int, ...]


def _line_of(document: Any, loc: Loc) -> int:
    """1-based line of the deepest node of `loc` present in the round-trip document."""
    line = 1
    node = document
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and key in node:
                if lc is not None:
                    line = lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                if lc is not None:
                    line = lc.item(key)[0] + 1
                node = node[key]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    return line


_PLAIN_KEY = re.compile(r"^[^\s\[\].\"]+$")


def _field(loc: Loc) -> str:
    """`mirrors[1].schedule`, `volumes.A:/vol/db.size`: one word, whatever the keys hold (a
    key with spaces, dots or brackets is written `["..."]`, JSON-quoted, spaces escaped)."""
    text = ""
    for key in loc:
        if isinstance(key, int):
            text += f"[{key}]"
        elif _PLAIN_KEY.match(str(key)):
            text += f".{key}" if text else str(key)
        else:
            text += "[" + json.dumps(str(key)).replace(" ", "\\u0020") + "]"
    return text or "(file)"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _problem(path: Path, line: int, loc: Loc | str, message: str) -> str:
    """`file:line: field: message`, always one line."""
    field = loc if isinstance(loc, str) else _field(loc)
    return f"{path}:{line}: {field}: {_one_line(message)}"


def _cross_reference_problems(s: Scenario, enforce_limits: bool = True) -> list[tuple[Loc, str]]:
    """Everything pydantic cannot see field by field: names, references, paths, limits."""
    problems: list[tuple[Loc, str]] = []
    hosts = set(s.appliances)
    for i, router in enumerate(s.routers):
        if router in hosts:
            problems.append((("routers", i), f"{router!r} is already the name of an appliance or router"))
        hosts.add(router)

    graph = nx.Graph()
    graph.add_nodes_from(hosts)
    for i, link in enumerate(s.links):
        a, b = link.between
        for end in (a, b):
            if end not in hosts:
                problems.append((("links", i, "between"), f"unknown appliance or router {end!r}"))
        if a == b:
            problems.append((("links", i, "between"), f"a link needs two different ends, not {a!r} twice"))
        elif graph.has_edge(a, b):
            problems.append((("links", i, "between"), f"a second link between {a!r} and {b!r}"))
        graph.add_edge(a, b)
        for j, outage in enumerate(link.outages):
            if outage.at >= s.duration:
                problems.append((("links", i, "outages", j, "at"), "starts after the end of the run"))

    for name, volume in s.volumes.items():
        appliance = name.partition(":")[0]
        if appliance not in s.appliances:
            problems.append((("volumes", name), f"unknown appliance {appliance!r}"))
        if sum(q.share for q in volume.qtrees.values()) > 1 + 1e-9:
            problems.append((("volumes", name, "qtrees"), "qtree shares add up to more than 1"))

    destinations: dict[str, int] = {}
    for i, mirror in enumerate(s.mirrors):
        src_app, dst_app = mirror.source.partition(":")[0], mirror.destination.partition(":")[0]
        dst_volume = mirror.destination_volume
        if mirror.type == "qtree":
            for end in ("source", "destination"):
                volume, _, qtree = getattr(mirror, end).rpartition("/")
                if not qtree or not volume.partition(":")[2].strip("/"):
                    problems.append((("mirrors", i, end), f"a qtree mirror's {end} is APPLIANCE:/vol/VOLUME/QTREE"))
        if dst_volume in destinations:
            first = destinations[dst_volume]
            problems.append((("mirrors", i, "destination"), f"{dst_volume!r} is already the destination of mirrors[{first}]"))
        destinations.setdefault(dst_volume, i)
        if dst_volume in s.volumes:
            problems.append((("mirrors", i, "destination"),
                             "a mirror destination volume is created by its mirror; remove it from `volumes`"))
        if dst_app not in s.appliances:
            problems.append((("mirrors", i, "destination"), f"unknown appliance {dst_app!r}"))
        if mirror.source_volume == dst_volume:
            problems.append((("mirrors", i, "destination"), "the destination is the source itself"))
        elif src_app == dst_app:
            problems.append((("mirrors", i, "destination"), "source and destination are on the same appliance"))
        elif src_app in graph and dst_app in graph and not nx.has_path(graph, src_app, dst_app):
            problems.append((("mirrors", i), f"no network path from {src_app!r} to {dst_app!r}"))
        if mirror.retire_at is not None and mirror.retire_at >= s.duration:
            problems.append((("mirrors", i, "retire_at"), "is after the end of the run"))

    layout, unresolved = volume_layout(s)
    for i in unresolved:
        mirror = s.mirrors[i]
        if mirror.source_volume not in layout:
            problems.append((("mirrors", i, "source"),
                             f"unknown volume {mirror.source_volume!r} (not in `volumes`, not a mirror destination)"))
    for i, mirror in enumerate(s.mirrors):
        if mirror.type == "qtree" and mirror.source_volume in layout:
            qtrees = layout[mirror.source_volume][1]
            if mirror.source_qtree not in qtrees:
                known = ", ".join(sorted(qtrees)) or "none"
                problems.append((("mirrors", i, "source"),
                                 f"{mirror.source_volume!r} has no qtree {mirror.source_qtree!r} (its qtrees: {known})"))

    mirror_graph = nx.DiGraph((m.source_volume, m.destination_volume) for m in s.mirrors)
    if not nx.is_directed_acyclic_graph(mirror_graph):
        cycle = " -> ".join(a for a, _ in nx.find_cycle(mirror_graph))
        problems.append((("mirrors",), f"mirror relationships form a cycle: {cycle}"))

    for name, volume_spec in s.volumes.items():
        auto = volume_spec.autodelete
        if auto is not None and auto.target is not None and auto.target > auto.trigger:
            problems.append((("volumes", name, "autodelete", "target"), "is larger than the trigger"))

    for name, policy in s.snapshot_policies.items():
        for j, volume in enumerate(policy.volumes):
            if volume in policy.volumes[:j]:
                problems.append((("snapshot_policies", name, "volumes", j), f"{volume!r} is listed twice"))
            elif volume in destinations:
                problems.append((("snapshot_policies", name, "volumes", j),
                                 f"{volume!r} is a mirror destination; its PCPIs come from its mirror, schedule its source"))
            elif volume not in s.volumes:
                problems.append((("snapshot_policies", name, "volumes", j), f"unknown volume {volume!r}"))

    for i, hold in enumerate(s.holds):
        if hold.volume not in layout:
            problems.append((("holds", i, "volume"), f"unknown volume {hold.volume!r}"))

    used: dict[str, float] = {}
    sizes = {name: size for name, (size, _qtrees) in layout.items()}
    for name, size in sizes.items():
        appliance = name.partition(":")[0]
        used[appliance] = used.get(appliance, 0.0) + size
    for appliance, total in used.items():
        if appliance in s.appliances and total > s.appliances[appliance].capacity:
            problems.append((("appliances", appliance, "capacity"), f"volumes need {total:.4g} bytes, more than the capacity"))

    start = s.start if s.start.tzinfo else s.start.replace(tzinfo=dt.UTC)
    if not _FIRST_DAY <= start < _LAST_DAY:
        problems.append((("start",), f"must be from {_FIRST_DAY:%Y-%m-%d} to {_LAST_DAY:%Y-%m-%d} (UTC): cron "
                                     f"schedules and the clock count from the Unix epoch"))
        return problems
    if enforce_limits and s.duration > MAX_DURATION_S:
        return [*problems, *limit_problems(s, len(sizes), 0)]
    try:
        ends = start + dt.timedelta(seconds=s.duration)
    except OverflowError:
        ends = _LAST_DAY
    if ends >= _LAST_DAY:
        problems.append((("duration",), f"the run would end after {_LAST_DAY:%Y-%m-%d}; shorten it or start earlier"))
        return problems
    structure_valid = not problems
    problems += _schedules_that_never_fire(s)
    if enforce_limits:
        problems += limit_problems(s, len(sizes), planned_firings(s), mirrors_valid=structure_valid)
    return problems


def _schedules_that_never_fire(s: Scenario) -> list[tuple[Loc, str]]:
    """A schedule with no firing in the run: a mirror that would never update, a policy that
    would never take a PCPI (both most likely mistakes, so both are refused)."""
    problems: list[tuple[Loc, str]] = []
    end = s.start_ts + s.duration
    for loc, expr, _count in schedules(s):
        first = first_firing(expr, s.start_ts)
        if first is None:
            problems.append((loc, "never fires (no such date)"))
        elif first >= end:
            when = dt.datetime.fromtimestamp(first, tz=dt.UTC)
            problems.append((loc, f"does not fire within the run: its first firing, {when:%Y-%m-%d %H:%M} UTC, is "
                                  f"after the end"))
    return problems


def volume_layout(s: Scenario) -> tuple[dict[str, tuple[float, dict[str, float]]], list[int]]:
    """Every volume's size and qtree shares, mirror destinations included, and the indexes of
    mirrors whose source volume is unknown.

    A volume-mirror destination has its source's size and qtrees; a qtree-mirror destination
    volume holds that one qtree (share 1) and is the qtree's size.
    """
    layout = {name: (v.size, {q: spec.share for q, spec in v.qtrees.items()}) for name, v in s.volumes.items()}
    pending = list(range(len(s.mirrors)))
    while pending:
        ready = [i for i in pending if s.mirrors[i].source_volume in layout]
        if not ready:
            break
        for i in ready:
            mirror = s.mirrors[i]
            size, qtrees = layout[mirror.source_volume]
            if mirror.type == "volume":
                layout.setdefault(mirror.destination_volume, (size, qtrees))
            else:
                share = qtrees.get(mirror.source_qtree or "", 0.0)
                layout.setdefault(mirror.destination_volume, (size * share, {mirror.destination.rpartition("/")[2]: 1.0}))
        pending = [i for i in pending if i not in ready]
    return layout, pending


def mirrors_in_dependency_order(s: Scenario) -> list[MirrorSpec]:
    """Mirrors ordered so that each source volume exists before its mirror (validated scenarios)."""
    known = set(s.volumes)
    pending, ordered = list(s.mirrors), []
    while pending:
        ready = [m for m in pending if m.source_volume in known]
        if not ready:
            raise ValueError("mirror sources that are neither volumes nor mirror destinations")
        ordered += ready
        known.update(m.destination_volume for m in ready)
        pending = [m for m in pending if m not in ready]
    return ordered


def line_of(path: str | Path, loc: Loc) -> int:
    """1-based line of the field at `loc` (or of its deepest present parent) in a scenario file."""
    document, _problems = _load_yaml(read_source(path, enforce_limits=False))
    return _line_of(document, loc)


def read_source(path: str | Path, *, enforce_limits: bool = True) -> ScenarioFile:
    """Read a scenario file once (a regular file within `MAX_FILE_BYTES` unless limits are
    lifted); a `ScenarioError` says what is wrong with it."""
    try:
        return read_scenario_file(path, max_bytes=MAX_FILE_BYTES if enforce_limits else None)
    except InputError as err:
        raise ScenarioError([_problem(Path(path), err.line, err.field, err.message)]) from None


def _load_yaml(source: ScenarioFile) -> tuple[Any, list[str]]:
    """The round-trip document and the problems found while reading it (duplicate keys: the
    first value is kept, so that validation can go on and report everything at once)."""
    path = source.path
    try:
        yaml, node = compose(source.text)
        problems = [_problem(path, line, loc, message) for line, loc, message in duplicate_keys(node)]
        document = construct(yaml, node)
    except InputError as err:
        raise ScenarioError([_problem(path, err.line, err.field, err.message)]) from None
    if not isinstance(document, dict):
        raise ScenarioError([_problem(path, 1, "(file)", "a scenario is a mapping of fields, e.g. `name: ...`")])
    return document, problems


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


_SET_STEP = re.compile(r"""\[(-?\d+)\]|\["([^"]*)"\]|\['([^']*)'\]|(\.?)([^.\[\]"']+)""")


def parse_set_path(text: str) -> Loc:
    """`mirrors[1].schedule` -> ("mirrors", 1, "schedule"). A key holding dots or brackets is
    quoted: `volumes["A:/vol/db.v2"].size`. Raises ValueError for anything else."""
    loc: list[str | int] = []
    at = 0
    while at < len(text):
        step = _SET_STEP.match(text, at)
        if step is None:
            break
        index, double, single, dot, plain = step.groups()
        if plain is not None and bool(dot) != bool(loc):  # a dot between keys, none before the first
            break
        loc.append(int(index) if index is not None else next(k for k in (double, single, plain) if k is not None))
        at = step.end()
    if at < len(text) or not loc:
        raise ValueError(f"cannot read the field path {text!r}; write e.g. mirrors[1].schedule")
    return tuple(loc)


def _apply_set(document: Any, text: str) -> tuple[Loc, str | None]:
    """Apply one `PATH=VALUE` to the round-trip document. Returns the field's location (list
    indexes made positive) and the problem, if any (with the location of what is missing)."""
    path_text, equals, value_text = text.partition("=")
    if not equals:
        return (), f"{text!r}: write PATH=VALUE, e.g. --set 'mirrors[1].schedule=0 */2 * * *'"
    try:
        loc = list(parse_set_path(path_text.strip()))
    except ValueError as err:
        return (), str(err)
    try:
        value = construct(*compose(value_text)) if value_text.strip() else None
    except InputError as err:
        return tuple(loc), f"cannot read the value {value_text!r} as YAML: {err.message}"
    node = document
    for depth, key in enumerate(loc):
        where = _field(tuple(loc[:depth])) if depth else "the file"
        if isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            key = loc[depth] = key % len(node)
        elif isinstance(node, list) and isinstance(key, int):
            return tuple(loc[:depth + 1]), f"{where} has {len(node)} items, no [{key}]"
        elif not isinstance(node, dict) or isinstance(key, int):
            kind = "a list" if isinstance(node, list) else "a mapping" if isinstance(node, dict) else "a single value"
            return tuple(loc[:depth + 1]), f"{where} is {kind}, it has no {key!r}"
        elif depth < len(loc) - 1 and key not in node:
            return tuple(loc[:depth + 1]), f"{where} has no field {key!r}"
        if depth == len(loc) - 1:
            node[key] = value
        else:
            node = node[key]
    return tuple(loc), None


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and every `*.yaml` file of each folder named (sorted); a folder
    without any is a `ScenarioError`."""
    files: list[Path] = []
    empty: list[str] = []
    for path in map(Path, paths):
        found = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        if not found:
            empty.append(_problem(path, 1, "(file)", "a folder without *.yaml scenario files"))
        files += found
    if empty:
        raise ScenarioError(empty)
    return files


def _set_problem(path: Path, text: str, loc: Loc, message: str) -> str:
    """A problem caused by a `--set` value, blamed on the flag: `file: --set 'TEXT': field: message`
    (without the field when the text names none)."""
    field = f"{_field(loc)}: " if loc else ""
    return f"{path}: --set {shlex.quote(text)}: {field}{_one_line(message)}"


def load_scenario(source: str | Path | ScenarioFile, overrides: dict[str, Any] | None = None, *,
                  sets: Sequence[str] = (), enforce_limits: bool = True) -> Scenario:
    """Read, validate and freeze a scenario (a path, or a file already read); raise
    `ScenarioError` listing every problem.

    `sets` are `PATH=VALUE` texts (the command line's `--set`) applied to the document
    before validation, so an overridden value is checked like the file's; its problems are
    blamed on the `--set` that gave it. `overrides` replace top-level fields after them (the
    command line's `--seed` and `--protocol`, checked by the command line itself).
    `enforce_limits=False` lifts the limits on file size, duration, sizes and counts
    (`--no-limits`).
    """
    if not isinstance(source, ScenarioFile):
        source = read_source(source, enforce_limits=enforce_limits)
    path = source.path
    document, problems = _load_yaml(source)
    applied: list[tuple[Loc, str]] = []
    for text in sets:
        loc, message = _apply_set(document, text)
        if message is None:
            applied.append((loc, text))
        else:
            problems.append(_set_problem(path, text, loc, message))
    if len(applied) < len(sets):
        raise ScenarioError(problems)
    data = dict(document)
    data.update(overrides or {})

    def problem(loc: Loc, message: str) -> str:
        blamed = [text for s, text in applied if loc[:len(s)] == s or s[:len(loc)] == loc]
        if blamed:
            return _set_problem(path, blamed[-1], loc, message)
        return _problem(path, _line_of(document, loc), loc, message)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        locs = [tuple(key for key in error["loc"] if key != "[key]") for error in err.errors()]  # "[key]": a bad dict key
        problems += [problem(loc, _message(error)) for loc, error in zip(locs, err.errors())]
        raise ScenarioError(problems) from None
    problems += [problem(loc, message) for loc, message in _cross_reference_problems(scenario, enforce_limits)]
    if problems:
        raise ScenarioError(problems)
    return scenario
