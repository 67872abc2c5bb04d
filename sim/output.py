"""Writing a run's results folder: summary, resolved scenario, Parquet tables, plots and report.html.

A folder is written under a temporary name and renamed into place at the end, so an
interrupted or failed run never leaves a half-written result.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from sim.html_report import write_report
from sim.model import RunResult
from sim.plots import write_plots
from sim.results import SCENARIO_FILE, SUMMARY_FILE, Results


def run_folder(out_dir: Path, result: RunResult) -> Path:
    """`OUT/<scenario>/<protocol>-seed<N>/`."""
    s = result.scenario
    return out_dir / s.name / f"{s.protocol}-seed{s.seed}"


def write_results(result: RunResult, out_dir: Path, scenario_text: str | None = None) -> Path:
    """Write every output of `result` and return its folder (replacing an older one).

    `scenario_text`, the scenario file as written, is shown in report.html when given.
    """
    final = run_folder(out_dir, result)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    staging.chmod(0o755)
    try:
        results = Results.from_run(result)
        (staging / SUMMARY_FILE).write_text(json.dumps(result.summary, indent=2, sort_keys=False) + "\n")
        (staging / SCENARIO_FILE).write_text(json.dumps(results.scenario, indent=2) + "\n")
        for name, frame in result.tables.items():
            frame.to_parquet(staging / f"{name}.parquet", index=False)
        write_plots(results, staging)
        write_report(results, staging, scenario_text)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
