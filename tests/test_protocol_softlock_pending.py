"""Protocol `softlock_pending`: softlock plus locks on the scheduled PCPIs a destination has not
received yet, so gaps close as well as re-baselines, at a price in space.

The scenario is the test chain A -> B -> C (hourly snapshots on A, keep 3; A -> B every 15
minutes, B -> C every 2 hours) with the B-C link down from 06:40 to 13:40, longer than
retention (3 hours). C's last update before it is the 06:00 one: C's newest PCPI is A's
06:00 mirror PCPI, so the 06:00 hourly (taken just after it) and the seven hourlies of the
outage, 07:00 to 13:00, are pending for C. C's next transfer starts at 13:40 and brings B's
image of then (the 10:00 to 13:00 hourlies, and whatever A still keeps for C).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from conftest import assert_refused, chain_document, dump_yaml

from sim.engine.model import Model, simulate
from sim.protocols.softlock_pending import SoftlockPendingConfig
from sim.scenario import load_scenario

HOUR = 3600.0
KEEP = 3
OUTAGE_START_S = 6 * HOUR + 40 * 60
OUTAGE_END_S = 13 * HOUR + 40 * 60
A, C = "A:/vol/v", "C:/vol/v"
PENDING_FOR_C = f"pending for {C}"
HOURLIES_PENDING_FOR_C = ["0600", "0700", "0800", "0900", "1000", "1100", "1200", "1300"]


def outage_chain(protocol: str, **settings: Any) -> dict[str, Any]:
    links = [{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
             {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms",
              "outages": [{"at": "6h40m", "for": "7h"}]}]
    doc = chain_document(protocol=protocol, links=links, duration="1d")
    if settings:
        doc["protocols"] = {protocol: settings}
    return doc


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """The outage chain under softlock, softlock_pending (default cap), cap 2 and cap 0."""
    folder = tmp_path_factory.mktemp("pending")
    out = {}
    for key, doc in {"softlock": outage_chain("softlock"), "pending": outage_chain("softlock_pending"),
                     "cap2": outage_chain("softlock_pending", pending_cap=2),
                     "cap0": outage_chain("softlock_pending", pending_cap=0)}.items():
        path = folder / f"{key}.yaml"
        path.write_text(dump_yaml(doc))
        out[key] = simulate(load_scenario(path))
    return out


def hourlies_reached_c(pcpis: pd.DataFrame) -> set[str]:
    """The hours (HHMM) of the hourlies that ever reached C."""
    c = pcpis[(pcpis["volume"] == C) & (pcpis["label"] == "hourly")]
    return {name.rsplit("_", 1)[1] for name in c["name"]}


def test_softlock_leaves_gaps_at_the_cut_off_destination_and_pending_closes_them(runs):
    softlock, pending = runs["softlock"].summary, runs["pending"].summary
    # softlock pins C's base (the 06:00 mirror PCPI) at A, nothing newer: A's retention deletes
    # the 06:00 to 10:00 hourlies (at 09:00 to 13:00) before C can get them.
    assert softlock["gap_pcpis"][C] == 5 and softlock["kpis"]["gap_pcpis"] == 5
    assert softlock["kpis"]["rebaselines"] == 0
    assert pending["kpis"]["gap_pcpis"] == 0 and pending["kpis"]["rebaselines"] == 0
    assert pending["kpis"]["premature_deletions"] == 0
    assert set(HOURLIES_PENDING_FOR_C) <= hourlies_reached_c(runs["pending"].tables["pcpis"])
    assert not {"0600", "0700", "0800", "0900"} & hourlies_reached_c(runs["softlock"].tables["pcpis"])


def test_the_price_is_lock_space(runs):
    softlock, pending = runs["softlock"].summary["kpis"], runs["pending"].summary["kpis"]
    assert pending["lock_space_byte_hours"] > softlock["lock_space_byte_hours"]
    # The same messages, longer: one more record per pending PCPI.
    assert pending["lock_messages"] == softlock["lock_messages"]
    assert pending["lock_message_bytes"] > softlock["lock_message_bytes"]


def test_a_cap_of_two_pins_the_two_oldest_pending_and_the_middle_ones_are_gaps(runs):
    cap2 = runs["cap2"]
    # Pinned: 06:00 and 07:00 (the oldest pending, which retention would delete first);
    # retention keeps the newest three it may delete from, and one more each hour (the newest
    # is pinned for B at the firing, until B's update a second later); 08:00 and 09:00, in
    # the middle, go at 12:00 and 13:00 before C is back: 2 gaps, where softlock has 5.
    assert cap2.summary["gap_pcpis"][C] == 2
    assert 0 < cap2.summary["gap_pcpis"][C] < runs["softlock"].summary["gap_pcpis"][C]
    reached = hourlies_reached_c(cap2.tables["pcpis"])
    assert {"0600", "0700", "1000", "1100", "1200", "1300"} <= reached
    assert not {"0800", "0900"} & reached
    assert cap2.summary["kpis"]["rebaselines"] == 0


def test_a_cap_of_zero_is_softlock(runs):
    cap0, softlock = runs["cap0"].summary["kpis"], runs["softlock"].summary["kpis"]
    for kpi in ("gap_pcpis", "rebaselines", "lock_space_byte_hours", "lock_message_bytes"):
        assert cap0[kpi] == softlock[kpi], kpi


def test_pending_locks_are_forwarded_to_the_head_and_released_once_the_pcpi_arrived(runs):
    pending = runs["pending"]
    locks, transfers = pending.tables["locks"], pending.tables["transfers"]
    hourly_ids = pending.tables["pcpis"].query("volume == @A and label == 'hourly'").set_index("pcpi_id")["name"]
    on_a = locks[(locks["volume"] == A) & (locks["string"] == PENDING_FOR_C)]
    # Sent by C to B, forwarded by B to A: two hops, the protocol's lock type.
    assert not on_a.empty and set(on_a["via"]) == {"B:/vol/v"} and set(on_a["hops"]) == {2}
    assert set(on_a["type"]) == {"destination_path"} and set(on_a["locking_dataset"]) == {C}
    held_in_outage = on_a[(on_a["set_s"] > 6 * HOUR) & (on_a["set_s"] < OUTAGE_END_S)]
    assert {hourly_ids[pid].rsplit("_", 1)[1] for pid in held_in_outage["pcpi_id"]} == set(HOURLIES_PENDING_FOR_C)
    # Released when C's first set after its 13:40 transfer reached A (the set no longer
    # lists them: C has them now), not before.
    to_c = transfers[(transfers["relationship"] == "B:/vol/v->C:/vol/v") & (transfers["start_s"] >= OUTAGE_END_S)]
    caught_up_s = to_c["end_s"].min()
    assert set(held_in_outage["release_reason"]) == {"released"}
    assert (held_in_outage["released_s"] >= caught_up_s).all()
    assert (held_in_outage["released_s"] <= caught_up_s + 1).all()


@pytest.mark.parametrize("cap", [2, 24])
def test_the_destination_asks_for_the_oldest_scheduled_pcpis_newer_than_its_newest(make_scenario, cap):
    model = Model(make_scenario(outage_chain("softlock_pending", pending_cap=cap)))
    model.start()
    model.run(until_s=13 * HOUR + 30 * 60)
    b, c = model.volumes["B:/vol/v"], model.volumes[C]
    b_to_c = next(rel for rel in model.relationships if rel.name == "B:/vol/v->C:/vol/v")
    asked = [lock for lock in model.strategy.lock_set(b_to_c) if lock.string == PENDING_FOR_C]
    newer = [pid for pid, pcpi in b.pcpis.items() if pcpi.label == "hourly" and pid > max(c.pcpis)]
    lost = {"0800", "0900"} if cap == 2 else set()  # the gaps of cap 2 (see above)
    assert [b.pcpis[pid].name.rsplit("_", 1)[1] for pid in newer] == [h for h in HOURLIES_PENDING_FOR_C if h not in lost]
    # One record per PCPI, oldest first, at most the cap; not one for a mirror PCPI.
    assert [lock.pcpi_id for lock in asked] == newer[:cap]
    assert all(lock.candidates == (lock.pcpi_id,) and lock.type == "destination_path" and lock.hops == 1
               and lock.locking_dataset == C for lock in asked)


@pytest.mark.parametrize("cap", [2, 24])
def test_during_the_outage_the_head_holds_at_most_keep_plus_cap_plus_its_locked_bases(make_scenario, cap):
    model = Model(make_scenario(outage_chain("softlock_pending", pending_cap=cap)))
    model.start()
    a = model.volumes[A]
    piled = False
    for hour in range(7, 14):
        model.run(until_s=hour * HOUR + 1)  # just after the firing's retention
        hourly = list(a.by_label["hourly"])
        pending = [pid for pid in hourly if any(lock.string == PENDING_FOR_C
                                                for lock, _set, _delay in a.locks.soft.get(pid, {}).values())]
        other_locked = [pid for pid in hourly if pid not in pending and a.locks.is_locked(pid)]
        assert len(pending) <= cap
        # The pins are the oldest hourlies newer than C's newest PCPI.
        assert pending == [pid for pid in hourly if pid >= min(pending)][:len(pending)]
        assert len(hourly) <= KEEP + cap + len(other_locked), (hour, len(hourly), len(pending), len(other_locked))
        piled |= len(pending) == cap and len(hourly) == KEEP + cap + len(other_locked)
    # With cap 2 the bound is reached (the cap binds); with cap 24, once B has the 13:00
    # hourly and has forwarded C's request for it, every pending hourly is pinned: the eight
    # from 06:00 to 13:00.
    assert piled == (cap == 2)
    model.run(until_s=13 * HOUR + 30 * 60)
    pinned = {pid for pid, held in a.locks.soft.items()
              if any(lock.string == PENDING_FOR_C for lock, _set, _delay in held.values())}
    assert len(pinned) == min(cap, len(HOURLIES_PENDING_FOR_C))


SCENARIO_WITH_SETTINGS = """\
name: chain
seed: 1
duration: 1d
protocol: softlock_pending
protocols:
  softlock_pending:
    pending_cap: 48
{extra}appliances: {{A: {{capacity: 10TiB}}, B: {{capacity: 10TiB}}}}
links: [{{between: [A, B], bandwidth: 1Gbit/s, latency: 1ms}}]
volumes: {{"A:/vol/v": {{size: 100GiB, change_rate: 1GiB/h}}}}
snapshot_policies:
  hourly: {{schedule: "0 * * * *", label: hourly, keep: 3, volumes: ["A:/vol/v"]}}
