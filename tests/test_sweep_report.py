"""sweep-report: the figures and report.html of a sweep's dataset, from real tiny sweeps of quickstart."""

import json
import math
import re
import shutil
from base64 import b64encode
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from scipy import stats

import sim.present.sweep_report as sweep_report
from sim.cli import main
from sim.observe.kpis import BY_NAME
from sim.present.formatting import format_kpi
from sim.present.plots import protocol_colour
from sim.present.sweep_report import (
    drawn_kpis,
    mean_and_band,
    plot_parameter,
    plot_protocols,
    write_sweep_report,
)
from sim.results.sweep_dataset import RUNS_DIR, SweepDataset, load_sweep

QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"
OUTAGE = "links[1].outages[0].for"
SCHEDULE = "mirrors[1].schedule"
SCHEDULES = ["0 */4 * * *", "0 */2 * * *"]
"""In the order the sweep runs them, which is not their sorted order."""


def run_sweep(folder: Path, name: str, parameters: dict) -> Path:
    """Run a sweep of quickstart shortened to 3 days, its B-C outage at day 1, under none and
    softlock, 3 seeds per point; returns its dataset folder."""
    sweep = folder / f"{name}.yaml"
    sweep.write_text(json.dumps({"name": name, "scenario": str(QUICKSTART),
                                 "set": {"duration": "3d", "links[1].outages[0].at": "1d"},
                                 "parameters": parameters, "protocols": ["none", "softlock"], "seeds": 3}))
    assert main(["sweep", str(sweep), "--out", str(folder / "out"), "--jobs", "1", "--quiet"]) == 0
    return folder / "out" / name


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """24 runs: outage 2h or 12h x the C mirror every 4 or 2 hours x none, softlock x 3 seeds."""
    return run_sweep(tmp_path_factory.mktemp("sweep"), "outages",
                     {OUTAGE: {"label": "B-C outage", "values": ["2h", "12h"]}, SCHEDULE: {"values": SCHEDULES}})


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Path:
    """6 runs, no parameters: none and softlock x 3 seeds."""
    return run_sweep(tmp_path_factory.mktemp("bare"), "bare", {})


