"""What a results folder holds: its files and its tables.

`sim.results.write` writes a folder of this layout and `sim.results.load` reads one back; the
README's "A run's results folder" describes every file.
"""

from __future__ import annotations

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
