"""Protocol `btrbk`: no source retention while a target is unreachable (or its last send failed
and none has succeeded since), and each target's latest common snapshot kept.

The scenario is the test chain A -> B -> C (hourly snapshots on A, keep 3; A -> B every 15
minutes, B -> C every 2 hours) with the A-B link down from 06:40 to 13:40: the hourly firings
07:00 to 13:00 (7) fall inside it, and no A -> B update is running when it starts (the 06:30
one took seconds)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from conftest import chain_document

from sim.engine.model import Model, simulate

HOUR = 3600.0
KEEP = 3
OUTAGE_START_S = 6 * HOUR + 40 * 60
OUTAGE_HOURS = 7
OUTAGE_END_S = OUTAGE_START_S + OUTAGE_HOURS * HOUR
FIRINGS_IN_OUTAGE = 7
"""Hourly firings in [06:40, 13:40): 07:00, ..., 13:00."""
A, A_TO_B = "A:/vol/v", "A:/vol/v->B:/vol/v"


def outage_chain(protocol: str, bandwidth: str = "1Gbit/s", **overrides: Any) -> dict[str, Any]:
    links = [{"between": ["A", "B"], "bandwidth": bandwidth, "latency": "1ms",
              "outages": [{"at": "6h40m", "for": f"{OUTAGE_HOURS}h"}]},
             {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}]
    return chain_document(**{"protocol": protocol, "links": links, **overrides})


def hourlies_on_a(pcpis: pd.DataFrame, at_s: float) -> int:
    """A's hourly PCPIs that exist at `at_s`."""
    a = pcpis[(pcpis["volume"] == A) & (pcpis["label"] == "hourly")]
    return int(((a["created_s"] <= at_s) & ~(a["deleted_s"] <= at_s)).sum())


def retention_deletions_on_a(pcpis: pd.DataFrame, start_s: float, end_s: float) -> pd.DataFrame:
    """A's PCPIs that retention deleted in [start_s, end_s]."""
    rows = pcpis[(pcpis["volume"] == A) & (pcpis["reason"] == "retention")]
    return rows[(rows["deleted_s"] >= start_s) & (rows["deleted_s"] <= end_s)]


def test_retention_deletes_nothing_on_the_source_while_its_target_is_unreachable(make_scenario):
    btrbk = simulate(make_scenario(outage_chain("btrbk"))).tables["pcpis"]
    none = simulate(make_scenario(outage_chain("none"))).tables["pcpis"]
    assert retention_deletions_on_a(btrbk, OUTAGE_START_S, OUTAGE_END_S).empty
    # The same scenario without the rule deletes one hourly per firing in the outage.
    assert len(retention_deletions_on_a(none, OUTAGE_START_S, OUTAGE_END_S)) == FIRINGS_IN_OUTAGE


def test_snapshots_pile_up_by_one_per_firing_in_the_outage_and_go_at_the_first_firing_after(make_scenario):
    pcpis = simulate(make_scenario(outage_chain("btrbk"))).tables["pcpis"]
    # Steady state: keep 3 plus the latest common hourly on B (the one before the newest, just
    # after a snapshot), which keep-N does not count, as it does not count a locked PCPI.
    steady = KEEP + 1
    assert hourlies_on_a(pcpis, OUTAGE_START_S - 1) == steady
    assert hourlies_on_a(pcpis, OUTAGE_END_S) == steady + FIRINGS_IN_OUTAGE
    # The update waiting since 06:45 completes within a minute of 13:40 (7 GiB at 1 Gbit/s);
    # at 14:00 retention deletes the pile, and the 14:00 snapshot is one more.
    resumed = retention_deletions_on_a(pcpis, OUTAGE_END_S, 14 * HOUR)
    assert len(resumed) == FIRINGS_IN_OUTAGE + 1 and set(resumed["deleted_s"]) == {14 * HOUR}
    assert hourlies_on_a(pcpis, 14 * HOUR) == steady


