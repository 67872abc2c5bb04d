"""Patent claims about cascaded sets of storage systems (38-42, 44, 47): every system makes and
maintains locks, volume and qtree mirrors, propagation through chains and trees, and the
oracle's verdicts cross-checked across scenarios and seeds.

With softlock (or hard, or lease with a lease longer than any outage) and no space pressure,
a premature deletion is a bug: the sweep asserts zero across seeds. docs/protocol.md maps
every claim to the code and to its test.
"""

import pytest
from conftest import SCENARIOS, assert_replaced_in_one_step
from invariants import check_blame_contract

from sim.engine.model import Model, simulate
from sim.scenario import AutodeleteSpec, load_scenario

HOUR = 3600.0
GiB = 2.0**30
CASCADES = ("quickstart", "depth6_chain", "fanout_tree", "mixed_qtree_volume")


def scenario(name, protocol="softlock", **update):
    return load_scenario(SCENARIOS / f"{name}.yaml").model_copy(update={"protocol": protocol, **update})


def soft_rows(result):
    locks = result.tables["locks"]
    return locks[locks["type"] != "hard"]


@pytest.fixture(scope="module")
def depth6():
    return simulate(scenario("depth6_chain"))


@pytest.fixture(scope="module")
def mixed():
    return {p: simulate(scenario("mixed_qtree_volume", p)) for p in ("none", "softlock")}


# -- claim 38: every system of the cascade creates and maintains soft locks ---------------------


def test_claim_38_every_system_of_a_cascade_creates_and_maintains_soft_locks(depth6):
    names = [f"S{i}" for i in range(6)]
    soft = soft_rows(depth6)
    # Creates: every system but the tail holds locks; every system but the head sends them.
    assert {v.split(":")[0] for v in soft["volume"]} == set(names[:-1])
    sent = depth6.summary["lock_messages_sent"]
    assert [sent[n]["messages"] > 0 for n in names] == [False] + [True] * 5
    # Maintains: when a dataset's base moves on its old lock is released, so at the end each
    # holder has exactly one own-base lock per dataset below it that still depends on it.
    own = soft[soft["string"].str.startswith("snapmirror ")]
    assert set(own["release_reason"].dropna()) <= {"released", "replaced"}
    assert_replaced_in_one_step(soft)
    in_force = own[own["released_s"].isna()]
    expected = {(f"{names[i]}:/vol/v", f"{names[j]}:/vol/v") for i in range(5) for j in range(i + 1, 6)}
    assert set(zip(in_force["volume"], in_force["locking_dataset"])) == expected
    assert not in_force.duplicated(["volume", "locking_dataset"]).any()


SWEEP = ([(name, "softlock", seed) for name in CASCADES for seed in (1, 2, 3, 4, 5)]
         + [(name, protocol, seed) for name in CASCADES for protocol in ("hard", "lease") for seed in (1, 2)])


@pytest.mark.parametrize(("name", "protocol", "seed"), SWEEP)
def test_claim_38_42_no_premature_deletion_without_space_pressure(name, protocol, seed):
    # Every lease in these scenarios outlasts their outages, and none has autodelete.
    result = simulate(scenario(name, protocol, seed=seed))
    kpis = result.summary["kpis"]
    assert kpis["autodeletes"] == 0
    assert kpis["premature_deletions"] == 0, result.tables["events"].query("event == 'premature_deletion'")
    assert kpis["rebaselines"] == 0


@pytest.mark.parametrize("protocol", ["none", "local"])
@pytest.mark.parametrize("name", CASCADES)
def test_oracle_verdicts_match_the_rebaselines_they_predict(name, protocol):
    # Cross-check of the oracle against the mirrors' own outcome: without forwarding, every
    # cascade breaks, and the blame contract holds (tests/invariants.py): every re-baseline
    # has exactly one premature deletion blamed on it since its relationship's previous
    # transfer started, and every premature deletion is followed by a re-baseline or by none.
    run = scenario(name, protocol)
    result = simulate(run)
    assert (result.tables["events"]["event"] == "premature_deletion").any()
    check_blame_contract(run, result)


def with_autodelete(commitment, protocol):
    """The quickstart with snapshot autodelete on A: C's pinned base during the outage pushes
    A's snapshot space past the trigger."""
    base = scenario("quickstart", protocol)
    volume = base.volumes["A:/vol/db"].model_copy(update={
        "autodelete": AutodeleteSpec(commitment=commitment, trigger="80GiB", target="60GiB")})
    return base.model_copy(update={"volumes": {"A:/vol/db": volume}})


