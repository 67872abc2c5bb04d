"""report.html: one self-contained page per run that opens from disk with no server.

The page holds the KPI table, per-relationship and per-link facts, lock propagation
statistics when soft locks travelled, every plot embedded as a base64 data URI (or why there
are none: switched off, or no tables to draw them from), and the scenario file's text. It has
no scripts and loads nothing from the network.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from sim.observe.kpis import KPIS
from sim.present.formatting import (
    format_byte_hours,
    format_bytes,
    format_count,
    format_kpi,
    format_percent,
    format_seconds,
    format_value,
    outcome,
)
from sim.present.plots import PLOTS
from sim.results import Results

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.1em; } .sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; } tr.bad td { background: #fde8e8; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.92em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def _table(header: list[str], rows: list[list[str]], table_id: str, text_columns: int = 1,
           bad_rows: set[int] | None = None) -> str:
    """An HTML table; the first `text_columns` columns are left-aligned text, the rest numbers.
    Rows in `bad_rows` are shaded red."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td class="num">{html.escape(c)}</td>' if j >= text_columns else f"<td>{html.escape(c)}</td>"
                        for j, c in enumerate(row))
        body.append(f'<tr class="bad">{cells}</tr>' if bad_rows and i in bad_rows else f"<tr>{cells}</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _kpi_table(kpis: dict[str, float]) -> str:
    """Every KPI of the registry with what it counts and its value; alarms that are not zero shaded."""
    rows = [[kpi.name, kpi.meaning, format_kpi(kpi.name, kpis[kpi.name])] for kpi in KPIS]
    bad = {i for i, kpi in enumerate(KPIS) if kpi.alarm and kpis[kpi.name]}
    return _table(["KPI", "what it counts", "value"], rows, "kpis", text_columns=2, bad_rows=bad)


def _headline(summary: dict[str, Any]) -> str:
    k = summary["kpis"]
    return f"{outcome(k)}; worst lag {format_kpi('max_lag_s', k['max_lag_s'])}."


def _relationships(summary: dict[str, Any]) -> str:
    rels = summary["relationships"]
    if not rels:
        return "<p>No mirror relationships.</p>"
    rows, bad = [], set()
    for i, (name, r) in enumerate(rels.items()):
        rows.append([name, format_count(r["updates_completed"]), format_count(r["updates_skipped"]),
                     format_count(r["rebaselines"]), format_bytes(r["bytes"]),
                     format_value("seconds", r["mean_lag_s"]), format_value("seconds", r["max_lag_s"])])
        if r["rebaselines"]:
            bad.add(i)
    return _table(["relationship", "updates", "skipped", "re-baselines", "bytes sent", "mean lag", "max lag"], rows,
                  "relationships", bad_rows=bad)


def _links_and_locks(summary: dict[str, Any]) -> str:
    parts = []
    links = summary["links"]
    if links:
        parts.append(_table(
            ["link", "bytes carried", "mean utilisation", "busy", "peak utilisation"],
            [[n, format_bytes(u["bytes"]), format_percent(u["mean_utilisation"]), format_percent(u["busy_fraction"]),
              format_percent(u["peak_utilisation"], decimals=0)] for n, u in links.items()], "links"))
    held = summary["lock_space_byte_hours"]
    peaks = summary["lock_space_peak_bytes"]
    holds = summary["hold_space_byte_hours"]
    if held:
        parts.append(_table(["appliance", "lock space overhead", "lock space peak", "held by application holds"],
                            [[n, format_byte_hours(v), format_bytes(peaks[n]), format_byte_hours(holds[n])]
                             for n, v in held.items()], "lock-space"))
    return "".join(parts)


def _delays(label: str, stats: dict[str, Any]) -> list[str]:
    """A row of the propagation table: how many locks, and their delays' p50, p95 and max."""
    return [label, format_count(stats["count"]), *(format_value("seconds", stats[q]) for q in ("p50", "p95", "max"))]


def _propagation(summary: dict[str, Any]) -> str:
    stats = summary["lock_propagation_s"]
    if not stats["by_hops"]:
        return ""
    rows = [_delays(hops, s) for hops, s in sorted(stats["by_hops"].items(), key=lambda kv: int(kv[0]))]
    rows += [_delays("all", stats), _delays("to the head, end to end", stats["to_head"])]
    return ("<h2>Lock propagation</h2><p>From a soft lock's creation at the locking dataset until it is in force at "
            "the holder.</p>" + _table(["hops", "locks", "p50", "p95", "max"], rows, "lock-propagation"))


def _figures(results: Results, images: dict[str, bytes], plots: bool) -> str:
    """The plots section's body: each plot of `images` with its caption, and why plots are
    missing when they were switched off or the run kept no tables for them."""
    if not plots:
        return "<p>Plots were switched off for this run (<code>--no-plots</code>).</p>"
    figures = []
    for name, _draw, caption in PLOTS:
        if name in images:
            data = base64.b64encode(images[name]).decode("ascii")
            figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
                           f"<figcaption><b>{html.escape(name)}</b>: {html.escape(caption)}</figcaption></figure>")
    if not results.tables:
        figures.append("<p>The other plots are drawn from the run's tables, which this run did not keep "
                       "(<code>--tables kpis</code>).</p>")
    return "".join(figures)


def render_report(results: Results, images: dict[str, bytes], scenario_text: str | None, *, plots: bool = True) -> str:
    """The HTML text of a run's report; `images` maps plot file names to PNG bytes; `plots=False`
    says the plots were switched off."""
    s = results.summary
    title = f"cascadesim: {s['scenario']} - protocol {s['protocol']}, seed {s['seed']}"
    if scenario_text is not None:
        scenario = (f"<h2>Scenario file</h2><p>This run used protocol {html.escape(str(s['protocol']))} and seed "
                    f"{s['seed']}; <code>--protocol</code>, <code>--seed</code> and <code>compare</code> override the "
                    f"file's values.</p><pre>{html.escape(scenario_text)}</pre>")
    else:
        scenario = "<h2>Scenario</h2><p>The scenario file's text was not given to this report.</p>"
    resolved = html.escape(json.dumps(results.scenario, indent=2))
    scenario += f"<details><summary>Resolved scenario (seconds, bytes, bytes/s)</summary><pre>{resolved}</pre></details>"
    duration = format_seconds(s["duration_s"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{html.escape(s['scenario'])}</h1>
<p class="sub">protocol <b>{html.escape(str(s['protocol']))}</b>, seed {s['seed']}, {duration} simulated,
{format_count(s['events_processed'])} events in {format_seconds(s['wall_seconds'])}</p>
<p>{html.escape(_headline(s))}</p>
<h2>KPIs</h2>
{_kpi_table(s['kpis'])}
<h2>Mirror relationships</h2>
{_relationships(s)}
<h2>Links and lock space</h2>
{_links_and_locks(s)}
{_propagation(s)}
<h2>Plots</h2>
{_figures(results, images, plots)}
{scenario}
</body></html>
"""


def write_report(results: Results, folder: Path, scenario_text: str | None, *, plots: bool = True) -> Path:
    """Write `folder/report.html` with the plots already in `folder` (`plots=False`: saying they
    were switched off); returns its path."""
    images = {name: (folder / name).read_bytes() for name, _draw, _caption in PLOTS if (folder / name).is_file()}
    path = folder / "report.html"
    path.write_text(render_report(results, images, scenario_text, plots=plots), encoding="utf-8")
    return path
