"""Limits that bound a run's real cost: schedule firings counted exactly (not extrapolated from
the first two), the lock records forwarding protocols carry, and the protocol of every run a
command will make."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import chain_document
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.experiments.library import load_library
from sim.scenario import Plan, ScenarioError
from sim.scenario.limits import MAX_LOCK_RECORDS, MAX_SCHEDULED_FIRINGS, lock_records, planned_firings
from sim.scenario.schedule import ScheduleBook, count_firings

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    """Five-field schedules mixing values, ranges, steps and lists, with day fields that select
    some days (and sometimes none in a window)."""
    def field(low: int, high: int) -> str:
        kind = draw(st.sampled_from(("*", "value", "range", "step", "list")))
        if kind == "value":
            return str(draw(st.integers(low, high)))
        if kind == "range":
            a = draw(st.integers(low, high))
            return f"{a}-{draw(st.integers(a, high))}"
        if kind == "step":
            return f"*/{draw(st.integers(1, high - low))}"
        if kind == "list":
            return ",".join(str(v) for v in sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=3))))
        return "*"
    return " ".join([field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6)])


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(expr=cron_expressions(), offset_s=st.floats(0, 3 * 86400), duration_s=st.floats(60, 40 * 86400))
def test_firings_are_counted_exactly(expr, offset_s, duration_s):
    start = START + offset_s
    try:
        expected = len(ScheduleBook(start, duration_s).firings(expr))
    except Exception:  # croniter finds no firing at all (the day fields select no date soon)
        expected = 0
    assert count_firings(expr, start, start + duration_s) == expected


def dense_hour(start: str, volumes: int) -> dict:
    """Snapshots every minute of hour 0 on `volumes` volumes for nine years, from `start`."""
    names = [f"A:/vol/v{i}" for i in range(volumes)]
    return chain_document(
        duration="9y", start=start, sample_interval="7d", mirrors=[],
        volumes={name: {"size": "1GiB", "change_rate": "1MiB/h"} for name in names},
        snapshot_policies={"burst": {"schedule": "* 0 * * *", "label": "burst", "keep": 2, "volumes": names}})


def test_a_schedule_whose_first_two_firings_are_far_apart_is_not_underestimated(make_scenario, write_scenario, capsys):
    # From 00:58:30 the first two firings are a day apart (00:59, then 00:00), but it fires 60
    # times a day: extrapolating from them planned 1/60 of the real firings.
    late = dense_hour("2026-01-01T00:58:30Z", 1)
    scenario = make_scenario(late)
    expected = len(ScheduleBook(scenario.start_ts, scenario.duration).firings("* 0 * * *"))
    assert planned_firings(scenario) == expected > 9 * 365 * 59
    path = write_scenario(dense_hour("2026-01-01T00:58:30Z", 6))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"duration: plans {6 * expected:,} scheduled snapshots and updates (limit {MAX_SCHEDULED_FIRINGS:,}; " \
           f"--no-limits lifts it)" in err


def deep_chain(depth: int, duration: str, protocol: str) -> dict:
    names = [f"S{i}" for i in range(depth + 1)]
    return chain_document(
        duration=duration, protocol=protocol, sample_interval="1d",
        appliances={n: {"capacity": "1TiB"} for n in names},
        links=[{"between": [a, b], "bandwidth": "10Gbit/s", "latency": "1ms"} for a, b in zip(names, names[1:])],
        volumes={"S0:/vol/v": {"size": "10GiB", "change_rate": "1GiB/h"}},
        snapshot_policies={"hourly": {"schedule": "0 * * * *", "label": "hourly", "keep": 6, "volumes": ["S0:/vol/v"]}},
        mirrors=[{"source": f"{a}:/vol/v", "destination": f"{b}:/vol/v", "schedule": "*/15 * * * *"}
                 for a, b in zip(names, names[1:])])


def test_lock_records_follow_data_down_the_chain_and_sets_up_it(make_scenario):
    # Three hops updated every 15 minutes for an hour: hop k first has data at update k, so it
    # makes 5 - k updates; its set travels k hops and holds a lock for itself and each hop below.
    depth, updates = 3, 4
    scenario = make_scenario(deep_chain(depth, "1h", "softlock"))
    expected = sum((updates - k + 1) * k * (1 + depth - k) for k in range(1, depth + 1))
    assert lock_records(Plan(scenario)) == expected
    assert lock_records(Plan(scenario.model_copy(update={"protocol": "local"}))) == sum(updates - k + 1 for k in range(1, 4))
    assert lock_records(Plan(scenario.model_copy(update={"protocol": "none"}))) == 0


def test_a_deep_chain_that_forwarding_could_not_finish_is_refused_with_the_hint(write_scenario, capsys):
    path = write_scenario(deep_chain(200, "3d", "softlock"))
    assert main(["validate", str(path)]) == 2
    [problem] = capsys.readouterr().err.splitlines()
    assert ": mirrors: under softlock, lock sets would carry about " in problem
    assert f"(limit {MAX_LOCK_RECORDS:,}, a few minutes; shorten the run or the chains; --no-limits lifts it)" in problem
    assert main(["validate", str(path), "--set", "protocol=none"]) == 0
    assert main(["validate", str(path), "--no-limits"]) == 0


def test_compare_checks_the_limits_of_every_protocol_it_runs(write_scenario, tmp_path, capsys, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the simulation started")
    monkeypatch.setattr("sim.cli.simulate_with_progress", refuse)
    path = write_scenario(deep_chain(200, "3d", "none"))
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(tmp_path / "out")]) == 2
    assert "under softlock, lock sets would carry" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_check_checks_the_limits_of_every_protocol_of_the_expect_block(write_scenario, capsys):
    path = write_scenario(deep_chain(200, "3d", "none") | {"expect": {"none": {"rebaselines": 0},
                                                                      "hard": {"rebaselines": 0}}})
    with pytest.raises(ScenarioError, match="under hard, lock sets would carry"):
        load_library([path])
    assert main(["check", str(path)]) == 2
