"""Cross-reference validation: what pydantic cannot see field by field.

Protocol settings that their protocol's config model accepts, names that must be unique,
references that must resolve (link ends, volumes' appliances, mirror
sources and destinations, policies' and holds' volumes), a network path between each mirror's
ends, no cycle of mirrors, volumes that fit their appliances, random link failures on declared
links, schedules that fire within the run, and the run limits (`sim.scenario.limits`). Each
problem is a field's location and a message; `sim.scenario.load` turns them into
`file:line: field: message`.
"""

from __future__ import annotations

import datetime as dt

import networkx as nx

from sim.scenario.limits import MAX_DURATION_S, limit_problems, planned_firings, schedules
from sim.scenario.plan import Plan
from sim.scenario.schedule import first_firing
from sim.scenario.schema import Loc, Scenario

_FIRST_DAY = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""A run may not start before this: cron schedules and the clock count from the Unix epoch."""
_LAST_DAY = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
"""A run must end before this, well inside the calendar (Python's dates stop at the year 9999)."""


def cross_reference_problems(s: Scenario, enforce_limits: bool = True) -> list[tuple[Loc, str]]:
    """Everything pydantic cannot see field by field: names, references, paths, limits. The
    network, the volume layout and the order of the mirrors are read from the scenario's `Plan`."""
    from sim.protocols.registry import settings_problems  # the registry's strategies read this package

    plan = Plan(s)
    problems: list[tuple[Loc, str]] = []
    for name, settings in s.protocols.items():
        problems += [(("protocols", name, *loc), message) for loc, message in settings_problems(name, settings)]
    hosts = set(s.appliances)
    for i, router in enumerate(s.routers):
        if router in hosts:
            problems.append((("routers", i), f"{router!r} is already the name of an appliance or router"))
        hosts.add(router)

    linked: set[frozenset[str]] = set()
    named: dict[str, int] = {}
    for i, link in enumerate(s.links):
        a, b = link.between
        name = f"{a}-{b}"  # what summary.json, the tables and the plots call it
        if name in named and frozenset((a, b)) not in linked:
            problems.append((("links", i, "between"), f"its name {name!r} is also the name of links[{named[name]}] "
                             "(a link is named by its ends joined by '-'): rename an appliance or router"))
        named.setdefault(name, i)
        for end in (a, b):
            if end not in hosts:
                problems.append((("links", i, "between"), f"unknown appliance or router {end!r}"))
        if a == b:
            problems.append((("links", i, "between"), f"a link needs two different ends, not {a!r} twice"))
        elif frozenset((a, b)) in linked:
            problems.append((("links", i, "between"), f"a second link between {a!r} and {b!r}"))
        linked.add(frozenset((a, b)))
        for j, outage in enumerate(link.outages):
            if outage.at >= s.duration:
                problems.append((("links", i, "outages", j, "at"), "starts after the end of the run"))
    problems += _link_failure_problems(s)

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
        elif src_app in plan.graph and dst_app in plan.graph and not nx.has_path(plan.graph, src_app, dst_app):
            problems.append((("mirrors", i), f"no network path from {src_app!r} to {dst_app!r}"))
        if mirror.retire_at is not None and mirror.retire_at >= s.duration:
            problems.append((("mirrors", i, "retire_at"), "is after the end of the run"))

    layout = plan.volume_layout
    for i in plan.unresolved_mirrors:
        mirror = s.mirrors[i]
        if mirror.source_volume not in layout:
            problems.append((("mirrors", i, "source"),
                             f"unknown volume {mirror.source_volume!r} (not in `volumes`, not a mirror destination)"))
    for i, mirror in enumerate(s.mirrors):
        if mirror.type == "qtree" and mirror.source_volume in layout:
            qtrees = layout[mirror.source_volume].qtree_shares
            if mirror.source_qtree not in qtrees:
                known = ", ".join(sorted(qtrees)) or "none"
                problems.append((("mirrors", i, "source"),
                                 f"{mirror.source_volume!r} has no qtree {mirror.source_qtree!r} (its qtrees: {known})"))

    mirror_graph = nx.DiGraph((m.source_volume, m.destination_volume) for m in s.mirrors)
    if not nx.is_directed_acyclic_graph(mirror_graph):
        cycle = " -> ".join(a for a, _ in nx.find_cycle(mirror_graph))
        problems.append((("mirrors",), f"mirror relationships form a cycle: {cycle}"))

    problems += _fault_problems(s, plan)

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
    for name, volume in layout.items():
        appliance = name.partition(":")[0]
        used[appliance] = used.get(appliance, 0.0) + volume.size_bytes
    for appliance, total in used.items():
        if appliance in s.appliances and total > s.appliances[appliance].capacity:
            problems.append((("appliances", appliance, "capacity"), f"volumes need {total:.4g} bytes, more than the capacity"))

    start = s.start if s.start.tzinfo else s.start.replace(tzinfo=dt.UTC)
    if not _FIRST_DAY <= start < _LAST_DAY:
        problems.append((("start",), f"must be from {_FIRST_DAY:%Y-%m-%d} to {_LAST_DAY:%Y-%m-%d} (UTC): cron "
                                     f"schedules and the clock count from the Unix epoch"))
        return problems
    if enforce_limits and s.duration > MAX_DURATION_S:
        return [*problems, *limit_problems(plan, 0)]
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
        problems += limit_problems(plan, planned_firings(s), mirrors_valid=structure_valid)
    return problems


def _fault_problems(s: Scenario, plan: Plan) -> list[tuple[Loc, str]]:
    """The `faults` block's references (crashing appliances, re-pointed and released mirrors)
    and a destination's autodelete bounds."""
    problems: list[tuple[Loc, str]] = []
    for i, mirror in enumerate(s.mirrors):
        auto = mirror.autodelete
        if auto is not None and auto.target is not None and auto.target > auto.trigger:
            problems.append((("mirrors", i, "autodelete", "target"), "is larger than the trigger"))
    for name, spec in s.faults.appliances.items():
        if name not in s.appliances:
            problems.append((("faults", "appliances", name), f"unknown appliance {name!r}"))
        for j, window in enumerate(spec.crashes):
            if window.at >= s.duration:
                problems.append((("faults", "appliances", name, "crashes", j, "at"), "is after the end of the run"))
    into = {mirror.destination_volume: (i, mirror) for i, mirror in enumerate(s.mirrors)}
    edges = [(m.source_volume, m.destination_volume) for m in s.mirrors]
    edges += [(change.source, change.destination) for change in s.faults.repoints]
    reach = nx.DiGraph(edges)
    for j, change in enumerate(s.faults.repoints):
        loc: Loc = ("faults", "repoints", j)
        if change.at >= s.duration:
            problems.append(((*loc, "at"), "is after the end of the run"))
        found = into.get(change.destination)
        if found is None:
            problems.append(((*loc, "destination"), f"{change.destination!r} is not a mirror destination"))
            continue
        i, mirror = found
        if mirror.type == "qtree":
            problems.append(((*loc, "destination"), "a qtree mirror cannot be re-pointed (its base is its source's "
                                                     "qtree PCPI, which no other source has)"))
        if mirror.retire_at is not None and mirror.retire_at <= change.at:
            problems.append(((*loc, "at"), f"mirrors[{i}] is retired by then (retire_at)"))
        src_app, dst_app = change.source.partition(":")[0], change.destination.partition(":")[0]
        if change.source not in plan.volume_layout:
            problems.append(((*loc, "source"), f"unknown volume {change.source!r} (not in `volumes`, not a mirror "
                                                f"destination)"))
        elif change.source == change.destination:
            problems.append(((*loc, "source"), "is the destination itself"))
        elif change.source in into and _retired_by(into[change.source][1].retire_at, change.at):
            problems.append(((*loc, "source"), f"{change.source!r} is removed by then (the retire_at of "
                                                f"mirrors[{into[change.source][0]}])"))
        elif nx.has_path(reach, change.destination, change.source):
            problems.append(((*loc, "source"), f"{change.source!r} is downstream of {change.destination!r}: the "
                                                f"mirrors would form a cycle"))
        elif src_app == dst_app:
            problems.append(((*loc, "source"), "source and destination are on the same appliance"))
        elif plan.head(change.source) != plan.head(mirror.source_volume):
            problems.append(((*loc, "source"), f"{change.source!r} does not hold the data of {change.destination!r}: "
                                                f"re-point a destination to a volume of its own cascade (whose head is "
                                                f"{plan.head(mirror.source_volume)!r})"))
        elif src_app in plan.graph and dst_app in plan.graph and not nx.has_path(plan.graph, src_app, dst_app):
            problems.append(((*loc, "source"), f"no network path from {src_app!r} to {dst_app!r}"))
    for j, change in enumerate(s.faults.releases):
        loc = ("faults", "releases", j)
        if change.at >= s.duration:
            problems.append(((*loc, "at"), "is after the end of the run"))
        found = into.get(change.destination)
        if found is None:
            problems.append(((*loc, "destination"), f"{change.destination!r} is not a mirror destination"))
        elif ((found[1].retire_at is None or found[1].retire_at > change.at)
              and not any(r.destination == change.destination and r.at <= change.at for r in s.faults.repoints)):
            problems.append(((*loc, "at"), f"mirrors[{found[0]}] is neither retired nor re-pointed by then: a release "
                                           f"frees what a relationship left on a source it no longer uses"))
    return problems


def _retired_by(retire_at: float | None, at: float) -> bool:
    """Whether a mirror retiring at `retire_at` (None: never) has retired at or before `at`."""
    return retire_at is not None and retire_at <= at


def _link_failure_problems(s: Scenario) -> list[tuple[Loc, str]]:
    """Each entry of `faults.links` names a declared link (its ends in either order), and at
    most one entry names a link: a link's failures draw from one stream named after it."""
    declared = {frozenset(link.between): f"{link.between[0]}-{link.between[1]}" for link in s.links}
    problems: list[tuple[Loc, str]] = []
    first: dict[frozenset[str], int] = {}
    for i, failures in enumerate(s.faults.links):
        a, b = failures.between
        ends = frozenset((a, b))
        if ends not in declared:
            problems.append((("faults", "links", i, "between"), f"no link between {a!r} and {b!r} in `links`"))
        elif ends in first:
            problems.append((("faults", "links", i, "between"),
                             f"link {declared[ends]} already fails randomly by faults.links[{first[ends]}]; "
                             f"give one entry per link"))
        first.setdefault(ends, i)
    return problems


def _schedules_that_never_fire(s: Scenario) -> list[tuple[Loc, str]]:
    """A schedule with no firing in the run: a mirror that would never update, a policy that
    would never take a PCPI, a bandwidth change that would never happen (all most likely
    mistakes, so all are refused)."""
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
