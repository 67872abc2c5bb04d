"""Plots and report.html: each shows what it claims (outcome colours, marks, spans), from known runs."""

import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIOS, chain_document
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from matplotlib.patches import FancyArrowPatch

from sim.cli import main
from sim.engine.model import simulate
from sim.present.compare import plot_compare
from sim.present.html import render_report
from sim.present.plots import (
    CLEAN,
    PLOTS,
    REBASELINED,
    outages,
    plot_lag,
    plot_lock_propagation,
    plot_pcpi_timeline,
    plot_space,
    plot_topology,
    propagation_delays,
    topology_layout,
)
from sim.results import Results, ResultsError, load, load_summary
from sim.results.write import write_results
from sim.scenario import load_scenario

QUICKSTART = SCENARIOS / "quickstart.yaml"
DAY = 86400.0


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Quickstart under none (one premature deletion, one re-baseline) and softlock (neither)."""
    out = tmp_path_factory.mktemp("results")
    text = QUICKSTART.read_text()
    return {p: write_results(simulate(load_scenario(QUICKSTART, {"protocol": p})), out, scenario_text=text)
            for p in ("none", "softlock")}


@pytest.fixture(scope="module")
def runs(folders):
    return {p: load(folder) for p, folder in folders.items()}


def labels(fig) -> list[str]:
    return [h.get_label() for ax in fig.axes for h in ax.get_legend_handles_labels()[0]]


def test_every_results_folder_holds_every_plot_as_a_drawn_png(folders):
    for folder in folders.values():
        for name, _draw, _caption in PLOTS:
            pixels = imread(folder / name)
            height, width = pixels.shape[:2]
            assert width >= 800 and height >= 300, name
            assert np.std(pixels[..., :3]) > 0.05, f"{name} looks blank"


def test_topology_arrows_are_red_only_for_the_relationship_that_rebaselined(runs):
    def arrow_colours(results):
        fig = plot_topology(results)
        arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
        return sorted(tuple(a.get_edgecolor()[:3]) for a in arrows)
    red, green = to_rgb(REBASELINED), to_rgb(CLEAN)
    assert arrow_colours(runs["none"]) == sorted([green, red])  # B->C re-baselined after the outage
    assert arrow_colours(runs["softlock"]) == [green, green]


def test_topology_labels_links_with_bandwidth(runs):
    texts = [t.get_text() for t in plot_topology(runs["none"]).axes[0].texts]
    assert any(t.startswith("10 Gbit/s, 1 ms\nused ") for t in texts)
    assert any(t.startswith("1 Gbit/s, 30 ms\nused ") and "\n1 outage, up " in t for t in texts)
    assert "/vol/db: 1 re-baseline" in texts


def test_topology_shows_each_links_exact_utilisation_and_busy_fraction(runs):
    base = runs["none"]
    usage = {"A-B": {"bytes": 1.0, "mean_utilisation": 0.4, "busy_fraction": 0.5, "peak_utilisation": 1.0,
                     "availability": 1.0, "outages": 0},
             "B-C": {"bytes": 1.0, "mean_utilisation": 0.01234, "busy_fraction": 1.0, "peak_utilisation": 1.0,
                     "availability": 0.875, "outages": 1}}
    texts = [t.get_text() for t in plot_topology(Results({**base.summary, "links": usage}, base.tables,
                                                          base.scenario)).axes[0].texts]
    assert "10 Gbit/s, 1 ms\nused 40.0%, busy 50.0%" in texts
    assert "1 Gbit/s, 30 ms\nused 1.2%, busy 100.0%\n1 outage, up 87.5%" in texts


def test_timeline_marks_the_premature_deletion_and_shows_who_locked_what(runs):
    none = labels(plot_pcpi_timeline(runs["none"]))
    assert "premature deletion (1)" in none
    assert "re-baseline received (full re-send)" in none
    assert not any(label.startswith("soft lock") for label in none)
    softlock = labels(plot_pcpi_timeline(runs["softlock"]))
    assert not any(label.startswith("premature") for label in softlock)
    assert {"soft lock for B:/vol/db", "soft lock for C:/vol/db", "link B-C down"} <= set(softlock)


def test_timeline_draws_each_kind_of_span_as_one_line_whatever_the_number_of_pcpis(runs):
    # One path per kind of span (PCPIs, hard locks, each holder's soft locks), not one per PCPI:
    # Axes.hlines made a path per span, seconds of drawing for big runs.
    results = runs["softlock"]
    fig = plot_pcpi_timeline(results)
    for ax in fig.axes:
        volume = ax.get_title(loc="left").partition(": ")[0]
        lines = {line.get_label(): line for line in ax.get_lines()}
        retained = lines["PCPI retained"].get_xdata()
        assert len(retained) == 3 * (results.pcpis["volume"] == volume).sum()
        assert np.isnan(retained[2::3]).all()
        hard = results.locks[(results.locks["volume"] == volume) & (results.locks["type"] == "hard")]
        drawn = lines.get("hard lock (relationship base)")
        assert (len(drawn.get_xdata()) if drawn else 0) == 3 * len(hard)
        assert len(ax.get_lines()) <= 2 + len(set(results.locks["locking_dataset"])) + 2


def test_outages_come_from_link_events(runs):
    assert outages(runs["none"]) == [("B-C", 3 * DAY, 4 * DAY)]


def test_lag_draws_each_destination_and_shades_the_outage(runs):
    fig = plot_lag(runs["none"])
    ax = fig.axes[0]
    assert {"A:/vol/db->B:/vol/db", "B:/vol/db->C:/vol/db", "link B-C down",
            "re-baseline of B:/vol/db->C:/vol/db done"} <= set(labels(fig))
    assert ax.get_ylabel() == "lag (hours)" and ax.get_xlabel() == "simulated time (hours)"
    band = next(p for p in ax.patches if p.get_label() == "link B-C down")
    assert (band.get_x(), band.get_x() + band.get_width()) == (72.0, 96.0)


def test_space_marks_autodeletes_where_the_events_have_them(runs):
    base = runs["softlock"]
    autodelete = pd.DataFrame({"time_s": [2 * DAY], "event": ["autodelete"], "component": ["A:/vol/db"],
                               "pcpi_id": [7], "value": [None], "detail": [None]})
    events = pd.concat([base.events, autodelete.astype(base.events.dtypes.to_dict())], ignore_index=True)
    with_autodelete = Results(base.summary, {**base.tables, "events": events}, base.scenario)
    assert "A:/vol/db: autodelete (1)" in labels(plot_space(with_autodelete))
    plain = labels(plot_space(base))
    assert not any("autodelete" in label for label in plain)
    assert "A:/vol/db: held by locks" in plain  # softlock pins A's PCPIs through the outage


def test_propagation_delay_is_the_locks_column_leaving_out_hard_and_re_pinned_locks():
    locks = pd.DataFrame({
        "volume": ["A", "A", "B", "A"], "type": ["hard", "destination_path", "destination_path", "destination_path"],
        "locking_dataset": ["x", "C", "C", "B"], "hops": [0, 2, 1, 1],
        "propagation_s": [None, 3.0, None, 0.25]})  # B's lock was re-pinned: it did not travel
    delays = propagation_delays(locks)
    assert delays.to_dict("list") == {"holder": ["A", "A"], "locking_dataset": ["C", "B"], "hops": [2, 1],
                                      "delay_s": [3.0, 0.25]}


def test_lock_propagation_has_a_box_per_hop_count(runs):
    fig = plot_lock_propagation(runs["softlock"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    notes = [t.get_text() for t in ax.texts]
    hops = propagation_delays(runs["softlock"].locks)["hops"]
    assert any(n.startswith(f"n={(hops == 2).sum()}\n") for n in notes)
    none = plot_lock_propagation(runs["none"])
    assert "no soft locks in this run (protocol none)" in [t.get_text() for t in none.axes[0].texts]


def assert_self_contained_report(page: str, images: int) -> None:
    """report.html of the quickstart under `none`: `images` plots embedded, nothing loaded, no
    scripts, the KPI table, the verdict and the scenario file's text."""
    found = re.findall(r'<img src="([^"]*)"', page)
    assert len(found) == images and all(src.startswith("data:image/png;base64,") for src in found)
    assert not re.search(r'(src|href)="(?!data:)', page), "the report must not load anything"
    assert "<script" not in page
    assert '<table id="kpis">' in page
    kpi_rows = re.search(r'<table id="kpis">.*?</table>', page, re.S).group(0)
    assert "<td>premature_deletions</td>" in kpi_rows and '<td class="num">1</td>' in kpi_rows
    assert "1 premature deletion, 1 re-baseline (500 GiB re-sent); locks pinned 0 B·h, peak 0 B; 0 failed writes" in page
    assert "outages:" in page and "{at: 3d, for: 1d}" in page  # the scenario file's own text
    assert "This run used protocol none and seed 42" in page


