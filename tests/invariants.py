"""Invariants every run must hold, as plain functions over a scenario and its `Results`.

Each check models one promise the results make to a reader (issue 10): the premature-deletion
blame contract, that locking protocols lose nothing when nothing overrides or retires them,
that no transfer reads a PCPI its source no longer has, that bytes and KPIs add up across
tables, and that the lock and transfer tables do not contradict themselves. A check returns
None or raises AssertionError naming the relationship, volume, PCPI and time at fault.

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
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

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


def _pcpi_rows(pcpis: pd.DataFrame) -> dict[tuple[str, int], tuple[float, float, str]]:
    """(volume, PCPI id) -> (arrived_s, deleted_s, reason) of the pcpis table."""
    return {(v, int(p)): (a, d, r) for v, p, a, d, r in
            zip(pcpis["volume"], pcpis["pcpi_id"], pcpis["arrived_s"], pcpis["deleted_s"], pcpis["reason"])}


def _first(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return "\n  ".join(items[:limit]) + more


# -- a. the blame contract -------------------------------------------------------------------

def check_blame_contract(_scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Every re-baseline of R is blamed on exactly one premature deletion of R made at or
    after R's previous transfer started and no later than the re-baseline started; every
    other premature deletion of R comes after R's last transfer started (it is pending, and
    the pending ones are the KPI `bases_lost_pending`); `premature_deletions` counts distinct
    deletions, and the pcpis table's `premature` rows are exactly those deleted PCPIs.

    Blame is matched in time order, each re-baseline taking the earliest unblamed deletion
    in its window, so a deletion at the very instant a transfer starts may explain that
    transfer or the next one.
    """
    events, transfers, pcpis = (result.tables[name] for name in ("events", "transfers", "pcpis"))
    kpis = result.summary["kpis"]
    blamed = events[events["event"] == "premature_deletion"]
    problems: list[str] = []
    pending: dict[str, int] = {}
    for rel in sorted(set(blamed["detail"]) | set(transfers["relationship"])):
        own = transfers[transfers["relationship"] == rel].sort_values("start_s", kind="stable")
        starts, kinds = list(own["start_s"]), list(own["kind"])
        deletions = blamed[blamed["detail"] == rel].sort_values("time_s", kind="stable")
        times = list(deletions["time_s"])
        where = [f"{c} PCPI #{int(p)}" for c, p in zip(deletions["component"], deletions["pcpi_id"])]
        used: dict[int, int] = {}  # deletion index -> index of the re-baseline it is blamed for
        for k, (start, kind) in enumerate(zip(starts, kinds)):
            if kind != "rebaseline":
                continue
            if k == 0:
                problems.append(f"{rel}: its first transfer ({at(start)}) is a re-baseline, not a baseline")
                continue
            window = [i for i, t in enumerate(times) if starts[k - 1] <= t <= start and i not in used]
            if window:
                used[window[0]] = k
            else:
                problems.append(f"{rel}: re-baseline starting {at(start)} is blamed on no premature deletion "
                                f"since its previous transfer started ({at(starts[k - 1])})")
        blame_of = {k: i for i, k in used.items()}
        for i, t in enumerate(times):
            if i in used:
                continue
            if not starts or t >= starts[-1]:
                pending[rel] = pending.get(rel, 0) + 1
                continue
            k = next(k for k, s in enumerate(starts) if s >= t)
            follows = f"its {kinds[k]} transfer starting {at(starts[k])}"
            if k in blame_of:
                follows += f", already blamed on {where[blame_of[k]]} at {at(times[blame_of[k]])}"
            problems.append(f"{rel}: premature deletion of {where[i]} at {at(t)} is blamed for no re-baseline: "
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
    of_bookmarks = distinct & set(zip(dropped["component"], dropped["pcpi_id"].astype(int), dropped["time_s"]))
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
    destination was retired, or one reading from a retired destination (its PCPIs are gone),
    at or after the retirement."""
    s = as_scenario(scenario)
    retired_at: dict[str, float] = {}
    for name, spec in relationships(s).items():
        if spec.retire_at is not None:
            retired_at[name] = min(retired_at.get(name, math.inf), spec.retire_at)
            for below, other in relationships(s).items():
                if other.source_volume == spec.destination_volume:
                    retired_at[below] = min(retired_at.get(below, math.inf), spec.retire_at)
    events = result.tables["events"]
    blamed = events[events["event"] == "premature_deletion"]
    late = [f"{rel}: {c} PCPI #{int(p)} at {at(t)} (cannot update since {at(retired_at[rel])})"
            for t, c, p, rel in zip(blamed["time_s"], blamed["component"], blamed["pcpi_id"], blamed["detail"])
            if rel in retired_at and t >= retired_at[rel]]
    assert not late, "premature deletions blamed on relationships retired or cut off by a retirement:\n  " + _first(late)


# -- b. locking protocols lose nothing ---------------------------------------------------------

def check_locking_protocols_lose_nothing(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Under `softlock` and `hard`, with no autodelete and no retirement anywhere (nothing may
    override or orphan a lock), no relationship re-baselines and nothing is deleted prematurely.
    Locks protect what a destination already has from deletions upstream. Left out, with the
    re-baselines of the relationships they break: a premature deletion on a vault
    relationship's own destination (its own retention dropped its last base: a configuration no
    lock guards), and one of a PCPI the head of its lineage had deleted before it reached the
    relationship's destination (a vault can receive, from a stale image, a PCPI already gone at
    the head: nobody depended on it when the head deleted it)."""
    s = as_scenario(scenario)
    if result.summary['protocol'] not in LOCKING_PROTOCOLS:
        return
    if any(v.autodelete is not None for v in s.volumes.values()) or any(m.retire_at is not None for m in s.mirrors):
        return
    destination_of = {name: spec.destination_volume for name, spec in relationships(s).items()}
    transfers, events = result.tables["transfers"], result.tables["events"]
    blamed = events[events["event"] == "premature_deletion"]
    rows = _pcpi_rows(result.tables["pcpis"])
    origin_of = dict(zip(result.tables["pcpis"]["pcpi_id"].astype(int), result.tables["pcpis"]["origin"]))

    def unguardable(component: str, pcpi: int, rel: str) -> bool:
        if destination_of.get(rel) == component:
            return True
        at_head = rows.get((origin_of.get(pcpi, ""), pcpi))
        reached = rows.get((destination_of.get(rel, ""), pcpi))
        return (at_head is not None and reached is not None and _present(at_head[1])
                and at_head[1] <= reached[0])

    own = {r for c, p, r in zip(blamed["component"], blamed["pcpi_id"].astype(int), blamed["detail"])
           if unguardable(c, p, r)}
    lost = [f"re-baseline of {r} starting {at(t)}" for r, t, k in
            zip(transfers["relationship"], transfers["start_s"], transfers["kind"]) if k == "rebaseline" and r not in own]
    lost += [f"premature deletion of {c} PCPI #{int(p)} at {at(t)} (breaks {r})" for t, c, p, r in
             zip(blamed["time_s"], blamed["component"], blamed["pcpi_id"], blamed["detail"])
             if not unguardable(c, int(p), r)]
    kpis = result.summary["kpis"]
    assert not lost and (own or (kpis["rebaselines"] == 0 and kpis["premature_deletions"] == 0)), (
        f"protocol {result.summary['protocol']} lost bases without autodelete or retirement "
        f"(KPIs: {kpis['rebaselines']} re-baselines, {kpis['premature_deletions']} premature deletions):\n  " + _first(lost))


# -- c. no PCPI read after it was deleted; images come from their source -------------------------

def check_transfers_read_present_pcpis(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Every transfer's base and sent PCPI were on its source volume from before the transfer
    started until it ended (or until the run ended, for one still in flight); a vault's base
    may instead be a bookmark on the source when the transfer started."""
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
    problems: list[str] = []
    for rel, start, end, base, sent in zip(transfers["relationship"], transfers["start_s"], transfers["end_s"],
                                           transfers["base_pcpi_id"], transfers["pcpi_id"]):
        volume = specs[rel].source_volume
        until = end if _present(end) else start
        for role, pcpi in (("base", base), ("sent PCPI", sent)):
            if not _present(pcpi):
                continue
            mark = bookmarked.get((volume, int(pcpi)))
            if role == "base" and specs[rel].type == "vault" and mark is not None and mark[0] <= start < mark[1]:
                continue  # a vault's incremental from a bookmark: nothing of the PCPI is read
            row = rows.get((volume, int(pcpi)))
            if row is None:
                problems.append(f"{rel}: transfer starting {at(start)} reads {role} #{int(pcpi)}, never on {volume}")
                continue
            arrived, deleted, reason = row
            if not arrived <= start:
                problems.append(f"{rel}: transfer starting {at(start)} reads {role} #{int(pcpi)}, "
                                f"which arrived on {volume} only at {at(arrived)}")
            if _present(deleted) and deleted < until:
                problems.append(f"{rel}: transfer {at(start)} .. {at(end)} reads {role} #{int(pcpi)}, "
                                f"deleted from {volume} at {at(deleted)} ({reason}) while it ran")
    assert not problems, "transfers read PCPIs their source did not hold:\n  " + _first(problems)


def check_volume_images_come_from_their_source(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """A volume-mirror or vault destination holds only PCPIs its source had when a transfer
    started: every PCPI arriving on it at time t came with a completed transfer of its
    relationship ending at t, and was on the source when that transfer started. (A vault
    destination may also take PCPIs of its own: a tool's sync snapshot for its next hop.)"""
    specs = relationships(as_scenario(scenario))
    transfers = result.tables["transfers"].assign(completed=lambda t: completed(t))
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
            source_row = rows.get((spec.source_volume, int(pcpi)))
            if source_row is None or not source_row[0] <= start or (_present(source_row[1]) and source_row[1] < start):
                had = "never" if source_row is None else f"from {at(source_row[0])} to {at(source_row[1])}"
                problems.append(f"{rel}: PCPI #{int(pcpi)} arrived on {spec.destination_volume} at {at(arrived)} by the "
                                f"transfer started {at(start)}, but {spec.source_volume} had it {had}")
    assert not problems, "volume-mirror destinations hold PCPIs their source did not have:\n  " + _first(problems)


# -- d. bytes and KPIs add up ------------------------------------------------------------------------

def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-6)


def check_link_bytes(scenario: Scenario | dict[str, Any], result: Results) -> None:
    """Each link carried exactly the bytes sent by the transfers routed over it."""
    s = as_scenario(scenario)
    specs = relationships(s)
    plan = Plan(s)
    names = [link.name for link in plan.links]
    transfers = result.tables["transfers"]
    expected = dict.fromkeys(names, 0.0)
    for rel, sent in zip(transfers["relationship"], sent_bytes(transfers)):
        spec = specs[rel]
        for index in plan.route(spec.source.partition(":")[0], spec.destination.partition(":")[0]):
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
        if not low - 1e-6 <= kpis["lock_space_peak_bytes"] <= high + 1e-6 + RELATIVE_TOLERANCE * high:
            wrong.append(f"KPI lock_space_peak_bytes is {kpis['lock_space_peak_bytes']!r}, outside the appliances' "
                         f"largest peak {low!r} and the sum of their peaks {high!r}")
    assert not wrong, "KPIs differ from the sums of their tables:\n  " + _first(wrong)


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
    nor aborted), no transfer ends before it starts, a relationship's first transfer is its
    baseline and later ones are not, and a relationship runs one transfer at a time."""
    specs = relationships(as_scenario(scenario))
    transfers = result.tables["transfers"].assign(done=lambda t: completed(t))
    problems: list[str] = []
    for rel, own in transfers.groupby("relationship", sort=True):
        if rel not in specs:
            problems.append(f"{rel}: transfers of a relationship the scenario does not have")
            continue
        own = own.sort_values("start_s", kind="stable")
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
            if (k == 0) != (kind == "baseline"):
                problems.append(f"{what}: transfer number {k + 1} of the relationship is a {kind}")
            if k > 0 and (previous_end is None or start < previous_end):
                problems.append(f"{what}: starts while the previous one runs (it ends {at(previous_end)})")
            previous_end = end if _present(end) else None
    assert not problems, "transfers table inconsistent:\n  " + _first(problems)


Check = Callable[[Scenario | dict[str, Any], Results], None]

CHECKS: tuple[Check, ...] = (
    check_blame_contract,
    check_nothing_blamed_after_retirement,
    check_locking_protocols_lose_nothing,
    check_transfers_read_present_pcpis,
    check_volume_images_come_from_their_source,
    check_link_bytes,
    check_kpis_sum_their_tables,
    check_lock_table,
    check_transfers_table,
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
