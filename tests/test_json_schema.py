"""`cascadesim schema`: the scenario format's JSON Schema, for editors.

It must describe what users write (units as text), accept every scenario the loader accepts
(the library, the kept worlds, random worlds), and refuse what the loader refuses field by
field, with the docstrings as descriptions.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SCENARIOS, dump_yaml
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft7Validator
from random_worlds import worlds
from ruamel.yaml import YAML

from sim.cli import main
from sim.scenario import ScenarioError, load_scenario
from sim.scenario import schema as format_models
from sim.scenario.json_schema import scenario_json_schema
from sim.scenario.schema import MirrorSpec

SCHEMA = scenario_json_schema()
VALIDATOR = Draft7Validator(SCHEMA)
FILES = sorted(SCENARIOS.glob("*.yaml")) + sorted((ROOT / "tests" / "worlds").glob("*.yaml"))


def as_the_editor_reads_it(node: Any) -> Any:
    """A YAML document as the YAML language server sees it (YAML 1.2: a timestamp is text)."""
    if isinstance(node, dict):
        return {key: as_the_editor_reads_it(value) for key, value in node.items()}
    if isinstance(node, list):
        return [as_the_editor_reads_it(item) for item in node]
    if isinstance(node, dt.date):
        return node.isoformat()
    return node


def read(path: Path) -> dict[str, Any]:
    return YAML(typ="safe", pure=True).load(path.read_text())


def schema_problems(document: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(as_the_editor_reads_it(document))]


def test_the_command_prints_a_draft_07_schema():
    Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in json.dumps(SCHEMA) and "prefixItems" not in json.dumps(SCHEMA)


def test_the_command_prints_the_schema_as_json(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_library_scenario_and_kept_world_validates(path):
    assert schema_problems(read(path)) == []


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(worlds())
def test_every_random_world_validates(document):
    assert schema_problems(document) == []


def test_durations_sizes_rates_and_schedules_are_written_as_text():
    properties, definitions = SCHEMA["properties"], SCHEMA["definitions"]
    assert properties["duration"]["type"] == "string"
    assert (properties["sample_interval"]["type"], properties["sample_interval"]["default"]) == ("string", "1h")
    assert definitions["VolumeSpec"]["properties"]["size"]["type"] == "string"
    assert definitions["LinkSpec"]["properties"]["bandwidth"]["type"] == "string"
    assert definitions["MirrorSpec"]["properties"]["schedule"]["type"] == "string"
    assert definitions["OutageSpec"]["properties"]["at"]["anyOf"] == [{"type": "string"}, {"const": 0}]


def defaults(node: Any, where: str = "") -> list[tuple[str, Any, dict[str, Any]]]:
    """(where, default, the schema that carries it) of every default in the schema."""
    found = []
    if isinstance(node, dict):
        if "default" in node:
            found.append((where, node["default"], {k: v for k, v in node.items() if k != "default"}))
        for key, value in node.items():
            found += defaults(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += defaults(item, f"{where}/{i}")
    return found


def test_every_default_is_written_as_a_user_would_write_it():
    found = defaults(SCHEMA)
    assert len(found) > 15
    for where, default, schema in found:
        problems = [e.message for e in Draft7Validator({**schema, "definitions": SCHEMA["definitions"]}).iter_errors(default)]
        assert problems == [], where


def test_descriptions_are_the_docstrings():
    mirror = SCHEMA["definitions"]["MirrorSpec"]
    assert mirror["description"] == inspect.cleandoc(MirrorSpec.__doc__ or "")
    assert mirror["properties"]["retire_at"]["description"] == (
        "When the destination is removed for good: no more updates, and it tells nobody.")
    for title, model in [("Scenario", SCHEMA), *SCHEMA["definitions"].items()]:
        properties = model.get("properties") or model["anyOf"][-1]["properties"]
        for name, field in getattr(format_models, title).model_fields.items():
            assert field.description, f"{title}.{name} has no docstring"
            assert properties[field.alias or name]["description"] == field.description


QUICKSTART = read(SCENARIOS / "quickstart.yaml")


def volume(doc: dict[str, Any]) -> dict[str, Any]:
    return next(iter(doc["volumes"].values()))


MISTAKES: dict[str, Callable[[dict[str, Any]], object]] = {
    "unknown field": lambda doc: doc.update(colour="red"),
    "missing name": lambda doc: doc.pop("name"),
    "another format version": lambda doc: doc.update(version=2),
    "a size without a unit": lambda doc: volume(doc).update(size=500),
    "a rate that is not per anything": lambda doc: doc["links"][0].update(bandwidth="10Gbit"),
    "a cron schedule with seconds": lambda doc: doc["mirrors"][0].update(schedule="0 0 * * * *"),
    "a volume name without its appliance": lambda doc: doc["mirrors"][0].update(source="/vol/db"),
    "a link with three ends": lambda doc: doc["links"][0].update(between=["A", "B", "C"]),
    "an appliance name with a space": lambda doc: doc["appliances"].update({"new one": {"capacity": "1TiB"}}),
    "an unknown mirror type": lambda doc: doc["mirrors"][0].update(type="snapshot"),
    "an unknown protocol": lambda doc: doc.update(protocol="optimistic"),
    "an unknown KPI in expect": lambda doc: doc["expect"].update(none={"happiness": 1}),
    "a bound that is text": lambda doc: doc["expect"].update(none={"rebaselines": "none"}),
}


@pytest.mark.parametrize("edit", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_is_refused_by_the_schema_as_by_the_loader(edit, write_scenario):
    document = copy.deepcopy(QUICKSTART)
    edit(document)
    assert schema_problems(document)
    with pytest.raises(ScenarioError):
        load_scenario(write_scenario(dump_yaml(document)))
