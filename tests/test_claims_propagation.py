"""Patent claims about how soft locks are made and travel: identify, create, transmit (1, 11),
before and after every update (10, 20), up a cascade (30, 31, 35-37, 43, 48), over the
network between storage systems (2, 12, 21, 22, 45, 46, 49).

Messages are observed by wrapping the protocol's and the network's own entry points on one
Model (instrumentation that records and passes everything through unchanged).
docs/protocol.md maps every claim to the code and to its test.
"""

from dataclasses import dataclass

import pytest
from conftest import SCENARIOS, chain_document, dump_yaml

from sim.engine.model import Model, simulate
from sim.scenario import load_scenario

QUICKSTART = SCENARIOS / "quickstart.yaml"
HOUR = 3600.0
DAY = 86400.0
MID_OUTAGE_S = 3.5 * DAY + 300
"""Quickstart: C's WAN link is down (day 3 to day 4) and A -> B is idle (five past the hour)."""
AB, BC = "A:/vol/db->B:/vol/db", "B:/vol/db->C:/vol/db"


def scenario(path=QUICKSTART, protocol="softlock", **update):
    return load_scenario(path).model_copy(update={"protocol": protocol, **update})


@dataclass
class LockSet:
    """One lock set a destination sent its source: when, what, and when it arrived."""

    rel: str
    sent_s: float
    locks: tuple
    delivered_s: float | None = None

    def candidates(self, dataset):
        """Candidates of the lock for `dataset`'s own base (not a transfer lock), or ()."""
        own = [lock for lock in self.locks
               if lock.locking_dataset == dataset and not lock.string.startswith("transfer ")]
        return own[0].candidates if own else ()


class Trace:
    """Wraps a Model's lock protocol and network to record every lock set, every message on the
    wire and every forward (with the received set that caused it), passing all through."""

    def __init__(self, model):
        self.sets: list[LockSet] = []
        self.wire: list[list] = []  # [src appliance, dst appliance, bytes, sent_s, delivered_s]
        self.forwards: list[tuple] = []  # (time, volume, (volume, sender) of the set that caused it, or None)
        protocol, network, env = model.strategy, model.network, model.env
        message_time = network.message_time
        receiving: list[tuple[str, str]] = []

        def traced_message_time(src, dst, size):
            self.wire.append([src, dst, size, env.now, None])
            return message_time(src, dst, size)

        network.message_time = traced_message_time
        if not hasattr(protocol, "send_lock_set"):  # protocol none: no lock sets at all
            return
        transmit_lock_set, receive_lock_set, forward = protocol.transmit_lock_set, protocol.receive_lock_set, protocol.forward
        wire_crossed = protocol.wire_crossed
        on_the_wire: dict[int, tuple[LockSet | None, list | None]] = {}

        def traced_transmit_lock_set(rel):
            record = None
            if not rel.defunct:
                record = LockSet(rel.name, env.now, tuple(protocol.lock_set(rel)))
                self.sets.append(record)
            wires = len(self.wire)
            flight = transmit_lock_set(rel)
            if flight is not None:
                on_the_wire[id(flight)] = (record, self.wire[-1] if len(self.wire) > wires else None)
            return flight

        def traced_wire_crossed(flight, event=None):
            record, row = on_the_wire.pop(id(flight), (None, None))
            if record is not None:
                record.delivered_s = env.now
            if row is not None:
                row[4] = env.now
            wire_crossed(flight, event)

        def traced_receive_lock_set(rel, locks, sequence):
            receiving.append((rel.source.name, rel.destination.name))
            try:
                receive_lock_set(rel, locks, sequence)
            finally:
                receiving.pop()

        def traced_forward(volume):
            self.forwards.append((env.now, volume.name, receiving[-1] if receiving else None))
            forward(volume)

        protocol.transmit_lock_set, protocol.wire_crossed = traced_transmit_lock_set, traced_wire_crossed
        protocol.receive_lock_set = traced_receive_lock_set
        protocol.forward = traced_forward

    def of(self, rel):
        return [s for s in self.sets if s.rel == rel]


def traced_run(scn, until_s=None):
    model = Model(scn)
    trace = Trace(model)
    model.start()
    model.run(until_s=until_s)
    return model, trace


@pytest.fixture(scope="module")
def traced():
    """The quickstart under softlock, every message recorded: (model, trace, result)."""
    model, trace = traced_run(scenario())
    return model, trace, model.finalise(0.0)


