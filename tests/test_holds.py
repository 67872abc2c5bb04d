"""Application holds: `owner` soft locks an application puts on the PCPIs it depends on."""

import pytest
from conftest import chain_document, dump_yaml

from sim.engine.model import simulate
from sim.scenario import load_scenario

HOLD_S = 12 * 3600.0


def chain_with_a_backup_on_c(protocol: str) -> dict:
    """A -> B -> C; a backup application on C holds every hourly PCPI there for 12 hours."""
    return chain_document(protocol=protocol, duration="2d",
                          holds=[{"volume": "C:/vol/v", "label": "hourly", "owner": "backup-app", "for": "12h"}])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    results = {}
    for protocol in ("none", "softlock"):
        path = tmp_path_factory.mktemp(protocol) / "holds.yaml"
        path.write_text(dump_yaml(chain_with_a_backup_on_c(protocol)))
        results[protocol] = simulate(load_scenario(path))
    return results


def holds_at(result, volume: str):
    locks = result.tables["locks"]
    return locks[(locks["volume"] == volume) & (locks["locking_dataset"] == "backup-app")]


def test_a_hold_is_an_owner_lock_naming_the_application(runs):
    at_c = holds_at(runs["softlock"], "C:/vol/v")
    assert len(at_c) > 0
    assert set(at_c["type"]) == {"owner"} and set(at_c["string"]) == {"backup-app"}
    assert (at_c["hops"] == 0).all() and at_c["propagation_s"].isna().all()


def test_softlock_forwards_a_hold_on_the_tail_to_the_head_which_keeps_the_pcpi(runs):
    at_a = holds_at(runs["softlock"], "A:/vol/v")
    assert len(at_a) > 0 and (at_a["hops"] == 2).all() and set(at_a["via"]) == {"B:/vol/v"}
    at_c = holds_at(runs["softlock"], "C:/vol/v").dropna(subset=["released_s"])
    assert set(at_c["release_reason"]) == {"hold_expired"}
    assert (at_c["released_s"] - at_c["set_s"]).round(6).eq(HOLD_S).all()


def test_without_forwarding_the_tail_loses_held_pcpis_when_the_head_rotates_them(runs):
    at_c = holds_at(runs["none"], "C:/vol/v").dropna(subset=["released_s"])
    lost = at_c[at_c["release_reason"] == "pcpi_deleted"]
    assert len(lost) > 0 and ((lost["released_s"] - lost["set_s"]) < HOLD_S).all()
    assert len(holds_at(runs["none"], "A:/vol/v")) == 0
