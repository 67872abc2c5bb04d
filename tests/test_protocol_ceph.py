"""Protocol `ceph`: RBD mirror snapshots linked with the peers that must sync them, each peer
unlinking itself from the older ones after a sync, and a per-peer cap (`max_mirror_snapshots`)
that unlinks a lagging peer from one snapshot at every new one.

The scenarios: A takes an hourly snapshot (keep 1) and is vaulted every hour at :30 to B and C
(a fan-out: two peers of one primary, both keeping 48), or A -> B -> C (a chain: only A is a
primary; B -> C is a plain vault of what B received). In the outage the A-C link is down from
02:00 to 10:00: C's last sync before it is the 01:30 one, and the ticks 02:30 ... 09:30 (8)
fall inside it; C's waiting update runs when the link comes back at 10:00.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from conftest import assert_refused, chain_document

from sim.engine.model import Model, simulate
from sim.scenario import load_scenario

HOUR = 3600.0
A, A_TO_B, A_TO_C = "A:/vol/v", "A:/vol/v->B:/vol/v", "A:/vol/v->C:/vol/v"
TICKS = [h * HOUR + 30 * 60 for h in range(24)]
"""The mirror schedule's firings in the day: 00:30 ... 23:30."""
OUTAGE_START_S, OUTAGE_END_S = 2 * HOUR, 10 * HOUR
TICKS_IN_OUTAGE = 8
C_BASE_AT_OUTAGE_S = 1 * HOUR + 30 * 60
"""When C's base at the outage's start was taken (the 01:30 tick)."""


