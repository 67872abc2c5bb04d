"""Patent claims about the soft-lock record itself: its fields, who sees it, what it protects.

Claims 3-9, 13-19, 23-29 (PCPI id, type and string fields; user-visible string naming the
application; owner / destination path / qtree types), 32-34 and 41 (resource id and locking
dataset). docs/protocol.md maps every claim to the code and to its test.
"""

import re

import pytest
from conftest import SCENARIOS, assert_replaced_in_one_step

from sim.engine.model import Model, simulate
from sim.present.listing import snapshot_listing
from sim.scenario import HoldSpec, load_scenario

QUICKSTART = SCENARIOS / "quickstart.yaml"
MIXED = SCENARIOS / "mixed_qtree_volume.yaml"
HOUR = 3600.0
MID_OUTAGE_S = 3.5 * 86400 + 300
"""Quickstart: C's WAN link is down (day 3 to day 4) and A -> B is idle (five past the hour)."""


def scenario(path, protocol="softlock", **update):
    return load_scenario(path).model_copy(update={"protocol": protocol, **update})


def soft_rows(result):
    locks = result.tables["locks"]
    return locks[locks["type"] != "hard"]


def held_soft_locks(model):
    """(volume, sender, lock) for every soft lock in force in a stepped model."""
    for volume in model.volumes.values():
        for held in volume.locks.soft.values():
            for (sender, _dataset), (lock, _set_s, _delay) in held.items():
                yield volume, sender, lock


def downstream_datasets(volume):
    """Names of every mirror destination (volume or qtree) fed, directly or not, by `volume`."""
    found, stack = set(), [volume]
    while stack:
        for rel in stack.pop().outgoing:
            if rel.destination_name not in found:
                found.add(rel.destination_name)
                stack.append(rel.destination)
    return found


def application_of(string):
    """The mirror relationship (SRC->DST) a lock's string names, or None."""
    match = (re.fullmatch(r"snapmirror (\S+->\S+)", string)
             or re.fullmatch(r"transfer (\S+->\S+) in progress", string))
    if match:
        return match.group(1)
    match = re.fullmatch(r"qtree (\S+) \(mirror of (\S+)\)", string)
    return f"{match.group(2)}->{match.group(1)}" if match else None


@pytest.fixture(scope="module")
def quick():
    return simulate(scenario(QUICKSTART))


@pytest.fixture(scope="module")
def mixed():
    return simulate(scenario(MIXED))


@pytest.fixture(scope="module")
def mid_outage():
    model = Model(scenario(QUICKSTART))
    model.start()
    model.run(until_s=MID_OUTAGE_S)
    return model


def test_claim_3_13_23_a_soft_lock_has_pcpi_id_type_and_string_fields(mixed):
    rows = soft_rows(mixed)
    assert len(rows) > 0
    pcpis = mixed.tables["pcpis"]
    known = set(zip(pcpis["volume"], pcpis["pcpi_id"]))
    assert all(key in known for key in zip(rows["volume"], rows["pcpi_id"]))  # the id names a real PCPI
    # The type says what kind of dependency the lock records, and the string names it: a
    # `qtree` lock is a qtree mirror's destination's, a `destination_path` lock a volume
    # mirror's destination's (or a transfer's, for its destination); each string names the
    # relationship of its locking dataset.
    mirrors = {f"{m['source']}->{m['destination']}": m for m in mixed.scenario["mirrors"]}
    for row in rows.itertuples():
        mirror = mirrors[application_of(row.string)]
        assert mirror["destination"] == row.locking_dataset
        assert row.type == ("qtree" if mirror["type"] == "qtree" and not row.string.startswith("transfer ")
                            else "destination_path")
    assert set(rows["type"]) == {"destination_path", "qtree"}
    assert rows["string"].str.len().gt(0).all()


def listing_lines(listing):
    """{(volume, pcpi_id): line} from `sim.present.listing.snapshot_listing` (what `cascadesim locks` prints)."""
    lines, volume = {}, None
    for line in listing.splitlines()[1:]:
        if not line.startswith(" "):
            volume = line.split("  (")[0]
        else:
            lines[(volume, int(line.split()[0].lstrip("#")))] = line
    return lines


