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
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from sim.units import parse_duration, parse_rate, parse_size

PROTOCOLS = ("none", "local", "softlock", "hard", "lease")
"""Lock protocols the engine implements (see `sim.locks`)."""

KPIS = (
    "premature_deletions",
    "rebaselines",
    "rebaseline_bytes",
    "bytes_transferred",
    "updates_completed",
    "updates_skipped",
    "max_lag_s",
    "lock_messages",
    "failed_writes",
    "lock_space_byte_hours",
    "lock_message_bytes",
    "autodeletes",
    "gap_pcpis",
)
"""Scalar outcomes of a run, as written to `summary.json` and bounded by `expect:`."""

MAX_DURATION_S = 10 * 365 * 86400.0
"""Longest simulated time a scenario may ask for (ten years)."""
MAX_SAMPLES = 2_000_000
"""Most time-series rows a run may produce (samples x sampled objects)."""
MAX_SCHEDULED_FIRINGS = 50_000_000
"""Most schedule firings (snapshots + mirror updates) a run may plan."""


def _duration_at_least_zero(value: object) -> float:
    return parse_duration(value, allow_zero=True)


def _check_cron(expr: str) -> str:
    if not croniter.is_valid(expr):
        raise ValueError(f"{expr!r} is not a cron schedule (five fields, e.g. '0 * * * *')")
    return expr


def _check_volume_name(name: str) -> str:
    appliance, colon, path = name.partition(":")
    if not colon or not appliance or not path.startswith("/"):
        raise ValueError(f"{name!r} is not a volume name; write APPLIANCE:/vol/NAME")
    return name


Duration = Annotated[float, BeforeValidator(parse_duration)]
Offset = Annotated[float, BeforeValidator(_duration_at_least_zero)]
Size = Annotated[float, BeforeValidator(parse_size)]
Rate = Annotated[float, BeforeValidator(parse_rate)]
Cron = Annotated[str, AfterValidator(_check_cron)]
VolumeName = Annotated[str, AfterValidator(_check_volume_name)]
Protocol = Literal["none", "local", "softlock", "hard", "lease"]
KpiName = Literal[KPIS]  # type: ignore[valid-type]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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


class Bound(_Spec):
    """Inclusive bounds on a KPI."""

    min: float | None = None
    max: float | None = None


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
    appliances: dict[str, ApplianceSpec] = Field(min_length=1)
    routers: tuple[str, ...] = ()
    links: tuple[LinkSpec, ...] = ()
    volumes: dict[VolumeName, VolumeSpec] = Field(default_factory=dict)
    snapshot_policies: dict[str, SnapshotPolicySpec] = Field(default_factory=dict)
    mirrors: tuple[MirrorSpec, ...] = ()
    holds: tuple[HoldSpec, ...] = ()
    expect: dict[Protocol, dict[KpiName, float | Bound]] = Field(default_factory=dict)

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


def _field(loc: Loc) -> str:
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(file)"


def _cross_reference_problems(s: Scenario) -> list[tuple[Loc, str]]:
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
            if volume in destinations:
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

    if s.duration > MAX_DURATION_S:
        problems.append((("duration",), f"longer than the limit of {MAX_DURATION_S / 86400 / 365:.0f} years"))
    sampled = len(sizes) + len(s.mirrors) + len(s.appliances)
    if s.duration / s.sample_interval * sampled > MAX_SAMPLES:
        rows = s.duration / s.sample_interval * sampled
        problems.append((("sample_interval",), f"too fine: {rows:.3g} time-series rows (limit {MAX_SAMPLES})"))
    firings = _estimate_firings(s)
    if firings > MAX_SCHEDULED_FIRINGS:
        problems.append((("duration",), f"plans {firings:.3g} scheduled snapshots and updates (limit {MAX_SCHEDULED_FIRINGS})"))
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


def _estimate_firings(s: Scenario) -> float:
    """Schedule firings over the run, from each cron's first two firings (an estimate)."""
    total = 0.0
    schedules = [(p.schedule, len(p.volumes)) for p in s.snapshot_policies.values()]
    schedules += [(m.schedule, 1) for m in s.mirrors]
    for expr, count in schedules:
        it = croniter(expr, s.start_ts)
        first = it.get_next(float)
        gap = max(it.get_next(float) - first, 60.0)
        total += count * s.duration / gap
    return total


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError([f"{path}:1: (file): cannot read: {err}"]) from None
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ScenarioError([f"{path}:{line}: (yaml): {err.problem or err.context}"]) from None
    except Exception as err:  # ruamel raises non-marked errors for some malformed input
        raise ScenarioError([f"{path}:1: (yaml): {err}"]) from None
    if not isinstance(document, dict):
        raise ScenarioError([f"{path}:1: (file): a scenario is a mapping of fields, e.g. `name: ...`"])
    return document


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, validate and freeze a scenario; raise `ScenarioError` listing every problem."""
    path = Path(path)
    document = _load_yaml(path)
    data = dict(document)
    data.update(overrides or {})
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        problems = []
        for error in err.errors():
            loc = tuple(key for key in error["loc"] if key != "[key]")  # "[key]": pydantic marks a bad dict key
            problems.append(f"{path}:{_line_of(document, loc)}: {_field(loc)}: {_message(error)}")
        raise ScenarioError(problems) from None
    problems = _cross_reference_problems(scenario)
    if problems:
        raise ScenarioError([f"{path}:{_line_of(document, loc)}: {_field(loc)}: {msg}" for loc, msg in problems])
    return scenario
