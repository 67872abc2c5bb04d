"""What makes lock sets cheap (issue 15) changes nothing a run produces.

A set reuses the lock objects of the previous set while their fields do not change, and a
forwarded set travels without a SimPy process of its own (a body resumed from event callbacks,
`_resume_detached`, only when it must wait for the path). These tests check
that reused locks are never changed under a set already sent, that a detached body runs at
exactly the point of the event order a process would, and that forwarding still carries the
tail's lock to the head of a depth-4 chain whose lock sets are lost, duplicated, late and
held back.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest
import simpy
from conftest import SCENARIOS, chain_document

from sim.engine.model import Model, simulate
from sim.protocols.softlock import _resume_detached, _Start
from sim.scenario import load_scenario
from sim.scenario.schema import DelaySpec, MessageFaultSpec


def run_detached(env: simpy.Environment, body) -> None:
    """Start `body` where a process would start, and run it from event callbacks, as a
    forwarded set that must wait for the path is run."""
    _Start(env, partial(_resume_detached, body))


def fields(locks) -> tuple:
    return tuple(dataclasses.astuple(lock) for lock in locks)


@pytest.mark.parametrize("protocol", ["softlock", "softlock_pending", "lease"])
def test_a_set_already_sent_is_never_changed_by_later_updates(make_scenario, protocol):
    # A -> B -> C with transfers overlapping on B: own locks, fallbacks, forwarded locks and
    # transfer requests all reused from set to set.
    model = Model(make_scenario(chain_document(protocol=protocol, duration="1d")))
    sent: list[tuple[list, tuple]] = []
    lock_set = model.strategy.lock_set

    def recorded(rel):
        locks = lock_set(rel)
        sent.append((locks, fields(locks)))
        return locks

    model.strategy.lock_set = recorded
    model.start()
    model.run()
    assert all(fields(locks) == snapshot for locks, snapshot in sent)
    assert len({id(locks) for locks, _ in sent}) == len(sent)  # every set is a list of its own
    ids = [{id(lock) for lock in locks} for locks, _ in sent]
    assert sum(1 for earlier, later in zip(ids, ids[1:]) if earlier & later) > len(sent) // 4  # reuse happens


def chain_after_six_hours(make_scenario) -> Model:
    """A softlock A -> B -> C chain of the library, run to just after its sixth hour."""
    model = Model(make_scenario(chain_document(protocol="softlock", duration="1d")))
    model.start()
    model.run(until_s=6 * 3600 + 60)
    return model


def test_an_unchanged_lock_is_sent_again_as_the_same_object_and_a_changed_one_is_new(make_scenario):
    model = chain_after_six_hours(make_scenario)
    ab, bc = model.relationships
    strategy = model.strategy
    first, again = strategy.lock_set(ab), strategy.lock_set(ab)
    assert first is not again and [id(lock) for lock in first] == [id(lock) for lock in again]
    own = first[0]
    model.run(until_s=6 * 3600 + 16 * 60)  # A -> B updated: B's own candidates moved on
    after = strategy.lock_set(ab)
    assert after[0] is not own and after[0].candidates != own.candidates
    assert fields([own]) == fields(first[:1])  # the old record is untouched
    forwarded = [lock for lock in after if lock.locking_dataset == bc.destination_name]
    assert forwarded and all(lock.hops == 2 for lock in forwarded)


def test_a_detached_body_runs_where_a_process_would_in_the_event_order():
    def trace(detach: bool) -> tuple[list[tuple[float, str]], int]:
        env = simpy.Environment()
        log: list[tuple[float, str]] = []
        gate = env.event()

        def body(name: str, wait):
            log.append((env.now, f"{name} starts"))
            yield env.timeout(1)
            log.append((env.now, f"{name} after 1"))
            yield gate
            log.append((env.now, f"{name} through the gate"))
            yield env.timeout(0)
            yield gate  # already processed: goes on at once
            log.append((env.now, f"{name} ends"))

        def starter():
            yield env.timeout(2)
            env.process(body("p1", None))
            if detach:
                run_detached(env, body("d", None))
            else:
                env.process(body("d", None))
            env.process(body("p2", None))
            yield env.timeout(1)
            gate.succeed()

        env.process(starter())
        steps = 0
        while env.peek() < float("inf"):
            env.step()
            steps += 1
        return log, steps

    processed, process_steps = trace(detach=False)
    detached, detached_steps = trace(detach=True)
    assert detached == processed
    assert detached_steps == process_steps - 1  # the process's own end is not an event


def test_a_failed_event_is_thrown_into_a_detached_body():
    env = simpy.Environment()
    caught = []

    def body():
        try:
            yield failing
        except ValueError as error:
            caught.append(str(error))

    failing = env.event()
    run_detached(env, body())
    env.run(until=1)
    failing.fail(ValueError("broken"))
    env.run(until=2)
    assert caught == ["broken"]


def test_a_forwarded_set_starts_no_process(make_scenario):
    # `local` does not forward: under `softlock` the same updates start the same processes.
    def processes_started(protocol: str) -> int:
        model = Model(make_scenario(chain_document(protocol=protocol, duration="1d")))
        started = []
        process = model.env.process
        model.env.process = lambda body: started.append(body) or process(body)
        model.start()
        model.run()
        return len(started)

    assert processes_started("softlock") == processes_started("local")


def test_the_tails_lock_reaches_the_head_of_a_depth_4_chain_whose_sets_are_lost_duplicated_and_late():
    scenario = load_scenario(SCENARIOS / "lock_message_loss.yaml")
    faults = MessageFaultSpec(loss=0.3, duplicate=0.3, reorder=0.3, reorder_delay="10m",
                              delay=DelaySpec(mean="30s"))
    scenario = scenario.model_copy(update={"protocol": "softlock", "faults": scenario.faults.model_copy(
        update={"messages": faults})})
    result = simulate(scenario)
    kpis = result.summary["kpis"]
    assert kpis["premature_deletions"] == 0 and kpis["rebaselines"] == 0
    assert result.summary["lock_messages_lost"]  # sets were lost on the way
    locks = result.tables["locks"]
    tail_at_head = locks[(locks["volume"] == "S0:/vol/v") & (locks["string"] == "snapmirror S2:/vol/v->S3:/vol/v")]
    assert set(tail_at_head["hops"]) == {3} and set(tail_at_head["locking_dataset"]) == {"S3:/vol/v"}
    # The tail's locks kept coming in after the outage (1d to 1d12h), not only before it.
    assert (tail_at_head["set_s"] > 1.5 * 86400).sum() >= 3


def test_a_forwarded_lock_is_narrowed_again_when_the_intermediates_pcpis_change(make_scenario):
    model = chain_after_six_hours(make_scenario)
    ab, bc = model.relationships
    strategy = model.strategy

    def forwarded():
        return [lock for lock in strategy.lock_set(ab) if lock.locking_dataset == bc.destination_name]

    first = forwarded()
    assert first and forwarded() == first and all(a is b for a, b in zip(forwarded(), first))
    gone = first[0].candidates[-1]  # the oldest PCPI of B's that C could use
    ab.destination.delete_pcpi(gone, "retention", "test")
    again = forwarded()
    assert gone not in again[0].candidates and again[0].candidates == first[0].candidates[:-1]
    assert first[0].candidates[-1] == gone  # the earlier set's lock is untouched


def test_a_transfer_request_follows_the_transfer_it_speaks_for(make_scenario):
    # While B -> C transfers, B's set asks A for what the transfer reads; while B's PCPIs stay
    # the same the request is sent again as the same object, and each transfer has its own.
    model = Model(make_scenario(chain_document(protocol="softlock", duration="1d")))
    model.start()
    env, strategy = model.env, model.strategy
    ab, bc = model.relationships
    seen = []
    while env.now < 86400 - 3600:
        env.step()
        if bc.transfer is not None:
            pcpis = tuple(ab.destination.pcpis)
            asked = [lock for lock in strategy.lock_set(ab) if lock.string.startswith("transfer ")]
            assert asked and all(lock.created_s == bc.transfer_started_s for lock in asked)
            assert asked[0].pcpi_id == bc.transfer_reads[0]
            seen.append((bc.transfer_started_s, pcpis, asked[0]))
    assert len({started for started, _pcpis, _lock in seen}) >= 10
    for (started, pcpis, lock), (started_next, pcpis_next, lock_next) in zip(seen, seen[1:]):
        assert (lock_next is lock) == (started_next == started and pcpis_next == pcpis)


def test_a_forwarded_set_waits_out_an_outage_and_leaves_with_the_newest_locks(make_scenario):
    # A -> B is down from 12h to 16h, when no A -> B update is due, while C keeps updating
    # from B: B's first forward in the outage waits for the path (a detached body, no update
    # waits with it), the later ones leave it to that one, nothing leaves B meanwhile, and
    # what leaves when the link is back is built then: A holds C's newest lock at once.
    links = [{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms",
              "outages": [{"at": "12h", "for": "4h"}]},
             {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}]
    mirrors = [{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "30 */8 * * *"},
               {"source": "B:/vol/v", "destination": "C:/vol/v", "schedule": "0 */2 * * *"}]
    model = Model(make_scenario(chain_document(protocol="softlock", duration="1d", links=links, mirrors=mirrors)))
    sent = []
    model.events.lock_set_sent.subscribe(lambda now, sender, _size: sent.append((now, sender)))
    model.start()
    model.run(until_s=15 * 3600)
    ab, bc = model.relationships
    a, b, c = ab.source, ab.destination, bc.destination
    assert not [t for t, sender in sent if sender == "B" and t > 12 * 3600]
    assert [t for t, sender in sent if sender == "C" and t > 12 * 3600]  # C went on sending to B
    assert model.strategy.state_of(ab).lock_set_waiting is not None
    model.run(until_s=16 * 3600 + 1)
    assert [t for t, sender in sent if sender == "B" and t > 12 * 3600][0] == 16 * 3600
    own_c = next(lock for lock in model.strategy.lock_set(bc) if lock.hops == 1)
    newest_shared = next(pcpi_id for pcpi_id in own_c.candidates if pcpi_id in b.pcpis and pcpi_id in a.pcpis)
    held = [lock for (_sender, dataset), (lock, _s, _d) in
            ((key, value) for per_pcpi in a.locks.soft.values() for key, value in per_pcpi.items())
            if dataset == c.name and lock.string.startswith("snapmirror ")]
    assert [lock.pcpi_id for lock in held] == [newest_shared] and held[0].hops == 2


@pytest.mark.parametrize("protocol", ["softlock", "lease"])
def test_a_before_update_set_whose_update_ends_while_it_is_on_the_wire_is_never_delivered(make_scenario, protocol):
    # A set sent from an update's process is delivered by that process once its wire time has
    # passed: when the update is cut short meanwhile (a re-point or the end of the relationship),
    # the set neither arrives nor is reported lost, as a set whose sender stopped sending.
    model = Model(make_scenario(chain_document(protocol=protocol, duration="1h")))
    strategy = model.strategy
    sent: list = []
    crossed: list = []
    transmit, wire_crossed = strategy.transmit_lock_set, strategy.wire_crossed

    def recorded_transmit(rel):
        flight = transmit(rel)
        sent.append((model.env.now, flight))
        return flight

    strategy.transmit_lock_set = recorded_transmit
    strategy.wire_crossed = lambda flight, event=None: crossed.append(flight) or wire_crossed(flight, event)
    model.start()
    ab = model.relationships[0]
    model.run(until_s=900.0 + 0.0005)  # the 15-minute update's set to A is on the wire (1 ms)
    (on_the_wire,) = [flight for at, flight in sent if at == 900.0 and flight.rel is ab]
    assert ab._waiting and on_the_wire not in crossed
    ab.break_transfer("repointed")
    model.run(until_s=1800.0)
    assert on_the_wire not in crossed and on_the_wire.copies_left == 1 and not on_the_wire.arrived
    later = [flight for at, flight in sent if 900.0 < at < 1799.0]  # sent after, all delivered
    assert later and all(flight in crossed for flight in later)
