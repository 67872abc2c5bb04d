"""Volumes and PCPIs: retention counts, locks, changed bytes and snapshot space."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.engine.storage import Appliance, Volume

GiB = 2.0**30


def make_volume(capacity=100 * GiB, rate_bps=1.0):
    deleted = []
    appliance = Appliance("A", capacity)
    volume = Volume("A:/vol/v", appliance, 10 * GiB, writable=True, change_rate_bps=rate_bps,
                    on_delete=lambda v, p, reason, _by: deleted.append((p.id, reason)))
    return volume, deleted


def take(volume, n, label="hourly", start=0, step=3600.0):
    return [volume.take_pcpi(start + i + 1, f"{label}.{i}", label, (start + i + 1) * step) for i in range(n)]


def test_retention_count_of_n_keeps_the_n_newest():
    volume, deleted = make_volume()
    pcpis = take(volume, 10)
    volume.apply_retention("hourly", 4, "hourly")
    assert list(volume.pcpis) == [p.id for p in pcpis[-4:]]
    assert deleted == [(p.id, "retention") for p in pcpis[:6]]


def test_retention_skips_locked_pcpis_and_keeps_n_unlocked():
    volume, _ = make_volume()
    pcpis = take(volume, 10)
    volume.hard_locks[pcpis[0].id] = {"A->B": 0.0}
    volume.soft_locks[pcpis[2].id] = {}
    volume.soft_locks[pcpis[2].id][("B", "C:/vol/v")] = (None, 0.0)
    volume.apply_retention("hourly", 3, "hourly")
    unlocked = [pid for pid in volume.pcpis if not volume.is_locked(pid)]
    assert len(unlocked) == 3
    assert pcpis[0].id in volume.pcpis and pcpis[2].id in volume.pcpis


def test_retention_only_touches_its_label():
    volume, _ = make_volume()
    daily = take(volume, 2, label="daily")
    take(volume, 5, label="hourly", start=10)
    volume.apply_retention("hourly", 1, "hourly")
    assert all(p.id in volume.pcpis for p in daily)
    assert len(volume.pcpis) == 3


@given(n=st.integers(0, 40), keep=st.integers(1, 10), locked=st.sets(st.integers(0, 39)))
def test_property_locked_pcpis_survive_retention_and_unlocked_count_is_bounded(n, keep, locked):
    volume, _ = make_volume()
    pcpis = take(volume, n)
    for index in locked:
        if index < n:
            volume.hard_locks[pcpis[index].id] = {"test": 0.0}
    volume.apply_retention("hourly", keep, "hourly")
    for index in locked:
        if index < n:
            assert pcpis[index].id in volume.pcpis
    unlocked = [pid for pid in volume.pcpis if not volume.is_locked(pid)]
    assert len(unlocked) == min(keep, n - len([i for i in locked if i < n]))


def test_changed_bytes_and_snapshot_space_follow_the_write_rate():
    volume, _ = make_volume(rate_bps=10.0)
    first, second, third = take(volume, 3, step=100.0)
    assert second.changed_bytes == pytest.approx(1000.0)
    assert third.cum_changed_bytes - first.cum_changed_bytes == pytest.approx(2000.0)
    assert volume.snapshot_space_bytes == pytest.approx(2000.0)
    volume.delete_pcpi(first.id, "retention", "hourly")
    assert volume.snapshot_space_bytes == pytest.approx(1000.0)
    assert volume.appliance.used_bytes == pytest.approx(10 * GiB + 1000.0)


def test_writes_beyond_the_appliance_capacity_fail_and_are_counted():
    volume, _ = make_volume(capacity=10 * GiB + 500.0, rate_bps=10.0)
    take(volume, 3, step=100.0)  # each later interval changes 1000 B; only 500 B are free
    assert volume.failed_writes == 2
    assert volume.failed_write_bytes == pytest.approx(500.0 + 1000.0)
    assert volume.appliance.free_bytes == 0.0


def test_mirror_image_makes_the_destination_set_exactly_the_source_set():
    source, _ = make_volume()
    pcpis = take(source, 5)
    gone = []
    destination = Volume("B:/vol/v", Appliance("B", 100 * GiB), 10 * GiB, writable=False,
                         on_delete=lambda v, p, reason, _by: gone.append((p.id, reason)))
    destination.apply_image(tuple(pcpis[:3]), 10.0)
    destination.apply_image(tuple(pcpis[2:]), 20.0)
    assert list(destination.pcpis) == [p.id for p in pcpis[2:]]
    assert gone == [(pcpis[0].id, "mirror_image"), (pcpis[1].id, "mirror_image")]
    assert destination.snapshot_space_bytes == pytest.approx(pcpis[4].cum_changed_bytes - pcpis[2].cum_changed_bytes)
