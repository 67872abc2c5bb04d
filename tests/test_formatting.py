"""Numbers for people: one formatting module for the terminal, report.html, plots and the catalog;
the verdict sentence; the terminal's KPI table; legends that fit however many lock holders."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest
from conftest import SCENARIOS

from sim.engine.model import simulate
from sim.observe.kpis import KPIS as REGISTRY
from sim.observe.kpis import NAMES
from sim.present.compare import kpi_table
from sim.present.formatting import format_kpi, outcome, seconds_unit, unit_scale
from sim.present.html import render_report
from sim.present.plots import MAX_LEGEND_ENTRIES, plot_lock_propagation, plot_pcpi_timeline, save
from sim.present.terminal import format_kpi_table, verdict_lines
from sim.protocols.registry import names
from sim.results import Results
from sim.scenario import load_scenario

TIB = 2**40


@pytest.mark.parametrize(("name", "value", "text"), [
    ("rebaseline_bytes", 500 * 2**30, "500 GiB"),
    ("bytes_transferred", 3_339_525_123_593.2, "3.04 TiB"),
    ("failed_write_bytes", 0, "0 B"),
    ("lock_space_byte_hours", 1.29 * TIB, "1.29 TiB·h"),
    ("lock_space_peak_bytes", 430 * 2**30, "430 GiB"),
    ("max_lag_s", 29.4 * 3600, "29.4 h"),
    ("max_lag_s", 3.5 * 86400, "3.5 d"),
    ("max_lag_s", 0.031, "31 ms"),
    ("max_lag_s", 1020 * 3600, "42.5 d"),
    ("rebaselines", 1234, "1,234"),
    ("bytes_transferred", 1023 * 2**30, "1,023 GiB"),  # no exponent between 1000 and 1024 of a unit
    ("max_lag_s", None, "-"),
])
def test_values_read_in_their_units(name, value, text):
    assert format_kpi(name, value) == text


def test_every_kpi_reads_in_the_unit_the_registry_gives_it():
    by_unit = {"count": "7,200", "bytes": "7.03 KiB", "byte_hours": "7.03 KiB·h", "seconds": "2 h",
               "fraction": "720000.000%"}
    assert {kpi.name: format_kpi(kpi.name, 7200) for kpi in REGISTRY} == {kpi.name: by_unit[kpi.unit] for kpi in REGISTRY}
    assert format_kpi("link_availability", 0.95) == "95.000%"
    with pytest.raises(KeyError):
        format_kpi("lock_space_peak", 1.0)  # not a KPI: no unit guessed from the name


@pytest.mark.parametrize(("largest_s", "unit"), [
    (30, (1.0, "seconds")), (60, (60.0, "minutes")), (3599, (60.0, "minutes")), (3600, (3600.0, "hours")),
    (14 * 86400, (3600.0, "hours")), (15 * 86400, (86400.0, "days")),
])
def test_a_time_axis_counts_in_the_unit_that_fits(largest_s, unit):
    assert seconds_unit(largest_s) == unit


def test_an_axis_of_a_kpi_counts_in_its_units_unit_that_fits():
    assert unit_scale("bytes", 3 * TIB) == (TIB, "TiB")
    assert unit_scale("byte_hours", 5 * 2**30) == (2**30, "GiB·h")
    assert unit_scale("seconds", 7200) == (3600.0, "hours")
    assert unit_scale("count", 12) == (1.0, "count")


KPIS = {**dict.fromkeys(NAMES, 0), "lock_space_byte_hours": 1.29 * TIB, "lock_space_peak_bytes": 430 * 2**30}
"""A run that lost nothing and whose locks pinned space."""


def test_the_verdict_says_what_broke_what_locks_cost_and_what_space_pressure_did():
    assert outcome(KPIS) == ("0 premature deletions, 0 re-baselines; locks pinned 1.29 TiB·h, peak 430 GiB; "
                             "0 failed writes, 0 autodeletes")
    broken = {**KPIS, "premature_deletions": 1, "rebaselines": 1, "rebaseline_bytes": 500 * 2**30, "failed_writes": 168,
              "failed_write_bytes": 1.2 * TIB, "autodeletes": 3, "lock_space_byte_hours": 0, "lock_space_peak_bytes": 0}
    assert outcome(broken) == ("1 premature deletion, 1 re-baseline (500 GiB re-sent); locks pinned 0 B·h, peak 0 B; "
                               "168 failed writes (1.2 TiB), 3 autodeletes")
    assert verdict_lines({"hard": {"kpis": broken}, "softlock": {"kpis": KPIS}})[0].startswith("hard:     1 premature")


def test_every_protocol_fits_in_100_columns_with_kpis_as_rows():
    """Five protocols side by side; more wrap into blocks below, each repeating the KPI names."""
    big = {**KPIS, "bytes_transferred": 1000.4 * TIB, "rebaseline_bytes": 999 * 2**50, "max_lag_s": 400 * 86400,
           "lock_messages": 123_456_789, "lock_space_byte_hours": 1023.9 * 2**50, "updates_completed": 9_999_999,
           "lock_space_peak_bytes": 512 * 2**50}
    table = kpi_table({protocol: {"kpis": big} for protocol in names()})
    assert list(table.columns) == list(names()) and list(table.index) == list(NAMES)
    text = format_kpi_table(table)
    assert max(len(line) for line in text.splitlines()) <= 100, text
    assert "1,000 TiB" in text and "1,024 PiB·h" in text and "123,456,789" in text
    blocks = text.split("\n\n")
    assert [p for block in blocks for p in block.splitlines()[0].split()[1:]] == list(names())
    assert all(len(block.splitlines()) == 1 + len(NAMES) for block in blocks)
    assert format_kpi_table(table[list(names()[:5])]).count("\n\n") == 0  # five fit side by side


@pytest.fixture(scope="module")
def run():
    return simulate(load_scenario(SCENARIOS / "destination_retired.yaml", {"protocol": "hard"}))


def test_report_outcome_line_and_highlighted_rows_show_failed_writes(run):
    assert run.kpis["failed_writes"] > 0 and run.kpis["failed_write_bytes"] > 0
    page = render_report(run, {}, None)
    assert f"{run.kpis['failed_writes']} failed writes ({format_kpi('failed_write_bytes', run.kpis['failed_write_bytes'])})" \
        in page
    for kpi in ("failed_writes", "failed_write_bytes"):
        assert f'<tr class="bad"><td>{kpi}</td>' in page


def many_holders(base: Results, count: int) -> Results:
    """`base` with its soft locks spread over `count` locking datasets."""
    locks = base.locks.copy()
    soft = locks.index[locks["type"] != "hard"]
    assert len(soft) >= count
    locks.loc[soft, "locking_dataset"] = [f"D{i % count:02d}:/vol/v" for i in range(len(soft))]
    return Results(base.summary, {**base.tables, "locks": locks}, base.scenario)


def test_legends_stay_capped_however_many_datasets_hold_locks():
    base = simulate(load_scenario(SCENARIOS / "quickstart.yaml", {"protocol": "softlock"}))
    results = many_holders(base, 60)
    for draw in (plot_lock_propagation, plot_pcpi_timeline):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a clipped legend makes constrained layout warn
            fig = draw(results)
            save(fig, io.BytesIO())  # type: ignore[arg-type]
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                assert len(legend.get_texts()) <= MAX_LEGEND_ENTRIES
    labels = [t.get_text() for t in plot_lock_propagation(results).axes[0].get_legend().get_texts()]
    assert labels[-1] == "lock for 52 other datasets"
    assert pd.Series(labels[:-1]).str.match(r"lock for D\d\d:/vol/v").all()
