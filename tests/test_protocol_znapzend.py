"""Protocol `znapzend`: by default no source cleanup after a failed send; with `clean_offline`
cleanup goes on but each destination's last synced snapshot stays; its settings come from
`protocols: {znapzend: {...}}`.

The scenario is `tests/test_protocol_btrbk.py`'s: the test chain A -> B -> C with the A-B link
down from 06:40 to 13:40 (hourly firings 07:00 to 13:00 inside it)."""

from __future__ import annotations

import pytest
from conftest import assert_refused, chain_document
from test_protocol_btrbk import (
    FIRINGS_IN_OUTAGE,
    HOUR,
    KEEP,
    OUTAGE_END_S,
    OUTAGE_START_S,
    A,
    hourlies_on_a,
    outage_chain,
    retention_deletions_on_a,
)

from sim.engine.model import Model, simulate
from sim.scenario import load_scenario

CLEAN_OFFLINE = {"protocols": {"znapzend": {"clean_offline": True}}}


def test_by_default_a_failed_send_suspends_source_cleanup_until_a_send_succeeds(make_scenario):
    run = simulate(make_scenario(outage_chain("znapzend")))
    pcpis = run.tables["pcpis"]
    assert retention_deletions_on_a(pcpis, OUTAGE_START_S, OUTAGE_END_S).empty
    # keep 3, plus B's last synced hourly (not counted by keep-N), plus one per firing.
    assert hourlies_on_a(pcpis, OUTAGE_START_S - 1) == KEEP + 1
    assert hourlies_on_a(pcpis, OUTAGE_END_S) == KEEP + 1 + FIRINGS_IN_OUTAGE
    # The waiting update completes within a minute of 13:40; the 14:00 run cleans up.
    resumed = retention_deletions_on_a(pcpis, OUTAGE_END_S, 14 * HOUR)
    assert len(resumed) == FIRINGS_IN_OUTAGE + 1
    assert hourlies_on_a(pcpis, 14 * HOUR) == KEEP + 1


def test_by_default_the_tail_keeps_its_base_where_protocol_none_loses_it(make_scenario):
    none = simulate(make_scenario(outage_chain("none"))).summary["kpis"]
    znapzend = simulate(make_scenario(outage_chain("znapzend"))).summary["kpis"]
    assert none["premature_deletions"] >= 1 and none["rebaselines"] >= 1
    assert znapzend["premature_deletions"] == 0 and znapzend["rebaselines"] == 0


def last_synced_hourly_at_outage_start(pcpis) -> int:
    """The newest hourly B had when the link went down."""
    b = pcpis[(pcpis["volume"] == "B:/vol/v") & (pcpis["label"] == "hourly")]
    there = b[(b["arrived_s"] <= OUTAGE_START_S) & ~(b["deleted_s"] <= OUTAGE_START_S)]
    return int(there["pcpi_id"].max())


def test_clean_offline_cleans_during_the_outage_but_keeps_the_offline_destinations_last_synced(make_scenario):
    pcpis = simulate(make_scenario(outage_chain("znapzend", **CLEAN_OFFLINE))).tables["pcpis"]
    during = retention_deletions_on_a(pcpis, OUTAGE_START_S, OUTAGE_END_S)
    assert len(during) == FIRINGS_IN_OUTAGE  # one per firing: nothing piles up
    assert hourlies_on_a(pcpis, OUTAGE_END_S) == KEEP + 1
    synced = last_synced_hourly_at_outage_start(pcpis)
    on_a = pcpis[(pcpis["volume"] == A) & (pcpis["pcpi_id"] == synced)].iloc[0]
    assert not on_a["deleted_s"] <= OUTAGE_END_S  # it survives the whole outage on A
    assert synced not in set(during["pcpi_id"])
    # Without the rule (protocol none) the same PCPI goes during the outage.
    none = simulate(make_scenario(outage_chain("none"))).tables["pcpis"]
    assert last_synced_hourly_at_outage_start(none) == synced
    assert synced in set(retention_deletions_on_a(none, OUTAGE_START_S, OUTAGE_END_S)["pcpi_id"])