@pytest.fixture(scope="module")
def mid_outage():
    model = Model(scenario())
    model.start()
    model.run(until_s=MID_OUTAGE_S)
    return model


def routed_chain(protocol="softlock"):
    """A -> B -> C whose appliances all hang off one router R (links of different speeds)."""
    return chain_document(
        name="routed", protocol=protocol, duration="1d", routers=["R"],
        links=[{"between": ["A", "R"], "bandwidth": "10Gbit/s", "latency": "1ms"},
               {"between": ["B", "R"], "bandwidth": "1Gbit/s", "latency": "2ms"},
               {"between": ["C", "R"], "bandwidth": "100Mbit/s", "latency": "5ms"}])


# -- claims 1, 11, 43, 35: identify, create, transmit ----------------------------------------


def locked_for(volume, dataset):
    """{pcpi_id: (sender, hops)} of the soft locks `volume` holds for `dataset`."""
    return {pcpi_id: (sender, lock.hops)
            for pcpi_id, held in volume.locks.soft.items()
            for (sender, ds), (lock, _s, _d) in held.items() if ds == dataset}


def test_claim_1_11_a_dependency_is_identified_locked_and_transmitted(mid_outage, make_scenario):
    m = mid_outage
    ab, bc = m.relationships
    base = bc.find_common_base()  # identify: C's next update needs this PCPI of B
    assert base is not None and bc.busy and not bc.transfer_reads  # C waits for its link
    own = [lock for lock in m.strategy.lock_set(bc) if lock.locking_dataset == "C:/vol/db"]
    assert [lock.pcpi_id for lock in own] == [base.id]  # create: a lock on the PCPI it depends on
    # transmit: in force on B (its source) and, through B, on A: one or more computers
    assert locked_for(m.volumes["B:/vol/db"], "C:/vol/db") == {base.id: ("C:/vol/db", 1)}
    assert locked_for(m.volumes["A:/vol/db"], "C:/vol/db") == {base.id: ("B:/vol/db", 2)}
    # Each locked PCPI at the head is the dependency of some dataset downstream, and each is locked.
    assert set(m.volumes["A:/vol/db"].locks.soft) == {ab.find_common_base().id, base.id}
    none = Model(scenario(protocol="none"))
    none.start()
    none.run(until_s=MID_OUTAGE_S)
    assert all(not v.locks.soft for v in none.volumes.values())  # nothing identified, nothing sent


def test_claim_43_a_destination_locks_what_it_needs_on_its_upstream(mid_outage):
    m = mid_outage
    _ab, bc = m.relationships
    tail = m.volumes["C:/vol/db"]
    lock_set = m.strategy.lock_set(bc)
    # C identifies the PCPIs it could use as a base (its own, newest first) and sends one lock.
    assert [(lock.type, lock.locking_dataset, lock.hops) for lock in lock_set] == [
        ("destination_path", "C:/vol/db", 1)]
    assert lock_set[0].candidates == tuple(reversed(tail.pcpis))
    # The upstream system B pins, of those, the one that requires it: their common base.
    assert locked_for(m.volumes["B:/vol/db"], "C:/vol/db") == {bc.find_common_base().id: ("C:/vol/db", 1)}
    assert not tail.locks.soft  # nothing downstream of C


def test_claim_35_upstream_set_is_the_common_pcpis_plus_downstream_locks(mid_outage):
    m = mid_outage
    ab, _bc = m.relationships
    head, middle = m.volumes["A:/vol/db"], m.volumes["B:/vol/db"]
    lock_set = {lock.locking_dataset: lock for lock in m.strategy.lock_set(ab)}
    assert set(lock_set) == {"B:/vol/db", "C:/vol/db"}
    # (a) PCPIs in common between A and B: B's set, an image of A's; A pins the newest it still has.
    own = lock_set["B:/vol/db"]
    assert own.candidates == tuple(reversed(middle.pcpis)) and own.hops == 1
    assert locked_for(head, "B:/vol/db") == {ab.find_common_base().id: ("B:/vol/db", 1)}
    # (b) PCPIs soft-locked on B from further down (C), narrowed to what B shares with A.
    (held_for_c,) = [lock for held in middle.locks.soft.values() for lock, _set_s, _delay in held.values()]
    forwarded = lock_set["C:/vol/db"]
    assert forwarded.hops == held_for_c.hops + 1 == 2
    assert forwarded.candidates == tuple(c for c in held_for_c.candidates if c in middle.pcpis)
    assert len(forwarded.candidates) < len(held_for_c.candidates)  # C has PCPIs B no longer has


