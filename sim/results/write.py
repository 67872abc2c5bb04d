"""Writing a run's results folder, and a compare table, so that no result is lost or mixed
with another.

The folder's path was planned and checked before the run (`sim.results.plan`). Then, holding
the lock of `OUT/<scenario>/` (writers into one scenario folder take turns), the writer removes
what killed writers left there, checks the plan again (another writer may have written
meanwhile), writes every file into a staging folder, writes `complete.json` last (the files and
their sizes: `sim.results.load` refuses a folder without it, or missing one of them), and
installs the folder with `sim.results.folders.install`: at every instant the final path holds
the old complete folder or the new one.

A compare table (`compare-seed<N>.csv`, with its figure `.png`) is written after its runs, from
their folders' summaries; writing a run folder of seed N for a protocol in that table removes
the table first, so a table never disagrees with the folders next to it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.present.compare import kpi_table, plot_compare
from sim.present.html import write_report
from sim.present.plots import save, write_plots
from sim.results.folders import (
    clean_leftovers,
    fsync_tree,
    install,
    install_file,
    parent_lock,
    remove_folder,
    remove_if_empty,
    signals_deferred,
    temp_path,
)
from sim.results.layout import COMPLETE_FILE, COMPLETE_FORMAT, SCENARIO_FILE, SUMMARY_FILE
from sim.results.load import load_summary
from sim.results.plan import RunFolder, check_replaceable, compare_name, plan_run_folder
from sim.results.run import Results
from sim.results.tables import write_parquet


def _write_files(results: Results, staging: Path, scenario_text: str | None, checkpoint: Callable[[], None],
                 plots: bool) -> None:
    """Every file of the results folder (the plots only if `plots`), `complete.json` last;
    `checkpoint` between two files."""
    (staging / SUMMARY_FILE).write_text(json.dumps(results.summary, indent=2, sort_keys=False) + "\n")
    (staging / SCENARIO_FILE).write_text(json.dumps(results.scenario, indent=2) + "\n")
    for name in results.tables:
        checkpoint()
        write_parquet(results.tables, name, staging / f"{name}.parquet")
    checkpoint()
    if plots:
        write_plots(results, staging, after_each=checkpoint)
    write_report(results, staging, scenario_text, plots=plots)
    checkpoint()
    files = {p.name: p.stat().st_size for p in sorted(staging.iterdir()) if p.is_file()}
    (staging / COMPLETE_FILE).write_text(json.dumps({"format": COMPLETE_FORMAT, "files": files}, indent=2) + "\n")
    fsync_tree(staging)
    checkpoint()


def _drop_stale_compare(target: RunFolder, protocol: str, seed: int) -> None:
    """Remove the compare table of `seed` (and its figure) if it has a column for `protocol`."""
    csv_path = target.scenario_dir / f"{compare_name(seed)}.csv"
    try:
        with csv_path.open(newline="") as stream:
            header = next(csv.reader(stream), [])
    except (OSError, UnicodeDecodeError):
        return
    if protocol in header[1:]:
        csv_path.unlink(missing_ok=True)
        csv_path.with_suffix(".png").unlink(missing_ok=True)


def write_run_folder(results: Results, target: RunFolder, scenario_text: str | None = None,
                     on_wait: Callable[[], None] | None = None, *, plots: bool = True) -> Path:
    """Write every output of `results` into its planned folder (replacing an older one) and
    return it. `scenario_text`, the scenario file as written, is shown in report.html when
    given; `on_wait` is called if another writer holds the scenario folder; `plots=False`
    writes no plots (`--no-plots`)."""
    s = results.summary
    with parent_lock(target.scenario_dir, on_wait) as created, signals_deferred() as signals:
        staging = temp_path(target.scenario_dir, "new", target.folder.name)
        try:
            clean_leftovers(target.scenario_dir, COMPLETE_FILE)
            check_replaceable(target.folder, target.sha256, target.force)
            staging.mkdir(mode=0o755)
            _write_files(results, staging, scenario_text, signals.checkpoint, plots)
            _drop_stale_compare(target, s["protocol"], s["seed"])
            install(staging, target.folder, COMPLETE_FILE)
        except BaseException:
            remove_folder(staging, COMPLETE_FILE)
            remove_if_empty(created)
            raise
    return target.folder


def write_results(results: Results, out_dir: Path, scenario_text: str | None = None, *, force: bool = False) -> Path:
    """Plan and write `results`' folder under `out_dir` in one call (see `plan_run_folder`)."""
    s = results.summary
    sha256 = (s.get("provenance") or {}).get("scenario_sha256")
    return write_run_folder(results, plan_run_folder(out_dir, s["scenario"], s["protocol"], s["seed"], sha256,
                                                     force=force), scenario_text)


def write_compare(csv_path: Path, folders: dict[str, Path], title: str,
                  on_wait: Callable[[], None] | None = None, *, plots: bool = True) -> dict[str, dict[str, Any]]:
    """Write the compare table (raw KPIs, one column per protocol) at `csv_path` and its figure
    (`.png`) next to it (`plots=False`: no figure, and an older one removed, as it would not
    match the table), from the summaries in the run `folders` as they are now; returns them."""
    figure = csv_path.with_suffix(".png")
    with parent_lock(csv_path.parent, on_wait), signals_deferred() as signals:
        summaries = {protocol: load_summary(folder) for protocol, folder in folders.items()}
        outputs: list[tuple[Path, Callable[[Path], object]]] = [
            (csv_path, lambda p: kpi_table(summaries).to_csv(p, index_label="kpi"))]
        if plots:
            outputs.append((figure, lambda p: save(plot_compare(summaries, title), p)))
        else:
            figure.unlink(missing_ok=True)
        for final, write in outputs:
            staging = temp_path(csv_path.parent, "tmp", final.name)
            try:
                write(staging)
                signals.checkpoint()
                install_file(staging, final)
            except BaseException:
                staging.unlink(missing_ok=True)
                raise
    return summaries