def test_clean_offline_keeps_the_tail_base_too_in_this_chain(make_scenario):
    # B's last synced hourly, kept on A, is still on C: after the outage C updates from it.
    kpis = simulate(make_scenario(outage_chain("znapzend", **CLEAN_OFFLINE))).summary["kpis"]
    assert kpis["premature_deletions"] == 0 and kpis["rebaselines"] == 0


def test_clean_offline_suspends_cleanup_when_a_send_failed_and_a_destination_has_nothing_synced(make_scenario):
    # The link goes down at 00:30 while the 00:00 baseline (5 GiB at 10 Mbit/s, 1.2 hours)
    # runs: B has no snapshot, so "no common snapshot was found" and znapzend suspends cleanup.
    small = {"A:/vol/v": {"size": "5GiB", "change_rate": "1GiB/h"}}
    links = [{"between": ["A", "B"], "bandwidth": "10Mbit/s", "latency": "1ms",
              "outages": [{"at": "30m", "for": "7h"}]},
             {"between": ["B", "C"], "bandwidth": "1Gbit/s", "latency": "1ms"}]
    run = simulate(make_scenario(chain_document(protocol="znapzend", volumes=small, links=links, **CLEAN_OFFLINE)))
    pcpis = run.tables["pcpis"]
    assert pcpis[pcpis["volume"] == "B:/vol/v"]["arrived_s"].min() > 7.5 * HOUR
    assert retention_deletions_on_a(pcpis, 0, 7.5 * HOUR).empty
    assert not retention_deletions_on_a(pcpis, 7.5 * HOUR, 10 * HOUR).empty


def test_it_vetoes_retention_only(make_scenario):
    for document in (outage_chain("znapzend"), outage_chain("znapzend", **CLEAN_OFFLINE)):
        model = Model(make_scenario(document))
        model.start()
        model.run(until_s=10 * HOUR)
        a = model.volumes[A]
        assert any(model.strategy.vetoes(a, pid, "retention") for pid in a.by_label["hourly"])
        for reason in ("mirror_rotation", "autodelete", "mirror_image"):
            assert not any(model.strategy.vetoes(a, pid, reason) for pid in a.pcpis)


def test_clean_offline_is_read_from_protocols_and_defaults_to_false(make_scenario):
    assert Model(make_scenario(chain_document(protocol="znapzend"))).strategy.config.clean_offline is False
    model = Model(make_scenario(chain_document(protocol="znapzend", **CLEAN_OFFLINE)))
    assert model.strategy.config.clean_offline is True


SCENARIO_WITH_SETTINGS = """\
name: chain
seed: 1
duration: 1d
protocol: znapzend
protocols:
  znapzend:
    clean_offline: true
{extra}appliances: {{A: {{capacity: 10TiB}}, B: {{capacity: 10TiB}}}}
links: [{{between: [A, B], bandwidth: 1Gbit/s, latency: 1ms}}]
volumes: {{"A:/vol/v": {{size: 100GiB, change_rate: 1GiB/h}}}}
snapshot_policies:
  hourly: {{schedule: "0 * * * *", label: hourly, keep: 3, volumes: ["A:/vol/v"]}}
mirrors: [{{source: "A:/vol/v", destination: "B:/vol/v", schedule: "*/15 * * * *"}}]
"""


def test_a_scenario_with_clean_offline_validates(write_scenario):
    scenario = load_scenario(write_scenario(SCENARIO_WITH_SETTINGS.format(extra="")))
    assert scenario.protocols == {"znapzend": {"clean_offline": True}}


@pytest.mark.parametrize(("extra", "field", "message"), [
    ("    cleanOffline: true\n", "protocols.znapzend.cleanOffline", "Extra inputs are not permitted"),
    ("    keep_last_synced: 2\n", "protocols.znapzend.keep_last_synced", "Extra inputs are not permitted"),
])
def test_an_unknown_setting_is_refused_with_file_line_and_field(write_scenario, extra, field, message):
    path = write_scenario(SCENARIO_WITH_SETTINGS.format(extra=extra))
    assert_refused(path, 8, field, message)
