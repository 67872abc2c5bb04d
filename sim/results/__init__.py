"""A run's results: one type in memory and on disk, its folder written atomically and read back.

- `run`: `Results`, what one run produced (summary, tables, resolved scenario);
- `layout`: what a results folder holds (file and table names, the schema version);
- `load`: reading a folder back (`load`, `load_summary`, `ResultsError`);
- `write`: writing a run's folder and a compare table, checked before the run;
- `folders`: replacing a folder or a file so that a kill at any instant loses nothing;
- `sweep_dataset`: a sweep's dataset, one Parquet row per run, appended as runs finish
  (`load_sweep` reads it back).

`load("results/quickstart/softlock-seed42")` gives the same `Results` that
`sim.engine.model.simulate` returned for that run, so a notebook or a script loads a run in
one call, and the plots and report.html read it whether the run just finished or was written
long ago.
"""

from sim.results.layout import COMPLETE_FILE, SCENARIO_FILE, SCHEMA_VERSION, SUMMARY_FILE, TABLES
from sim.results.load import ResultsError, load, load_summary
from sim.results.run import Results
from sim.results.sweep_dataset import load_sweep

__all__ = ["COMPLETE_FILE", "SCENARIO_FILE", "SCHEMA_VERSION", "SUMMARY_FILE", "TABLES", "Results", "ResultsError",
           "load", "load_summary", "load_sweep"]
