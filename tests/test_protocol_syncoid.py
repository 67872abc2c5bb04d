"""Protocol `syncoid`: each vault update sends a sync snapshot of its own and prunes the older
ones after success on both sides; the forced receive's rollback of an intermediate destroys
the next hop's base in a cascade; `--no-sync-snap` leaves the base to the source's retention
unless `--use-hold` holds it. Settings come from `protocols: {syncoid: {...}}`."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from conftest import assert_refused, chain_document

from sim.engine.model import Model, simulate
from sim.scenario import load_scenario

A, B, C = "A:/vol/v", "B:/vol/v", "C:/vol/v"
AB, BC = "A:/vol/v->B:/vol/v", "B:/vol/v->C:/vol/v"


def vault(settings: dict[str, Any] | None = None, **mirror: Any) -> dict[str, Any]:
    """A keeps one hourly snapshot; it is vaulted to B every 4 hours (00:30 ... 20:30, six updates)."""
    return chain_document(protocol="syncoid", duration="1d", protocols={"syncoid": settings or {}},
                          snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 1,
                                                        "volumes": [A]}},
                          mirrors=[{"source": A, "destination": B, "type": "vault", "schedule": "30 */4 * * *",
                                    "retention": {"keep": 24}, **mirror}])


def cascade(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """`vault`, and B vaulted on to C at 02:00, 06:00, ... (between A->B's updates)."""
    doc = vault(settings)
    doc["mirrors"].append({"source": B, "destination": C, "type": "vault", "schedule": "0 2-23/4 * * *",
                           "retention": {"keep": 24}})
    return doc


def live(pcpis: pd.DataFrame, volume: str, prefix: str, at_s: float) -> int:
    """How many PCPIs named `prefix...` the volume has at `at_s`."""
    rows = pcpis[(pcpis["volume"] == volume) & pcpis["name"].str.startswith(prefix)]
    return int(((rows["arrived_s"] <= at_s) & ~(rows["deleted_s"] <= at_s)).sum())


def test_each_update_sends_a_sync_snapshot_and_prunes_the_older_ones_on_both_sides(make_scenario):
    run = simulate(make_scenario(vault()))
    transfers, pcpis = run.tables["transfers"], run.tables["pcpis"]
    assert list(transfers["kind"]) == ["baseline"] + ["incremental"] * 5
    sent = pcpis[(pcpis["volume"] == A) & pcpis["pcpi_id"].isin(transfers["pcpi_id"])]
    assert set(sent["label"]) == {"syncoid"} and all(sent["name"].str.startswith("syncoid_B_"))
    # Derivation: a run takes its sync snapshot when its transfer starts (A then has it and
    # the previous one, its base: 2) and, once applied, destroys the older ones on A and on B
    # (A and B are left with the new one: 1). B receives the new one and prunes the old one in
    # the same instant, so B never has two.
    for i, row in transfers.iterrows():
        start, end = row["start_s"], row["end_s"]
        assert live(pcpis, A, "syncoid_B", start) == (1 if i == 0 else 2)
        assert live(pcpis, A, "syncoid_B", (start + end) / 2) == (1 if i == 0 else 2)
        assert live(pcpis, A, "syncoid_B", end) == live(pcpis, B, "syncoid_B", end) == 1
        assert live(pcpis, B, "syncoid_B", start) == (0 if i == 0 else 1)
    pruned = pcpis[pcpis["name"].str.startswith("syncoid_") & pcpis["deleted_s"].notna()]
    assert set(pruned["reason"]) == {"mirror_rotation"} and set(pruned["deleted_by"]) == {AB}
    assert len(pruned) == 2 * 5  # every sync snapshot but the last, on each side
    assert run.summary["kpis"]["premature_deletions"] == 0


def test_an_identifier_names_the_sync_snapshots_and_their_label(make_scenario):
    pcpis = simulate(make_scenario(vault({"identifier": "offsite"}))).tables["pcpis"]
    sync = pcpis[pcpis["label"] == "syncoid_offsite"]
    assert len(sync) == 12 and all(sync["name"].str.startswith("syncoid_offsite_B_"))
    assert live(pcpis, A, "syncoid_offsite_B", 86400) == live(pcpis, B, "syncoid_offsite_B", 86400) == 1


def test_the_rollback_of_an_intermediate_destroys_the_next_hops_base(make_scenario):
    run = simulate(make_scenario(cascade()))
    pcpis, events = run.tables["pcpis"], run.tables["events"]
    # C's sync snapshots on B are newer than A->B's base; every A->B receive (-F) rolls B
    # back past them: 5 rollbacks at 04:30 ... 20:30, each taking C's only base.
    rolled = pcpis[pcpis["reason"] == "rollback"]
    assert len(rolled) == 5 and set(rolled["volume"]) == {B} and all(rolled["name"].str.startswith("syncoid_C_"))
    blamed = events[events["event"] == "premature_deletion"]
    assert set(blamed["detail"]) == {BC} and set(blamed["component"]) == {B}
    assert set(zip(blamed["time_s"], blamed["pcpi_id"])) == set(zip(rolled["deleted_s"], rolled["pcpi_id"]))
    relationships = run.summary["relationships"]
    assert relationships[BC]["rebaselines"] == 5 and relationships[AB]["rebaselines"] == 0


def test_without_rollback_the_cascade_keeps_its_base(make_scenario):
    run = simulate(make_scenario(cascade({"rollback": False})))
    pcpis = run.tables["pcpis"]
    assert (pcpis["reason"] == "rollback").sum() == 0
    assert run.summary["kpis"]["premature_deletions"] == 0 and run.summary["kpis"]["rebaselines"] == 0
    # C's sync snapshots on B are pruned by B->C itself, one left at a time.
    assert live(pcpis, B, "syncoid_C", 86400) == live(pcpis, C, "syncoid_C", 86400) == 1


def test_no_sync_snap_leaves_the_base_to_retention_and_use_hold_keeps_it(make_scenario):
    bare = simulate(make_scenario(vault({"no_sync_snap": True}))).summary["kpis"]
    held = simulate(make_scenario(vault({"no_sync_snap": True, "use_hold": True})))
    # Without sync snapshots, A's keep 1 deletes each hourly B received: 5 re-baselines.
    assert bare["rebaselines"] == 5 and bare["premature_deletions"] == 6
    assert held.summary["kpis"]["rebaselines"] == 0
    assert set(held.tables["pcpis"]["label"]) == {"hourly"}  # no sync snapshot taken
    locks, transfers = held.tables["locks"], held.tables["transfers"]
    assert set(locks["locking_dataset"]) == {"syncoid_B"}
    for volume in (A, B):  # the newest sent held on both sides until the next success
        mine = locks[locks["volume"] == volume].reset_index()
        assert list(mine["pcpi_id"]) == list(transfers["pcpi_id"])
        assert list(mine["released_s"].iloc[:-1]) == list(transfers["end_s"].iloc[1:])


def test_settings_are_read_from_protocols(make_scenario):
    config = Model(make_scenario(vault())).strategy.config
    assert (config.rollback, config.no_sync_snap, config.use_hold, config.identifier) == (True, False, False, "")
    config = Model(make_scenario(vault({"rollback": False, "identifier": "x"}))).strategy.config
    assert config.rollback is False and config.identifier == "x"


SCENARIO_WITH_SETTINGS = """\
name: vault
seed: 1
duration: 1d
protocol: syncoid
protocols:
  syncoid:
    rollback: false
{extra}appliances: {{A: {{capacity: 10TiB}}, B: {{capacity: 10TiB}}}}
links: [{{between: [A, B], bandwidth: 1Gbit/s, latency: 1ms}}]
volumes: {{"A:/vol/v": {{size: 100GiB, change_rate: 1GiB/h}}}}
snapshot_policies:
  hourly: {{schedule: "0 * * * *", label: hourly, keep: 3, volumes: ["A:/vol/v"]}}
mirrors: [{{source: "A:/vol/v", destination: "B:/vol/v", type: vault, schedule: "*/15 * * * *", retention: {{keep: 4}}}}]
"""


def test_a_scenario_with_settings_validates(write_scenario):
    scenario = load_scenario(write_scenario(SCENARIO_WITH_SETTINGS.format(extra="")))
    assert scenario.protocols == {"syncoid": {"rollback": False}}


@pytest.mark.parametrize(("extra", "field", "message"), [
    ("    no-rollback: true\n", "protocols.syncoid.no-rollback", "Extra inputs are not permitted"),
    ("    keep_sync_snap: true\n", "protocols.syncoid.keep_sync_snap", "Extra inputs are not permitted"),
    ("    identifier: 'a b'\n", "protocols.syncoid.identifier", "String should match pattern"),
])
def test_an_unknown_or_bad_setting_is_refused_with_file_line_and_field(write_scenario, extra, field, message):
    path = write_scenario(SCENARIO_WITH_SETTINGS.format(extra=extra))
    assert_refused(path, 8, field, message)
