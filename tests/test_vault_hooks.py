"""The hooks the ZFS tools' strategies use on vault mirrors, each shown by a small strategy
registered from this test: no base protection by the storage system, a replication-cursor
bookmark, a sync snapshot per update, and a rollback of the destination before it receives."""

from collections.abc import Iterator

import pytest
from conftest import chain_document

from sim.engine.model import simulate
from sim.protocols.base import DependencyStrategy, NoConfig
from sim.protocols.registry import ProtocolInfo, register, unregister


class Unprotected(DependencyStrategy):
    """ZFS with no tool protecting anything: retention may take a vault's base."""

    protects_base = False


class CursorBookmark(Unprotected):
    """After each applied transfer the source bookmarks the PCPI sent and drops the previous
    bookmark (zrepl's replication cursor)."""

    def transfer_ended(self, rel, reads, applied):
        if not applied or rel.base is None or rel.base.id not in rel.source.pcpis:
            return
        for pcpi_id in [pid for pid in rel.source.bookmarks if pid != rel.base.id]:
            rel.source.destroy_bookmark(pcpi_id, rel.name)
        rel.source.create_bookmark(rel.base.id, rel.name)


class SyncAndRollback(Unprotected):
    """Each update takes a sync snapshot on the source and rolls the destination back first."""

    def sync_snapshot(self, rel):
        return f"sync_{rel.updates_completed + 1}", "sync"

    def rolls_back(self, rel):
        return True


@pytest.fixture
def registered() -> Iterator[None]:
    infos = [ProtocolInfo("t_unprotected", Unprotected, NoConfig, "black", "no base protection"),
             ProtocolInfo("t_cursor", CursorBookmark, NoConfig, "grey", "cursor bookmark"),
             ProtocolInfo("t_sync", SyncAndRollback, NoConfig, "olive", "sync snapshots and rollback")]
    for info in infos:
        register(info)
    yield
    for info in infos:
        unregister(info.name)


def vault(protocol: str, **mirror: object) -> dict:
    """A writable volume, one hourly snapshot kept, vaulted to B every 4 hours (B keeps 24)."""
    return chain_document(protocol=protocol, duration="1d", snapshot_policies={"hourly": {
        "schedule": "0 * * * *", "label": "hourly", "keep": 1, "volumes": ["A:/vol/v"]}},
        mirrors=[{"source": "A:/vol/v", "destination": "B:/vol/v", "type": "vault", "schedule": "30 */4 * * *",
                  "retention": {"keep": 24}, **mirror}])


def test_without_base_protection_retention_takes_the_base_and_a_cursor_bookmark_saves_it(registered, make_scenario):
    hard = simulate(make_scenario(vault("none"))).summary["kpis"]
    bare = simulate(make_scenario(vault("t_unprotected"))).summary["kpis"]
    cursor = simulate(make_scenario(vault("t_cursor")))
    # NetApp-style: the base is hard-locked on A. Bare ZFS: keep 1 deletes it every hour, so
    # each of the 5 updates after the baseline (04:30 ... 20:30) re-baselines, blamed on A.
    assert hard["rebaselines"] == 0 and hard["premature_deletions"] == 0
    assert bare["rebaselines"] == 5 and bare["premature_deletions"] == 6 and bare["bases_lost_pending"] == 1
    # With the cursor bookmark every update after the baseline sends incrementally from it.
    kinds = list(cursor.tables["transfers"]["kind"])
    assert kinds == ["baseline"] + ["incremental"] * 5
    assert cursor.summary["kpis"]["premature_deletions"] == 0
    events = cursor.tables["events"]
    assert (events["event"] == "bookmark").sum() == 6 and (events["event"] == "bookmark_destroyed").sum() == 5


def test_the_bookmark_going_is_the_premature_deletion(registered, make_scenario):
    """Retiring nothing, but a cursor dropped while the base PCPI is already gone: the blame
    falls on the bookmark's removal, at A."""

    class DropsCursor(CursorBookmark):
        def before_update(self, rel):
            for pcpi_id in list(rel.source.bookmarks):
                if pcpi_id not in rel.source.pcpis:
                    rel.source.destroy_bookmark(pcpi_id, "admin")
            return
            yield

    register(ProtocolInfo("t_drops", DropsCursor, NoConfig, "grey", "drops cursors"))
    try:
        run = simulate(make_scenario(vault("t_drops")))
    finally:
        unregister("t_drops")
    events = run.tables["events"]
    blamed = events[events["event"] == "premature_deletion"]
    dropped = events[events["event"] == "bookmark_destroyed"]
    assert len(blamed) == 5 and run.summary["kpis"]["rebaselines"] == 5
    assert set(zip(blamed["time_s"], blamed["pcpi_id"])) <= set(zip(dropped["time_s"], dropped["pcpi_id"]))


def test_a_sync_snapshot_is_sent_and_a_rollback_destroys_the_next_hops_base(registered, make_scenario):
    """A -> B -> C, both vaults taking sync snapshots, each destination rolled back before it
    receives: B's own sync snapshot for C is newer than A->B's base, so every A->B update
    destroys it, and with it C's base (the cascade hazard syncoid's users hit)."""
    doc = vault("t_sync")
    doc["mirrors"].append({"source": "B:/vol/v", "destination": "C:/vol/v", "type": "vault",
                           "schedule": "0 2-23/4 * * *", "retention": {"keep": 24}})
    run = simulate(make_scenario(doc))
    transfers, pcpis, events = run.tables["transfers"], run.tables["pcpis"], run.tables["events"]
    sent_by_a = transfers[transfers["relationship"] == "A:/vol/v->B:/vol/v"]
    on_a = pcpis[(pcpis["volume"] == "A:/vol/v") & pcpis["pcpi_id"].isin(sent_by_a["pcpi_id"])]
    assert set(on_a["label"]) == {"sync"} and len(on_a) == len(sent_by_a) == 6
    rolled = pcpis[pcpis["reason"] == "rollback"]
    assert len(rolled) > 0 and set(rolled["volume"]) == {"B:/vol/v"}
    blamed = events[events["event"] == "premature_deletion"]
    assert set(blamed["detail"]) == {"B:/vol/v->C:/vol/v"} and set(blamed["component"]) == {"B:/vol/v"}
    assert run.summary["relationships"]["B:/vol/v->C:/vol/v"]["rebaselines"] > 0