def test_soft_locks_are_advisory_space_pressure_may_override_them_hard_locks_not():
    # "Soft" (claims 1, 11, 21): retention honours the lock, autodelete at `disrupt` may
    # override it, and the oracle then counts the premature deletion it causes.
    runs = {(c, p): simulate(with_autodelete(c, p)).summary["kpis"]
            for c, p in (("try", "softlock"), ("disrupt", "softlock"), ("disrupt", "hard"))}
    assert all(kpis["autodeletes"] >= 1 for kpis in runs.values())
    assert runs[("try", "softlock")]["premature_deletions"] == 0
    assert runs[("disrupt", "softlock")]["premature_deletions"] >= 1
    assert runs[("disrupt", "softlock")]["rebaselines"] >= 1
    assert runs[("disrupt", "hard")]["premature_deletions"] == 0


# -- claims 39, 40: volume and qtree mirrors -------------------------------------------------


def test_claim_39_volume_mirrors_carry_the_same_pcpis_and_are_protected():
    model = Model(scenario("quickstart"))
    model.start()
    model.run(until_s=8 * HOUR + 10)  # B -> C is transferring
    bc = model.relationships[1]
    image = list(bc.in_flight_image)
    model.run(until_s=8 * HOUR + 600)
    assert list(model.volumes["C:/vol/db"].pcpis) == image  # C is an exact image of B, same ids
    assert all(p.origin == "A:/vol/db" for p in model.volumes["C:/vol/db"].pcpis.values())
    soft = simulate(scenario("quickstart")).summary["kpis"]
    none = simulate(scenario("quickstart", "none")).summary["kpis"]
    assert none["premature_deletions"] >= 1 and none["rebaselines"] >= 1
    assert soft["premature_deletions"] == 0 and soft["rebaselines"] == 0


def test_claim_40_qtree_mirrors_take_their_own_pcpis_and_are_protected(mixed):
    softlock, none = mixed["softlock"], mixed["none"]
    pcpis = softlock.tables["pcpis"]
    at_c = pcpis[pcpis["volume"] == "C:/vol/users"]
    assert set(at_c["origin"]) == {"C:/vol/users"} and set(at_c["label"]) == {"qtree_mirror"}
    transfers = softlock.tables["transfers"].query("relationship == 'B:/vol/db/users->C:/vol/users/users'")
    assert transfers.iloc[0]["kind"] == "baseline" and transfers.iloc[0]["bytes"] == pytest.approx(0.3 * 500 * GiB)
    soft = soft_rows(softlock)
    holders = {ds: set(soft.loc[soft["locking_dataset"] == ds, "volume"]) for ds in set(soft["locking_dataset"])}
    assert holders["C:/vol/users/users"] == {"A:/vol/db", "B:/vol/db"}  # qtree lock goes up to the head
    # Below the qtree hop, D's and E's bases are C's own PCPIs: their locks stop at C.
    assert holders["D:/vol/users"] == {"C:/vol/users"}
    assert holders["E:/vol/users"] == {"C:/vol/users", "D:/vol/users"}
    qtree_rel = none.summary["relationships"]["B:/vol/db/users->C:/vol/users/users"]
    assert qtree_rel["rebaselines"] >= 1  # without locks A deletes the qtree's base
    assert softlock.summary["kpis"]["premature_deletions"] == 0 and softlock.summary["kpis"]["rebaselines"] == 0


# -- claims 42, 44, 47: propagation through chains and trees; intermediates ---------------------


def test_claim_42_locks_propagate_through_the_cascade(depth6):
    soft = soft_rows(depth6)
    tail_own = soft[(soft["locking_dataset"] == "S5:/vol/v") & soft["string"].str.startswith("snapmirror ")]
    assert set(zip(tail_own["volume"], tail_own["hops"], tail_own["via"])) == {
        (f"S{i}:/vol/v", 5 - i, f"S{i + 1}:/vol/v") for i in range(5)}  # one hop per system, up to the head
    assert (tail_own["set_s"] >= tail_own["created_s"]).all()
    by_hops = depth6.summary["lock_propagation_s"]["by_hops"]
    assert set(by_hops) == {"1", "2", "3", "4", "5"} and all(s["count"] > 0 for s in by_hops.values())
    fanout = simulate(scenario("fanout_tree"))
    soft = soft_rows(fanout)
    at_head = soft[(soft["volume"] == "A:/vol/db") & soft["string"].str.startswith("snapmirror ")]
    assert set(zip(at_head["locking_dataset"], at_head["via"], at_head["hops"])) == {
        (f"{tier}{i}:/vol/db", f"B{i}:/vol/db", 1 if tier == "B" else 2) for i in (1, 2, 3) for tier in "BC"}


def test_claim_44_47_an_intermediate_both_locks_upstream_and_mirrors_downstream(depth6):
    sent = depth6.summary["lock_messages_sent"]
    relationships = depth6.summary["relationships"]
    for i in range(1, 5):  # S1..S4 sit between an upstream and a downstream system
        assert sent[f"S{i}"]["messages"] > 0
        assert relationships[f"S{i}:/vol/v->S{i + 1}:/vol/v"]["updates_completed"] > 0
        soft = soft_rows(depth6)
        assert set(soft.loc[soft["volume"] == f"S{i - 1}:/vol/v", "via"]) == {f"S{i}:/vol/v"}
