"""Dependency strategies as plug-ins: a strategy defined and registered here, in a test, runs
from a scenario file like the built-in ones; protocol settings come from `protocols:`."""

from collections.abc import Iterator

import pytest
from conftest import chain_document

from sim.engine.model import simulate
from sim.protocols.base import DependencyStrategy, NoConfig
from sim.protocols.registry import ProtocolInfo, names, register, unregister
from sim.protocols.softlock import SoftLockProtocol
from sim.scenario import ScenarioError, load_scenario


class KeepEverything(DependencyStrategy):
    """Vetoes every deletion: the one hook a strategy that keeps PCPIs needs."""

    def vetoes(self, volume, pcpi_id, reason):
        return True


class LockAfterOnly(SoftLockProtocol):
    """Changes only what is sent: the lock set goes after each update, never before."""

    def before_update(self, rel):
        return
        yield  # pragma: no cover - makes this a generator


@pytest.fixture
def registered() -> Iterator[None]:
    register(ProtocolInfo("keep_everything", KeepEverything, NoConfig, "black", "vetoes every deletion"))
    register(ProtocolInfo("lock_after_only", LockAfterOnly, NoConfig, "grey", "lock sets after updates only"))
    yield
    unregister("keep_everything")
    unregister("lock_after_only")


def with_autodelete(protocol: str) -> dict:
    """The test chain under space pressure: A's autodelete triggers at 2 GiB of snapshots."""
    return chain_document(protocol=protocol, volumes={"A:/vol/v": {
        "size": "100GiB", "change_rate": "1GiB/h", "autodelete": {"commitment": "destroy", "trigger": "2GiB"}}})


def test_a_strategy_that_vetoes_deletions_is_one_class_registered_from_a_test(registered, make_scenario):
    assert "keep_everything" in names()
    # Retention, rotation, autodelete (even at destroy) and image updates all ask it.
    deleted_by_none: set[str] = set()
    for document in (chain_document, with_autodelete):
        kept = simulate(make_scenario(document(protocol="keep_everything")))
        assert kept.tables["pcpis"]["reason"].dropna().empty
        assert kept.summary["kpis"]["premature_deletions"] == 0 and kept.summary["kpis"]["lock_messages"] == 0
        deleted_by_none |= set(simulate(make_scenario(document(protocol="none"))).tables["pcpis"]["reason"].dropna())
    assert {"retention", "mirror_rotation", "autodelete", "mirror_image"} <= deleted_by_none


def test_a_strategy_that_changes_what_is_sent_is_one_class_registered_from_a_test(registered, make_scenario):
    after_only = simulate(make_scenario(chain_document(protocol="lock_after_only"))).summary
    softlock = simulate(make_scenario(chain_document(protocol="softlock"))).summary
    assert after_only["protocol"] == "lock_after_only"
    assert 0 < after_only["kpis"]["lock_messages"] < softlock["kpis"]["lock_messages"]


def test_an_unregistered_protocol_is_refused_naming_the_registered_ones(write_scenario):
    with pytest.raises(ScenarioError) as error:
        load_scenario(write_scenario(chain_document(protocol="keep_everything")))
    assert "protocol: unknown protocol 'keep_everything'; choose from none, local, softlock, hard, lease" in str(error.value)


def test_protocol_settings_come_from_protocols_and_win_over_the_older_top_level_field(make_scenario):
    from sim.engine.model import Model

    def lease_of(**fields):
        return Model(make_scenario(chain_document(protocol="lease", **fields))).strategy.config.lease

    assert lease_of() == 86400.0
    assert lease_of(lease="2h") == 7200.0
    assert lease_of(protocols={"lease": {"lease": "3h"}}) == 10800.0
    assert lease_of(lease="2h", protocols={"lease": {"lease": "3h"}}) == 10800.0


def test_bad_protocol_settings_name_the_file_line_and_field(write_scenario):
    path = write_scenario(chain_document(protocols={"lease": {"lease": "soon"}, "softlock": {"depth": 3}}))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    problems = error.value.problems
    assert any(p.startswith(f"{path}:") and "protocols.lease.lease:" in p and "'soon'" in p for p in problems)
    assert any("protocols.softlock.depth:" in p and "Extra inputs are not permitted" in p for p in problems)


def test_every_registered_protocol_has_a_colour_of_its_own_and_a_description():
    from sim.protocols.registry import protocol

    infos = [protocol(name) for name in names()]
    assert len({info.colour for info in infos}) == len(infos)
    assert all(len(info.description.split()) >= 4 for info in infos)


class KeepImages(DependencyStrategy):
    """Vetoes only image updates' deletions: a read-only image keeps every PCPI it ever had."""

    def vetoes(self, volume, pcpi_id, reason):
        return reason == "mirror_image"


def test_a_veto_holds_an_image_deletion_deferred_while_a_transfer_read_the_pcpi(make_scenario):
    """B's image update finds B -> C reading the PCPI it removes; the deletion waits for the
    read to end, and then asks the veto too."""
    slow = chain_document(links=[{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"},
                                 {"between": ["B", "C"], "bandwidth": "50Mbit/s", "latency": "1ms"}])
    none = simulate(make_scenario({**slow, "protocol": "none"})).tables["pcpis"]
    deferred = none[(none["reason"] == "mirror_image") & (none["volume"] == "B:/vol/v")
                    & (none["deleted_s"] > none["arrived_s"]) & (none["deleted_s"] % 900 > 1)]
    assert len(deferred) > 0  # deleted when a read ended, not at an image update (every 15 min)
    register(ProtocolInfo("keep_images", KeepImages, NoConfig, "black", "vetoes image deletions"))
    try:
        kept = simulate(make_scenario({**slow, "protocol": "keep_images"})).tables["pcpis"]
    finally:
        unregister("keep_images")
    assert (kept["reason"] == "mirror_image").sum() == 0