# -- claims 10, 20, 31: before and after each update; what is new goes up ---------------------


def test_claim_10_20_locks_sent_before_and_after_every_update(traced):
    model, trace, result = traced
    transfers = result.tables["transfers"]
    assert len(transfers) > 100
    for rel in model.relationships:
        sets = trace.of(rel.name)
        rows = transfers[transfers["relationship"] == rel.name]
        assert len(rows) == rel.updates_completed > 0
        for start_s, end_s, sent in zip(rows["start_s"], rows["end_s"], rows["pcpi_id"]):
            # Before: a set sent at the update's start arrives, then the transfer starts.
            before = [s for s in sets if s.delivered_s == start_s]
            assert len(before) == 1 and before[0].sent_s < start_s
            assert sent not in before[0].candidates(rel.destination_name)  # it names the old base
            # After: the moment the update is applied, a set naming the new PCPI goes up.
            after = [s for s in sets if s.sent_s == end_s]
            assert len(after) == 1 and after[0].candidates(rel.destination_name)[0] == sent
    # C has nothing downstream: it sends exactly these, plus one before an update that found
    # B still empty (the baseline A -> B was running at t = 0).
    empty_source = (result.tables["events"]["detail"] == "source has no PCPI").sum()
    assert len(trace.of(BC)) == 2 * model.relationships[1].updates_completed + empty_source


def test_claim_10_20_protocol_none_sends_nothing():
    model, trace = traced_run(scenario(protocol="none"), until_s=DAY)
    assert trace.sets == [] and trace.wire == [] and model.relationships[0].updates_completed > 0


def test_claim_31_new_pcpis_downstream_send_additional_locks_upstream(traced):
    model, trace, result = traced
    from_c = trace.of(BC)
    b_to_a = trace.of(AB)
    ends = set(result.tables["transfers"].query("relationship == @BC")["end_s"])
    caused = {(t, cause) for t, volume, cause in trace.forwards if volume == "B:/vol/db"}
    additions = 0
    for previous, current in zip(from_c, from_c[1:]):
        new = set(current.candidates("C:/vol/db")) - set(previous.candidates("C:/vol/db"))
        forwarded = (current.delivered_s, ("B:/vol/db", "C:/vol/db")) in caused
        if not new:  # nothing new on C: B has nothing to add and sends nothing on its account
            assert current.candidates("C:/vol/db") == previous.candidates("C:/vol/db") and not forwarded
            continue
        additions += 1
        assert current.sent_s in ends  # new PCPIs appear on C only when an update lands
        assert forwarded  # B passes the additional lock on at once
        (up,) = [s for s in b_to_a if s.sent_s == current.delivered_s and s.candidates("C:/vol/db")]
        assert up.candidates("C:/vol/db")[0] == current.candidates("C:/vol/db")[0] in new
    assert additions == model.relationships[1].updates_completed
    # On A the lock for C moves to the new PCPI; the old one is released, not kept forever.
    locks = result.tables["locks"]
    at_head = locks[(locks["volume"] == "A:/vol/db") & (locks["locking_dataset"] == "C:/vol/db")
                    & locks["string"].str.startswith("snapmirror")]
    assert at_head["pcpi_id"].is_unique and at_head["released_s"].isna().sum() == 1
    assert set(at_head["release_reason"].dropna()) == {"released"}


# -- claims 30, 48, 36, 37: an intermediate system in a cascade -------------------------------


def test_claim_30_48_an_intermediate_locks_upstream_then_mirrors_downstream():
    model = Model(scenario())
    model.start()
    model.run(until_s=8 * HOUR + 60)  # B -> C's first incremental update is running
    ab, bc = model.relationships
    head, middle, tail = (model.volumes[n] for n in ("A:/vol/db", "B:/vol/db", "C:/vol/db"))
    assert bc.busy and bc.in_flight_image is not None and len(bc.transfer_reads) == 2
    base_for_c = bc.find_common_base().id
    # Identify and create on B, send to A: the PCPIs B has in common with A (its own base) ...
    assert locked_for(head, "B:/vol/db") == {ab.find_common_base().id: ("B:/vol/db", 1)}
    # ... those soft-locked on B from C, further down ...
    assert locked_for(middle, "C:/vol/db") == {base_for_c: ("C:/vol/db", 1)}
    at_head_for_c = locked_for(head, "C:/vol/db")
    assert at_head_for_c[base_for_c] == ("B:/vol/db", 2)
    # ... and what B's running mirror transfer to C reads (the PCPI it sends).
    assert set(bc.transfer_reads) <= set(at_head_for_c)
    sent = max(bc.transfer_reads)
    assert sent not in tail.pcpis
    model.run(until_s=8 * HOUR + 600)  # perform the asynchronous mirroring of B's data to C
    assert not bc.busy and tail.newest().id == sent
    assert locked_for(head, "C:/vol/db") == {sent: ("B:/vol/db", 2)}  # C's new base, held at the head