def test_claim_4_14_24_the_string_is_shown_to_users(mid_outage):
    lines = listing_lines(snapshot_listing([mid_outage], MID_OUTAGE_S))
    shown = 0
    for volume, sender, lock in held_soft_locks(mid_outage):
        line = lines[(volume.name, lock.pcpi_id)]
        assert f"{lock.type}: {lock.string} (for {lock.locking_dataset}, via {sender}," in line
        shown += 1
    assert shown >= 3  # C's lock on B and on A, B's own lock on A


def test_claim_5_15_25_the_string_names_the_application_that_needs_the_pcpi(mixed):
    destination_of = {f"{m['source']}->{m['destination']}": m["destination"] for m in mixed.scenario["mirrors"]}
    rows = soft_rows(mixed)
    for string, dataset in zip(rows["string"], rows["locking_dataset"]):
        application = application_of(string)
        assert application in destination_of, string
        assert destination_of[application] == dataset, string
    # Every mirror relationship of the cascade said, in its own words, which PCPIs it needs.
    assert {application_of(s) for s in rows["string"]} == set(destination_of)


def test_claim_6_16_26_the_type_says_what_the_string_holds(mixed):
    qtree_names = {q for spec in mixed.scenario["volumes"].values() for q in spec["qtrees"]}
    rows = soft_rows(mixed)
    for kind, string, dataset in zip(rows["type"], rows["string"], rows["locking_dataset"]):
        if kind == "destination_path":  # the string carries a mirror's destination path
            assert re.search(rf"->{re.escape(dataset)}(\s|$)", string), string
        else:
            assert kind == "qtree"  # the string carries the qtree's path and name
            assert string.startswith(f"qtree {dataset} ") and dataset.rsplit("/", 1)[1] in qtree_names
    assert set(rows["type"]) == {"destination_path", "qtree"}


def test_claim_7_17_27_owner_locks_name_the_application_that_holds_the_pcpis():
    # An application hold (`holds:`): a backup tool on C keeps every hourly PCPI there for 12 h.
    hold = HoldSpec.model_validate({"volume": "C:/vol/db", "label": "hourly", "owner": "backup-app", "for": "12h"})
    model = Model(scenario(QUICKSTART).model_copy(update={"holds": (hold,)}))
    model.start()
    model.run(until_s=2 * 86400 + 300)
    head = model.volumes["A:/vol/db"]
    owned = {pcpi_id for pcpi_id, held in head.locks.soft.items()
             for lock, _s, _d in held.values() if lock.type == "owner"}
    assert len(owned) >= 4
    # Retention on A honours them: it keeps 6 unlocked hourly PCPIs, and the held ones besides.
    hourly = set(head.by_label["hourly"])
    assert owned <= hourly and len(hourly - owned) == 6
    lines = listing_lines(snapshot_listing([model], model.env.now))
    for pcpi_id in owned:
        assert "owner: backup-app (for backup-app, via B:/vol/db, 2 hops)" in lines[("A:/vol/db", pcpi_id)]
    model.run()
    rows = soft_rows(model.finalise(0.0))
    owner = rows[rows["type"] == "owner"]
    assert set(owner["string"]) == set(owner["locking_dataset"]) == {"backup-app"}  # the owner's name
    assert set(zip(owner["volume"], owner["via"], owner["hops"])) == {
        ("C:/vol/db", "backup-app", 0), ("B:/vol/db", "C:/vol/db", 1), ("A:/vol/db", "B:/vol/db", 2)}
    expired = owner[owner["release_reason"] == "hold_expired"]
    assert len(expired) > 0 and set(expired["volume"]) == {"C:/vol/db"}
    assert ((expired["released_s"] - expired["set_s"]).round(6) == 12 * HOUR).all()