def visible(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def panel(fig, kpi: str):
    return next(ax for ax in visible(fig) if ax.get_title() == (BY_NAME[kpi].label or kpi))


def test_mean_and_band_is_the_student_t_interval_of_each_mean():
    frame = pd.DataFrame({
        "run_id": range(8),
        "x": [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 0.5],
        "protocol": ["softlock", "none", "none", "none", "none", "none", "none", "softlock"],
        "k": [5.0, 1.0, 2.0, 4.0, 3.0, 3.0, np.nan, np.nan],
    })
    got = mean_and_band(frame, "x", "k")
    # values ascending; protocols as they first appear; the NaN rows left out, softlock at 0.5 with them
    assert list(zip(got["value"], got["protocol"], got["n"])) == [(0.5, "none", 2), (1.0, "softlock", 1),
                                                                   (1.0, "none", 3)]
    sample = np.array([1.0, 2.0, 4.0])
    half = stats.t.ppf(0.975, 2) * np.std(sample, ddof=1) / math.sqrt(3)
    row = got.iloc[2]
    assert row["mean"] == pytest.approx(sample.mean())
    assert (row["low"], row["high"]) == (pytest.approx(sample.mean() - half), pytest.approx(sample.mean() + half))
    assert half > 2  # t(0.975, 2) = 4.30, not the normal 1.96
    assert (got.iloc[0]["low"], got.iloc[0]["mean"], got.iloc[0]["high"]) == (3.0, 3.0, 3.0)  # runs that agree
    assert got.iloc[1]["mean"] == 5.0 and math.isnan(got.iloc[1]["low"]) and math.isnan(got.iloc[1]["high"])

    text = frame.assign(x=["b", "b", "b", "b", "a", "a", "b", "a"])
    assert list(mean_and_band(text, "x", "k")["value"]) == ["b", "b", "a"]  # as they first ran, not sorted
    by_protocol = mean_and_band(frame, None, "k")
    assert list(by_protocol["protocol"]) == ["softlock", "none"] and list(by_protocol["n"]) == [1, 5]
    assert by_protocol.iloc[1]["mean"] == pytest.approx(13 / 5)


def test_each_kpi_is_drawn_against_the_parameter_per_protocol_with_its_band(dataset):
    sweep = load_sweep(dataset)
    fig = plot_parameter(sweep, OUTAGE)
    assert "B-C outage" in fig.get_suptitle() and SCHEDULE in fig.get_suptitle()  # averaged over the other one
    assert [ax.get_title() for ax in visible(fig)] == [BY_NAME[k].label or k for k in drawn_kpis(sweep)]
    assert "failed_writes" not in drawn_kpis(sweep) and "rebaselines" in drawn_kpis(sweep)
    ax = panel(fig, "max_lag_s")
    assert ax.get_xlabel() == "B-C outage (hours)" and ax.get_ylabel() == "hours"
    expected = mean_and_band(sweep, OUTAGE, "max_lag_s")
    for protocol in ("none", "softlock"):
        mine = expected[expected["protocol"] == protocol]
        line = next(ln for ln in ax.get_lines() if to_rgb(ln.get_color()) == to_rgb(protocol_colour(protocol)))
        assert list(line.get_xdata()) == [2.0, 12.0]
        assert list(line.get_ydata()) == pytest.approx(list(mine["mean"] / 3600))
        band = next(c for c in ax.collections if to_rgb(c.get_facecolor()[0][:3]) == to_rgb(protocol_colour(protocol)))
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert (ys.min(), ys.max()) == (pytest.approx(mine["low"].min() / 3600), pytest.approx(mine["high"].max() / 3600))
        assert list(mine["n"]) == [6, 6]  # 3 seeds x 2 schedules at each outage length


def test_a_text_parameter_is_drawn_as_categories_in_the_order_the_sweep_ran_them(dataset):
    fig = plot_parameter(load_sweep(dataset), SCHEDULE)
    for ax in visible(fig):
        assert [t.get_text() for t in ax.get_xticklabels()] == SCHEDULES
        assert all(list(line.get_xdata()) == [0.0, 1.0] for line in ax.get_lines())


def test_sweep_report_writes_a_self_contained_page_that_embeds_a_figure_per_parameter(dataset, capsys):
    assert main(["sweep-report", str(dataset)]) == 0
    folder = dataset / "report"
    assert sorted(p.name for p in folder.iterdir()) == ["links-1-outages-0-for.png", "mirrors-1-schedule.png",
                                                         "report.html"]
    assert capsys.readouterr().out.splitlines()[0] == f"report: {folder.resolve() / 'report.html'}"
    page = (folder / "report.html").read_text()
    for png in folder.glob("*.png"):
        data = png.read_bytes()
        assert data[:4] == b"\x89PNG" and f'src="data:image/png;base64,{b64encode(data).decode()}"' in page
    assert not re.search(r'(src|href)="https?:', page) and "<script" not in page
    assert "<h1>outages</h1>" in page and "quickstart.yaml" in page and "outages.yaml" in page
    assert "24 of the 24 planned runs: <b>24 ok</b>, 0 invalid" in page
    zero = re.search(r"Zero in every run, so not drawn: ([^<]*)", page).group(1)
    assert "failed_writes" in zero and "rebaselines" not in zero
    # the headline table: mean ± the interval's half-width, per outage length and protocol
    sweep = load_sweep(dataset)
    lock = mean_and_band(sweep, OUTAGE, "lock_space_byte_hours").iloc[3]
    assert (lock["value"], lock["protocol"]) == (43200.0, "softlock")
    lock_cell = " ± ".join(format_kpi("lock_space_byte_hours", v) for v in (lock["mean"], lock["high"] - lock["mean"]))
    assert re.search(rf"<tr><td>12 h</td><td>softlock</td><td class=\"num\">6</td>(<td[^>]*>[^<]*</td>){{2}}"
                     rf"<td class=\"num\">{re.escape(lock_cell)}</td>", page)
    assert main(["sweep-report", str(dataset)]) == 0
    assert (folder / "report.html").read_text() == page  # the same dataset, the same bytes


def test_a_sweep_without_parameters_compares_the_protocols(bare):
    sweep = load_sweep(bare)
    fig = plot_protocols(sweep)
    ax = panel(fig, "lock_space_byte_hours")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "softlock"]
    written = write_sweep_report(bare)
    assert [p.name for p in written] == ["report.html", "protocols.png"]
    page = written[0].read_text()
    assert "By protocol" in page and "6 of the 6 planned runs" in page


