"""Protocol `zrepl`: a replication cursor bookmark per job on the source keeps a vault
incremental where ZFS alone would not; a last-received hold keeps the destination's newest
received PCPI from its own retention; two relationships sharing a job identity move, and
destroy, each other's cursor. Settings come from `protocols: {zrepl: {identities: ...}}`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import assert_refused, chain_document

from sim.engine.model import Model, simulate
from sim.protocols.base import DependencyStrategy, NoConfig
from sim.protocols.registry import ProtocolInfo, register, unregister
from sim.protocols.zrepl import ZreplAbstractions, ZreplConfig
from sim.scenario import load_scenario

A, B = "A:/vol/v", "B:/vol/v"
AB, AC = "A:/vol/v->B:/vol/v", "A:/vol/v->C:/vol/v"


class Unprotected(DependencyStrategy):
    """Bare ZFS: nothing protects a vault's base (as `tests/test_vault_hooks.py`)."""

    protects_base = False


class WithoutLastReceivedHold(ZreplAbstractions):
    """zrepl with the receiver's last-received hold taken out (and its hold from arrival)."""

    def hold_last_received(self, rel, received):
        return None

    def vetoes(self, volume, pcpi_id, reason):
        return False


@pytest.fixture
def registered() -> Iterator[None]:
    infos = [ProtocolInfo("t_unprotected", Unprotected, NoConfig, "black", "no base protection"),
             ProtocolInfo("t_zrepl_no_lrh", WithoutLastReceivedHold, ZreplConfig, "grey", "zrepl minus its receive hold")]
    for info in infos:
        register(info)
    yield
    for info in infos:
        unregister(info.name)


def vault(protocol: str, **mirror: Any) -> dict[str, Any]:
    """A keeps one hourly snapshot; it is vaulted to B every 4 hours (00:30 ... 20:30, six updates)."""
    return chain_document(protocol=protocol, duration="1d", snapshot_policies={"hourly": {
        "schedule": "0 * * * *", "label": "hourly", "keep": 1, "volumes": [A]}},
        mirrors=[{"source": A, "destination": B, "type": "vault", "schedule": "30 */4 * * *",
                  "retention": {"keep": 24}, **mirror}])


def test_the_cursor_bookmark_keeps_every_update_incremental_where_bare_zfs_rebaselines(registered, make_scenario):
    bare = simulate(make_scenario(vault("t_unprotected"))).summary["kpis"]
    run = simulate(make_scenario(vault("zrepl")))
    # Bare ZFS (protects_base False, no tool): keep 1 deletes the base every hour, so each of
    # the 5 updates after the baseline re-baselines. (`none` keeps NetApp's hard lock on the
    # base and re-baselines nothing: it is not the ZFS baseline.)
    assert bare["rebaselines"] == 5 and bare["premature_deletions"] == 6
    assert list(run.tables["transfers"]["kind"]) == ["baseline"] + ["incremental"] * 5
    assert run.summary["kpis"]["premature_deletions"] == 0
    # The base each update sends from is the hourly snapshot A deleted since: only the
    # cursor bookmark of it was left on A.
    transfers, pcpis = run.tables["transfers"], run.tables["pcpis"]
    on_a = pcpis[pcpis["volume"] == A].set_index("pcpi_id")
    for _, row in transfers.iloc[1:].iterrows():
        assert on_a.loc[row["base_pcpi_id"], "deleted_s"] < row["start_s"]
    events = run.tables["events"]
    cursors = events[events["event"] == "bookmark"]
    assert len(cursors) == 6 and all(d.startswith("zrepl_CURSOR_G_") and d.endswith(f"_J_{AB}")
                                     for d in cursors["detail"])
    assert (events["event"] == "bookmark_destroyed").sum() == 5  # the previous cursor goes each time


def test_step_holds_hold_what_a_transfer_reads_on_the_sender_until_it_is_applied(make_scenario):
    run = simulate(make_scenario(vault("zrepl")))
    locks, transfers = run.tables["locks"], run.tables["transfers"]
    steps = locks[locks["locking_dataset"] == f"zrepl_STEP_J_{AB}"]
    assert set(steps["volume"]) == {A}
    for _, row in transfers.iterrows():
        held = steps[(steps["set_s"] == row["start_s"]) & (steps["released_s"] == row["end_s"])]
        # the PCPI sent; the base only while A still has it (a bookmark cannot be held)
        assert set(held["pcpi_id"]) == {row["pcpi_id"]}


