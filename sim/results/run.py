"""What one run produced: `Results`, the same type whether the run just finished or was
loaded from its results folder.

`sim.engine.model.simulate` returns one, `sim.results.load` gives one back from a folder, and
everything downstream (writing the folder, the plots, report.html, the terminal, the library's
checks, the notebooks and the tests) takes one.

The scenario travels as plain data, the same in memory and on disk: the scenario as resolved
for the run (`Scenario.model_dump(mode="json", by_alias=True)`: protocol and seed included,
times in seconds, sizes in bytes, rates in bytes/s, every default filled in), which is what
`scenario.json` holds. A run in memory and the same run loaded back therefore read the same
(`results.scenario["duration"]`, `results.scenario["mirrors"][0]["source"]`). The validated
`Scenario` object is not kept: the code that ran the simulation already holds it, and a
loaded folder cannot rebuild one (scenario files need units; the resolved form has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from sim.scenario import Scenario


@dataclass(frozen=True, eq=False)
class Results:
    """One run: `summary` (summary.json as a dict), its tables, and its resolved scenario.

    `tables` maps each table's name (`sim.results.TABLES`) to its DataFrame; the properties
    below name them. For a run in memory it is a `sim.results.tables.Tables`, which builds each
    DataFrame when it is first read (a run without tables has none). `scenario` is the resolved
    scenario as plain data (see the module docstring). `path` is the results folder it was
    loaded from, None for a run in memory.
    """

    summary: dict[str, Any]
    tables: Mapping[str, pd.DataFrame]
    scenario: dict[str, Any]
    path: Path | None = None

    @classmethod
    def of_run(cls, scenario: Scenario, summary: dict[str, Any], tables: Mapping[str, pd.DataFrame]) -> Results:
        """The results of a run of `scenario` that just finished, its scenario resolved to plain data."""
        return cls(summary=summary, tables=tables, scenario=scenario.model_dump(mode="json", by_alias=True))

    @property
    def events(self) -> pd.DataFrame:
        """What happened, one row per event (columns: the fields of `sim.observe.collectors.EventRow`)."""
        return self.tables["events"]

    @property
    def transfers(self) -> pd.DataFrame:
        """One row per mirror transfer (columns: the fields of `sim.observe.collectors.TransferRow`)."""
        return self.tables["transfers"]

    @property
    def pcpis(self) -> pd.DataFrame:
        """One row per PCPI per volume holding it (columns: the fields of `sim.observe.collectors.PcpiRow`)."""
        return self.tables["pcpis"]

    @property
    def locks(self) -> pd.DataFrame:
        """One row per lock per volume (columns: the fields of `sim.observe.collectors.LockRow`)."""
        return self.tables["locks"]

    @property
    def timeseries(self) -> pd.DataFrame:
        """Tidy samples `time_s, metric, component, value` every sample interval."""
        return self.tables["timeseries"]

    @property
    def kpis(self) -> dict[str, float]:
        """The scalar outcomes of the run (summary["kpis"], named in `sim.observe.kpis`)."""
        return self.summary["kpis"]

    @property
    def title(self) -> str:
        """`<scenario>, protocol <p>, seed <n>`: what every plot of this run is about."""
        s = self.summary
        return f"{s['scenario']}, protocol {s['protocol']}, seed {s['seed']}"