mirrors: [{{source: "A:/vol/v", destination: "B:/vol/v", schedule: "*/15 * * * *"}}]
"""


def test_the_cap_comes_from_protocols(write_scenario):
    model = Model(load_scenario(write_scenario(SCENARIO_WITH_SETTINGS.format(extra=""))))
    assert model.strategy.config.pending_cap == 48
    assert SoftlockPendingConfig().pending_cap == 24


@pytest.mark.parametrize(("extra", "line", "field", "message"), [
    ("    pendingCap: 4\n", 8, "protocols.softlock_pending.pendingCap", "Extra inputs are not permitted"),
    ("    lease: 1h\n", 8, "protocols.softlock_pending.lease", "Extra inputs are not permitted"),
])
def test_an_unknown_setting_is_refused_with_file_line_and_field(write_scenario, extra, line, field, message):
    path = write_scenario(SCENARIO_WITH_SETTINGS.format(extra=extra))
    assert_refused(path, line, field, message)


def test_a_negative_cap_is_refused_naming_the_field(write_scenario):
    path = write_scenario(SCENARIO_WITH_SETTINGS.replace("pending_cap: 48", "pending_cap: -1").format(extra=""))
    assert_refused(path, 7, "protocols.softlock_pending.pending_cap", "greater than or equal to 0")
