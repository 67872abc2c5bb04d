"""summary.json of a scenario of several independent cascades, from the summaries of its cascades'
runs (`sim.engine.cascade_runs`).

Every section is the union of the cascades' sections, in the order one run of the whole
scenario writes it: relationships and gap PCPIs in the scenario's dependency order of mirrors,
links in scenario order, appliances and volumes in name order. Every KPI is then computed from
those sections as `build_summary` computes it from the observers (the same values added in the
same order), or, for counts, added up over the cascades; three need more than the sections:
- `lock_space_peak_bytes`, the peak of the all-appliance total, replays every cascade's changes
  of the total in the order one run adds them (`sim.observe.lock_space.TotalLockTrace`);
- `lock_propagation_s` pools the cascades' raw delays (percentiles do not depend on order);
- `failed_write_bytes` adds the volumes' figures in the whole scenario's volume order.
So the merged summary is the one a single run of the whole scenario writes, but for
`events_processed` (each cascade's run has its own sampler) and `wall_seconds`.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.observe.lock_traffic import Propagation, propagation_summary
from sim.observe.summary import summary_document
from sim.scenario import Plan, Scenario

SUMMED = ("premature_deletions", "bases_lost_pending", "rebaselines", "updates_completed", "updates_skipped",
          "lock_messages", "failed_writes", "autodeletes", "gap_pcpis", "transfer_breaks", "failed_transfers",
          "no_space_breaks", "missed_firings")
"""KPIs that are counts: the whole scenario's is the sum of its cascades'."""


@dataclass(frozen=True, slots=True)
class CascadeFacts:
    """What the merge needs of one cascade's run beyond its summary."""

    mirror_positions: tuple[int, ...]
    """Each of its relationships' position in the whole scenario's dependency order, in its own order."""
    lock_trace: tuple[np.ndarray, np.ndarray, np.ndarray]
    """Its changes of the all-appliance lock total: (times, order within an instant, deltas)."""
    propagation: Propagation
    failed_write_bytes: dict[str, float]


def total_lock_peak(traces: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """The peak of the all-appliance lock total: every change, in (time, order) order, added up
    one after the other from 0.0 as `Level.add` does (`np.cumsum` adds sequentially)."""
    times = np.concatenate([trace[0] for trace in traces])
    if not times.size:
        return 0.0
    order = np.concatenate([trace[1] for trace in traces])
    deltas = np.concatenate([trace[2] for trace in traces])
    running = np.cumsum(deltas[np.lexsort((order, times))])
    return max(0.0, float(running.max()))


def merge_summaries(scenario: Scenario, plan: Plan, summaries: Sequence[dict[str, Any]],
                    facts: Sequence[CascadeFacts], events_processed: int, wall_seconds: float) -> dict[str, Any]:
    """The summary of `scenario` (whose `plan` is given) from its cascades' `summaries` and `facts`."""
    entries: list[tuple[int, str, dict[str, Any]]] = []
    for summary, fact in zip(summaries, facts, strict=True):
        relationships = summary["relationships"]
        assert len(relationships) == len(fact.mirror_positions), "one summary entry per relationship"
        entries.extend((position, name, record) for position, (name, record)
                       in zip(fact.mirror_positions, relationships.items()))
    per_relationship = {name: record for _position, name, record in sorted(entries, key=lambda entry: entry[0])}
    destinations = [m.destination_volume for m in plan.mirrors_in_dependency_order]
    gap_counts = _union(summaries, "gap_pcpis")
    usage_by_name = _union(summaries, "links")
    link_usage = {link.name: usage_by_name[link.name] for link in plan.links}
    lock_byte_h = dict(sorted(_union(summaries, "lock_space_byte_hours").items()))
    hold_byte_h = dict(sorted(_union(summaries, "hold_space_byte_hours").items()))
    sent = dict(sorted(_union(summaries, "lock_messages_sent").items()))
    volume_order = dict.fromkeys([*scenario.volumes, *destinations])
    failed_bytes = {name: value for fact in facts for name, value in fact.failed_write_bytes.items()}
    propagation: Propagation = {}
    for fact in facts:
        for key, delays in fact.propagation.items():
            propagation.setdefault(key, array("d")).extend(delays)
    kpis = [summary["kpis"] for summary in summaries]
    measured = {name: sum(k[name] for k in kpis) for name in SUMMED}
    records = per_relationship.values()
    measured.update({
        "rebaseline_bytes": sum(r["rebaseline_bytes"] for r in records),
        "bytes_transferred": sum(r["bytes"] for r in records),
        "max_lag_s": max((r["max_lag_s"] for r in records), default=0.0),
        "failed_write_bytes": sum(failed_bytes[name] for name in volume_order if name in failed_bytes),
        "lock_space_byte_hours": sum(lock_byte_h.values()),
        "lock_space_peak_bytes": total_lock_peak([fact.lock_trace for fact in facts]),
        "hold_space_byte_hours": sum(hold_byte_h.values()),
        "lock_message_bytes": sum(entry["bytes"] for entry in sent.values()),
        "peak_pcpis": max((k["peak_pcpis"] for k in kpis), default=0),
        "aborted_bytes": sum(r["aborted_bytes"] for r in records),
        "link_availability": (sum(usage["availability"] for usage in link_usage.values()) / len(link_usage)
                              if link_usage else 1.0),
    })
    return summary_document(scenario, events_processed, wall_seconds, measured, {
        "lock_messages_sent": sent,
        "lock_messages_lost": dict(sorted(_union(summaries, "lock_messages_lost").items())),
        "lock_space_byte_hours": lock_byte_h,
        "lock_space_peak_bytes": dict(sorted(_union(summaries, "lock_space_peak_bytes").items())),
        "hold_space_byte_hours": hold_byte_h,
        "lock_propagation_s": propagation_summary(propagation),
        "gap_pcpis": {name: gap_counts[name] for name in destinations if name in gap_counts},
        "peak_pcpis": dict(sorted(_union(summaries, "peak_pcpis").items())),
        "relationships": per_relationship,
        "appliances": dict(sorted(_union(summaries, "appliances").items())),
        "links": link_usage,
    })


def _union(summaries: Sequence[dict[str, Any]], section: str) -> dict[str, Any]:
    """One section of every summary, as one mapping (cascades share no name)."""
    return {name: value for summary in summaries for name, value in summary[section].items()}
