"""Invariants every run must hold, as plain functions over a scenario and its `Results`.

Each check models one promise the results make to a reader (issue 10): the premature-deletion
blame contract, that locking protocols lose nothing when nothing overrides or retires them,
that no transfer reads a PCPI its source no longer has, that bytes and KPIs add up across
tables, that what broken transfers threw away adds up and no appliance holds more than its
capacity, and that the lock and transfer tables do not contradict themselves. A check returns
None or raises AssertionError naming the relationship, volume, PCPI and time at fault.

Faults change what the checks may assume: a re-point changes a relationship's source (the
`repointed` event rows: checks read the source in force when a transfer started, `Sources`),
may explain a re-baseline (no common base) and makes the oracle forget a base lost on the old
source; a transfer can end without being applied, so a failed baseline or re-baseline is tried
again as one.

The checks are written against the results schema issue 10 introduced: transfers with
`sent_bytes` and `completed` (and rows for transfers still in flight at the end), the KPIs
`bases_lost_pending`, `hold_space_byte_hours` and `lock_space_peak_bytes`, per-relationship
pending, premature and re-baseline counts, and `summary["links"][name]` as a mapping with
`bytes`. Every use of one of those goes through `target_schema`: with `REQUIRE_FULL_SCHEMA`
(the default) a missing piece is itself a failure; turned off, for results written before
issue 10, the check warns and uses what those offer for that part, or leaves it out.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from sim.engine.mirror import MIRROR_LABEL
from sim.results import Results
from sim.scenario import MirrorSpec, Plan, Scenario

REQUIRE_FULL_SCHEMA = True
"""Whether a column or KPI of issue 10's schema that is missing fails a check. Off, each check
warns and falls back to the tables written before issue 10 (to check such results)."""

LOCKING_PROTOCOLS = ("softlock", "hard", "softlock_pending")
"""Protocols that, without autodelete, lease expiry or retirement, must never lose a base."""

ABS_TOLERANCE_S = 1e-9
RELATIVE_TOLERANCE = 1e-9


class TargetSchemaWarning(UserWarning):
    """A check fell back to the tables written before issue 10: a piece of its schema is missing."""


def target_schema(piece: str, present: bool, fallback: str) -> bool:
    """Whether `piece` of the target schema is in the results. When it is not: with
    `REQUIRE_FULL_SCHEMA` an AssertionError; otherwise a warning saying what the check does
    instead (`fallback`), and False so the caller does it."""
    if present:
        return True
    if REQUIRE_FULL_SCHEMA:
        raise AssertionError(f"the results have no {piece} (issue 10's target schema; "
                             f"tests/invariants.py REQUIRE_FULL_SCHEMA is on)")
    warnings.warn(f"results have no {piece} yet: {fallback}", TargetSchemaWarning, stacklevel=3)
    return False


# -- reading a run -------------------------------------------------------------------------

def as_scenario(scenario: Scenario | dict[str, Any]) -> Scenario:
    """The validated scenario for a YAML-ready dict (or the scenario itself)."""
    return scenario if isinstance(scenario, Scenario) else Scenario.model_validate(scenario)


def relationships(scenario: Scenario) -> dict[str, MirrorSpec]:
    """Mirror specs by relationship name, `SOURCE->DESTINATION` as written."""
    return {f"{m.source}->{m.destination}": m for m in scenario.mirrors}


def at(t: float) -> str:
    """A simulated time for a message: seconds and d+hh:mm:ss."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "never"
    days, rest = divmod(float(t), 86400.0)
    hours, rest = divmod(rest, 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    return f"t={float(t):.9g} s ({int(days)}d{int(hours):02d}:{int(minutes):02d}:{seconds:06.3f})"


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def sent_bytes(transfers: pd.DataFrame) -> pd.Series:
    """Bytes that left the source by the end of the run, per transfer. Fallback: the `bytes`
    of every recorded transfer (before issue 10 a row was written only once all its bytes
    were sent, aborted ones included)."""
    if target_schema("transfers column `sent_bytes`", "sent_bytes" in transfers.columns,
                     "using `bytes` of the recorded (finished) transfers"):
        return transfers["sent_bytes"].astype(float)
    return transfers["bytes"].astype(float)


def completed(transfers: pd.DataFrame) -> pd.Series:
    """Whether each transfer was applied at its destination. Fallback: not aborted (before
    issue 10 only finished transfers had rows)."""
    if target_schema("transfers column `completed`", "completed" in transfers.columns,
                     "taking every recorded transfer that was not aborted as completed"):
        return transfers["completed"].astype(bool)
    return ~transfers["aborted"].astype(bool)


def link_bytes(summary: dict[str, Any]) -> dict[str, float]:
    """Bytes carried per link from `summary["links"]`:
    `{name: {"bytes", "mean_utilisation", "busy_fraction", "peak_utilisation"}}` (before
    issue 10, `{name: bytes}`)."""
    links = summary["links"]
    mapping = all(isinstance(v, dict) for v in links.values())
    if target_schema("per-link mapping in summary['links']", mapping, "reading the per-link byte counts"):
        return {name: float(v["bytes"]) for name, v in links.items()}
    return {name: float(v) for name, v in links.items()}


Residency = tuple[float, float, str]
"""(arrived_s, deleted_s, reason) of one row of the pcpis table: one stay of a PCPI on a volume."""


def _pcpi_rows(pcpis: pd.DataFrame) -> dict[tuple[str, int], list[Residency]]:
    """(volume, PCPI id) -> its stays on the volume, first first. A vault can receive a PCPI
    again after deleting it (a `zfs receive -F` rollback, then an incremental that sends it
    again), so a PCPI may have several rows on one volume."""
    rows: dict[tuple[str, int], list[Residency]] = {}
    for v, p, a, d, r in zip(pcpis["volume"], pcpis["pcpi_id"], pcpis["arrived_s"], pcpis["deleted_s"],
                             pcpis["reason"]):
        rows.setdefault((v, int(p)), []).append((a, d, r))
    for stays in rows.values():
        stays.sort(key=lambda stay: stay[0])
    return rows


def _first_stay(rows: dict[tuple[str, int], list[Residency]], key: tuple[str, int]) -> Residency | None:
    stays = rows.get(key)
    return stays[0] if stays else None


def _stay_at(rows: dict[tuple[str, int], list[Residency]], key: tuple[str, int], t: float) -> Residency | None:
    """The stay of the PCPI on the volume in force at `t` (arrived by then, not deleted before
    it), or, when none is, the first one (for the message)."""
    stays = rows.get(key)
    if not stays:
        return None
    return next((stay for stay in stays if stay[0] <= t and not (_present(stay[1]) and stay[1] < t)), stays[0])


def _first(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return "\n  ".join(items[:limit]) + more


def repoints(events: pd.DataFrame) -> dict[str, list[tuple[float, str, str, bool]]]:
    """Per relationship, its re-points in time order: (time, old source, new source, whether
    the new source had no common base), from the events table's `repointed` rows (detail
    `from X to Y`, or `from X to Y, no common base`)."""
    found: dict[str, list[tuple[float, str, str, bool]]] = {}
    rows = events[events["event"] == "repointed"]
    for when, rel, detail in zip(rows["time_s"], rows["component"], rows["detail"]):
        moved, _, note = str(detail).partition(", ")
        old, _, new = moved.removeprefix("from ").partition(" to ")
        found.setdefault(rel, []).append((float(when), old, new, note == "no common base"))
    return found


class Sources:
    """Which volume each relationship read from when: the spec's source until its first
    re-point, then each re-point's new source. A transfer reads from the source in force
    when it started."""

    def __init__(self, specs: dict[str, MirrorSpec], events: pd.DataFrame):
        self.specs = specs
        self.moves = repoints(events)

    def at(self, rel: str, t: float) -> str:
        """The source in force at `t` (a re-point at `t` already done: a transfer starting at
        the instant of a re-point and running on started after it)."""
        source = self.specs[rel].source_volume
        for when, _old, new, _cut in self.moves.get(rel, ()):
            if when > t:
                break
            source = new
        return source

    def candidates(self, rel: str, t: float) -> tuple[str, ...]:
        """The sources a transfer starting at `t` may have read: the one in force, and the one
        before when a re-point happened at that very instant (the transfer may have started
        just before it, to be ended by it)."""
        now = self.at(rel, t)
        before = self.at(rel, math.nextafter(t, -math.inf))
        return (now,) if before == now else (now, before)

    def appliance_at(self, rel: str, t: float) -> str:
        return self.at(rel, t).partition(":")[0]


def applied_before(transfers: pd.DataFrame) -> list[bool]:
    """Per row of one relationship's transfers (in start order): whether an earlier transfer
    of it was applied at its destination (before the first one is, every transfer is a
    baseline: a failed baseline is tried again as a baseline)."""
    done, seen = [], False
    for completed_ in completed(transfers):
        done.append(seen)
        seen = seen or bool(completed_)
    return done


# -- a. the blame contract -------------------------------------------------------------------

def check_blame_contract(_scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Every re-baseline of R is explained by exactly one loss of R at or after R's previous
    transfer started and no later than the re-baseline started: a premature deletion blamed
    on R, or a `base_lost` event of R (a transfer of R ended unapplied after its source
    deleted, while it ran, all its destination had); or by a re-point of R to a source
    without a common base (a `repointed ... no common base` event) in that window. Every
    other loss of R is followed by a re-point of R before R's next transfer (the oracle
    forgets a base lost on the old source: nothing is owed) or comes after R's last transfer
    started (it is pending, and the pending ones are the KPI `bases_lost_pending`);
    `premature_deletions` counts distinct deletions, and the pcpis table's `premature` rows
    are exactly those deleted PCPIs.

    Losses are matched in time order, each re-baseline taking the earliest unmatched loss in
    its window with no re-point after it, so a loss at the very instant a transfer starts may
    explain that transfer or the next one. A relationship's transfers are baselines until one
    has been applied (a failed baseline is tried again as a baseline): a re-baseline before
    that is a problem.
    """
    events, transfers, pcpis = (result.tables[name] for name in ("events", "transfers", "pcpis"))
    kpis = result.summary["kpis"]
    blamed = events[events["event"] == "premature_deletion"]
    stranded = events[events["event"] == "base_lost"]
    losses = pd.concat([blamed.assign(rel=blamed["detail"]), stranded.assign(rel=stranded["component"])])
    moves = repoints(events)
    problems: list[str] = []
    pending: dict[str, int] = {}
    for rel in sorted(set(losses["rel"]) | set(transfers["relationship"])):
        own = transfers[transfers["relationship"] == rel].sort_values("start_s", kind="stable")
        starts, kinds = list(own["start_s"]), list(own["kind"])
        seen_applied = applied_before(own)
        deletions = losses[losses["rel"] == rel].sort_values("time_s", kind="stable")
        times = list(deletions["time_s"])
        where = [f"{c} PCPI #{int(p)}" if e == "premature_deletion" else "its base (transfer ended unapplied)"
                 for e, c, p in zip(deletions["event"], deletions["component"], deletions["pcpi_id"])]
        moved = [(when, cut) for when, _old, _new, cut in moves.get(rel, ())]

        def repointed_between(after: float, until: float, *, strictly_after: bool = False, _moved=moved) -> bool:
            return any((after < when if strictly_after else after <= when) and when <= until for when, _cut in _moved)

        used: dict[int, int] = {}  # deletion index -> index of the re-baseline it is blamed for
        for k, (start, kind) in enumerate(zip(starts, kinds)):
            if kind != "rebaseline":
                continue
            if not seen_applied[k]:
                problems.append(f"{rel}: its transfer starting {at(start)} is a re-baseline, but none of its "
                                f"transfers had been applied yet (it should be a baseline)")
                continue
            if any(cut and starts[k - 1] <= when <= start for when, cut in moved):
                continue  # re-pointed to a source without a common base
            window = [i for i, t in enumerate(times) if starts[k - 1] <= t <= start and i not in used
                      and not repointed_between(t, start, strictly_after=True)]
            if window:
                used[window[0]] = k
            else:
                problems.append(f"{rel}: re-baseline starting {at(start)} is blamed on no premature deletion "
                                f"or lost base since its previous transfer started ({at(starts[k - 1])}), and no "
                                f"re-point without a common base explains it")
        blame_of = {k: i for i, k in used.items()}
        for i, t in enumerate(times):
            if i in used:
                continue
            k = next((k for k, s in enumerate(starts) if s >= t), None)
            if repointed_between(t, starts[k] if k is not None else math.inf):
                continue  # a re-point before the next transfer: the oracle forgot it
            if k is None or t >= starts[-1]:
                pending[rel] = pending.get(rel, 0) + 1
                continue
            follows = f"its {kinds[k]} transfer starting {at(starts[k])}"
            if k in blame_of:
                follows += f", already blamed on {where[blame_of[k]]} at {at(times[blame_of[k]])}"
            problems.append(f"{rel}: loss of {where[i]} at {at(t)} is blamed for no re-baseline: "
                            f"it is followed by {follows}")
    if problems:
        raise AssertionError("blame contract broken:\n  " + _first(problems))

    if target_schema("KPI `bases_lost_pending`", "bases_lost_pending" in kpis, "not checking the pending count"):
        assert kpis["bases_lost_pending"] == sum(pending.values()), (
            f"KPI bases_lost_pending is {kpis['bases_lost_pending']} but {sum(pending.values())} premature deletions "
            f"are followed by no transfer of the relationship they broke")
    entries = result.summary["relationships"]
    if target_schema("relationships' `base_lost_pending`", all("base_lost_pending" in e for e in entries.values()),
                     "not checking the pending count per relationship"):
        wrong = [f"{rel}: base_lost_pending is {entry['base_lost_pending']}, {pending.get(rel, 0)} pending deletions"
                 for rel, entry in entries.items() if entry["base_lost_pending"] != pending.get(rel, 0)]
        assert not wrong, "relationships' pending counts disagree with their premature deletions:\n  " + _first(wrong)
    distinct = set(zip(blamed["component"], blamed["pcpi_id"].astype(int), blamed["time_s"]))
    assert kpis["premature_deletions"] == len(distinct), (
        f"KPI premature_deletions is {kpis['premature_deletions']} but the events table has {len(distinct)} "
        f"distinct premature deletions (volume, PCPI, time)")
    marked = pcpis[pcpis["premature"].astype(bool)]
    dropped = events[events["event"] == "bookmark_destroyed"]
    marked_rows = set(zip(marked["volume"], marked["pcpi_id"].astype(int), marked["deleted_s"]))
    # A bookmark destroyed at the instant its PCPI's premature deletion happened is not itself the deletion.
    of_bookmarks = (distinct & set(zip(dropped["component"], dropped["pcpi_id"].astype(int), dropped["time_s"]))
                    ) - marked_rows
    assert len(marked) == kpis["premature_deletions"] - len(of_bookmarks), (
        f"pcpis table marks {len(marked)} rows premature but KPI premature_deletions is {kpis['premature_deletions']}"
        f" ({len(of_bookmarks)} of them bookmarks, which have no row)")
    in_table = set(zip(marked["volume"], marked["pcpi_id"].astype(int)))
    in_events = {(c, p) for c, p, _t in distinct - of_bookmarks}
    assert in_table == in_events, (
        "pcpis.premature and the premature_deletion events disagree: marked but not an event: "
        f"{sorted(in_table - in_events)[:8]}; an event but not marked: {sorted(in_events - in_table)[:8]}")


def check_nothing_blamed_after_retirement(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """No premature deletion is blamed on a relationship that can no longer update: one whose
    destination was retired, at or after the retirement, or one reading from a retired
    destination (its PCPIs are gone), from the retirement until a re-point gives it another
    source (a relationship cut off by its source's retirement can update again then)."""
    specs = relationships(as_scenario(scenario))
    events = result.tables["events"]
    sources = Sources(specs, events)
    retired = {spec.destination_volume: spec.retire_at for spec in specs.values() if spec.retire_at is not None}
    dead: dict[str, list[tuple[float, float]]] = {}  # relationship -> windows [from, until) it cannot update
    for name, spec in specs.items():
        if spec.retire_at is not None:
            dead.setdefault(name, []).append((spec.retire_at, math.inf))
        moves = [when for when, *_ in sources.moves.get(name, ())]
        for when in [0.0, *moves]:
            source = sources.at(name, when)
            until = next((m for m in moves if m > when), math.inf)
            cut_at = retired.get(source)
            if cut_at is not None and cut_at < until:
                dead.setdefault(name, []).append((max(cut_at, when), until))
    blamed = events[events["event"] == "premature_deletion"]
    late = [f"{rel}: {c} PCPI #{int(p)} at {at(t)} (cannot update from {at(start)} until {at(until)})"
            for t, c, p, rel in zip(blamed["time_s"], blamed["component"], blamed["pcpi_id"], blamed["detail"])
            for start, until in dead.get(rel, ()) if start <= t < until]
    assert not late, "premature deletions blamed on relationships retired or cut off by a retirement:\n  " + _first(late)


# -- b. locking protocols lose nothing ---------------------------------------------------------

def check_locking_protocols_lose_nothing(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Under `softlock`, `hard` and `softlock_pending`, with no autodelete anywhere (on a
    volume or on a vault's destination) and no retirement (nothing may override or orphan a
    lock), no relationship re-baselines and nothing is deleted prematurely, whatever the
    faults: crashes, broken and failed transfers, transfer slots, destinations without room.
    Locks protect what a destination already has from deletions upstream. Left out, with the
    re-baselines of the relationships they break: a premature deletion on a vault
    relationship's own destination (its own retention dropped its last base: a configuration no
    lock guards), and one of a PCPI the head of its lineage had deleted before it reached the
    relationship's destination (a vault can receive, from a stale image, a PCPI already gone at
    the head: nobody depended on it when the head deleted it)."""
    s = as_scenario(scenario)
    if result.summary['protocol'] not in LOCKING_PROTOCOLS:
        return
    if (any(v.autodelete is not None for v in s.volumes.values())
            or any(m.autodelete is not None or m.retire_at is not None for m in s.mirrors)):
        return
    destination_of = {name: spec.destination_volume for name, spec in relationships(s).items()}
    transfers, events = result.tables["transfers"], result.tables["events"]
    blamed = events[events["event"] == "premature_deletion"]
    rows = _pcpi_rows(result.tables["pcpis"])
    origin_of = dict(zip(result.tables["pcpis"]["pcpi_id"].astype(int), result.tables["pcpis"]["origin"]))

    def unguardable(component: str, pcpi: int, rel: str) -> bool:
        if destination_of.get(rel) == component:
            return True
        at_head = _first_stay(rows, (origin_of.get(pcpi, ""), pcpi))
        reached = _first_stay(rows, (destination_of.get(rel, ""), pcpi))
        return (at_head is not None and reached is not None and _present(at_head[1])
                and at_head[1] <= reached[0])

    def excused(_t: float, component: str, pcpi: int, rel: str) -> bool:
        return unguardable(component, pcpi, rel)

    own = {r for t, c, p, r in zip(blamed["time_s"], blamed["component"], blamed["pcpi_id"].astype(int),
                                   blamed["detail"]) if excused(t, c, p, r)}
    lost = [f"re-baseline of {r} starting {at(t)}" for r, t, k in
            zip(transfers["relationship"], transfers["start_s"], transfers["kind"]) if k == "rebaseline" and r not in own]
    lost += [f"premature deletion of {c} PCPI #{int(p)} at {at(t)} (breaks {r})" for t, c, p, r in
             zip(blamed["time_s"], blamed["component"], blamed["pcpi_id"], blamed["detail"])
             if not excused(t, c, int(p), r)]
    kpis = result.summary["kpis"]
    assert not lost and (own or (kpis["rebaselines"] == 0 and kpis["premature_deletions"] == 0)), (
        f"protocol {result.summary['protocol']} lost bases without autodelete or retirement "
        f"(KPIs: {kpis['rebaselines']} re-baselines, {kpis['premature_deletions']} premature deletions):\n  " + _first(lost))


# -- c. no PCPI read after it was deleted; images come from their source -------------------------

def check_transfers_read_present_pcpis(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Every transfer's base and sent PCPI were on its source volume (the one in force when it
    started: a re-point changes it) from before the transfer started until it ended (or until
    the run ended, for one still in flight); a vault's base may instead be a bookmark on the
    source when the transfer started."""
    specs = relationships(as_scenario(scenario))
    transfers = result.tables["transfers"]
    rows = _pcpi_rows(result.tables["pcpis"])
    events = result.tables["events"]
    bookmarked: dict[tuple[str, int], tuple[float, float]] = {}
    for when, event, volume, pcpi in zip(events["time_s"], events["event"], events["component"], events["pcpi_id"]):
        if event == "bookmark":
            bookmarked[(volume, int(pcpi))] = (when, math.inf)
        elif event == "bookmark_destroyed":
            bookmarked[(volume, int(pcpi))] = (bookmarked[(volume, int(pcpi))][0], when)
    sources = Sources(specs, events)

    def misread(rel: str, volume: str, start: float, end: float, base: Any, sent: Any) -> list[str]:
        found = []
        until = end if _present(end) else start
        for role, pcpi in (("base", base), ("sent PCPI", sent)):
            if not _present(pcpi):
                continue
            mark = bookmarked.get((volume, int(pcpi)))
            if role == "base" and specs[rel].type == "vault" and mark is not None and mark[0] <= start < mark[1]:
                continue  # a vault's incremental from a bookmark: nothing of the PCPI is read
            row = _stay_at(rows, (volume, int(pcpi)), start)
            if row is None:
                found.append(f"{rel}: transfer starting {at(start)} reads {role} #{int(pcpi)}, never on {volume}")
                continue
            arrived, deleted, reason = row
            if not arrived <= start:
                found.append(f"{rel}: transfer starting {at(start)} reads {role} #{int(pcpi)}, "
                             f"which arrived on {volume} only at {at(arrived)}")
            if _present(deleted) and deleted < until:
                found.append(f"{rel}: transfer {at(start)} .. {at(end)} reads {role} #{int(pcpi)}, "
                             f"deleted from {volume} at {at(deleted)} ({reason}) while it ran")
        return found

    problems: list[str] = []
    for rel, start, end, base, sent in zip(transfers["relationship"], transfers["start_s"], transfers["end_s"],
                                           transfers["base_pcpi_id"], transfers["pcpi_id"]):
        found = [misread(rel, volume, start, end, base, sent) for volume in sources.candidates(rel, start)]
        if all(found):
            problems += found[0]
    assert not problems, "transfers read PCPIs their source did not hold:\n  " + _first(problems)


def check_volume_images_come_from_their_source(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """A volume-mirror or vault destination holds only PCPIs its source had when a transfer
    started: every PCPI arriving on it at time t came with a completed transfer of its
    relationship ending at t, and was on the source in force when that transfer started (a
    re-point changes it). (A vault destination may also take PCPIs of its own: a tool's sync
    snapshot for its next hop.)"""
    specs = relationships(as_scenario(scenario))
    transfers = result.tables["transfers"].assign(completed=lambda t: completed(t))
    sources = Sources(specs, result.tables["events"])
    pcpis = result.tables["pcpis"]
    rows = _pcpi_rows(pcpis)
    problems: list[str] = []
    for rel, spec in specs.items():
        if spec.type == "qtree":
            continue
        done = transfers[(transfers["relationship"] == rel) & transfers["completed"]]
        start_at_end = dict(zip(done["end_s"], done["start_s"]))
        held = pcpis[pcpis["volume"] == spec.destination_volume]
        held = held[held["origin"] != spec.destination_volume]  # taken there (a tool's sync snapshot), not received
        for pcpi, arrived in zip(held["pcpi_id"], held["arrived_s"]):
            start = start_at_end.get(arrived)
            if start is None:
                problems.append(f"{rel}: PCPI #{int(pcpi)} arrived on {spec.destination_volume} at {at(arrived)} "
                                f"with no completed transfer of {rel} ending then")
                continue
            source = sources.at(rel, start)
            source_row = _stay_at(rows, (source, int(pcpi)), start)
            if source_row is None or not source_row[0] <= start or (_present(source_row[1]) and source_row[1] < start):
                had = "never" if source_row is None else f"from {at(source_row[0])} to {at(source_row[1])}"
                problems.append(f"{rel}: PCPI #{int(pcpi)} arrived on {spec.destination_volume} at {at(arrived)} by the "
                                f"transfer started {at(start)}, but {source} had it {had}")
    assert not problems, "volume-mirror destinations hold PCPIs their source did not have:\n  " + _first(problems)


# -- d. bytes and KPIs add up ------------------------------------------------------------------------

def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-6)


def check_link_bytes(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Each link carried exactly the bytes sent by the transfers routed over it (from the
    source in force when each started: a re-point changes the route)."""
    s = as_scenario(scenario)
    specs = relationships(s)
    sources = Sources(specs, result.tables["events"])
    plan = Plan(s)
    names = [link.name for link in plan.links]
    transfers = result.tables["transfers"]
    expected = dict.fromkeys(names, 0.0)
    for rel, start, sent in zip(transfers["relationship"], transfers["start_s"], sent_bytes(transfers)):
        spec = specs[rel]
        for index in plan.route(sources.appliance_at(rel, start), spec.destination.partition(":")[0]):
            expected[names[index]] += sent
    carried = link_bytes(result.summary)
    assert set(carried) == set(names), f"summary links {sorted(carried)} are not the scenario's links {names}"
    wrong = [f"{name}: summary {carried[name]:.17g} bytes, transfers routed over it {expected[name]:.17g}"
             for name in names if not _close(carried[name], expected[name])]
    assert not wrong, "link bytes differ from the bytes of the transfers routed over them:\n  " + _first(wrong)


def _peak_pcpis_problems(pcpis: pd.DataFrame, summary: dict[str, Any]) -> list[str]:
    """`peak_pcpis` (per volume, and its maximum as the KPI) against the pcpis table. Within one
    instant the table does not order arrivals and deletions, so the peak must lie between the
    most PCPIs present once each instant's events are done and the most present if every
    deletion of an instant came after its arrivals."""
    problems = []
    per_volume = summary["peak_pcpis"]
    for volume, rows in pcpis.groupby("volume"):
        changes: dict[float, list[int]] = {}
        for arrived, deleted in zip(rows["arrived_s"], rows["deleted_s"]):
            changes.setdefault(float(arrived), [0, 0])[0] += 1
            if _present(deleted):
                changes.setdefault(float(deleted), [0, 0])[1] += 1
        present = low = high = 0
        for when in sorted(changes):
            arrivals, deletions = changes[when]
            high = max(high, present + arrivals)
            present += arrivals - deletions
            low = max(low, present)
        peak = per_volume.get(volume, 0)
        if not low <= peak <= high:
            problems.append(f"{volume}: peak_pcpis is {peak}, its pcpis rows give between {low} and {high}")
    if summary["kpis"]["peak_pcpis"] != max(per_volume.values(), default=0):
        problems.append(f"KPI peak_pcpis is {summary['kpis']['peak_pcpis']}, the volumes' peaks give "
                        f"{max(per_volume.values(), default=0)}")
    return problems


def check_kpis_sum_their_tables(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """KPIs, and each relationship's entry in summary["relationships"], are the sums of the
    rows they summarise (`peak_pcpis`: the most rows of a volume present at once)."""
    s = as_scenario(scenario)
    summary, kpis = result.summary, result.summary["kpis"]
    transfers = result.tables["transfers"].assign(sent=lambda t: sent_bytes(t), done=lambda t: completed(t))
    events, pcpis = result.tables["events"], result.tables["pcpis"]
    rebaselines = transfers[transfers["kind"] == "rebaseline"]
    skipped = events[events["event"] == "update_skipped"]
    expected: dict[str, float] = {
        "rebaselines": len(rebaselines),
        "rebaseline_bytes": float(rebaselines["bytes"].sum()),
        "bytes_transferred": float(transfers["sent"].sum()),
        "updates_completed": int(transfers["done"].sum()),
        "updates_skipped": len(skipped),
        "autodeletes": int((pcpis["reason"] == "autodelete").sum()),
        "lock_messages": sum(a["messages"] for a in summary["lock_messages_sent"].values()),
        "lock_message_bytes": sum(a["bytes"] for a in summary["lock_messages_sent"].values()),
        "lock_space_byte_hours": sum(summary["lock_space_byte_hours"].values()),
        "max_lag_s": max((r["max_lag_s"] for r in summary["relationships"].values() if r["max_lag_s"] is not None),
                         default=0.0),
    }
    if target_schema("KPI `hold_space_byte_hours`", "hold_space_byte_hours" in kpis, "not checking hold space"):
        expected["hold_space_byte_hours"] = sum(summary["hold_space_byte_hours"].values())
    wrong = [f"KPI {name} is {kpis[name]!r}, its table gives {value!r}"
             for name, value in expected.items() if not _close(float(kpis[name]), float(value))]
    wrong += _peak_pcpis_problems(pcpis, summary)
    names = set(relationships(s))
    assert set(summary["relationships"]) == names, (
        f"summary relationships {sorted(summary['relationships'])} are not the scenario's mirrors {sorted(names)}")
    blamed = events[events["event"] == "premature_deletion"]
    for rel, entry in summary["relationships"].items():
        own = transfers[transfers["relationship"] == rel]
        rows: dict[str, float] = {
            "updates_completed": int(own["done"].sum()),
            "rebaselines": int((own["kind"] == "rebaseline").sum()),
            "bytes": float(own["sent"].sum()),
            "updates_skipped": int((skipped["component"] == rel).sum()),
        }
        if target_schema("relationships' `rebaseline_bytes` and `premature_deletions`",
                         "rebaseline_bytes" in entry and "premature_deletions" in entry, "not checking them"):
            rows["rebaseline_bytes"] = float(own.loc[own["kind"] == "rebaseline", "bytes"].sum())
            rows["premature_deletions"] = int((blamed["detail"] == rel).sum())
        wrong += [f"{rel}: {name} is {entry[name]!r}, its rows give {value!r}"
                  for name, value in rows.items() if not _close(float(entry[name]), float(value))]
        if entry["max_lag_s"] is None:
            target_schema(f"max_lag_s of {rel} (issue 10: a destination never updated has a defined lag)", False,
                          "leaving it out of KPI max_lag_s")
    if target_schema("KPI `lock_space_peak_bytes`", "lock_space_peak_bytes" in kpis, "not checking the peak"):
        peaks = summary["lock_space_peak_bytes"].values()
        low, high = max(peaks, default=0.0), sum(peaks)
        if not low - 1e-6 - RELATIVE_TOLERANCE * low <= kpis["lock_space_peak_bytes"] <= high + 1e-6 + RELATIVE_TOLERANCE * high:
            wrong.append(f"KPI lock_space_peak_bytes is {kpis['lock_space_peak_bytes']!r}, outside the appliances' "
                         f"largest peak {low!r} and the sum of their peaks {high!r}")
    assert not wrong, "KPIs differ from the sums of their tables:\n  " + _first(wrong)


def check_fault_bytes_and_counts(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """What broken transfers cost adds up. Per transfer row: an applied one sent its bytes
    and what it threw away (`sent_bytes == bytes + aborted_bytes`: a resumed attempt re-sends
    nothing, an aborted one everything it had sent); one that ended without being applied
    threw away all it sent (`sent_bytes == aborted_bytes`); one still running has thrown
    away no more than it sent; every transfer made at least one attempt. The KPIs
    `aborted_bytes` (the column's sum), `transfer_breaks`, `no_space_breaks`,
    `failed_transfers` and `missed_firings` (their event rows), each relationship's entries of
    them, each appliance's crashes and availability (its `appliance_down`/`up` rows), and each
    link's availability and the KPI `link_availability` (its `link_down` rows) agree with the
    tables."""
    transfers, events = result.tables["transfers"], result.tables["events"]
    summary, kpis = result.summary, result.summary["kpis"]
    problems: list[str] = []
    for rel, start, size, sent, aborted, done, ended, attempts in zip(
            transfers["relationship"], transfers["start_s"], transfers["bytes"], sent_bytes(transfers),
            transfers["aborted_bytes"].astype(float), completed(transfers), transfers["aborted"].astype(bool),
            transfers["attempts"]):
        what = f"{rel}: transfer starting {at(start)} ({attempts} attempts)"
        if attempts < 1:
            problems.append(f"{what}: made no attempt")
        if done and not _close(sent, size + aborted):
            problems.append(f"{what}: applied, sent {sent!r} bytes, not its {size!r} plus the {aborted!r} thrown away")
        elif ended and not _close(sent, aborted):
            problems.append(f"{what}: not applied, sent {sent!r} bytes but threw away {aborted!r}")
        elif not done and not ended and aborted > sent and not _close(sent, aborted):
            problems.append(f"{what}: still running, threw away {aborted!r} bytes of the {sent!r} it sent")
    broken = events[events["event"] == "transfer_broken"]
    failed = events[events["event"] == "transfer_failed"]
    no_space = broken[broken["detail"].astype(str).str.startswith("no_space")]
    expected = {
        "aborted_bytes": float(transfers["aborted_bytes"].astype(float).sum()),
        "transfer_breaks": len(broken),
        "no_space_breaks": len(no_space),
        "failed_transfers": len(failed),
        "missed_firings": int((events["event"] == "firing_missed").sum()),
    }
    problems += [f"KPI {name} is {kpis[name]!r}, its rows give {value!r}"
                 for name, value in expected.items() if not _close(float(kpis[name]), float(value))]
    for rel, entry in summary["relationships"].items():
        own = transfers[transfers["relationship"] == rel]
        rows = {"aborted_bytes": float(own["aborted_bytes"].astype(float).sum()),
                "transfer_breaks": int((broken["component"] == rel).sum()),
                "failed_transfers": int((failed["component"] == rel).sum())}
        problems += [f"{rel}: {name} is {entry[name]!r}, its rows give {value!r}"
                     for name, value in rows.items() if not _close(float(entry[name]), float(value))]
    duration = float(as_scenario(scenario).duration)
    for name, entry in summary["appliances"].items():
        changes = events[events["component"] == name]
        downs = list(changes.loc[changes["event"] == "appliance_down", "time_s"])
        ups = list(changes.loc[changes["event"] == "appliance_up", "time_s"]) + [duration]
        down_s = sum(up - down for down, up in zip(downs, ups))
        if entry["crashes"] != len(downs):
            problems.append(f"appliance {name}: {entry['crashes']} crashes, {len(downs)} appliance_down rows")
        if duration > 0 and not math.isclose(entry["availability"], 1.0 - down_s / duration, rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"appliance {name}: availability {entry['availability']!r}, its rows give "
                            f"{1.0 - down_s / duration!r}")
    problems += _link_availability_problems(events, summary, duration)
    assert not problems, "fault costs differ from their rows:\n  " + _first(problems)


def _link_availability_problems(events: pd.DataFrame, summary: dict[str, Any], duration: float) -> list[str]:
    """Each link's `availability` is 1 - (the union of its down periods, `link_down` rows at their
    time for their `value`, within the run) / duration, and KPI `link_availability` their mean."""
    problems: list[str] = []
    downs = events[events["event"] == "link_down"]
    measured = {}
    for name, entry in summary["links"].items():
        spans = sorted((float(t), min(float(t) + float(v), duration))
                       for t, v in zip(downs.loc[downs["component"] == name, "time_s"],
                                       downs.loc[downs["component"] == name, "value"]))
        down_s, reach = 0.0, 0.0
        for start, end in spans:
            start = max(start, reach)
            if end > start:
                down_s += end - start
            reach = max(reach, end)
        measured[name] = 1.0 - down_s / duration if duration > 0 else 1.0
        if not math.isclose(entry["availability"], measured[name], rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"link {name}: availability {entry['availability']!r}, its rows give {measured[name]!r}")
    mean = sum(measured.values()) / len(measured) if measured else 1.0
    if not math.isclose(summary["kpis"]["link_availability"], mean, rel_tol=1e-9, abs_tol=1e-9):
        problems.append(f"KPI link_availability is {summary['kpis']['link_availability']!r}, the links' rows give {mean!r}")
    return problems


def check_capacity(_scenario: Scenario | dict[str, Any], result: Results) -> None:
    """No appliance ever holds more than its capacity: its high-water mark `peak_used_bytes`
    (so its use at every instant) is at most `capacity_bytes`, to a relative 1e-9, and its
    use at the end at most its peak."""
    over = [f"{name}: peak {entry['peak_used_bytes']!r} bytes, use at the end {entry['used_bytes']!r}, capacity "
            f"{entry['capacity_bytes']!r}"
            for name, entry in result.summary["appliances"].items()
            if entry["peak_used_bytes"] > entry["capacity_bytes"] * (1 + RELATIVE_TOLERANCE)
            or entry["used_bytes"] > entry["peak_used_bytes"] * (1 + RELATIVE_TOLERANCE) + 1e-6]
    assert not over, "appliances held more than their capacity:\n  " + _first(over)


# -- e, f. the lock and transfer tables are consistent ------------------------------------------------

def check_lock_table(_scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Every lock was set no earlier than it was created at its locking dataset, its
    propagation delay (when it travelled) is set minus created, and it was released no
    earlier than it was set."""
    locks = result.tables["locks"]
    problems: list[str] = []
    for volume, pcpi, kind, dataset, via, created, set_s, delay, released in zip(
            locks["volume"], locks["pcpi_id"], locks["type"], locks["locking_dataset"], locks["via"],
            locks["created_s"], locks["set_s"], locks["propagation_s"], locks["released_s"]):
        lock = f"{kind} lock on {volume} PCPI #{int(pcpi)} for {dataset} via {via}"
        if set_s < created - ABS_TOLERANCE_S:
            problems.append(f"{lock}: set {at(set_s)} before it was created {at(created)}")
        if _present(delay) and abs(delay - (set_s - created)) > ABS_TOLERANCE_S:
            problems.append(f"{lock}: propagation_s {delay!r} is not set_s - created_s = {set_s - created!r}")
        if _present(released) and released < set_s - ABS_TOLERANCE_S:
            problems.append(f"{lock}: released {at(released)} before it was set {at(set_s)}")
    assert not problems, f"{len(problems)} inconsistent lock rows:\n  " + _first(problems)


def check_transfers_table(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """`end_s` is empty exactly for transfers still in flight at the end (neither completed
    nor aborted), no transfer ends before it starts, a relationship's transfers are baselines
    until one of them has been applied (a failed baseline is tried again) and later ones are
    not, and a relationship runs one transfer at a time."""
    specs = relationships(as_scenario(scenario))
    transfers = result.tables["transfers"].assign(done=lambda t: completed(t))
    problems: list[str] = []
    for rel, own in transfers.groupby("relationship", sort=True):
        if rel not in specs:
            problems.append(f"{rel}: transfers of a relationship the scenario does not have")
            continue
        own = own.sort_values("start_s", kind="stable")
        seen_applied = applied_before(own)
        previous_end: float | None = None
        for k, (start, end, kind, done, aborted) in enumerate(
                zip(own["start_s"], own["end_s"], own["kind"], own["done"], own["aborted"])):
            what = f"{rel}: {kind} transfer starting {at(start)}"
            in_flight = not done and not aborted
            if _present(end) == in_flight:
                problems.append(f"{what}: end_s {at(end)} but completed={bool(done)}, aborted={bool(aborted)}")
            if done and aborted:
                problems.append(f"{what}: both completed and aborted")
            if _present(end) and end < start:
                problems.append(f"{what}: ends {at(end)} before it starts")
            if seen_applied[k] == (kind == "baseline"):
                problems.append(f"{what}: transfer number {k + 1} of the relationship is a {kind}, "
                                f"{'after' if seen_applied[k] else 'before'} one of them was applied")
            if k > 0 and (previous_end is None or start < previous_end):
                problems.append(f"{what}: starts while the previous one runs (it ends {at(previous_end)})")
            previous_end = end if _present(end) else None
    assert not problems, "transfers table inconsistent:\n  " + _first(problems)


def check_gaps(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """`gap_pcpis`, per destination and as the KPI, is the README's definition recomputed from
    the pcpis table: per volume-mirror or vault destination that updated at least once, the
    non-mirror PCPIs of the head of its source's lineage (its source at the end of the run)
    deleted there after its first update (and before it retired) that no row of the
    destination ever held (and, for a vault with a filter, whose names the filter sends)."""
    s = as_scenario(scenario)
    plan, specs = Plan(s), relationships(s)
    pcpis, transfers = result.tables["pcpis"], result.tables["transfers"]
    sources = Sources(specs, result.tables["events"])
    held = {volume: set(rows["pcpi_id"]) for volume, rows in pcpis.groupby("volume")}
    deleted = pcpis[pcpis["deleted_s"].map(_present) & (pcpis["label"] != MIRROR_LABEL)]
    done = transfers[completed(transfers)]
    expected: dict[str, set[int]] = {}
    for rel, spec in specs.items():
        ends = done.loc[done["relationship"] == rel, "end_s"]
        if spec.type == "qtree" or ends.empty:
            continue
        first, until = float(ends.min()), spec.retire_at if spec.retire_at is not None else math.inf
        wanted = re.compile(spec.filter) if spec.filter else None
        at_head = deleted[deleted["volume"] == plan.head(sources.at(rel, s.duration))]
        got = held.get(spec.destination_volume, set())
        expected[spec.destination_volume] = {
            int(pid) for pid, when, name in zip(at_head["pcpi_id"], at_head["deleted_s"], at_head["name"])
            if first < when < until and int(pid) not in got and (wanted is None or wanted.search(name))}
    measured = result.summary["gap_pcpis"]
    wrong = [f"{volume}: gap_pcpis is {measured.get(volume)}, the pcpis table gives {len(ids)} "
             f"({sorted(ids)[:8]})" for volume, ids in expected.items() if measured.get(volume) != len(ids)]
    wrong += [f"{volume}: gap_pcpis reported, but it is not a destination that updated"
              for volume in set(measured) - set(expected)]
    union = len(set().union(*expected.values()))
    if result.summary["kpis"]["gap_pcpis"] != union:
        wrong.append(f"KPI gap_pcpis is {result.summary['kpis']['gap_pcpis']}, the pcpis table gives {union}")
    assert not wrong, "gap PCPIs differ from their definition:\n  " + _first(wrong)


Check = Callable[[Scenario | dict[str, Any], Results], None]

CHECKS: tuple[Check, ...] = (
    check_blame_contract,
    check_nothing_blamed_after_retirement,
    check_locking_protocols_lose_nothing,
    check_transfers_read_present_pcpis,
    check_volume_images_come_from_their_source,
    check_link_bytes,
    check_kpis_sum_their_tables,
    check_fault_bytes_and_counts,
    check_capacity,
    check_lock_table,
    check_transfers_table,
    check_gaps,
)
"""Every invariant, in the order issue 10 lists them; each takes the scenario (a dict or a
`Scenario`) and a run's result, whether or not it needs the scenario."""


def check_all(scenario: Scenario | dict[str, Any], result: Results, checks: Iterable[Check] = CHECKS) -> None:
    """Run `checks` on one result; every failing one is reported, each under its name."""
    failures = []
    for check in checks:
        try:
            check(scenario, result)
        except AssertionError as err:
            failures.append(f"{check.__name__}: {err}")
    assert not failures, f"protocol {result.summary['protocol']}: " + "\n".join(failures)
