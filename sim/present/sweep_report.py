"""sweep-report: what a sweep's dataset says, as PNG figures and one self-contained report.html.

For each swept parameter, one figure: a panel per KPI (those not zero in every run), the KPI
against the parameter, one line per protocol in its fixed colour. A point is the mean of every
`ok` run at that value under that protocol (every seed, and every value of the other
parameters); the shaded band is the 95 % confidence interval of that mean (Student's t, none
where a point has one run). A sweep without parameters (protocols x seeds) gets one figure, the
protocols side by side with the same means and intervals as error bars.

report.html embeds the figures as base64 data URIs, has no scripts and loads nothing from the
network. It says how many of the planned runs the dataset holds (an interrupted sweep is
reported as far as it went), how many the base scenario refused (`invalid`) or failed, and per
parameter a table of the headline KPIs by value and protocol. The same dataset gives the same
bytes: nothing in it depends on the time or on where the dataset is.

The report folder (`DATASET/report/` by default) is written under a temporary name and swapped
in whole (`sim.results.folders`): an earlier report is replaced complete or not at all, and a
folder that is not an earlier sweep report is never replaced.
"""

from __future__ import annotations

import html
import io
import math
import re
from base64 import b64encode
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.stats import t as student_t

from sim.observe.kpis import BY_NAME, Unit
from sim.present.formatting import (
    DIGITS,
    byte_unit,
    format_bytes,
    format_count,
    format_number,
    format_seconds,
    format_value,
    plural,
    seconds_unit,
    unit_scale,
)
from sim.present.html import CSS, _table
from sim.present.plots import DPI, protocol_colour
from sim.results.folders import (
    TEMP_PREFIX,
    fsync_tree,
    install,
    is_leftover,
    parent_lock,
    remove_folder,
    remove_if_empty,
    signals_deferred,
    temp_path,
)
from sim.results.plan import OutputError, check_writable
from sim.results.sweep_dataset import SWEEP_FILE, load_sweep

REPORT_DIR = "report"
"""The report's folder inside the dataset, unless `--out` says otherwise."""
REPORT_FILE = "report.html"
PROTOCOLS_FIGURE = "protocols.png"
"""The one figure of a sweep without parameters."""
GENERATOR = '<meta name="generator" content="cascadesim sweep-report">'
"""In the head of every report.html: how a folder is recognised as an earlier report that may be replaced."""
CONFIDENCE = 0.95
HEADLINE_KPIS = ("premature_deletions", "rebaselines", "lock_space_byte_hours", "max_lag_s")
"""The KPIs of each parameter's table in report.html."""
MAX_FAILURES_SHOWN = 5
"""Invalid and failed runs listed with their error in report.html (the first, by run id)."""
PANEL_COLUMNS = 4


def ok_runs(sweep: pd.DataFrame) -> pd.DataFrame:
    """The runs that finished (status `ok`): the only ones drawn and tabulated."""
    return sweep[sweep["status"] == "ok"]


def drawn_kpis(sweep: pd.DataFrame) -> list[str]:
    """The manifest's KPIs, in its order, that some `ok` run has other than 0 (and not NaN);
    the others are zero in every run and not drawn."""
    runs = ok_runs(sweep)
    return [k for k in sweep.attrs["manifest"]["kpis"] if (runs[k].fillna(0.0) != 0.0).any()]


def parameter_values(frame: pd.DataFrame, path: str) -> list[Any]:
    """The distinct values of the parameter column `path` in `frame`, in drawing order: numbers
    ascending, text in the order of first appearance by `run_id` (the order the sweep ran them)."""
    column = frame[path]
    if pd.api.types.is_numeric_dtype(column):
        return sorted(column.dropna().unique().tolist())
    rows = frame.sort_values("run_id", kind="stable") if "run_id" in frame.columns else frame
    return list(dict.fromkeys(rows[path].dropna()))


