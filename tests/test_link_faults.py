"""Random link failures, link availability, bandwidth schedules and per-flow caps (throttles),
against closed forms with pinned seeds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy
from conftest import chain_document

from sim.engine.model import Model, simulate
from sim.engine.network import Flow, Network, bandwidth_changes
from sim.scenario import Plan, Scenario
from sim.scenario.limits import expected_random_failures, planned_firings
from sim.scenario.schedule import ScheduleBook

# -- networks of a tiny scenario -------------------------------------------------------------------

def two_appliances(bandwidth: str = "100B/s", latency: str = "500ms") -> dict[str, Any]:
    """A tiny scenario: two appliances and one link, for networks built from its plan."""
    return {"name": "tiny", "seed": 1, "duration": "1d",
            "appliances": {"A": {"capacity": "1TiB"}, "B": {"capacity": "1TiB"}},
            "links": [{"between": ["A", "B"], "bandwidth": bandwidth, "latency": latency}]}


def network_of(scenario: Scenario) -> Network:
    return Network(simpy.Environment(), Plan(scenario))


# -- throttles: per-flow caps ----------------------------------------------------------------

def rates_after_start(network: Network, flows: list[tuple[float, float | None]]) -> list[Flow]:
    """Start each (size, cap) flow from A to B at time 0 and return them with their rates set."""
    return [network.start_flow("A", "B", size, cap) for size, cap in flows]


def test_a_capped_flow_alone_takes_size_over_cap(make_scenario):
    network = network_of(make_scenario(two_appliances()))
    env = network.env
    flow = network.start_flow("A", "B", 1000.0, cap_bps=40.0)
    env.process(network.complete(flow))
    env.run()
    assert env.now == pytest.approx(1000.0 / 40.0 + 0.5)


def test_a_capped_flow_gets_its_cap_and_the_other_flow_the_rest(make_scenario):
    # 100 B/s shared by a flow capped at 30 B/s and one without a cap: 30 and 70 B/s, so 300 B
    # and 700 B both finish at 10 s; then nothing is left to share.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    capped, free = rates_after_start(network, [(300.0, 30.0), (700.0, None)])
    assert (capped.rate_bps, free.rate_bps) == pytest.approx((30.0, 70.0))
    network.env.run()
    assert network.env.now == pytest.approx(10.0)
    assert capped.done.triggered and free.done.triggered


def test_caps_above_the_fair_share_leave_it_fair(make_scenario):
    network = network_of(make_scenario(two_appliances()))
    flows = rates_after_start(network, [(1000.0, 80.0), (1000.0, 70.0)])
    assert [flow.rate_bps for flow in flows] == pytest.approx([50.0, 50.0])


def test_progressive_filling_with_caps_is_max_min_with_demands(make_scenario):
    # 100 B/s: the cap 10 is below the fair share 25, then the cap 20 below the next, 90 / 3;
    # the two uncapped flows share the remaining 70. A fifth flow capped at 40: 10 is below
    # 100 / 5, 20 below 90 / 4, and 40 above 70 / 3, so it gets what the uncapped ones get.
    network = network_of(make_scenario(two_appliances()))
    flows = rates_after_start(network, [(1e6, 10.0), (1e6, None), (1e6, 20.0), (1e6, None)])
    assert [flow.rate_bps for flow in flows] == pytest.approx([10.0, 35.0, 20.0, 35.0])
    flows.append(network.start_flow("A", "B", 1e6, cap_bps=40.0))
    assert [flow.rate_bps for flow in flows] == pytest.approx([10.0, 70 / 3, 20.0, 70 / 3, 70 / 3])


def test_a_capped_flow_finishing_gives_the_others_its_rate(make_scenario):
    # 100 B/s: 100 B capped at 20 B/s ends at 5 s; the other sent 400 B at 80 B/s, then the
    # remaining 600 B at 100 B/s: done at 11 s.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    env = network.env
    done = []

    def send(size, cap):
        yield from network.complete(network.start_flow("A", "B", size, cap))
        done.append(env.now)

    env.process(send(100.0, 20.0))
    env.process(send(1000.0, None))
    env.run()
    assert done == [pytest.approx(5.0), pytest.approx(11.0)]


# -- bandwidth schedules ---------------------------------------------------------------------------

def test_a_transfer_spanning_a_bandwidth_change_sends_at_each_rate_in_turn(make_scenario):
    # 1000 B: 400 B at 100 B/s until t=4, then 600 B at 25 B/s (24 s), then 0.5 s latency.
    network = network_of(make_scenario(two_appliances()))
    env, link = network.env, network.links[0]
    env.process(network.follow_bandwidth_schedule(link, [(4.0, 25.0)]))
    done = []

    def send():
        yield from network.transfer("A", "B", 1000.0)
        done.append(env.now)

    env.process(send())
    env.run()
    assert done == [pytest.approx(4.0 + 600.0 / 25.0 + 0.5)]
    assert (link.capacity_bps, link.bandwidth_bps) == (25.0, 100.0)


def test_utilisation_is_relative_to_the_nominal_bandwidth(make_scenario):
    # Throttled to 50 B/s from the start and saturated for 20 s: half the nominal 100 B/s.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    env, link = network.env, network.links[0]
    network.set_link_bandwidth(link, 50.0)
    env.process(network.transfer("A", "B", 1000.0))
    env.run()
    assert env.now == pytest.approx(20.0)
    usage = link.usage(20.0)
    assert (usage["mean_utilisation"], usage["peak_utilisation"], usage["busy_fraction"]) == pytest.approx((0.5, 0.5, 1.0))


def test_a_change_during_an_outage_applies_when_the_link_returns(make_scenario):
    # 100 B/s for 2 s (200 B), down from 2 to 6 s while the bandwidth becomes 50 B/s at 3 s,
    # then the remaining 800 B at 50 B/s: done at 22 s.
    network = network_of(make_scenario(two_appliances(latency="0s")))
    env, link = network.env, network.links[0]

    def outage():
        yield env.timeout(2.0)
        network.set_link_down(link)
        yield env.timeout(4.0)
        network.set_link_up(link)

    env.process(outage())
    env.process(network.follow_bandwidth_schedule(link, [(3.0, 50.0)]))
    env.process(network.transfer("A", "B", 1000.0))
    env.run()
    assert env.now == pytest.approx(22.0)


def test_the_entries_of_a_schedule_merge_and_the_later_entry_wins_a_tie():
    assert bandwidth_changes([((0.0, 10.0, 20.0), 1.0), ((5.0, 10.0), 2.0)]) == [
        (0.0, 1.0), (5.0, 2.0), (10.0, 2.0), (20.0, 1.0)]


def test_a_links_bandwidth_follows_its_schedule_in_a_run(make_scenario):
    """Business hours (08:00 to 18:00 UTC) at 100 Mbit/s, 1 Gbit/s otherwise; before the first
    firing the link has its own bandwidth; planned firings count the changes."""
    doc = chain_document(duration="2d")
    doc["links"][1]["bandwidth"] = "10Gbit/s"
    doc["links"][1]["bandwidth_schedule"] = [{"schedule": "0 8 * * *", "bandwidth": "100Mbit/s"},
                                             {"schedule": "0 18 * * *", "bandwidth": "1Gbit/s"}]
    scenario = make_scenario(doc)
    plain = make_scenario(chain_document(duration="2d"))
    assert planned_firings(scenario) == planned_firings(plain) + 4
    model = Model(scenario, tables=False)
    model.start()
    link = model.network.links[1]
    seen = []
    for hour in (7, 9, 17, 19, 31, 33, 43):
        model.run(hour * 3600.0)
        seen.append(link.capacity_bps * 8)
    assert seen == [10e9, 100e6, 100e6, 1e9, 1e9, 100e6, 1e9]
    assert link.bandwidth_bps * 8 == 10e9
    assert ScheduleBook(scenario.start_ts, scenario.duration).firings("0 8 * * *") == (8 * 3600.0, 32 * 3600.0)


# -- availability ----------------------------------------------------------------------------------

Z_99 = 2.5758293035489
"""The two-sided 99 % quantile of the standard normal distribution."""


def flaky_link(duration: str, mtbf: str, mttr: str, repair: dict[str, Any], seed: int = 7) -> dict[str, Any]:
    """Two appliances, one link that fails at random, nothing else (its failures are named with
    the link's ends the other way round)."""
    return {"name": "flaky", "seed": seed, "duration": duration, "sample_interval": "30d",
            "appliances": {"A": {"capacity": "1TiB"}, "B": {"capacity": "1TiB"}},
            "links": [{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"}],
            "faults": {"links": [{"between": ["B", "A"], "mtbf": mtbf, "mttr": mttr, "repair": repair}]}}


def repair_cv2(repair: dict[str, Any]) -> float:
    """The squared coefficient of variation of a repair time of that family (the mean plays no part)."""
    if repair["distribution"] == "exponential":
        return 1.0
    shape = repair["shape"]
    if repair["distribution"] == "weibull":
        return math.gamma(1 + 2 / shape) / math.gamma(1 + 1 / shape) ** 2 - 1
    return math.exp(shape * shape) - 1


def run_with_outages(scenario: Scenario) -> tuple[dict[str, float], list[tuple[float, float]], list[float]]:
    """The link's usage over the run, (time, length) of each outage that started, and the time
    each one ended."""
    model = Model(scenario, tables=False)
    downs: list[tuple[float, float]] = []
    ups: list[float] = []
    model.events.link_down.subscribe(lambda t, _link, for_s: downs.append((t, for_s)))
    model.events.link_up.subscribe(lambda t, _link: ups.append(t))
    model.start()
    model.run()
    return model.network.links[0].usage(scenario.duration), downs, ups


REPAIRS = [{"distribution": "exponential"}, {"distribution": "weibull", "shape": 2.0},
           {"distribution": "weibull", "shape": 0.7}, {"distribution": "lognormal", "shape": 1.0}]


@pytest.mark.parametrize("repair", REPAIRS, ids=lambda r: f"{r['distribution']}{r.get('shape', '')}")
def test_measured_availability_is_within_the_renewal_reward_interval_of_mtbf_over_mtbf_plus_mttr(
        make_scenario, repair):
    """Up times U (exponential, mean MTBF) and repair times D (mean MTTR, the family's shape)
    alternate: a renewal process with cycles C = U + D, whose reward per cycle is its down time
    D. Over a run of length T the measured unavailability is a renewal-reward ratio: by the
    renewal-reward central limit theorem it is normal around q = MTTR / (MTBF + MTTR) with
    variance Var(D - q C) / (T E[C]), where, U and D being independent,
    Var(D - q C) = (1 - q)^2 Var(D) + q^2 Var(U), Var(U) = MTBF^2 and Var(D) = MTTR^2 cv^2 (the
    family's squared coefficient of variation). The measured availability must be within the
    99 % interval around MTBF / (MTBF + MTTR): about 10,000 cycles, so the interval is about
    +-0.004. Likewise the mean of the n repair times that ended is within
    +-z MTTR cv / sqrt(n) of MTTR (about +-3 % for the exponential), and each repair lasts
    exactly what was drawn for it. The seed is pinned: the test is exact, the interval says
    why the pinned answer is the right one."""
    mtbf_s, mttr_s, days = 6 * 3600.0, 3600.0, 3000
    scenario = make_scenario(flaky_link(f"{days}d", "6h", "1h", repair))
    usage, downs, ups = run_with_outages(scenario)
    q = mttr_s / (mtbf_s + mttr_s)
    cv2 = repair_cv2(repair)
    variance = (1 - q) ** 2 * mttr_s ** 2 * cv2 + q ** 2 * mtbf_s ** 2
    sigma = math.sqrt(variance / (scenario.duration * (mtbf_s + mttr_s)))
    assert abs(usage["availability"] - (1 - q)) < Z_99 * sigma, (usage["availability"], 1 - q, sigma)

    lasted = np.array([up - down for (down, _), up in zip(downs, ups)])
    assert lasted == pytest.approx([drawn for _, drawn in downs[:len(ups)]], abs=1e-6)
    assert len(lasted) > 9000
    assert abs(lasted.mean() - mttr_s) < Z_99 * mttr_s * math.sqrt(cv2 / len(lasted)), lasted.mean()
    assert usage["outages"] == len(downs) in (len(ups), len(ups) + 1)  # the last may still be going on


def test_availability_counts_overlapping_outages_once(make_scenario):
    """Down time is the time with at least one outage: a fixed window and random failures of the
    same link overlap and count once, and the link's down time is exactly the union of them."""
    doc = flaky_link("20d", "1d", "6h", {"distribution": "exponential"}, seed=3)
    doc["links"][0]["outages"] = [{"at": "2d", "for": "5d"}]
    scenario = make_scenario(doc)
    usage, downs, _ups = run_with_outages(scenario)
    windows = sorted((down, min(down + length, scenario.duration)) for down, length in downs)
    union, periods, end = 0.0, 0, -1.0
    for start, stop in windows:
        if start > end:
            periods += 1
            union += stop - start
        elif stop > end:
            union += stop - end
        end = max(end, stop)
    assert sum(2 * 86400 < down < 7 * 86400 for down, _ in downs) >= 2  # random failures within the window
    assert usage["availability"] == pytest.approx(1 - union / scenario.duration, abs=1e-12)
    assert usage["outages"] == periods


# -- other streams are left alone ------------------------------------------------------------------

def bursty_chain(**overrides: Any) -> dict[str, Any]:
    """The chain, with a bursty write rate (every PCPI's changed bytes are a draw)."""
    doc = chain_document(**overrides)
    doc["volumes"]["A:/vol/v"]["change_variability"] = 0.8
    return doc


def before(frame: pd.DataFrame, column: str, t: float, order: list[str] | None = None) -> pd.DataFrame:
    """The rows whose `column` is before `t` (sorted by `order`: a table may list rows as they
    were closed, not as they began)."""
    rows = frame[frame[column] < t]
    return (rows.sort_values(order) if order else rows).reset_index(drop=True)


def values(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """A table's rows as tuples, a missing value as None (how a table writes one, None or NaN,
    and its dtypes depend on the other rows of its column)."""
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def test_adding_link_failures_leaves_every_row_before_the_first_failure_unchanged(make_scenario):
    """The failures draw from their own stream (`link-failures:A-B`): the write rates drawn at
    each PCPI (its changed bytes), and so every row of every table that came about before the
    link first fails (a PCPI's row on a volume when it arrived there, a transfer's when it
    ended), are the same."""
    plain = simulate(make_scenario(bursty_chain()))
    failing = simulate(make_scenario(bursty_chain(faults={"links": [{"between": ["A", "B"], "mtbf": "12h",
                                                                     "mttr": "2h"}]})))
    first = failing.events.loc[failing.events["event"] == "link_down", "time_s"].min()
    assert 3600 < first < 2 * 86400
    arrived = ["volume", "pcpi_id", "name", "label", "origin", "created_s", "arrived_s", "changed_bytes"]
    key = ["volume", "pcpi_id"]
    assert len(before(plain.pcpis, "arrived_s", first)) > 20
    pd.testing.assert_frame_equal(before(failing.pcpis, "arrived_s", first, key)[arrived],
                                  before(plain.pcpis, "arrived_s", first, key)[arrived])
    pd.testing.assert_frame_equal(before(failing.transfers, "end_s", first), before(plain.transfers, "end_s", first))
    assert values(before(failing.events, "time_s", first)) == values(before(plain.events, "time_s", first))
    pd.testing.assert_frame_equal(before(failing.timeseries, "time_s", first),
                                  before(plain.timeseries, "time_s", first))


def test_link_failures_that_never_come_within_the_run_change_nothing(make_scenario):
    """A failure entry whose first failure would be after the end changes no number at all (but
    the events processed: starting its process is one)."""
    plain = simulate(make_scenario(bursty_chain()))
    never = simulate(make_scenario(bursty_chain(faults={"links": [{"between": ["C", "B"], "mtbf": "100000d",
                                                                   "mttr": "1h"}]})))
    volatile = ("wall_seconds", "provenance", "events_processed")
    assert never.summary["events_processed"] == plain.summary["events_processed"] + 1
    assert {k: v for k, v in never.summary.items() if k not in volatile} == \
        {k: v for k, v in plain.summary.items() if k not in volatile}
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(never.tables[name], frame)


# -- stalled transfers -----------------------------------------------------------------------------

def test_transfers_stalled_by_random_failures_resume_and_every_byte_is_counted_once(make_scenario):
    """A->B transfers are alone on link A-B (an update never overlaps the previous one): each
    takes latency + bytes / bandwidth plus the time the link was down while it was sending, and
    the link carried exactly the bytes its transfers sent."""
    doc = chain_document(faults={"links": [{"between": ["B", "A"], "mtbf": "3h", "mttr": "1h"}]})
    doc["links"][0]["bandwidth"] = "20Mbit/s"
    scenario = make_scenario(doc)
    result = simulate(scenario)
    events = result.events
    downs = events.loc[events["event"] == "link_down", "time_s"].to_numpy()
    ups = events.loc[events["event"] == "link_up", "time_s"].to_numpy()
    ups = np.append(ups, [scenario.duration] * (len(downs) - len(ups)))
    bandwidth, latency = 20e6 / 8, 1e-3

    def down_within(start: float, stop: float) -> float:
        return float(np.clip(np.minimum(ups, stop) - np.maximum(downs, start), 0.0, None).sum())

    transfers = result.transfers
    ab = transfers[transfers["relationship"] == "A:/vol/v->B:/vol/v"]
    finished = ab[ab["end_s"].notna()]
    stalled = 0
    for row in finished.itertuples():
        stall = down_within(row.start_s, row.end_s - latency)
        stalled += stall > 0
        assert row.end_s - row.start_s == pytest.approx(latency + row.bytes / bandwidth + stall, rel=1e-9)
    assert stalled >= 2 and finished["completed"].all()
    links = result.summary["links"]
    assert links["A-B"]["bytes"] == pytest.approx(ab["sent_bytes"].sum(), rel=1e-12)
    bc = transfers[transfers["relationship"] == "B:/vol/v->C:/vol/v"]
    assert links["B-C"]["bytes"] == pytest.approx(bc["sent_bytes"].sum(), rel=1e-12)
    assert links["A-B"]["outages"] == len(downs)
    assert links["B-C"] == {**links["B-C"], "availability": 1.0, "outages": 0}


# -- limits ----------------------------------------------------------------------------------------

def test_expected_failures_are_the_run_over_a_mean_cycle_summed_over_links_and_appliances(make_scenario):
    doc = chain_document(duration="10d", faults={"links": [{"between": ["A", "B"], "mtbf": "20h", "mttr": "4h"},
                                                           {"between": ["C", "B"], "mtbf": "1d", "mttr": "1d"}],
                                                 "appliances": {"C": {"mtbf": "4d", "mttr": "1d"}}})
    assert expected_random_failures(make_scenario(doc)) == pytest.approx(10 + 5 + 2)