def test_the_last_received_hold_keeps_the_receivers_newest_from_its_own_retention(registered, make_scenario):
    # B's retention keeps only "daily" snapshots: every hourly it receives is doomed.
    doc = {"retention": {"last_n": 1, "regex": "^daily"}}
    run = simulate(make_scenario(vault("zrepl", **doc)))
    without = simulate(make_scenario(vault("t_zrepl_no_lrh", **doc))).summary["kpis"]
    assert list(run.tables["transfers"]["kind"]) == ["baseline"] + ["incremental"] * 5
    assert without["rebaselines"] == 5
    pcpis, locks = run.tables["pcpis"], run.tables["locks"]
    on_b = pcpis[pcpis["volume"] == B]
    # B keeps the held newest and, until its next retention pass, the one held before.
    assert len(on_b[on_b["deleted_s"].isna()]) == 2
    assert on_b["deleted_s"].isna().sum() + (on_b["reason"] == "retention").sum() == len(on_b)
    held = locks[(locks["volume"] == B) & (locks["locking_dataset"] == f"zrepl_last_received_J_{AB}")]
    assert len(held) == 6 and list(held["pcpi_id"]) == list(run.tables["transfers"]["pcpi_id"])


def fan_out(identities: dict[str, str]) -> dict[str, Any]:
    """A vaulted to B at :30 and to C at :45, every 4 hours; A keeps one hourly snapshot."""
    return chain_document(protocol="zrepl", duration="1d",
                          links=[{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
                                 {"between": ["A", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}],
                          snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 1,
                                                        "volumes": [A]}},
                          mirrors=[{"source": A, "destination": B, "type": "vault", "schedule": "30 */4 * * *",
                                    "retention": {"keep": 24}},
                                   {"source": A, "destination": "C:/vol/v", "type": "vault",
                                    "schedule": "45 */4 * * *", "retention": {"keep": 24}}],
                          protocols={"zrepl": {"identities": identities}})


def test_distinct_identities_keep_a_fan_out_incremental(make_scenario):
    run = simulate(make_scenario(fan_out({})))
    assert run.summary["kpis"]["rebaselines"] == 0 and run.summary["kpis"]["premature_deletions"] == 0
    # Both cursors sit on the same PCPI between 00:45 and 04:30: its bookmark stays until the
    # second cursor moves off it too.
    events = run.tables["events"]
    gone = events[(events["event"] == "bookmark_destroyed")]
    assert set(gone["detail"].str.endswith(f"_J_{AC}")) == {True}


def test_a_shared_identity_loses_the_other_relationships_cursor_and_rebaselines(make_scenario):
    run = simulate(make_scenario(fan_out({AB: "push", AC: "push"})))
    relationships, events = run.summary["relationships"], run.tables["events"]
    # Each A->B update moves job push's one cursor off the PCPI C last received and destroys
    # it; 15 minutes later A->C finds neither that PCPI nor a bookmark of it on A.
    assert relationships[AB]["rebaselines"] == 0 and relationships[AC]["rebaselines"] == 5
    blamed = events[events["event"] == "premature_deletion"]
    destroyed = events[events["event"] == "bookmark_destroyed"]
    assert len(blamed) == 5 and set(blamed["detail"]) == {AC}
    assert set(zip(blamed["time_s"], blamed["pcpi_id"])) == set(zip(destroyed["time_s"], destroyed["pcpi_id"]))
    assert set(events[events["event"] == "bookmark"]["detail"].str.endswith("_J_push")) == {True}


def test_identities_default_to_one_per_relationship(make_scenario):
    model = Model(make_scenario(fan_out({AC: "backup"})))
    rels = {rel.name: rel for rel in model.relationships}
    assert model.strategy.identity(rels[AB]) == AB and model.strategy.identity(rels[AC]) == "backup"


SCENARIO_WITH_SETTINGS = """\
name: fan-out
seed: 1
duration: 1d
protocol: zrepl
protocols:
  zrepl:
    identities: {{"A:/vol/v->B:/vol/v": push}}
{extra}appliances: {{A: {{capacity: 10TiB}}, B: {{capacity: 10TiB}}}}
links: [{{between: [A, B], bandwidth: 1Gbit/s, latency: 1ms}}]
volumes: {{"A:/vol/v": {{size: 100GiB, change_rate: 1GiB/h}}}}
snapshot_policies:
  hourly: {{schedule: "0 * * * *", label: hourly, keep: 3, volumes: ["A:/vol/v"]}}
mirrors: [{{source: "A:/vol/v", destination: "B:/vol/v", type: vault, schedule: "*/15 * * * *", retention: {{keep: 4}}}}]
"""


def test_a_scenario_with_identities_validates(write_scenario):
    scenario = load_scenario(write_scenario(SCENARIO_WITH_SETTINGS.format(extra="")))
    assert scenario.protocols == {"zrepl": {"identities": {AB: "push"}}}


@pytest.mark.parametrize(("extra", "field", "message"), [
    ("    job_name: push\n", "protocols.zrepl.job_name", "Extra inputs are not permitted"),
    ("    protection: guarantee_incremental\n", "protocols.zrepl.protection", "Extra inputs are not permitted"),
])
def test_an_unknown_setting_is_refused_with_file_line_and_field(write_scenario, extra, field, message):
    path = write_scenario(SCENARIO_WITH_SETTINGS.format(extra=extra))
    assert_refused(path, 8, field, message)