def test_claim_36_37_locks_go_upstream_against_the_data():
    result = simulate(load_scenario(SCENARIOS / "fanout_tree.yaml").model_copy(update={"protocol": "softlock"}))
    mirrors = {(m["source"], m["destination"]) for m in result.scenario["mirrors"]}
    locks = result.tables["locks"]
    soft = locks[locks["type"] != "hard"]
    assert len(soft) > 0
    # Every lock is held by the system data is transferred from (upstream), on behalf of the
    # system data is transferred to (downstream): the sender is the holder's mirror destination.
    assert set(zip(soft["volume"], soft["via"])) <= mirrors
    assert set(zip(soft["volume"], soft["via"])) == mirrors
    transfers = result.tables["transfers"]
    assert set(transfers["relationship"]) == {f"{s}->{d}" for s, d in mirrors}
    sent_by = result.summary["lock_messages_sent"]
    assert sent_by["A"]["messages"] == 0  # the head has nobody upstream
    assert all(sent_by[d.split(":")[0]]["messages"] > 0 for _s, d in mirrors)


# -- claims 2, 12, 21, 22, 45, 46, 49: storage systems, the application, the network -----------


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    path = tmp_path_factory.mktemp("routed") / "routed.yaml"
    path.write_text(dump_yaml(routed_chain()))
    model, trace = traced_run(load_scenario(path))
    return model, trace, model.finalise(0.0)


def test_claim_2_12_the_computers_are_storage_appliances(routed):
    model, trace, result = routed
    # Every message crosses the router R, yet only storage appliances send and hold locks, and
    # each appliance is charged exactly the messages it sent.
    assert all(any("R" in link.name.split("-") for link in model.network.path(src, dst)) for src, dst, *_ in trace.wire)
    assert {src for src, *_ in trace.wire} == {"B", "C"} and {dst for _s, dst, *_ in trace.wire} == {"A", "B"}
    sent = result.summary["lock_messages_sent"]
    for appliance in ("A", "B", "C"):
        wire = [size for src, _d, size, *_ in trace.wire if src == appliance]
        assert sent[appliance]["messages"] == len(wire)
        assert sent[appliance]["bytes"] == pytest.approx(sum(wire))
    locks = result.tables["locks"]
    soft = locks[locks["type"] != "hard"]
    assert {v.split(":")[0] for v in soft["volume"]} == {"A", "B"}
    assert all(model.volumes[v].appliance is model.appliances[v.split(":")[0]] for v in soft["volume"])


def test_claim_21_a_storage_system_with_pcpis_a_locking_application_and_a_network_module(traced):
    model, trace, result = traced
    # The file system implements PCPIs (a stand-in for one, docs/protocol.md): a PCPI is a
    # read-only image, the same wherever a mirror copies it, and an incremental transfer sends
    # exactly the bytes written at the head between its base and the PCPI it sends.
    pcpis = result.tables["pcpis"]
    copies = pcpis.groupby("pcpi_id")[["name", "label", "origin", "created_s", "changed_bytes"]].nunique()
    assert (copies == 1).all().all() and pcpis["pcpi_id"].duplicated().any()
    at_head = pcpis[pcpis["volume"] == pcpis["origin"]].set_index("pcpi_id").sort_index()  # ids: creation order
    cumulative = at_head["changed_bytes"].cumsum()
    incremental = result.tables["transfers"].query("kind == 'incremental'")
    written = cumulative.loc[incremental["pcpi_id"]].to_numpy() - cumulative.loc[incremental["base_pcpi_id"]].to_numpy()
    assert incremental["bytes"].to_numpy() == pytest.approx(written, rel=1e-9)
    # The application: each lock set is built for one mirror relationship of the system.
    assert {s.rel for s in trace.sets} == {rel.name for rel in model.relationships}
    # The network protocol module: every lock set, and only they, crossed Network.send_message,
    # from a relationship's destination appliance to its source appliance.
    pairs = {(rel.destination.appliance.name, rel.source.appliance.name) for rel in model.relationships}
    assert {(src, dst) for src, dst, *_ in trace.wire} == pairs
    assert len(trace.wire) == len(trace.sets) == result.summary["kpis"]["lock_messages"]
    assert sum(size for _s, _d, size, *_ in trace.wire) == pytest.approx(result.summary["kpis"]["lock_message_bytes"])