def world(topology: str, settings: dict[str, Any] | None = None, outage: bool = False) -> dict[str, Any]:
    if topology == "fanout":
        links = [{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
                 {"between": ["A", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}]
        pairs = [("A:/vol/v", "B:/vol/v", "30 * * * *"), ("A:/vol/v", "C:/vol/v", "30 * * * *")]
    else:  # the chain_document's A -> B -> C
        links = [{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
                 {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}]
        pairs = [("A:/vol/v", "B:/vol/v", "30 * * * *"), ("B:/vol/v", "C:/vol/v", "45 * * * *")]
    if outage:
        links[1]["outages"] = [{"at": "2h", "for": "8h"}]
    doc = chain_document(
        protocol="ceph", duration="1d", links=links,
        snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 1, "volumes": [A]}},
        mirrors=[{"source": s, "destination": d, "type": "vault", "schedule": cron, "retention": {"keep": 48}}
                 for s, d, cron in pairs])
    if settings is not None:
        doc["protocols"] = {"ceph": settings}
    return doc


def mirror_snapshots_on_a(pcpis: pd.DataFrame) -> pd.DataFrame:
    return pcpis[(pcpis["volume"] == A) & (pcpis["label"] == "ceph_mirror")]


def count_at(snapshots: pd.DataFrame, at_s: float) -> int:
    """How many of `snapshots` exist at `at_s` (taken at or before it, not deleted by then)."""
    return int(((snapshots["created_s"] <= at_s) & ~(snapshots["deleted_s"] <= at_s)).sum())


def peak(snapshots: pd.DataFrame) -> int:
    """The most of `snapshots` that ever exist at once (checked at every creation)."""
    return max(count_at(snapshots, t) for t in snapshots["created_s"])


def kinds(transfers: pd.DataFrame, rel: str) -> list[str]:
    return list(transfers[transfers["relationship"] == rel]["kind"])


@pytest.mark.parametrize("topology", ["fanout", "chain"])
def test_steady_state_one_shared_snapshot_per_tick_every_update_incremental_and_at_most_two(make_scenario,
                                                                                            topology):
    run = simulate(make_scenario(world(topology, {"max_mirror_snapshots": 3})))
    pcpis, transfers = run.tables["pcpis"], run.tables["transfers"]
    mirror = mirror_snapshots_on_a(pcpis)
    # One mirror snapshot per tick, shared by every peer (Ceph: one per image, linked with all).
    assert sorted(mirror["created_s"]) == TICKS
    from_a = transfers[transfers["relationship"].str.startswith("A:")]
    assert set(from_a["pcpi_id"]) == set(mirror["pcpi_id"])
    assert len(from_a) == 24 * (2 if topology == "fanout" else 1)
    assert not pcpis[(pcpis["volume"] == "B:/vol/v") & (pcpis["origin"] == "B:/vol/v")].shape[0]  # B: no primary
    for rel in set(transfers["relationship"]):
        sent = kinds(transfers, rel)
        assert sent == ["baseline"] + ["incremental"] * (len(sent) - 1) and len(sent) >= 23, (rel, sent)
    assert run.summary["kpis"]["rebaselines"] == 0 and run.summary["kpis"]["premature_deletions"] == 0
    # Every peer unlinks from the previous snapshot after syncing the next: it goes, by
    # rotation, when the last peer's transfer of the next one ends.
    deleted = mirror.dropna(subset=["deleted_s"]).sort_values("created_s")
    assert len(deleted) == 23 and set(deleted["reason"]) == {"mirror_rotation"}
    last_end = from_a.groupby("pcpi_id")["end_s"].max()
    next_ids = mirror.sort_values("created_s")["pcpi_id"].iloc[1:].to_numpy()
    assert list(deleted["deleted_s"]) == list(last_end.loc[next_ids])
    # Closed form over the day: one mirror snapshot between ticks, two while a tick's
    # transfers run; never more than max_mirror_snapshots.
    for tick in TICKS[1:]:
        assert count_at(mirror, tick - 1) == 1 and count_at(mirror, tick + 1) == 2
    assert peak(mirror) == 2 <= 3
    assert count_at(mirror, 24 * HOUR) == 1


def test_today_a_lagging_peer_keeps_its_sync_start_past_the_cap(make_scenario):
    """unlink_at_capacity: newest (Ceph since ceph/ceph#46454): C, cut off for 8 ticks with a
    cap of 3, is unlinked from the newest snapshot before each new one, never from its oldest:
    its 01:30 base stays and its catch-up at 10:00 is incremental."""
    run = simulate(make_scenario(world("fanout", {"max_mirror_snapshots": 3}, outage=True)))
    pcpis, transfers = run.tables["pcpis"], run.tables["transfers"]
    mirror = mirror_snapshots_on_a(pcpis)
    assert run.summary["kpis"]["rebaselines"] == 0 and run.summary["kpis"]["premature_deletions"] == 0
    to_c = transfers[transfers["relationship"] == A_TO_C]
    catch_up = to_c[to_c["start_s"] == OUTAGE_END_S].iloc[0]
    base = mirror[mirror["created_s"] == C_BASE_AT_OUTAGE_S].iloc[0]
    assert catch_up["kind"] == "incremental" and catch_up["base_pcpi_id"] == base["pcpi_id"]
    assert base["deleted_s"] == catch_up["end_s"]  # unlinked and removed once C synced past it
    # Per peer the cap holds: C is linked with 3 and B's base is one more while B syncs a tick.
    for tick in TICKS[1:]:
        assert count_at(mirror, tick - 1) <= 3
    assert peak(mirror) == 3 + 1


@pytest.mark.parametrize(("cap", "rebaselines"), [(3, 1), (TICKS_IN_OUTAGE + 1, 1), (TICKS_IN_OUTAGE + 2, 0), (12, 0)])
def test_unlinking_the_oldest_removes_a_lagging_peers_base_unless_the_cap_outlasts_the_outage(make_scenario, cap,
                                                                                            rebaselines):
    """unlink_at_capacity: oldest (as first proposed, not a released Ceph's): C's base is its
    oldest linked snapshot.
    C is linked with it, the 8 outage ticks' snapshots and the one its own update takes at
    10:00: 10 in all, so any cap below 10 unlinks C from its base, which no peer holds then:
    removed, and C re-baselines, blamed on A."""
    run = simulate(make_scenario(world("fanout", {"max_mirror_snapshots": cap, "unlink_at_capacity": "oldest"},
                                       outage=True)))
    pcpis, transfers, events = run.tables["pcpis"], run.tables["transfers"], run.tables["events"]
    mirror = mirror_snapshots_on_a(pcpis)
    kpis = run.summary["kpis"]
    assert kpis["rebaselines"] == kpis["premature_deletions"] == rebaselines
    assert run.summary["relationships"][A_TO_B]["rebaselines"] == 0
    assert kinds(transfers, A_TO_B) == ["baseline"] + ["incremental"] * 23
    assert peak(mirror) <= cap
    base = mirror[mirror["created_s"] == C_BASE_AT_OUTAGE_S].iloc[0]
    blamed = events[events["event"] == "premature_deletion"]
    if rebaselines:
        # Removed by the cap: at the 04:30 tick (cap 3: C is then linked with 01:30 ... 04:30)
        # or at C's own 10:00 snapshot (cap 9).
        removed_s = C_BASE_AT_OUTAGE_S + cap * HOUR if cap < TICKS_IN_OUTAGE + 1 else OUTAGE_END_S
        assert base["reason"] == "mirror_rotation" and base["premature"] and base["deleted_s"] == removed_s
        assert list(blamed["component"]) == [A] and list(blamed["detail"]) == [A_TO_C]
        assert list(blamed["pcpi_id"]) == [base["pcpi_id"]]
        assert "rebaseline" in kinds(transfers, A_TO_C)
    else:
        assert blamed.empty and "rebaseline" not in kinds(transfers, A_TO_C)
        assert not base["premature"]


def test_retention_takes_other_snapshots_and_never_a_mirror_snapshot_a_peer_needs(make_scenario):
    run = simulate(make_scenario(world("fanout", {"max_mirror_snapshots": 3}, outage=True)))
    pcpis = run.tables["pcpis"]
    hourlies = pcpis[(pcpis["volume"] == A) & (pcpis["label"] == "hourly")]
    assert (hourlies["reason"] == "retention").sum() == 23  # keep 1, as the policy says
    assert not (mirror_snapshots_on_a(pcpis)["reason"] == "retention").any()
    model = Model(make_scenario(world("fanout", {"max_mirror_snapshots": 3}, outage=True)))
    model.start()
    model.run(until_s=6 * HOUR)  # C has been cut off for 4 ticks
    a, strategy = model.volumes[A], model.strategy
    c = next(rel for rel in a.outgoing if rel.name == A_TO_C)
    linked = strategy.linked(a, c)
    assert len(linked) == 3 and a.pcpis[linked[0]].created_s == C_BASE_AT_OUTAGE_S
    for pcpi_id, pcpi in a.pcpis.items():
        assert strategy.vetoes(a, pcpi_id, "retention") == (pcpi.label == "ceph_mirror")
        assert not strategy.vetoes(a, pcpi_id, "autodelete")


def test_settings_are_read_from_protocols_with_defaults(make_scenario):
    config = Model(make_scenario(world("fanout"))).strategy.config
    assert config.max_mirror_snapshots == 5 and config.unlink_at_capacity == "newest"
    config = Model(make_scenario(world("fanout", {"max_mirror_snapshots": 3}))).strategy.config
    assert config.max_mirror_snapshots == 3


SCENARIO_WITH_SETTINGS = """\
name: fanout
seed: 1
duration: 1d
protocol: ceph
protocols:
  ceph:
    max_mirror_snapshots: 3
{extra}appliances: {{A: {{capacity: 10TiB}}, B: {{capacity: 10TiB}}}}
links: [{{between: [A, B], bandwidth: 1Gbit/s, latency: 1ms}}]
volumes: {{"A:/vol/v": {{size: 100GiB, change_rate: 1GiB/h}}}}
snapshot_policies:
  hourly: {{schedule: "0 * * * *", label: hourly, keep: 1, volumes: ["A:/vol/v"]}}
mirrors: [{{source: "A:/vol/v", destination: "B:/vol/v", type: vault, schedule: "30 * * * *",
            retention: {{keep: 48}}}}]
"""


def test_a_scenario_with_settings_validates(write_scenario):
    scenario = load_scenario(write_scenario(SCENARIO_WITH_SETTINGS.format(extra="")))
    assert scenario.protocols == {"ceph": {"max_mirror_snapshots": 3}}


@pytest.mark.parametrize(("extra", "line", "field", "message"), [
    ("    rbd_mirroring_max_mirroring_snapshots: 3\n", 8, "protocols.ceph.rbd_mirroring_max_mirroring_snapshots",
     "Extra inputs are not permitted"),
    ("    journal: true\n", 8, "protocols.ceph.journal", "Extra inputs are not permitted"),
    ("    unlink_at_capacity: second_oldest\n", 8, "protocols.ceph.unlink_at_capacity", "'newest' or 'oldest'"),
])
def test_an_unknown_setting_is_refused_with_file_line_and_field(write_scenario, extra, line, field, message):
    path = write_scenario(SCENARIO_WITH_SETTINGS.format(extra=extra))
    assert_refused(path, line, field, message)


def test_a_cap_below_one_is_refused_at_its_line(write_scenario):
    path = write_scenario(SCENARIO_WITH_SETTINGS.format(extra="").replace("snapshots: 3", "snapshots: 0"))
    assert_refused(path, 7, "protocols.ceph.max_mirror_snapshots", "greater than or equal to 1")
