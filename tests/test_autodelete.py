"""Space-pressure autodelete: what each commitment may delete, and where it stops."""

import pytest
from conftest import Storage, chain_document
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.model import simulate
from sim.engine.storage import Volume
from sim.protocols.hard import HardLocks
from sim.protocols.none import NoLocks

GIB = 2.0**30


def volume_with_pcpis(count: int, commitment: str, trigger: float, target: float | None = None,
                      strategy: type = NoLocks) -> tuple[Storage, Volume, list]:
    """A writable volume changing 1 GiB per hour with `count` hourly PCPIs (ids 1..count) and
    an autodelete policy; the storage's list of deletions."""
    storage = Storage(strategy)
    volume = storage.volume(rate_bps=GIB / 3600)
    for i in range(count):
        storage.take(volume, 3600.0 * i)
    volume.autodelete_commitment = commitment
    volume.autodelete_trigger_bytes = trigger
    volume.autodelete_target_bytes = trigger if target is None else target
    return storage, volume, storage.deleted


def test_autodelete_waits_for_its_trigger_then_deletes_oldest_first_down_to_its_target():
    # Ten hourly PCPIs hold 9 GiB (changed since the oldest); each deletion of the oldest frees 1 GiB.
    storage, volume, deleted = volume_with_pcpis(10, "try", trigger=10 * GIB)
    assert volume.autodelete() == 0
    volume.autodelete_trigger_bytes, volume.autodelete_target_bytes = 8 * GIB, 5.5 * GIB
    assert volume.autodelete() == 4
    assert [d[0] for d in deleted] == [1, 2, 3, 4]
    assert {d[1:] for d in deleted} == {("autodelete", "autodelete (try)")}
    assert volume.snapshot_space_bytes == 5 * GIB


def test_try_stops_at_a_locked_oldest_pcpi_because_deleting_younger_ones_frees_nothing():
    storage, volume, deleted = volume_with_pcpis(10, "try", trigger=2 * GIB)
    storage.soft_lock(volume, 3)
    volume.autodelete()
    assert [d[0] for d in deleted] == [1, 2]
    assert next(iter(volume.pcpis)) == 3


def test_disrupt_overrides_soft_locks_but_not_hard_locks():
    storage, volume, deleted = volume_with_pcpis(10, "disrupt", trigger=2 * GIB)
    storage.soft_lock(volume, 2)
    storage.locks.set_hard(volume, 4, "A:/vol/v->B:/vol/v")
    volume.autodelete()
    assert [d[0] for d in deleted] == [1, 2, 3]
    assert next(iter(volume.pcpis)) == 4


def test_disrupt_may_not_override_locks_of_protocol_hard():
    storage, volume, deleted = volume_with_pcpis(10, "disrupt", trigger=2 * GIB, strategy=HardLocks)
    storage.soft_lock(volume, 1)
    assert volume.autodelete() == 0 and deleted == []


def test_destroy_takes_hard_locked_pcpis_but_never_what_a_running_transfer_reads():
    storage, volume, deleted = volume_with_pcpis(10, "destroy", trigger=2 * GIB)
    storage.locks.set_hard(volume, 1, "A:/vol/v->B:/vol/v")
    storage.soft_lock(volume, 2)
    volume.start_reading((5,))
    volume.autodelete()
    assert [d[0] for d in deleted] == [1, 2, 3, 4]


@settings(max_examples=200, derandomize=True)
@given(count=st.integers(2, 30), locked=st.sets(st.integers(1, 30)), hard=st.sets(st.integers(1, 30)),
       trigger_gib=st.floats(0, 30), commitment=st.sampled_from(["try", "disrupt", "destroy"]))
def test_autodelete_never_deletes_what_its_commitment_protects(count, locked, hard, trigger_gib, commitment):
    storage, volume, deleted = volume_with_pcpis(count, commitment, trigger=trigger_gib * GIB)
    for pcpi_id in locked & set(volume.pcpis):
        storage.soft_lock(volume, pcpi_id)
    for pcpi_id in hard & set(volume.pcpis):
        storage.locks.set_hard(volume, pcpi_id, "rel")
    volume.autodelete()
    gone = {d[0] for d in deleted}
    if commitment == "try":
        assert not gone & (locked | hard)
    elif commitment == "disrupt":
        assert not gone & hard
    # Always oldest first, and never below the target while PCPIs remain that it could take.
    assert sorted(gone) == list(range(1, len(gone) + 1))
    assert volume.pcpis
    if volume.snapshot_space_bytes > volume.autodelete_target_bytes and len(volume.pcpis) > 1:
        assert not volume.may_delete(next(iter(volume.pcpis)), "autodelete")


def chain_under_space_pressure(protocol: str, commitment: str) -> dict:
    """A -> B -> C; C is cut off for a day while A's autodelete triggers at 8 GiB of snapshots."""
    doc = chain_document(protocol=protocol, duration="3d", links=[
        {"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
        {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms", "outages": [{"at": "1d", "for": "1d"}]},
    ], volumes={"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h",
                             "autodelete": {"commitment": commitment, "trigger": "8GiB", "target": "6GiB"}}})
    return doc


@pytest.mark.parametrize("commitment", ["try", "disrupt"])
def test_space_pressure_overrides_soft_locks_only_at_disrupt_and_never_hard_ones(make_scenario, commitment):
    runs = {p: simulate(make_scenario(chain_under_space_pressure(p, commitment))).summary["kpis"]
            for p in ("softlock", "hard")}
    assert runs["hard"]["premature_deletions"] == 0 and runs["hard"]["rebaselines"] == 0
    if commitment == "disrupt":  # autodelete takes C's soft-locked base: the price of reclaiming space
        assert runs["softlock"]["autodeletes"] >= 1
        assert runs["softlock"]["premature_deletions"] >= 1 and runs["softlock"]["rebaselines"] >= 1
        assert runs["hard"]["lock_space_byte_hours"] > runs["softlock"]["lock_space_byte_hours"]
    else:
        assert runs["softlock"] == runs["hard"]
