"""Protocol variants on the same scenario and seed: local, softlock, lease; retired destinations."""

import pytest
from conftest import SCENARIOS, chain_document

from sim.engine.model import Model, simulate
from sim.scenario import load_scenario


def chain(depth: int, protocol: str, **overrides):
    """A volume chain of `depth` appliances; the tail updates slowly over a link that fails."""
    names = [f"S{i}" for i in range(depth)]
    mirrors = [{"source": f"{a}:/vol/v", "destination": f"{b}:/vol/v", "schedule": "*/15 * * * *"}
               for a, b in zip(names, names[1:])]
    mirrors[-1]["schedule"] = "0 */4 * * *"
    links = [{"between": [a, b], "bandwidth": "1Gbit/s", "latency": "2ms"} for a, b in zip(names, names[1:])]
    links[-1]["outages"] = [{"at": "1d", "for": "12h"}]
    return chain_document(
        name=f"chain{depth}", protocol=protocol, duration="3d",
        appliances={n: {"capacity": "10TiB"} for n in names}, links=links,
        volumes={"S0:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h", "change_variability": 0.4}},
        snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 4,
                                      "volumes": ["S0:/vol/v"]}},
        mirrors=mirrors, **overrides)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_depth_six_chain_softlock_protects_the_tail_and_none_does_not(make_scenario, seed):
    none = simulate(make_scenario(chain(6, "none", seed=seed))).summary["kpis"]
    soft = simulate(make_scenario(chain(6, "softlock", seed=seed)))
    assert none["premature_deletions"] >= 1 and none["rebaselines"] >= 1
    assert soft.summary["kpis"]["premature_deletions"] == 0 and soft.summary["kpis"]["rebaselines"] == 0
    locks = soft.tables["locks"]
    for_tail = locks[(locks["volume"] == "S0:/vol/v") & (locks["locking_dataset"] == "S5:/vol/v")]
    own = for_tail["string"].str.startswith("snapmirror")
    assert own.any() and (for_tail[own]["hops"] == 5).all()  # the tail's own lock, five hops up
    assert (for_tail[~own]["hops"] == 4).all()  # S4's locks for its transfers to S5, four hops up


def test_local_protects_only_the_next_hop(make_scenario):
    result = simulate(make_scenario(chain(3, "local")))
    locks = result.tables["locks"]
    soft = locks[locks["type"] != "hard"]
    assert set(zip(soft["volume"], soft["locking_dataset"])) == {("S0:/vol/v", "S1:/vol/v"), ("S1:/vol/v", "S2:/vol/v")}
    assert result.summary["kpis"]["premature_deletions"] >= 1


def test_a_lease_shorter_than_the_outage_loses_the_protection(make_scenario):
    short = simulate(make_scenario(chain(3, "lease", lease="2h"))).summary["kpis"]
    long = simulate(make_scenario(chain(3, "lease", lease="2d"))).summary["kpis"]
    assert short["premature_deletions"] >= 1 and short["rebaselines"] >= 1
    assert long["premature_deletions"] == 0 and long["rebaselines"] == 0


@pytest.fixture(scope="module")
def retired():
    scenario = load_scenario(SCENARIOS / "destination_retired.yaml")
    return scenario, {p: simulate(scenario.model_copy(update={"protocol": p})) for p in ("softlock", "hard", "lease")}


def locks_for_c_at_a(result):
    locks = result.tables["locks"]
    return locks[(locks["volume"] == "A:/vol/home") & (locks["locking_dataset"] == "C:/vol/home")]


def test_hard_keeps_a_retired_destinations_locks_to_the_end(retired):
    _, runs = retired
    assert locks_for_c_at_a(runs["hard"])["released_s"].isna().sum() == 1  # still in force when the run ends
    assert runs["hard"].summary["kpis"]["failed_writes"] > 0


def test_softlock_keeps_a_retired_destinations_locks_until_autodelete_overrides_them(retired):
    _, runs = retired
    from_c = locks_for_c_at_a(runs["softlock"])
    last = from_c.sort_values("set_s").iloc[-1]
    assert last["release_reason"] == "pcpi_deleted"
    pcpis = runs["softlock"].tables["pcpis"]
    gone = pcpis[(pcpis["volume"] == "A:/vol/home") & (pcpis["pcpi_id"] == last["pcpi_id"])].iloc[0]
    assert gone["reason"] == "autodelete" and gone["deleted_by"] == "autodelete (disrupt)"
    assert not gone["premature"]  # C is gone: nobody needed it any more
    assert runs["softlock"].summary["kpis"]["failed_writes"] == 0


