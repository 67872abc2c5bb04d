"""summary.json: one run's KPIs (in the order of the KPI registry) and the facts behind them, per
relationship, appliance and link, gathered from the observers at the end of the run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.observe.kpis import NAMES
from sim.results.layout import SCHEMA_VERSION

if TYPE_CHECKING:
    from sim.engine.mirror import MirrorRelationship
    from sim.engine.network import Link
    from sim.engine.storage import Appliance, Volume
    from sim.observe.fault_log import FaultLog
    from sim.observe.gaps import GapWatch
    from sim.observe.lock_space import LockSpaceMeter
    from sim.observe.lock_traffic import LockTraffic
    from sim.observe.mirrors import MirrorStats
    from sim.observe.oracle import Oracle
    from sim.observe.pile_up import PileUp
    from sim.observe.space_pressure import SpacePressure
    from sim.scenario import Scenario


def build_summary(scenario: Scenario, end: float, events_processed: int, wall_seconds: float,
                  relationships: list[MirrorRelationship], volumes: list[Volume], links: list[Link],
                  oracle: Oracle, stats: MirrorStats, traffic: LockTraffic, meter: LockSpaceMeter,
                  gap_watch: GapWatch, pressure: SpacePressure, pile_up: PileUp, fault_log: FaultLog,
                  appliances: list[Appliance]) -> dict[str, Any]:
    """The summary of a finished run (`end` is its duration)."""
    gaps = gap_watch.gaps(relationships)
    per_relationship = {}
    for rel in relationships:
        record = stats.records[rel]
        mean_lag, peak_lag = stats.lag_summary(rel, end)
        per_relationship[rel.name] = {
            "type": rel.kind,
            "updates_completed": record.updates_completed,
            "updates_skipped": record.updates_skipped,
            "rebaselines": record.rebaselines,
            "rebaseline_bytes": record.rebaseline_bytes,
            "premature_deletions": oracle.blamed.get(rel, 0),
            "base_lost_pending": rel in oracle.lost,
            "bytes": record.bytes_sent,
            "transfer_breaks": record.breaks,
            "aborted_bytes": record.wasted_bytes,
            "failed_transfers": record.failed,
            "mean_lag_s": mean_lag,
            "max_lag_s": peak_lag,
        }
    records = [stats.records[rel] for rel in relationships]
    link_usage = {link.name: link.usage(end) for link in links}
    lock_byte_h = {name: level.integral_until(end) / 3600 for name, level in sorted(meter.lock_levels.items())}
    hold_byte_h = {name: level.integral_until(end) / 3600 for name, level in sorted(meter.hold_levels.items())}
    measured = {
        "premature_deletions": oracle.deletions,
        "bases_lost_pending": sum(rel in oracle.lost for rel in relationships),
        "rebaselines": sum(r.rebaselines for r in records),
        "rebaseline_bytes": sum(r.rebaseline_bytes for r in records),
        "bytes_transferred": sum(r.bytes_sent for r in records),
        "updates_completed": sum(r.updates_completed for r in records),
        "updates_skipped": sum(r.updates_skipped for r in records),
        "max_lag_s": max((r["max_lag_s"] for r in per_relationship.values()), default=0.0),
        "lock_messages": sum(traffic.messages.values()),
        "failed_writes": sum(v.failed_writes for v in volumes),
        "failed_write_bytes": sum(v.failed_write_bytes for v in volumes),
        "lock_space_byte_hours": sum(lock_byte_h.values()),
        "lock_space_peak_bytes": meter.total_lock.peak,
        "hold_space_byte_hours": sum(hold_byte_h.values()),
        "lock_message_bytes": sum(traffic.message_bytes.values()),
        "autodeletes": pressure.autodeletes,
        "gap_pcpis": len(set().union(*gaps.values())) if gaps else 0,
        "peak_pcpis": max(pile_up.peak.values(), default=0),
        "transfer_breaks": sum(r.breaks for r in records),
        "aborted_bytes": sum(r.wasted_bytes for r in records),
        "failed_transfers": sum(r.failed for r in records),
        "no_space_breaks": sum(r.no_space_breaks for r in records),
        "missed_firings": fault_log.missed_firings,
        "link_availability": (sum(usage["availability"] for usage in link_usage.values()) / len(link_usage)
                              if link_usage else 1.0),
    }
    return summary_document(scenario, events_processed, wall_seconds, measured, {
        "lock_messages_sent": {name: {"messages": traffic.messages[name], "bytes": traffic.message_bytes[name]}
                               for name in traffic.messages},
        "lock_messages_lost": dict(traffic.lost),
        "lock_space_byte_hours": lock_byte_h,
        "lock_space_peak_bytes": {name: level.peak for name, level in sorted(meter.lock_levels.items())},
        "hold_space_byte_hours": hold_byte_h,
        "lock_propagation_s": traffic.propagation_summary(),
        "gap_pcpis": {name: len(ids) for name, ids in gaps.items()},
        "peak_pcpis": dict(sorted(pile_up.peak.items())),
        "relationships": per_relationship,
        "appliances": {appliance.name: {
            "capacity_bytes": appliance.capacity_bytes,
            "used_bytes": appliance.used_bytes,
            "peak_used_bytes": appliance.peak_used_bytes,
            "crashes": fault_log.downtime[appliance.name].crashes,
            "availability": 1.0 - fault_log.downtime[appliance.name].until(end) / end if end > 0 else 1.0,
        } for appliance in appliances},
        "links": link_usage,
    })


SECTIONS = ("lock_messages_sent", "lock_messages_lost", "lock_space_byte_hours", "lock_space_peak_bytes",
            "hold_space_byte_hours", "lock_propagation_s", "gap_pcpis", "peak_pcpis", "relationships", "appliances",
            "links")
"""summary.json's sections after the KPIs, in the order it writes them."""


def summary_document(scenario: Scenario, events_processed: int, wall_seconds: float, measured: dict[str, Any],
                     sections: dict[str, Any]) -> dict[str, Any]:
    """summary.json's layout: what was run, the KPIs `measured` in the registry's order, then the
    `sections` (one run's, or a merge of cascades' runs: `sim.observe.merged_summary`)."""
    assert set(measured) == set(NAMES), "every registered KPI is measured, and only those"
    assert tuple(sections) == SECTIONS, "every section, in summary.json's order"
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario.name,
        "seed": scenario.seed,
        "protocol": scenario.protocol,
        "duration_s": scenario.duration,
        "events_processed": events_processed,
        "wall_seconds": wall_seconds,
        "kpis": {name: measured[name] for name in NAMES},
        **sections,
    }
