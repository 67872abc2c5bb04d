"""Mirror updates: exact traces, common base, re-baselines, skipped updates, lag closed form."""


import pytest
from conftest import Storage, chain_document

from sim.engine.mirror import MirrorRelationship
from sim.engine.model import Model, simulate

GiB = 2.0**30


def single_mirror(**overrides):
    doc = chain_document(
        appliances={"A": {"capacity": "1TiB"}, "B": {"capacity": "1TiB"}},
        links=[{"between": ["A", "B"], "bandwidth": "1GiB/s", "latency": "0.5s"}],
        volumes={"A:/vol/v": {"size": "10GiB", "change_rate": "1GiB/15m"}},
        snapshot_policies={},
        mirrors=[{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "*/15 * * * *"}],
    )
    doc.update(overrides)
    return doc


def test_exact_trace_of_a_single_mirror(make_scenario):
    result = simulate(make_scenario(single_mirror(duration="1h")))
    transfers = result.tables["transfers"]
    got = list(transfers[["start_s", "end_s", "bytes", "kind"]].itertuples(index=False, name=None))
    # Baseline: 10 GiB at 1 GiB/s + 0.5 s latency. Then 1 GiB every 15 minutes: 1 s + 0.5 s.
    assert got == [
        (0.0, 10.5, 10 * GiB, "baseline"),
        (900.0, 901.5, pytest.approx(1 * GiB), "incremental"),
        (1800.0, 1801.5, pytest.approx(1 * GiB), "incremental"),
        (2700.0, 2701.5, pytest.approx(1 * GiB), "incremental"),
    ]


def test_a_mirror_update_keeps_only_its_base_mirror_pcpi_on_the_source(make_scenario):
    model = Model(make_scenario(single_mirror(duration="1h")))
    model.start()
    model.run()
    source, destination = model.volumes["A:/vol/v"], model.volumes["B:/vol/v"]
    base = model.relationships[0].base.id
    assert list(source.pcpis) == [base]
    # The destination got the source's set as it was when the transfer started: old base too.
    assert list(destination.pcpis) == [base - 1, base]
    assert source.locks.hard == {model.relationships[0].base.id: {"A:/vol/v->B:/vol/v": 2701.5}}


def test_common_base_is_the_newest_destination_pcpi_the_source_still_has():
    storage = Storage()
    source = storage.volume("A:/vol/v", rate_bps=1.0)
    destination = storage.volume("B:/vol/v", writable=False)
    p1, p2, p3 = (storage.take(source, 60.0 * i) for i in (1, 2, 3))
    storage.at(200.0)
    destination.apply_image({p.id: p for p in (p1, p2, p3)})
    storage.take(source, 240.0)
    relationship = MirrorRelationship.__new__(MirrorRelationship)  # only what finding a base reads
    relationship.source, relationship.destination, relationship.kind = source, destination, "volume"
    source.delete_pcpi(3, "retention", "hourly")
    assert relationship.find_common_base() is p2
    source.delete_pcpi(2, "retention", "hourly")
    assert relationship.find_common_base() is p1
    source.delete_pcpi(1, "retention", "hourly")
    assert relationship.find_common_base() is None


def test_an_update_due_while_one_runs_is_skipped_and_counted(make_scenario):
    # A 10 GiB baseline over 10 MiB/s takes 1024 s: the update due at 900 s is skipped.
    doc = single_mirror(duration="30m",
                        links=[{"between": ["A", "B"], "bandwidth": "10MiB/s", "latency": "0s"}])
    result = simulate(make_scenario(doc))
    assert result.summary["kpis"]["updates_skipped"] == 1
    assert result.summary["kpis"]["updates_completed"] == 1


def test_steady_state_lag_matches_the_closed_form(make_scenario):
    # Each update sends r*T = 1 GiB in x = 0.5 + 1 s; lag saws from x up to T + x.
    # Time-weighted mean lag = x + T/2; max lag = T + x.
    period, x = 900.0, 1.5
    doc = single_mirror(duration="7d", volumes={"A:/vol/v": {"size": "1GiB", "change_rate": "1GiB/15m"}})
    result = simulate(make_scenario(doc))
    rel = result.summary["relationships"]["A:/vol/v->B:/vol/v"]
    assert rel["max_lag_s"] == pytest.approx(period + x)
    assert rel["mean_lag_s"] == pytest.approx(x + period / 2, rel=2e-3)
    lag = result.tables["timeseries"].query("metric == 'lag_s' and time_s > 0")["value"]
    assert lag.between(x - 1e-6, period + x + 1e-6).all()


def test_a_destination_that_never_completes_an_update_lags_from_the_start_of_the_run(make_scenario):
    # A 1 TiB baseline over 1 MiB/s takes 12 days: within a day B never holds anything.
    doc = single_mirror(duration="1d", volumes={"A:/vol/v": {"size": "1TiB", "change_rate": "1GiB/h"}},
                        appliances={"A": {"capacity": "2TiB"}, "B": {"capacity": "2TiB"}},
                        links=[{"between": ["A", "B"], "bandwidth": "1MiB/s", "latency": "0s"}])
    result = simulate(make_scenario(doc))
    rel = result.summary["relationships"]["A:/vol/v->B:/vol/v"]
    assert rel["updates_completed"] == 0
    assert rel["max_lag_s"] == result.summary["kpis"]["max_lag_s"] == 86400.0
    assert rel["mean_lag_s"] == pytest.approx(86400.0 / 2)
    lag = result.tables["timeseries"].query("metric == 'lag_s'")
    assert (lag["value"] == lag["time_s"]).all() and len(lag) == 24
    transfers = result.tables["transfers"]  # the baseline still running at the end
    assert len(transfers) == 1 and transfers["end_s"].isna().all() and not transfers["completed"].any()
    assert transfers["sent_bytes"].iloc[0] == pytest.approx(86400.0 * 2**20)


def test_retention_shorter_than_the_downstream_gap_forces_a_rebaseline_without_locks(make_scenario):
    # Hourly snapshots kept 1 hour, C updates every 4 hours: its base is always gone upstream.
    doc = chain_document(snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 1,
                                                       "volumes": ["A:/vol/v"]}},
                         mirrors=[{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "*/15 * * * *"},
                                  {"source": "B:/vol/v", "destination": "C:/vol/v", "schedule": "0 */4 * * *"}])
    none = simulate(make_scenario(doc))
    assert none.summary["kpis"]["rebaselines"] >= 1
    assert none.summary["kpis"]["premature_deletions"] >= none.summary["kpis"]["rebaselines"]
    locked = simulate(make_scenario({**doc, "protocol": "softlock"}))
    assert locked.summary["kpis"]["rebaselines"] == 0
    assert locked.summary["kpis"]["premature_deletions"] == 0


def test_a_transfer_whose_destination_is_retired_midway_is_recorded_as_aborted(make_scenario):
    # B -> C's baseline (100 GiB at 1 Gbit/s, about 860 s) starts at 2 h; C is retired 100 s in.
    doc = chain_document(duration="6h")
    doc["mirrors"][1]["retire_at"] = "2h1m40s"
    transfers = simulate(make_scenario(doc)).tables["transfers"]
    to_c = transfers[transfers["relationship"] == "B:/vol/v->C:/vol/v"]
    assert len(to_c) == 1 and to_c.iloc[0]["aborted"] and to_c.iloc[0]["start_s"] == 7200.0
    assert not transfers[transfers["relationship"] == "A:/vol/v->B:/vol/v"]["aborted"].any()