def test_report_is_one_self_contained_page(folders):
    assert_self_contained_report((folders["none"] / "report.html").read_text(), images=len(PLOTS))


def test_a_run_without_plots_has_no_png_and_a_report_that_says_so(tmp_path, capsys):
    assert main(["run", str(QUICKSTART), "--protocol", "none", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    folder = tmp_path / "quickstart" / "none-seed42"
    assert not list(folder.glob("*.png"))
    page = (folder / "report.html").read_text()
    assert_self_contained_report(page, images=0)
    assert "Plots were switched off for this run (<code>--no-plots</code>)." in page
    results = load(folder)
    assert set(results.tables) == {"events", "transfers", "pcpis", "locks", "timeseries"}
    assert results.kpis["premature_deletions"] == 1
    capsys.readouterr()


def test_a_run_that_kept_no_tables_has_the_summary_the_topology_and_a_report(folders, tmp_path, capsys):
    assert main(["run", str(QUICKSTART), "--protocol", "none", "--out", str(tmp_path), "--quiet",
                 "--tables", "kpis"]) == 0
    folder = tmp_path / "quickstart" / "none-seed42"
    assert sorted(p.name for p in folder.iterdir()) == ["complete.json", "report.html", "scenario.json", "summary.json",
                                                        "topology.png"]
    page = (folder / "report.html").read_text()
    assert_self_contained_report(page, images=1)
    assert "which this run did not keep (<code>--tables kpis</code>)" in page
    with pytest.raises(ResultsError, match=r"holds no tables: its run kept the summary only \(--tables kpis\); "
                                           r"sim.results.load_summary reads it"):
        load(folder)
    full = load_summary(folders["none"])
    assert load_summary(folder)["kpis"] == full["kpis"]
    assert load_summary(folder)["relationships"] == full["relationships"]
    capsys.readouterr()


def test_compare_without_plots_writes_the_table_and_removes_an_older_figure(write_scenario, tmp_path, capsys):
    path = write_scenario(chain_document(duration="1d"))
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(tmp_path), "--quiet"]) == 0
    figure = tmp_path / "chain" / "compare-seed1.png"
    assert figure.is_file() and "figure:" in capsys.readouterr().out
    assert main(["compare", str(path), "--protocols", "none,lease", "--out", str(tmp_path), "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "chain" / "compare-seed1.csv").read_text().startswith("kpi,none,lease\n")
    assert not figure.exists()
    assert not list((tmp_path / "chain").glob("none-seed1/*.png")) + list((tmp_path / "chain").glob("lease-seed1/*.png"))
    assert "figure:" not in capsys.readouterr().out


def test_report_without_scenario_text_says_so(runs):
    page = render_report(runs["softlock"], {}, None)
    assert "text was not given to this report" in page
    assert "<img" not in page


def test_compare_draws_one_bar_per_protocol_in_each_panel(runs):
    summaries = {p: r.summary for p, r in runs.items()}
    fig = plot_compare(summaries, "quickstart")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["re-baselines", "premature deletions", "bytes sent", "lock space overhead", "max lag",
                      "autodeletes", "failed writes (appliance full)", "bytes of failed writes", "gap PCPIs (history lost)",
                      "re-baselines vs space held", "gap PCPIs (history lost) vs space held"]
    rebaselines = fig.axes[0]
    assert [t.get_text() for t in rebaselines.get_xticklabels()] == ["none", "softlock"]
    assert [b.get_height() for b in rebaselines.patches] == [1, 0]
    lock_space = fig.axes[3]
    assert lock_space.patches[0].get_height() == 0 < lock_space.patches[1].get_height()
    assert [ax.get_ylabel() for ax in fig.axes[:5]] == ["count", "count", "TiB", "TiB·h", "hours"]


def test_compare_writes_its_figure_next_to_the_csv(write_scenario, tmp_path):
    path = write_scenario(chain_document(duration="1d"))
    assert main(["compare", str(path), "--protocols", "none,softlock", "--out", str(tmp_path), "--quiet"]) == 0
    figure = tmp_path / "chain" / "compare-seed1.png"
    assert (tmp_path / "chain" / "compare-seed1.csv").is_file()
    assert imread(figure).shape[1] >= 1000
    for protocol in ("none", "softlock"):
        assert (tmp_path / "chain" / f"{protocol}-seed1" / "report.html").is_file()


def test_a_run_with_nothing_to_show_still_gets_every_plot_saying_so(make_scenario, tmp_path):
    scenario = make_scenario(chain_document(duration="1d", mirrors=[], snapshot_policies={}))
    results = load(write_results(simulate(scenario), tmp_path))
    for name, _draw, _caption in PLOTS:
        assert (results.path / name).is_file()
    notes = [t.get_text() for draw in (plot_pcpi_timeline, plot_lag, plot_lock_propagation)
             for ax in draw(results).axes for t in ax.texts]
    assert notes == ["no PCPIs in this run", "no lag samples (no mirror relationship delivered a PCPI)",
                     "no soft locks in this run (protocol none)"]


def test_autodeletes_gap_pcpis_and_propagation_statistics_show_up_where_they_happen(runs):
    """autodelete PCPIs in the timeline, lock propagation statistics in the report, and the
    autodeletes / gap_pcpis KPIs in the report and the compare figure."""
    base = runs["softlock"]
    pcpis = base.pcpis.copy()
    victim = pcpis.index[(pcpis["volume"] == "A:/vol/db") & (pcpis["reason"] == "retention")][0]
    pcpis.loc[victim, "reason"] = "autodelete"
    summary = {**base.summary, "kpis": {**base.kpis, "autodeletes": 1, "gap_pcpis": 2},
               "lock_propagation_s": {"count": 743, "p50": 0.001, "p95": 0.031, "max": 586.0,
                                      "to_head": {"count": 35, "p50": 0.031, "p95": 0.031, "max": 0.031},
                                      "by_hops": {"1": {"p50": 0.001, "p95": 0.02, "max": 586.0, "count": 708},
                                                  "2": {"p50": 0.031, "p95": 0.031, "max": 0.031, "count": 35}}}}
    later = Results(summary, {**base.tables, "pcpis": pcpis}, base.scenario)
    assert "autodelete (1)" in labels(plot_pcpi_timeline(later))
    page = render_report(later, {}, None)
    propagation = re.search(r'<table id="lock-propagation">.*?</table>', page, re.S).group(0)
    assert "<td>2</td>" in propagation and '<td class="num">35</td>' in propagation and "31 ms" in propagation
    assert "<td>all</td>" in propagation and '<td class="num">743</td>' in propagation
    assert "<td>to the head, end to end</td>" in propagation
    assert "<td>gap_pcpis</td>" in page and "before they reached a destination" in page
    fig = plot_compare({"none": runs["none"].summary, "softlock": summary}, "later")
    bars = {ax.get_title(): [bar.get_height() for bar in ax.patches] for ax in fig.axes if ax.get_visible()}
    assert bars["autodeletes"] == [runs["none"].kpis["autodeletes"], 1]
    assert bars["gap PCPIs (history lost)"] == [runs["none"].kpis["gap_pcpis"], 2]


def test_topology_lays_a_tree_out_left_to_right_without_crossings():
    scenario = {"appliances": {n: {} for n in ("A", "B1", "B2", "C1", "C2")}, "routers": ["R"],
                "mirrors": [{"source": f"{s}:/vol/v", "destination": f"{d}:/vol/v"}
                            for s, d in (("A", "B2"), ("A", "B1"), ("B1", "C1"), ("B2", "C2"))]}
    graph = nx.Graph([("A", "R"), ("R", "B1"), ("R", "B2"), ("B1", "C1"), ("B2", "C2")])
    pos = topology_layout(scenario, graph)
    assert pos == {"A": (0.0, 0.0), "B1": (1.0, 0.5), "B2": (1.0, -0.5), "C1": (2.0, 0.5), "C2": (2.0, -0.5),
                   "R": (0.5, 0.0)}
    scenario["mirrors"].append({"source": "C1:/vol/w", "destination": "A:/vol/w"})
    assert topology_layout(scenario, graph) is None  # a cycle of appliances: force layout instead