def test_lease_releases_a_retired_destinations_locks_one_lease_after_its_last_renewal(retired):
    scenario, runs = retired
    locks = runs["lease"].tables["locks"]
    at_b = locks[(locks["volume"] == "B:/vol/home") & (locks["locking_dataset"] == "C:/vol/home")]
    last = at_b.sort_values("set_s").iloc[-1]
    assert last["release_reason"] == "lease_expired"
    retire_at = scenario.mirrors[1].retire_at
    assert retire_at < last["released_s"] <= retire_at + scenario.lease
    assert locks_for_c_at_a(runs["lease"])["released_s"].max() == pytest.approx(last["released_s"], abs=1.0)  # forwarded


def test_lock_space_is_what_the_pinned_pcpis_hold(retired):
    _, runs = retired
    hard = runs["hard"].summary
    assert hard["kpis"]["lock_space_byte_hours"] > 100 * runs["lease"].summary["kpis"]["lock_space_byte_hours"]
    held = runs["hard"].tables["timeseries"].query("metric == 'lock_held_bytes' and component == 'A:/vol/home'")
    # Once C is gone its pinned base ages at the head's change rate until A is full: the held bytes only grow.
    late = held[held["time_s"] >= 3 * 86400]["value"]
    assert late.is_monotonic_increasing and late.iloc[-1] > late.iloc[0]


def test_lock_propagation_delay_is_the_path_latency_hop_by_hop():
    # depth6_chain: the tail's lock crosses S5-S4 (30 ms) then four 2 ms links. Lock messages are
    # about a kilobyte, microseconds at 1 Gbit/s, so each hop adds its link's latency.
    result = simulate(load_scenario(SCENARIOS / "depth6_chain.yaml"))
    locks = result.tables["locks"]
    own = locks[locks["string"] == "snapmirror S4:/vol/v->S5:/vol/v"].dropna(subset=["propagation_s"])
    for hops, group in own.groupby("hops"):
        latency = 0.030 + 0.002 * (hops - 1)
        assert (group["propagation_s"] >= latency).all()
        assert group["propagation_s"].median() == pytest.approx(latency, abs=1e-4)
    assert set(own["hops"]) == {1, 2, 3, 4, 5}
    summary = result.summary["lock_propagation_s"]
    assert list(summary["by_hops"]) == ["1", "2", "3", "4", "5"]
    assert summary["to_head"]["max"] >= 0.038


@pytest.fixture(scope="module")
def mixed():
    return load_scenario(SCENARIOS / "mixed_qtree_volume.yaml").model_copy(update={"protocol": "softlock"})


def test_a_finished_transfers_lock_gives_way_to_the_destinations_own_lock(mixed):
    model = Model(mixed)
    model.start()
    model.run(until_s=108 * 3600 + 420)  # B -> C (qtree) finished its 108 h update
    qtree = model.relationships[1]
    assert not qtree.busy
    held = model.volumes["A:/vol/db"].locks.soft[qtree.base.id]
    assert {(lock.type, lock.string.startswith("qtree")) for lock, *_ in held.values()} == {("qtree", True)}


def test_during_an_outage_one_lock_set_waits_and_leaves_with_the_newest_set(mixed):
    model = Model(mixed)
    sent = []
    model.events.lock_set_sent.subscribe(lambda now, appliance, _size: sent.append((now, appliance)))
    model.start()
    model.run()
    outage = [t for t, appliance in sent if appliance == "C" and 2 * 86400 < t < 3 * 86400]
    assert outage == []  # C's sets wait for the B-C link; none leaves while it is down
    assert sum(1 for t, appliance in sent if appliance == "C" and t == 3 * 86400) == 1


def test_a_qtree_destination_sends_no_locks_for_its_own_pcpis_across_the_qtree_hop(mixed):
    model = Model(mixed)
    sets = []
    lock_set = model.strategy.lock_set
    model.strategy.lock_set = lambda rel: sets.append((rel, lock_set(rel))) or sets[-1][1]
    model.start()
    model.run()
    across = [lock for rel, locks in sets if rel.kind == "qtree" for lock in locks]
    assert across and {lock.locking_dataset for lock in across} == {"C:/vol/users/users"}


def test_no_update_starts_while_its_path_is_down_under_any_protocol(make_scenario):
    # The destination starts an update, so C's update due at 1d waits out the 2-hour outage
    # under every protocol: its first transfer begins when the link is back, with no lock message.
    doc = chain(3, "none")
    doc["links"][-1]["outages"] = [{"at": "1d", "for": "2h"}]
    for protocol in ("none", "local", "softlock"):
        transfers = simulate(make_scenario({**doc, "protocol": protocol})).tables["transfers"]
        tail = transfers[transfers["relationship"] == "S1:/vol/v->S2:/vol/v"]
        starts = tail["start_s"].tolist()
        assert 86400.0 not in starts and any(86400.0 + 7200.0 <= s < 86400.0 + 7200.1 for s in starts)
