"""A scenario file: YAML -> validated, frozen, typed `Scenario` (pydantic v2).

Units become seconds, bytes and bytes per second here, once; cross references (link
endpoints, volumes, mirror sources and destinations, network paths) are checked here, once.
The engine receives a frozen object and never re-checks or defaults anything.

Every problem is reported as `file:line: field: message`, with the line taken from the
round-trip YAML document (ruamel.yaml keeps positions; its round-trip loader builds only
plain mappings, sequences and scalars, so loading is safe).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from croniter import CroniterBadDateError, croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from sim.units import parse_duration, parse_rate, parse_size

PROTOCOLS = ("none", "local", "softlock", "hard", "lease")
"""Lock protocols the engine implements (see `sim.locks`)."""

KPIS = (
    "premature_deletions",
    "bases_lost_pending",
    "rebaselines",
    "rebaseline_bytes",
    "bytes_transferred",
    "updates_completed",
    "updates_skipped",
    "max_lag_s",
    "lock_messages",
    "failed_writes",
    "lock_space_byte_hours",
    "lock_space_peak_bytes",
    "hold_space_byte_hours",
    "lock_message_bytes",
    "autodeletes",
    "gap_pcpis",
)
"""Scalar outcomes of a run, as written to `summary.json` and bounded by `expect:`."""

# Limits: a scenario past one of these could not finish in reasonable time or fit in memory.
# Each is a clear error naming the limit; `load_scenario(..., enforce_limits=False)` (the
# command line's `--no-limits`) lifts them all.
MAX_DURATION_S = 10 * 365 * 86400.0
"""Longest simulated time a scenario may ask for (ten years)."""
MAX_SAMPLES = 2_000_000
"""Most time-series rows a run may produce (samples x sampled objects)."""
MAX_SCHEDULED_FIRINGS = 5_000_000
"""Most schedule firings (snapshots + mirror updates) a run may plan. bench/scale.py measured
about 60 us and 1.5 kB per firing (99 appliances, 30 days: 214,000 firings, 12 s, 323 MB
peak), so the limit is a run of a few minutes and a few GB."""
MAX_BYTES = float(2**60)
"""Largest size, capacity, bandwidth (per second) or total change over the run (1 EiB).
Bytes are floats: past this, one changed block would vanish in the rounding of the
cumulative changed bytes that incremental transfers subtract."""
NO_LIMITS_HINT = "--no-limits lifts it"
MAX_EXPECT_SEEDS = 100
"""Most seeds a statistical bound of `expect:` may ask `cascadesim check` to run."""
_LAST_DAY = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
"""A run must end before this, well inside the calendar (Python's dates stop at the year 9999)."""
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _duration_at_least_zero(value: object) -> float:
    return parse_duration(value, allow_zero=True)


def _check_cron(expr: str) -> str:
    fields = expr.split()
    valid = (len(fields) == 5 or (len(fields) == 1 and expr.startswith("@"))) and croniter.is_valid(expr)
    if valid:
        try:
            croniter(expr, 0.0)
        except Exception:  # croniter raises several types for expressions is_valid lets through
            valid = False
    if not valid:
        raise ValueError(f"{expr!r} is not a cron schedule (five fields, e.g. '0 * * * *')")
    return expr


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a name: use letters, digits, '.', '_' and '-'")
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
Cron = Annotated[str, AfterValidator(_check_cron)]
VolumeName = Annotated[str, AfterValidator(_check_volume_name)]
Name = Annotated[str, AfterValidator(_check_name)]
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

    share: float = Field(gt=0, le=1)


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
    change_variability: float = Field(default=0.0, ge=0, le=10)
    qtrees: dict[str, QtreeSpec] = Field(default_factory=dict)
    autodelete: AutodeleteSpec | None = None


class SnapshotPolicySpec(_Spec):
    """A cron schedule that takes PCPIs with `label` and keeps `keep` unlocked ones."""

    schedule: Cron
    label: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    keep: int = Field(ge=1, le=100_000)
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

    min: float | None = None
    max: float | None = None

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
    tolerance: float = Field(default=0.0, ge=0)
    seeds: int = Field(default=1, ge=1, le=MAX_EXPECT_SEEDS)

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

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(ge=0, lt=2**63)
    duration: Duration
    start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    protocol: Protocol = "none"
    sample_interval: Duration = 3600.0
    lock_record_bytes: int = Field(default=128, ge=1, le=1 << 20)
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

    if enforce_limits and s.duration > MAX_DURATION_S:
        return [*problems, *_limit_problems(s, len(sizes), 0.0)]
    try:
        ends = s.start + dt.timedelta(seconds=s.duration)
    except OverflowError:
        ends = _LAST_DAY
    if ends.replace(tzinfo=ends.tzinfo or dt.UTC) >= _LAST_DAY:
        problems.append((("duration",), f"the run would end after {_LAST_DAY:%Y-%m-%d}; shorten it or start earlier"))
        return problems
    firings, never = _estimate_firings(s)
    problems += [(loc, "never fires (no such date)") for loc in never]
    if enforce_limits:
        problems += _limit_problems(s, len(sizes), firings)
    return problems


def _limit_problems(s: Scenario, volumes: int, firings: float) -> list[tuple[Loc, str]]:
    """Sizes, durations and counts past which a run could not finish or fit in memory."""
    problems: list[tuple[Loc, str]] = []
    if s.duration > MAX_DURATION_S:
        problems.append((("duration",), f"longer than the limit of {MAX_DURATION_S / 86400 / 365:.0f} years ({NO_LIMITS_HINT})"))
    rows_per_sample = len(s.mirrors) + 3 * volumes + 2 * len(s.appliances) + len(s.links)
    rows = math.ceil(s.duration / s.sample_interval) * rows_per_sample
    if rows > MAX_SAMPLES:
        problems.append((("sample_interval",),
                         f"too fine: {rows:.3g} time-series rows (limit {MAX_SAMPLES:,}; {NO_LIMITS_HINT})"))
    if firings > MAX_SCHEDULED_FIRINGS:
        problems.append((("duration",), f"plans {firings:.3g} scheduled snapshots and updates "
                                        f"(limit {MAX_SCHEDULED_FIRINGS:,}; {NO_LIMITS_HINT})"))
    sizes: list[tuple[Loc, float]] = [(("appliances", n, "capacity"), a.capacity) for n, a in s.appliances.items()]
    sizes += [(("links", i, "bandwidth"), link.bandwidth) for i, link in enumerate(s.links)]
    for name, v in s.volumes.items():
        sizes += [(("volumes", name, "size"), v.size), (("volumes", name, "change_rate"), v.change_rate * s.duration)]
        if v.autodelete is not None:
            sizes.append((("volumes", name, "autodelete", "trigger"), v.autodelete.trigger))
    for loc, value in sizes:
        if value > MAX_BYTES:
            what = "changes more than" if loc[-1] == "change_rate" else "is more than"
            per = " per second" if loc[-1] == "bandwidth" else ""
            over = " over the run" if loc[-1] == "change_rate" else ""
            problems.append((loc, f"{what} the limit of 1 EiB{per}{over} ({NO_LIMITS_HINT})"))
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


def planned_firings(s: Scenario) -> float:
    """About how many scheduled snapshots and mirror updates a run of `s` plans (its cost)."""
    return _estimate_firings(s)[0]


def line_of(path: str | Path, loc: Loc) -> int:
    """1-based line of the field at `loc` (or of its deepest present parent) in a scenario file."""
    document, _problems = _load_yaml(Path(path))
    return _line_of(document, loc)


def _estimate_firings(s: Scenario) -> tuple[float, list[Loc]]:
    """Schedule firings over the run, from each cron's first two firings (an estimate), and
    the schedules that never fire (a date that does not exist, such as 31 February)."""
    total = 0.0
    never: list[Loc] = []
    schedules: list[tuple[Loc, str, int]] = [(("snapshot_policies", n, "schedule"), p.schedule, len(p.volumes))
                                             for n, p in s.snapshot_policies.items()]
    schedules += [(("mirrors", i, "schedule"), m.schedule, 1) for i, m in enumerate(s.mirrors)]
    for loc, expr, count in schedules:
        it = croniter(expr, s.start_ts)
        try:
            first = it.get_next(float)
        except CroniterBadDateError:
            never.append(loc)
            continue
        try:
            gap = max(it.get_next(float) - first, 60.0)
        except CroniterBadDateError:  # fires once and never again (a date in one year only)
            gap = s.duration
        total += count * s.duration / gap
    return total, never


def _yaml_error(path: Path, err: MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 1
    return _problem(path, line, "(yaml)", str(err.problem or err.context))


def _duplicate_keys(path: Path, node: Node | None, loc: Loc = ()) -> list[str]:
    """Every key given twice in one mapping, anywhere in the composed YAML tree."""
    problems: list[str] = []
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(_problem(path, line, (*loc, key), f"duplicate key (first given on line {seen[key]})"))
            else:
                seen[key] = line
                problems += _duplicate_keys(path, value_node, (*loc, key))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(path, item, (*loc, i))
    return problems


def _load_yaml(path: Path) -> tuple[Any, list[str]]:
    """The round-trip document and the problems found while reading it (duplicate keys: the
    first value is kept, so that validation can go on and report everything at once)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError([_problem(path, 1, "(file)", f"cannot read: {err}")]) from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True
    try:
        problems = _duplicate_keys(path, yaml.compose(text))
        document = yaml.load(text)
    except MarkedYAMLError as err:
        raise ScenarioError([_yaml_error(path, err)]) from None
    except Exception as err:  # ruamel raises non-marked errors for some malformed input
        raise ScenarioError([_problem(path, 1, "(yaml)", str(err))]) from None
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
        value = YAML(typ="rt").load(value_text) if value_text.strip() else None
    except MarkedYAMLError as err:
        return tuple(loc), f"cannot read the value {value_text!r} as YAML: {err.problem or err.context} (set by --set)"
    except Exception as err:  # ruamel raises non-marked errors for some malformed input
        return tuple(loc), f"cannot read the value {value_text!r} as YAML: {err} (set by --set)"
    node = document
    for depth, key in enumerate(loc):
        where = _field(tuple(loc[:depth])) if depth else "the file"
        if isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            key = loc[depth] = key % len(node)
        elif isinstance(node, list) and isinstance(key, int):
            return tuple(loc[:depth + 1]), f"{where} has {len(node)} items, no [{key}] (set by --set)"
        elif not isinstance(node, dict) or isinstance(key, int):
            kind = "a list" if isinstance(node, list) else "a mapping" if isinstance(node, dict) else "a single value"
            return tuple(loc[:depth + 1]), f"{where} is {kind}, it has no {key!r} (set by --set)"
        elif depth < len(loc) - 1 and key not in node:
            return tuple(loc[:depth + 1]), f"{where} has no field {key!r} (set by --set)"
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


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None, *,
                  sets: Sequence[str] = (), enforce_limits: bool = True) -> Scenario:
    """Read, validate and freeze a scenario; raise `ScenarioError` listing every problem.

    `sets` are `PATH=VALUE` texts (the command line's `--set`) applied to the document
    before validation, so an overridden value is checked like the file's and its problems
    point at the overridden field's line. `overrides` replace top-level fields after them
    (the command line's `--seed` and `--protocol`). `enforce_limits=False` lifts the limits
    on duration, sizes and counts (`--no-limits`).
    """
    path = Path(path)
    document, problems = _load_yaml(path)
    set_locs: list[Loc] = []
    for text in sets:
        loc, message = _apply_set(document, text)
        if message is None:
            set_locs.append(loc)
        else:
            problems.append(_problem(path, _line_of(document, loc), loc or "--set", message))
    if len(set_locs) < len(sets):
        raise ScenarioError(problems)
    data = dict(document)
    data.update(overrides or {})

    def problem(loc: Loc, message: str) -> str:
        overridden = any(loc[:len(s)] == s or s[:len(loc)] == loc for s in set_locs)
        return _problem(path, _line_of(document, loc), loc, f"{message} (set by --set)" if overridden else message)

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