def test_failed_invalid_and_missing_runs_are_reported_and_left_out(dataset, tmp_path):
    copy = tmp_path / "outages"
    shutil.copytree(dataset, copy, ignore=shutil.ignore_patterns("report", ".lock"))
    sweep = load_sweep(copy)
    rows = sweep.head(20).to_dict("records")  # as if interrupted after 20 of the 24 runs
    rows[0] |= {"status": "error", "error": "RuntimeError: <boom>", "events": None,
                **{k: math.nan for k in sweep.attrs["manifest"]["kpis"]}}
    rows[1] |= {"status": "invalid", "error": "the base scenario refused it",
                **{k: math.nan for k in sweep.attrs["manifest"]["kpis"]}}
    for part in (copy / RUNS_DIR).iterdir():
        part.unlink()
    SweepDataset(copy, sweep.attrs["manifest"]).append(rows)
    page = write_sweep_report(copy, tmp_path / "report")[0].read_text()
    assert "20 of the 24 planned runs: <b>18 ok</b>, 1 invalid" in page and "1 failed" in page
    assert "4 runs have not run" in page
    assert "RuntimeError: &lt;boom&gt;" in page and "the base scenario refused it" in page
    # runs 0 and 1 (2h, none) are left out of the means: 4 of that row's 6 remain
    assert re.search(r'<tr><td>2 h</td><td>none</td><td class="num">4</td>', page)


def test_a_not_a_dataset_or_an_output_that_is_not_a_report_exits_2(dataset, tmp_path, capsys):
    assert main(["sweep-report", str(tmp_path)]) == 2
    assert f"{tmp_path} is not a sweep dataset" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    assert main(["sweep-report", str(dataset), "--out", str(a_file)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err and a_file.read_text() == "mine"
    assert main(["sweep-report", str(dataset), "--out", str(a_file / "report")]) == 2
    assert "is not a folder" in capsys.readouterr().err and a_file.read_text() == "mine"
    assert main(["sweep-report", str(dataset), "--out", str(tmp_path)]) == 2  # holds other things: never replaced
    assert "not an earlier sweep report" in capsys.readouterr().err and a_file.read_text() == "mine"
    assert main(["sweep-report", str(dataset), "--out", str(dataset.parent)]) == 2
    assert "holds the dataset" in capsys.readouterr().err and (dataset / "manifest.json").is_file()


def test_a_report_that_fails_midway_leaves_the_earlier_one_whole(bare, tmp_path, monkeypatch):
    out = tmp_path / "report"
    first = write_sweep_report(bare, out)
    before = {p.name: p.read_bytes() for p in first}

    def broken(_folder: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sweep_report, "fsync_tree", broken)
    with pytest.raises(OSError, match="disk full"):
        write_sweep_report(bare, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder left behind


def test_a_kpi_missing_where_others_are_not_leaves_its_cell_empty(dataset):
    """The headline table takes its rows from every KPI, so a KPI that is NaN at some value and
    protocol leaves that cell empty instead of failing the report."""
    sweep = load_sweep(dataset)
    first = sweep.index[0]
    sweep.loc[first, "rebaselines"] = math.nan
    lonely = sweep[(sweep["protocol"] == sweep.loc[first, "protocol"])
                   & (sweep["mirrors[1].schedule"] == sweep.loc[first, "mirrors[1].schedule"])]
    sweep.loc[lonely.index, "rebaselines"] = math.nan
    html = sweep_report.render_sweep_report(sweep, {}, None)
    assert "–" in html