def mean_and_band(frame: pd.DataFrame, parameter: str | None, kpi: str) -> pd.DataFrame:
    """The mean of `kpi` over the rows of `frame` at each value of the column `parameter` under
    each protocol, and its 95 % confidence interval, mean ± t(0.975, n-1)·s/√n.

    Columns: `value` (None when `parameter` is None: by protocol alone), `protocol`, `n` (rows
    with a `kpi`; NaN rows, runs that did not finish, are left out, and a combination with none is
    not listed), `mean`, `low`, `high` (NaN where n = 1: no interval). Rows are ordered by value
    (`parameter_values`), then protocol in order of first appearance by `run_id`."""
    rows = frame.sort_values("run_id", kind="stable") if "run_id" in frame.columns else frame
    rows = rows[rows[kpi].notna()]
    keys = ["protocol"] if parameter is None else [parameter, "protocol"]
    stats = rows.groupby(keys, sort=False)[kpi].agg(["count", "mean", "std"]).reset_index()
    value_rank = {} if parameter is None else {v: i for i, v in enumerate(parameter_values(rows, parameter))}
    protocol_rank = {p: i for i, p in enumerate(dict.fromkeys(rows["protocol"]))}
    order = sorted(range(len(stats)), key=lambda i: (value_rank[stats[parameter].iat[i]] if parameter is not None else 0,
                                                     protocol_rank[stats["protocol"].iat[i]]))
    stats = stats.iloc[order].reset_index(drop=True)
    n = stats["count"].to_numpy(dtype=np.int64)
    mean = stats["mean"].to_numpy(dtype=float)
    several = n > 1
    half = np.full(len(stats), np.nan)
    half[several] = (student_t.ppf((1 + CONFIDENCE) / 2, n[several] - 1)
                     * stats["std"].to_numpy(dtype=float)[several] / np.sqrt(n[several]))
    values = [None] * len(stats) if parameter is None else stats[parameter].tolist()
    return pd.DataFrame({"value": pd.Series(values, dtype=object), "protocol": pd.Series(list(stats["protocol"]), dtype=object),
                         "n": n, "mean": mean, "low": mean - half, "high": mean + half})


# -- parameters and KPIs for people ------------------------------------------------------


def _kpi_unit(kpi: str) -> Unit:
    """A KPI's unit from the registry (a KPI this checkout does not know, from a newer dataset: a count)."""
    return BY_NAME[kpi].unit if kpi in BY_NAME else "count"


def _kpi_label(kpi: str) -> str:
    known = BY_NAME.get(kpi)
    return known.label if known and known.label else kpi


def _parameter_scale(parameter: dict[str, str], largest: float) -> tuple[float, str]:
    """(base units per axis unit, unit name) of a parameter's axis: seconds to the time unit that
    fits, bytes (and bytes per second) to IEC units; a plain number as it is (no name)."""
    kind = parameter["kind"]
    if kind == "duration":
        return seconds_unit(largest)
    if kind == "size":
        return byte_unit(largest)
    if kind == "rate":
        scale, name = byte_unit(largest)
        return scale, f"{name}/s"
    return 1.0, ""


def _format_parameter(kind: str, value: Any, digits: int) -> str:
    if kind == "duration":
        return format_seconds(float(value), digits)
    if kind == "size":
        return format_bytes(float(value), digits)
    if kind == "rate":
        return f"{format_bytes(float(value), digits)}/s"
    if kind == "number":
        return format_number(float(value), digits)
    return str(value)


def parameter_labels(parameter: dict[str, str], values: Sequence[Any]) -> dict[Any, str]:
    """Each value of a parameter as people read it (`2 h`, `1.5 GiB`, text as it is), with as many
    significant digits as it takes to tell the values apart (sampled values can be close)."""
    distinct = list(dict.fromkeys(values))
    for digits in range(DIGITS, 18):
        labels = [_format_parameter(parameter["kind"], v, digits) for v in distinct]
        if len(set(labels)) == len(labels):
            break
    return dict(zip(distinct, labels))


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", path).strip("-")[:80] or "parameter"


def figure_names(manifest: dict[str, Any]) -> dict[str, str]:
    """The PNG file name of each parameter's figure, by its path: the path with every run of
    characters other than letters, digits and `_` made one `-` (`links-1-outages-0-for.png`),
    numbered where two paths would give the same name."""
    names: dict[str, str] = {}
    for parameter in manifest["parameters"]:
        slug = base = _slug(parameter["path"])
        k = 1
        while f"{slug}.png" in names.values():
            k += 1
            slug = f"{base}-{k}"
        names[parameter["path"]] = f"{slug}.png"
    return names


# -- figures -------------------------------------------------------------------------------