def test_claim_22_the_locking_application_is_the_mirror(make_scenario):
    single = chain_document(
        protocol="softlock", duration="1h",
        appliances={"A": {"capacity": "1TiB"}, "B": {"capacity": "1TiB"}},
        links=[{"between": ["A", "B"], "bandwidth": "1GiB/s", "latency": "1ms"}],
        volumes={"A:/vol/v": {"size": "10GiB", "change_rate": "1GiB/15m"}},
        snapshot_policies={"hourly": {"schedule": "*/10 * * * *", "label": "hourly", "keep": 2, "volumes": ["A:/vol/v"]}},
        mirrors=[{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "*/15 * * * *"}])
    result = simulate(make_scenario(single))
    kpis = result.summary["kpis"]
    assert kpis["updates_completed"] == 4 and kpis["lock_messages"] == 2 * 4  # its update cycle sends them
    soft = result.tables["locks"].query("type != 'hard'")
    assert set(soft["string"]) == {"snapmirror A:/vol/v->B:/vol/v"}
    no_mirror = simulate(make_scenario({**single, "mirrors": []}))
    assert no_mirror.summary["kpis"]["lock_messages"] == 0  # snapshots alone lock nothing
    assert no_mirror.tables["locks"].empty


def test_claim_45_lock_messages_cross_the_network_and_wait_out_its_outages(traced):
    model, trace, _result = traced
    link = model.network.path("C", "B")[0]
    assert link.name == "B-C"
    outage_start, outage_end = 3 * DAY, 4 * DAY
    from_c = [(size, sent_s, delivered_s) for src, _dst, size, sent_s, delivered_s in trace.wire if src == "C"]
    for size, sent_s, delivered_s in from_c:
        assert delivered_s - sent_s == pytest.approx(link.latency_s + size / link.bandwidth_bps, abs=1e-9)
    # Nothing leaves C while the link is down; the one set that waited leaves when it is back.
    assert not [sent_s for _size, sent_s, _d in from_c if outage_start <= sent_s < outage_end]
    assert [sent_s for _size, sent_s, _d in from_c].count(outage_end) == 1


def test_claim_46_one_network_connects_a_system_to_upstream_and_downstream(routed):
    model, trace, result = routed
    network = model.network
    for src, dst, size, sent_s, delivered_s in trace.wire:
        path = network.path(src, dst)
        assert len(path) == 2  # through the router
        wire_time = sum(link.latency_s for link in path) + size / min(link.bandwidth_bps for link in path)
        assert delivered_s - sent_s == pytest.approx(wire_time, abs=1e-9)
    # B talks to both neighbours over the same network: locks from C in, locks to A out, data to C.
    assert {(s, d) for s, d, *_ in trace.wire} == {("B", "A"), ("C", "B")}
    carried = {name: usage["bytes"] for name, usage in result.summary["links"].items()}
    assert carried["B-R"] == pytest.approx(carried["A-R"] + carried["C-R"])


def test_claim_49_mirrored_local_data_is_the_volume_on_the_systems_own_storage(traced):
    model, _trace, result = traced
    middle = model.volumes["B:/vol/db"]
    assert middle in model.appliances["B"].volumes
    assert model.appliances["B"].used_bytes >= middle.size_bytes  # its data lives on B's devices
    transfers = result.tables["transfers"].query("relationship == @BC")
    pcpis = result.tables["pcpis"].query("volume == 'B:/vol/db'").set_index("pcpi_id")
    changed = result.tables["pcpis"].query("volume == 'A:/vol/db'").set_index("pcpi_id")["changed_bytes"]
    baseline = transfers[transfers["kind"] == "baseline"]
    assert list(baseline["bytes"]) == [middle.size_bytes]
    for base, sent, size in zip(transfers["base_pcpi_id"], transfers["pcpi_id"], transfers["bytes"]):
        if base != base:  # NaN: the baseline
            continue
        assert base in pcpis.index and sent in pcpis.index  # both are B's own PCPIs
        between = changed[(changed.index > base) & (changed.index <= sent)].sum()
        assert size == pytest.approx(min(between, middle.size_bytes), rel=1e-9)