def test_claim_8_18_28_destination_path_locks_name_the_mirror_destination(quick):
    rows = soft_rows(quick)
    assert set(rows["type"]) == {"destination_path"}
    own = rows[rows["string"].str.startswith("snapmirror ")]
    assert set(zip(own["volume"], own["locking_dataset"], own["string"])) == {
        ("A:/vol/db", "B:/vol/db", "snapmirror A:/vol/db->B:/vol/db"),  # B's own base, on A
        ("B:/vol/db", "C:/vol/db", "snapmirror B:/vol/db->C:/vol/db"),  # C's own base, on B
        ("A:/vol/db", "C:/vol/db", "snapmirror B:/vol/db->C:/vol/db"),  # C's, forwarded by B to A
    }
    destinations = {m["destination"] for m in quick.scenario["mirrors"]}
    assert set(rows["locking_dataset"]) == destinations


def test_claim_9_19_29_qtree_locks_name_the_qtree(mixed):
    rows = soft_rows(mixed)
    qtree = rows[rows["type"] == "qtree"]
    assert set(qtree["locking_dataset"]) == {"C:/vol/users/users"}
    assert set(qtree["string"]) == {"qtree C:/vol/users/users (mirror of B:/vol/db/users)"}
    assert "users" in mixed.scenario["volumes"]["A:/vol/db"]["qtrees"]
    # Held on the qtree mirror's source B, and forwarded one hop further up to A.
    assert set(zip(qtree["volume"], qtree["hops"])) == {("B:/vol/db", 1), ("A:/vol/db", 2)}


def test_claim_32_41_a_lock_records_the_resource_and_the_locking_dataset(quick, mixed):
    for result in (quick, mixed):
        rows = soft_rows(result)
        assert set(rows["locking_dataset"]) <= {m["destination"] for m in result.scenario["mirrors"]}
        assert rows["pcpi_id"].notna().all()
        # The pair is the lock's identity: one PCPI locked for two datasets is two records.
        per_pcpi = rows.groupby(["volume", "pcpi_id"])["locking_dataset"].nunique()
        assert (per_pcpi > 1).any()


@pytest.mark.parametrize("run", ["quick", "mixed"])
def test_claim_33_the_resource_id_is_the_pcpi_the_lock_protects(run, request):
    result = request.getfixturevalue(run)
    rows = soft_rows(result).merge(result.tables["pcpis"], on=["volume", "pcpi_id"], how="left",
                                   validate="many_to_one")
    assert rows["name"].notna().all()  # every resource id names a PCPI of the holding volume
    assert (rows["arrived_s"] <= rows["set_s"]).all()  # set only on a PCPI the holder has
    end = result.scenario["duration"]
    in_force_until = rows["released_s"].fillna(end)
    # No holder deleted a PCPI while a soft lock on it was in force (retention, mirror rotation).
    assert (rows["deleted_s"].isna() | (rows["deleted_s"] >= in_force_until)).all()
    assert set(rows["release_reason"].dropna()) <= {"released", "replaced"}
    assert_replaced_in_one_step(soft_rows(result))



@pytest.mark.parametrize("path", [QUICKSTART, MIXED], ids=["quickstart", "mixed"])
def test_claim_34_the_locking_dataset_is_the_downstream_resource_that_needs_the_pcpi(path):
    model = Model(scenario(path))
    model.start()
    by_dataset = {rel.destination_name: rel for rel in model.relationships}
    checked = 0
    t = 7 * 60.0  # seven past every hour: every 15-minute update has finished, messages are in
    while t < model.scenario.duration:
        model.run(until_s=t)
        for volume, _sender, lock in held_soft_locks(model):
            assert lock.locking_dataset in downstream_datasets(volume)
            rel = by_dataset[lock.locking_dataset]
            # The dataset can use the PCPI as its base, or its running transfer reads it.
            assert lock.pcpi_id in rel.held_base_ids() or lock.pcpi_id in rel.transfer_reads
            assert lock.pcpi_id in lock.candidates
            checked += 1
        t += HOUR
    assert checked > 400