def test_a_target_stays_aborted_until_an_update_completes_after_the_path_came_back(make_scenario):
    # At 10 Mbit/s the update that waited through the outage carries a whole 5 GiB volume's
    # worth of changes (7 hours at 1 GiB/h, capped at the volume's size) in about 1.2 hours:
    # the path is up at the 14:00 firing, but the send that failed has not succeeded yet, so
    # btrbk would still skip the cleanup.
    small = {"A:/vol/v": {"size": "5GiB", "change_rate": "1GiB/h"}}
    run = simulate(make_scenario(outage_chain("btrbk", bandwidth="10Mbit/s", volumes=small)))
    transfers, pcpis = run.tables["transfers"], run.tables["pcpis"]
    a_to_b = transfers[transfers["relationship"] == A_TO_B]
    caught_up_s = a_to_b[a_to_b["end_s"] > OUTAGE_END_S]["end_s"].min()
    firings_before_catch_up = int(caught_up_s // HOUR) - int(OUTAGE_END_S // HOUR)
    assert firings_before_catch_up >= 1
    assert retention_deletions_on_a(pcpis, OUTAGE_START_S, caught_up_s).empty
    assert hourlies_on_a(pcpis, caught_up_s) == KEEP + 1 + FIRINGS_IN_OUTAGE + firings_before_catch_up
    # The first firing after the catch-up cleans up all but keep + the latest common.
    next_firing_s = (caught_up_s // HOUR + 1) * HOUR
    deleted = retention_deletions_on_a(pcpis, caught_up_s, next_firing_s)
    assert len(deleted) == FIRINGS_IN_OUTAGE + firings_before_catch_up + 1
    assert set(deleted["deleted_s"]) == {next_firing_s}


def test_a_transfer_cut_by_the_outage_is_a_failed_send_until_it_completes(make_scenario):
    # The baseline of a 5 GiB volume at 10 Mbit/s runs from 00:00 to about 01:12; the link is
    # down from 00:30 to 07:30, so the baseline ends at about 08:12, after the 08:00 firing.
    small = {"A:/vol/v": {"size": "5GiB", "change_rate": "1GiB/h"}}
    links = [{"between": ["A", "B"], "bandwidth": "10Mbit/s", "latency": "1ms",
              "outages": [{"at": "30m", "for": "7h"}]},
             {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}]
    run = simulate(make_scenario(chain_document(protocol="btrbk", volumes=small, links=links)))
    transfers, pcpis = run.tables["transfers"], run.tables["pcpis"]
    baseline = transfers[(transfers["relationship"] == A_TO_B) & (transfers["kind"] == "baseline")].iloc[0]
    assert baseline["start_s"] == 0 and 8 * HOUR < baseline["end_s"] < 9 * HOUR
    assert retention_deletions_on_a(pcpis, 0, baseline["end_s"]).empty
    assert not retention_deletions_on_a(pcpis, baseline["end_s"], 9 * HOUR).empty


def test_an_unreachable_target_stops_cleanup_even_when_another_target_is_reachable(make_scenario):
    fan_out = outage_chain("btrbk", mirrors=[
        {"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "*/15 * * * *"},
        {"source": "A:/vol/v", "destination": "C:/vol/v", "schedule": "*/15 * * * *"}],
        links=[{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
               {"between": ["A", "C"], "bandwidth": "1Gbit/s", "latency": "1ms",
                "outages": [{"at": "6h40m", "for": f"{OUTAGE_HOURS}h"}]}])
    pcpis = simulate(make_scenario(fan_out)).tables["pcpis"]
    assert retention_deletions_on_a(pcpis, OUTAGE_START_S, OUTAGE_END_S).empty
    assert hourlies_on_a(pcpis, OUTAGE_END_S) == KEEP + 1 + FIRINGS_IN_OUTAGE


def test_the_tail_keeps_its_base_where_protocol_none_loses_it(make_scenario):
    # Under `none`, A deletes the hourlies C holds during the outage; after it, B's second
    # image update drops the mirror PCPI C last received (A rotated it), before C's 14:00
    # update: C re-baselines. Under btrbk A still has those hourlies until 14:00.
    none = simulate(make_scenario(outage_chain("none"))).summary["kpis"]
    btrbk = simulate(make_scenario(outage_chain("btrbk"))).summary["kpis"]
    assert none["premature_deletions"] >= 1 and none["rebaselines"] >= 1
    assert btrbk["premature_deletions"] == 0 and btrbk["rebaselines"] == 0


def test_during_the_outage_it_vetoes_every_retention_and_nothing_else_then_only_the_latest_common(make_scenario):
    model = Model(make_scenario(outage_chain("btrbk")))
    model.start()
    a, b = model.volumes[A], model.volumes["B:/vol/v"]
    model.run(until_s=10 * HOUR)
    hourly = list(a.by_label["hourly"])
    assert len(hourly) == KEEP + 1 + 3  # 07:00, 08:00, 09:00 piled up
    assert all(model.strategy.vetoes(a, pid, "retention") for pid in hourly)
    for reason in ("mirror_rotation", "autodelete", "mirror_image"):
        assert not any(model.strategy.vetoes(a, pid, reason) for pid in a.pcpis)
    # Back in steady state: only the newest hourly B has received is kept beyond the rule.
    model.run(until_s=20 * HOUR + 20 * 60)
    on_b = [pid for pid in b.pcpis if b.pcpis[pid].label == "hourly"]
    vetoed = [pid for pid in a.by_label["hourly"] if model.strategy.vetoes(a, pid, "retention")]
    assert vetoed == [max(on_b)]