def _panels(count: int, title: str) -> tuple[Figure, list[Axes]]:
    """A figure of `count` panels, `PANEL_COLUMNS` a row, the spare ones hidden."""
    cols = min(PANEL_COLUMNS, max(count, 1))
    rows = max(-(-count // cols), 1)
    fig = Figure(figsize=(3.9 * cols, 3.1 * rows + 1.3), layout="constrained")
    fig.suptitle(title)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _y_scale(ax: Axes, kpi: str, stats: pd.DataFrame) -> float:
    """Title and y label of a KPI's panel; returns the KPI units per axis unit."""
    values = np.abs(stats[["mean", "high"]].to_numpy(dtype=float))
    scale, unit = unit_scale(_kpi_unit(kpi), float(np.nanmax(values)) if len(values) else 0.0)
    ax.set_title(_kpi_label(kpi), fontsize=10)
    ax.set_ylabel(unit)
    return scale


def _stacked(i: int) -> dict[str, Any]:
    """Line and marker of the `i`-th protocol drawn: each narrower than the one before, so that
    protocols with equal results stay visible one inside the other instead of hiding each other."""
    return {"marker": "osD^v*"[i % 6], "markersize": max(9.0 - 1.5 * i, 3.0), "linewidth": max(4.0 - 0.8 * i, 1.0)}


def _legend(fig: Figure, protocols: Sequence[str], band: str | None) -> None:
    """One legend under the panels: each protocol's colour, and what the shaded band is (`band`)."""
    handles: list[Line2D | Patch] = [Line2D([], [], color=protocol_colour(p), label=p, **_stacked(i))
                                     for i, p in enumerate(protocols)]
    if band is not None:
        handles.append(Patch(color="0.5", alpha=0.25, label=band))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=9, frameon=False)


def _parameter_of(manifest: dict[str, Any], path: str) -> dict[str, str]:
    for parameter in manifest["parameters"]:
        if parameter["path"] == path:
            return parameter
    raise KeyError(f"{path} is not a parameter of sweep {manifest['name']}")


def plot_parameter(sweep: pd.DataFrame, path: str) -> Figure:
    """Each KPI that is not zero in every run (`drawn_kpis`) against the swept parameter `path`,
    a panel per KPI, for `sweep` as `load_sweep` returns it. Per protocol, in its fixed colour,
    a line through the mean of the `ok` runs at each value (every seed and every value of the
    other parameters, which the title names), with the 95 % confidence band of that mean
    shaded where the value has two runs or more. A duration, size or rate is in the unit that
    fits; a text parameter's values are categories in the order the sweep first ran them."""
    manifest = sweep.attrs["manifest"]
    parameter = _parameter_of(manifest, path)
    runs = ok_runs(sweep)
    kpis = drawn_kpis(sweep)
    others = [p["label"] for p in manifest["parameters"] if p["path"] != path]
    over = "seeds" + (f" and every value of {', '.join(others)}" if others else "")
    fig, axes = _panels(len(kpis), f"{manifest['name']}: KPIs against {parameter['label']}\n"
                                   f"mean of the runs at each value (over {over})")
    text = parameter["kind"] == "text"
    if text:
        categories = parameter_values(runs, path)
        labels = parameter_labels(parameter, categories)
        position = {v: float(i) for i, v in enumerate(categories)}
        xlabel = parameter["label"]
    else:
        scale, unit = _parameter_scale(parameter, float(runs[path].abs().max()) if len(runs) else 0.0)
        xlabel = f"{parameter['label']} ({unit})" if unit else parameter["label"]
    protocols = list(dict.fromkeys(runs["protocol"]))
    for ax, kpi in zip(axes, kpis):
        stats = mean_and_band(runs, path, kpi)
        y_scale = _y_scale(ax, kpi, stats)
        for i, protocol in enumerate(protocols):
            mine = stats[stats["protocol"] == protocol]
            x = mine["value"].map(position) if text else mine["value"].astype(float) / scale
            colour = protocol_colour(protocol)
            ax.plot(x, mine["mean"] / y_scale, color=colour, alpha=0.85, **_stacked(i))
            ax.fill_between(x, mine["low"] / y_scale, mine["high"] / y_scale, color=colour, alpha=0.2, linewidth=0)
        if text:
            ax.set_xticks(list(position.values()), [labels[v] for v in categories],
                          rotation=30 if max(map(len, labels.values())) > 8 else 0, fontsize=8)
            ax.set_xlim(-0.5, len(categories) - 0.5)
        ax.set_xlabel(xlabel, fontsize=9)
    _legend(fig, protocols, f"{CONFIDENCE:.0%} confidence interval of the mean")
    return fig


def plot_protocols(sweep: pd.DataFrame) -> Figure:
    """The figure of a sweep without parameters: each KPI that is not zero in every run, a panel
    per KPI, one point per protocol (in its colour) at the mean of its `ok` runs (every seed),
    with the 95 % confidence interval of that mean as error bars (none for a single run)."""
    manifest = sweep.attrs["manifest"]
    runs = ok_runs(sweep)
    kpis = drawn_kpis(sweep)
    fig, axes = _panels(len(kpis), f"{manifest['name']}: KPIs by protocol\nmean of the runs (over seeds), "
                                   f"error bars: {CONFIDENCE:.0%} confidence interval of the mean")
    protocols = list(dict.fromkeys(runs["protocol"]))
    for ax, kpi in zip(axes, kpis):
        stats = mean_and_band(runs, None, kpi)
        y_scale = _y_scale(ax, kpi, stats)
        for i, row in enumerate(stats.itertuples(index=False)):
            error = None if math.isnan(row.high) else [[(row.mean - row.low) / y_scale], [(row.high - row.mean) / y_scale]]
            ax.errorbar([i], [row.mean / y_scale], yerr=error, fmt="o", color=protocol_colour(row.protocol), capsize=4)
        ax.set_xticks(range(len(stats)), list(stats["protocol"]), rotation=30 if len(stats) > 3 else 0, fontsize=8)
        ax.set_xlim(-0.6, len(stats) - 0.4)
    _legend(fig, protocols, None)
    return fig


def _png(fig: Figure) -> bytes:
    """`fig` as PNG bytes (as `sim.present.plots.save` writes it), the figure cleared after."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    fig.clear()
    return buffer.getvalue()


def render_figures(sweep: pd.DataFrame) -> dict[str, bytes]:
    """The report's PNGs by file name: a figure per parameter (`figure_names`), or
    `PROTOCOLS_FIGURE` for a sweep without parameters; none when no run has a KPI to draw."""
    if not drawn_kpis(sweep):
        return {}
    names = figure_names(sweep.attrs["manifest"])
    if not names:
        return {PROTOCOLS_FIGURE: _png(plot_protocols(sweep))}
    return {name: _png(plot_parameter(sweep, path)) for path, name in names.items()}


# -- report.html ---------------------------------------------------------------------------


def _img(data: bytes, alt: str, caption: str) -> str:
    encoded = b64encode(data).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _headline_table(runs: pd.DataFrame, parameter: dict[str, str] | None, table_id: str) -> str:
    """Mean (± the confidence interval's half-width) of each headline KPI, by value (when a
    parameter is given) and protocol, with the number of runs behind each mean."""
    kpis = [k for k in HEADLINE_KPIS if k in runs.columns]
    path = None if parameter is None else parameter["path"]
    stats = {k: mean_and_band(runs, path, k).set_index(["value", "protocol"]) for k in kpis}
    keys = list(dict.fromkeys(key for k in kpis for key in stats[k].index))  # a KPI may be NaN where others are not
    labels = {} if parameter is None else parameter_labels(parameter, [value for value, _p in keys])
    rows = []
    for value, protocol in keys:
        cells = [] if parameter is None else [labels[value]]
        cells += [protocol, format_count(max(int(stats[k].loc[(value, protocol), "n"]) for k in kpis
                                             if (value, protocol) in stats[k].index))]
        for k in kpis:
            if (value, protocol) not in stats[k].index:
                cells.append("–")
                continue
            mean, high = stats[k].loc[(value, protocol), ["mean", "high"]]
            text = format_value(_kpi_unit(k), mean)
            if math.isfinite(high) and high > mean:
                text += f" ± {format_value(_kpi_unit(k), high - mean)}"
            cells.append(text)
        rows.append(cells)
    header = ([] if parameter is None else [parameter["label"]]) + ["protocol", "runs", *map(_kpi_label, kpis)]
    return _table(header, rows, table_id, text_columns=1 if parameter is None else 2)


def _runs_section(sweep: pd.DataFrame) -> str:
    """How many runs are recorded of those planned, by status, and the first invalid or failed ones."""
    manifest = sweep.attrs["manifest"]
    planned = int(manifest.get("runs", len(sweep)))
    counts = sweep["status"].value_counts()
    ok, invalid, failed = (int(counts.get(s, 0)) for s in ("ok", "invalid", "error"))
    parts = [f"<p>The dataset holds {format_count(len(sweep))} of the {plural(planned, 'planned run')}: "
             f"<b>{format_count(ok)} ok</b>, {format_count(invalid)} invalid (the base scenario refused the "
             f"combination of values), {format_count(failed)} failed.</p>"]
    if len(sweep) < planned:
        parts.append(f"<p>{plural(planned - len(sweep), 'run')} have not run (the sweep was interrupted, or is still running): "
                     f"<code>cascadesim sweep --resume</code> runs them; this report shows the runs recorded.</p>")
    bad = sweep[sweep["status"] != "ok"]
    if len(bad):
        parameters = manifest["parameters"]
        shown = bad.head(MAX_FAILURES_SHOWN)
        labels = [parameter_labels(p, shown[p["path"]].tolist()) for p in parameters]
        rows = [[str(r["run_id"]), str(r["status"]), str(r["protocol"]), str(r["seed"]),
                 *(label[r[p["path"]]] for p, label in zip(parameters, labels)), str(r["error"])]
                for _i, r in shown.iterrows()]
        more = f" (the first {len(shown)} of {len(bad)})" if len(bad) > len(shown) else ""
        parts.append(f"<p>Runs that did not finish{more}; they are left out of the figures and tables:</p>")
        parts.append(_table(["run", "status", "protocol", "seed", *(p["label"] for p in parameters), "error"], rows,
                            "failures", text_columns=len(rows[0])))
    return "".join(parts)


def _kpis_section(sweep: pd.DataFrame) -> str:
    """What each drawn KPI counts, and which KPIs are zero in every run (and so not drawn)."""
    drawn = drawn_kpis(sweep)
    if not len(ok_runs(sweep)):
        return "<p>No run finished: there is nothing to draw.</p>"
    rows = [[_kpi_label(k), k, BY_NAME[k].meaning if k in BY_NAME else ""] for k in drawn]
    zero = [k for k in sweep.attrs["manifest"]["kpis"] if k not in drawn]
    text = _table(["panel", "KPI", "what it counts"], rows, "kpis", text_columns=3)
    if zero:
        text += f"<p>Zero in every run, so not drawn: {html.escape(', '.join(zero))}.</p>"
    return text


def _band_note(over: str) -> str:
    return (f"A point is the mean of the ok runs at that value under that protocol (over {html.escape(over)}); "
            f"the band is the {CONFIDENCE:.0%} confidence interval of that mean, mean ± t·s/√n (Student's t with "
            f"n − 1 degrees of freedom), none where the point has one run.")


def _parameter_sections(sweep: pd.DataFrame, images: dict[str, bytes]) -> str:
    """Per parameter: its figure and its table of headline KPIs; for a sweep without parameters,
    the protocols' figure and table."""
    manifest = sweep.attrs["manifest"]
    runs = ok_runs(sweep)
    if not len(runs):
        return ""
    sections = []
    if not manifest["parameters"]:
        figure = (_img(images[PROTOCOLS_FIGURE], PROTOCOLS_FIGURE, html.escape(
            f"Each KPI by protocol: the mean of the ok runs (over seeds) with its {CONFIDENCE:.0%} confidence "
            "interval as error bars, none for a single run.")) if PROTOCOLS_FIGURE in images else "")
        sections.append(f"<h2>By protocol</h2>{figure}{_headline_table(runs, None, 'headline')}")
    names = figure_names(manifest)
    for parameter in manifest["parameters"]:
        path, name = parameter["path"], names[parameter["path"]]
        others = [p["label"] for p in manifest["parameters"] if p is not parameter]
        over = "seeds" + (f" and every value of {', '.join(others)}" if others else "")
        figure = _img(images[name], name, _band_note(over)) if name in images else ""
        values = parameter_labels(parameter, parameter_values(runs, path))
        sections.append(
            f'<h2 id="{name[:-4]}">{html.escape(parameter["label"])}</h2>'
            f"<p><code>{html.escape(path)}</code> ({html.escape(parameter['kind'])}); values in the ok runs: "
            f"{html.escape(', '.join(values.values()) or 'none')}.</p>{figure}"
            f"{_headline_table(runs, parameter, f'headline-{name[:-4]}')}")
    return "".join(sections)


def render_sweep_report(sweep: pd.DataFrame, images: dict[str, bytes], sweep_text: str | None) -> str:
    """The HTML text of a sweep's report: `sweep` as `load_sweep` returns it, `images` the PNGs
    of `render_figures` by file name, `sweep_text` the sweep file as it was read (shown at the end)."""
    manifest = sweep.attrs["manifest"]
    name = str(manifest["name"])
    parameters = ", ".join(p["label"] for p in manifest["parameters"]) or "no parameters"
    protocols = ", ".join(manifest["protocols"])
    code = manifest.get("code") or {}
    commit = str(code.get("git_commit") or "")[:12]
    made = (f"; recorded by cascadesim {code.get('package_version', '?')}"
            + (f" ({commit}{', with uncommitted changes' if code.get('git_dirty') else ''})" if commit else ""))
    sweep_file = (f"<h2>Sweep file</h2><pre>{html.escape(sweep_text)}</pre>" if sweep_text is not None else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">{GENERATOR}<title>{html.escape(f"cascadesim sweep: {name}")}</title>
<style>{CSS}</style></head>
<body>
<h1>{html.escape(name)}</h1>
<p class="sub">sweep file <b>{html.escape(str(manifest.get('sweep_file', '?')))}</b> over the base scenario
<b>{html.escape(str(manifest.get('scenario_file', '?')))}</b>: {html.escape(parameters)} under
{html.escape(protocols + made)}</p>
<h2>Runs</h2>
{_runs_section(sweep)}
<h2>KPIs</h2>
{_kpis_section(sweep)}
<p>Only the ok runs are drawn and tabulated. In the tables, ± is the half-width of the {CONFIDENCE:.0%} confidence
interval of the mean (none where one run, or where the runs agree).</p>
{_parameter_sections(sweep, images)}
{sweep_file}
</body></html>
"""


# -- writing -------------------------------------------------------------------------------


def _check_replaceable(final: Path, dataset: Path) -> None:
    """Refuse (`OutputError`) an output path where a report must not go: a file, the dataset or a
    folder holding it, or a folder with anything but an earlier sweep report (report.html and PNGs)."""
    if dataset == final or final in dataset.parents:
        raise OutputError(f"{final} holds the dataset: choose a folder for the report alone")
    if not final.exists():
        return
    if not final.is_dir():
        raise OutputError(f"{final} exists and is not a folder")
    entries = list(final.iterdir())
    if not entries:
        return
    try:
        with (final / REPORT_FILE).open(encoding="utf-8", errors="replace") as stream:
            earlier = GENERATOR in stream.read(1024)
    except OSError:
        earlier = False
    if not earlier or any(e.name != REPORT_FILE and (e.suffix != ".png" or not e.is_file()) for e in entries):
        raise OutputError(f"{final} exists and is not an earlier sweep report: choose another folder")


def _clean_own_leftovers(parent: Path, name: str) -> None:
    """Remove the staging folders of report writers of `parent/name` that were killed, and put back
    an earlier report moved aside if `name` is free. Unlike `clean_leftovers`, it leaves every
    other temporary name alone: in the dataset folder, those are a running sweep's."""
    final = parent / name
    for kind in ("old", "new"):
        prefix = f"{TEMP_PREFIX}{kind}-{name}-"
        for path in sorted(parent.iterdir()):
            if not (path.name.startswith(prefix) and is_leftover(path.name)
                    and re.fullmatch(r"[0-9a-f]{12}", path.name[len(prefix):])):
                continue
            if kind == "old" and not final.exists():
                path.rename(final)
            else:
                remove_folder(path)


def write_sweep_report(dataset: Path, out: Path | None = None) -> list[Path]:
    """Write the report of the sweep dataset at `dataset` into `out` (default `dataset/report/`),
    replacing an earlier report whole; returns report.html's path, then the figures'.

    `ResultsError` if `dataset` is not a sweep dataset; `OutputError` if `out` is a file, holds
    the dataset, or is a folder with anything but an earlier sweep report."""
    sweep = load_sweep(dataset)
    source = dataset.resolve()
    final = (out if out is not None else dataset / REPORT_DIR).resolve()
    check_writable(final.parent)
    _check_replaceable(final, source)
    images = render_figures(sweep)
    try:
        sweep_text: str | None = (dataset / SWEEP_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        sweep_text = None
    page = render_sweep_report(sweep, images, sweep_text)
    with parent_lock(final.parent) as created, signals_deferred() as signals:
        staging = temp_path(final.parent, "new", final.name)
        try:
            _clean_own_leftovers(final.parent, final.name)
            _check_replaceable(final, source)  # again: another writer may have written there meanwhile
            staging.mkdir(mode=0o755)
            for name, data in images.items():
                (staging / name).write_bytes(data)
                signals.checkpoint()
            (staging / REPORT_FILE).write_text(page, encoding="utf-8")
            fsync_tree(staging)
            install(staging, final)
        except BaseException:
            remove_folder(staging)
            remove_if_empty(created)
            raise
    return [final / REPORT_FILE, *(final / name for name in images)]
