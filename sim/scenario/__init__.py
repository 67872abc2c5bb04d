"""A scenario: what a user writes, validated once, and the plan it resolves to.

- `schema`: the format as frozen pydantic models (`Scenario` and its parts); units become
  seconds, bytes and bytes per second there, once;
- `load`: YAML with line numbers (parsed once, validated as often as needed), `--set` overrides,
  problems as `file:line: field: message`;
- `validate`: cross references, paths and run limits (`limits`), checked once;
- `plan`: what a scenario resolves to, once, for everyone (network and routes, mirror order,
  volume layout, lineages);
- `json_schema`: the format as JSON Schema, for editors (`cascadesim schema`);
- `file` (reading a file safely), `units`, `schedule` (cron), `limits`.

The engine receives a frozen `Scenario` and never re-checks or defaults anything. The names
below are the ones the rest of the code imports from `sim.scenario`.
"""

from sim.scenario.load import (
    ScenarioDocument,
    ScenarioError,
    line_of,
    load_scenario,
    parse_scenario,
    parse_set_path,
    read_source,
    scenario_files,
)
from sim.scenario.plan import Plan
from sim.scenario.schema import (
    KPIS,
    AutodeleteSpec,
    Bound,
    HoldSpec,
    MirrorSpec,
    OutageSpec,
    Range,
    Scenario,
)

__all__ = [
    "KPIS",
    "AutodeleteSpec",
    "Bound",
    "HoldSpec",
    "MirrorSpec",
    "OutageSpec",
    "Plan",
    "Range",
    "Scenario",
    "ScenarioDocument",
    "ScenarioError",
    "line_of",
    "load_scenario",
    "parse_scenario",
    "parse_set_path",
    "read_source",
    "scenario_files",
]
