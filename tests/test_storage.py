"""Volumes and PCPIs: retention counts, locks, changed bytes and snapshot space."""

import pytest
from conftest import Storage
from hypothesis import given
from hypothesis import strategies as st

GiB = 2.0**30


def volume_with(n, label="hourly", capacity=100 * GiB, rate_bps=1.0, step=3600.0):
    """A storage, a writable volume and its `n` PCPIs with `label`, one every `step` seconds."""
    storage = Storage()
    volume = storage.volume(capacity=capacity, rate_bps=rate_bps)
    pcpis = [storage.take(volume, (i + 1) * step, label) for i in range(n)]
    return storage, volume, pcpis


def test_retention_count_of_n_keeps_the_n_newest():
    storage, volume, pcpis = volume_with(10)
    storage.keep(volume, "hourly", 4)
    assert list(volume.pcpis) == [p.id for p in pcpis[-4:]]
    assert storage.deleted == [(p.id, "retention", "hourly") for p in pcpis[:6]]


def test_retention_skips_locked_pcpis_and_keeps_n_unlocked():
    storage, volume, pcpis = volume_with(10)
    storage.locks.set_hard(volume, pcpis[0].id, "A->B")
    storage.soft_lock(volume, pcpis[2].id)
    storage.keep(volume, "hourly", 3)
    unlocked = [pid for pid in volume.pcpis if not volume.locks.is_locked(pid)]
    assert len(unlocked) == 3
    assert pcpis[0].id in volume.pcpis and pcpis[2].id in volume.pcpis


def test_retention_only_touches_its_label():
    storage = Storage()
    volume = storage.volume(rate_bps=1.0)
    daily = [storage.take(volume, t, "daily") for t in (1.0, 2.0)]
    for t in range(10, 15):
        storage.take(volume, float(t), "hourly")
    storage.keep(volume, "hourly", 1)
    assert all(p.id in volume.pcpis for p in daily)
    assert len(volume.pcpis) == 3


def test_retention_passes_over_busy_pcpis():
    storage, volume, pcpis = volume_with(6)
    volume.start_reading((pcpis[1].id,))
    storage.keep(volume, "hourly", 2)
    assert [pid for pid in volume.pcpis] == [pcpis[1].id, pcpis[4].id, pcpis[5].id]


@given(n=st.integers(0, 40), keep=st.integers(1, 10), locked=st.sets(st.integers(0, 39)))
def test_property_locked_pcpis_survive_retention_and_unlocked_count_is_bounded(n, keep, locked):
    storage, volume, pcpis = volume_with(n)
    for index in locked:
        if index < n:
            storage.locks.set_hard(volume, pcpis[index].id, "test")
    storage.keep(volume, "hourly", keep)
    for index in locked:
        if index < n:
            assert pcpis[index].id in volume.pcpis
    unlocked = [pid for pid in volume.pcpis if not volume.locks.is_locked(pid)]
    assert len(unlocked) == min(keep, n - len([i for i in locked if i < n]))


def test_changed_bytes_and_snapshot_space_follow_the_write_rate():
    storage, volume, (first, second, third) = volume_with(3, rate_bps=10.0, step=100.0)
    assert second.changed_bytes == pytest.approx(1000.0)
    assert third.cum_changed_bytes - first.cum_changed_bytes == pytest.approx(2000.0)
    assert volume.snapshot_space_bytes == pytest.approx(2000.0)
    volume.delete_pcpi(first.id, "retention", "hourly")
    assert volume.snapshot_space_bytes == pytest.approx(1000.0)
    assert volume.appliance.used_bytes == pytest.approx(10 * GiB + 1000.0)


def test_writes_beyond_the_appliance_capacity_fail_and_are_counted():
    # Each later interval changes 1000 B; only 500 B are free.
    _storage, volume, _pcpis = volume_with(3, capacity=10 * GiB + 500.0, rate_bps=10.0, step=100.0)
    assert volume.failed_writes == 2
    assert volume.failed_write_bytes == pytest.approx(500.0 + 1000.0)
    assert volume.appliance.free_bytes == 0.0


def test_mirror_image_makes_the_destination_set_exactly_the_source_set():
    storage, source, pcpis = volume_with(5)
    destination = storage.volume("B:/vol/v", writable=False)
    destination.apply_image({p.id: p for p in pcpis[:3]})
    destination.apply_image({p.id: p for p in pcpis[2:]})
    assert list(destination.pcpis) == [p.id for p in pcpis[2:]]
    assert storage.deleted == [(pcpis[0].id, "mirror_image", "mirror"), (pcpis[1].id, "mirror_image", "mirror")]
    assert destination.snapshot_space_bytes == pytest.approx(pcpis[4].cum_changed_bytes - pcpis[2].cum_changed_bytes)


def test_an_image_update_leaves_a_busy_pcpi_until_its_read_ends():
    storage, source, pcpis = volume_with(4)
    destination = storage.volume("B:/vol/v", writable=False)
    destination.apply_image({p.id: p for p in pcpis[:2]})
    destination.start_reading((pcpis[0].id,))
    destination.apply_image({p.id: p for p in pcpis[2:]})
    assert list(destination.pcpis) == [pcpis[0].id, pcpis[2].id, pcpis[3].id]
    destination.stop_reading((pcpis[0].id,))
    assert list(destination.pcpis) == [pcpis[2].id, pcpis[3].id]
    assert storage.deleted == [(pcpis[1].id, "mirror_image", "mirror"), (pcpis[0].id, "mirror_image", "mirror")]
