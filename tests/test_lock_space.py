"""What locks cost in snapshot space: exact time integrals, peaks, intermediates included,
application holds apart, nothing charged where a lock retains nothing (sim/observe/lock_space.py)."""

import pytest
from conftest import SCENARIOS, chain_document

from sim.engine.model import simulate
from sim.scenario import load_scenario

GiB = 2.0**30


def held_by_application(protocol: str = "none", **overrides) -> dict:
    """One volume writing 1 GiB an hour, hourly PCPIs kept 1, a backup holding each for 2.5 h."""
    doc = chain_document(
        name="held", protocol=protocol, duration="1d", sample_interval="30m",
        appliances={"A": {"capacity": "10TiB"}}, links=[], mirrors=[],
        volumes={"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h"}},
        snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 1, "volumes": ["A:/vol/v"]}},
        holds=[{"volume": "A:/vol/v", "label": "hourly", "owner": "backup", "for": "2h30m"}])
    doc.update(overrides)
    return doc


def test_a_hold_costs_its_closed_form_and_is_not_a_protocol_cost(make_scenario):
    # Held PCPIs do not count towards keep 1, so besides the newest (held, kept anyway) the
    # three before it stay: the two still held and the one retention now keeps in their
    # place. Without holds only the newest would stay: 0, 1, 2 GiB in the first three hours,
    # then 3 GiB for the 21 hours left: 66 GiB x h.
    result = simulate(make_scenario(held_by_application()))
    kpis = result.summary["kpis"]
    assert kpis["hold_space_byte_hours"] == pytest.approx(66 * GiB)
    assert result.summary["hold_space_byte_hours"] == {"A": pytest.approx(66 * GiB)}
    assert kpis["lock_space_byte_hours"] == 0 and kpis["lock_space_peak_bytes"] == 0
    held = result.tables["timeseries"].query("metric == 'hold_held_bytes'")["value"] / GiB
    assert held.tolist() == pytest.approx([0, 0, 1, 1, 2, 2] + [3] * 42)


def test_the_integral_is_exact_whatever_the_sampling(make_scenario):
    coarse = simulate(make_scenario(held_by_application(sample_interval="7h"))).summary["kpis"]
    fine = simulate(make_scenario(held_by_application(sample_interval="1m"))).summary["kpis"]
    assert coarse["hold_space_byte_hours"] == fine["hold_space_byte_hours"] == pytest.approx(66 * GiB)


@pytest.fixture(scope="module")
def quickstart():
    scenario = load_scenario(SCENARIOS / "quickstart.yaml")
    return {p: simulate(scenario.model_copy(update={"protocol": p})) for p in ("none", "local", "softlock")}


def test_locks_that_retain_nothing_cost_nothing(quickstart):
    # none: no soft locks. local: B's lock on A pins A's hard-locked base (kept anyway), and
    # C's lock on B, a read-only image, cannot keep anything B's next image update removes.
    for protocol in ("none", "local"):
        summary = quickstart[protocol].summary
        assert summary["kpis"]["lock_space_byte_hours"] == 0 and summary["kpis"]["lock_space_peak_bytes"] == 0
        assert set(summary["lock_space_byte_hours"].values()) == {0.0}


def test_an_intermediate_image_pays_for_what_the_head_keeps_for_the_tail(quickstart):
    summary = quickstart["softlock"].summary
    per_appliance = summary["lock_space_byte_hours"]
    # During the outage A keeps C's base for C, and B, an image of A, holds the same PCPIs.
    assert per_appliance["A"] > 2**40 and per_appliance["B"] == pytest.approx(per_appliance["A"], rel=0.01)
    # The head pins one PCPI for the whole day: its peak is the change since C's base, about a
    # day at 5 GiB/h on average.
    assert 80 * GiB < summary["lock_space_peak_bytes"]["A"] < 160 * GiB
    assert summary["kpis"]["lock_space_byte_hours"] == pytest.approx(sum(per_appliance.values()))


def test_the_peak_is_at_least_every_sampled_total_and_at_most_the_sum_of_appliance_peaks(quickstart):
    summary = quickstart["softlock"].summary
    series = quickstart["softlock"].tables["timeseries"].query("metric == 'lock_held_bytes'")
    sampled_total = series.groupby("time_s")["value"].sum().max()
    peak = summary["kpis"]["lock_space_peak_bytes"]
    assert sampled_total <= peak <= sum(summary["lock_space_peak_bytes"].values())
    assert max(summary["lock_space_peak_bytes"].values()) <= peak
