"""What a results folder holds: its files, its tables, and the schema version they follow.

`sim.results.write` writes a folder of this layout and `sim.results.load` reads one back; the
README's "A run's results folder" describes every file.
"""

from __future__ import annotations

SCHEMA_VERSION = 3
"""The version of the results schema: the keys of summary.json and the columns of the tables.
Every summary says which one it follows (`schema_version`, its first key). Raise it with any
change a reader can see (a key or column added, removed, renamed or given another meaning), and
teach `READABLE_SCHEMA_VERSIONS` to read the old one only if presentation still can.
Version 2 added the KPI `peak_pcpis` (and its per-volume `peak_pcpis` in the summary)."""
READABLE_SCHEMA_VERSIONS = (SCHEMA_VERSION,)
"""The schema versions `sim.results.load` reads; it refuses a folder of any other, so the
plots, report.html and the terminal know every key and column they read is there."""

TABLES = ("events", "transfers", "pcpis", "locks", "timeseries")
"""The tables every run writes, as `<name>.parquet`."""

SUMMARY_FILE = "summary.json"
"""The run's KPIs and per-relationship, per-link and per-appliance facts."""
SCENARIO_FILE = "scenario.json"
"""The resolved scenario (units in seconds, bytes, bytes/s), as plain JSON."""
COMPLETE_FILE = "complete.json"
"""Written last into a results folder: the format and every file's size. Its presence says the
writer finished; `load` refuses a folder without it or missing a file it lists."""
COMPLETE_FORMAT = 1
"""The `format` of `complete.json`."""
