"""The scenario format as a JSON Schema, for editors (`cascadesim schema`).

Generated from the pydantic models of `sim.scenario.schema`, it describes what a user writes:
durations, sizes, rates and schedules as text (`15m`, `2TiB`, `1Gbit/s`, `0 * * * *`), not
the numbers the models hold once validated; the models' and fields' docstrings are its
descriptions. An editor with the YAML language server checks and completes a scenario file
against it (README, Scenario format).

The dialect is JSON Schema draft-07, the newest the YAML language server implements, so the
output differs from pydantic's default (2020-12) in three ways: definitions live under
`definitions`; a fixed-length array lists its items' schemas in `items` (not `prefixItems`);
and a `$ref` stands alone in its object (draft-07 ignores a `$ref`'s siblings, so a field's
description next to one moves to an `allOf` around it). A mapping whose keys have a pattern
checks them with `propertyNames` and its values with `additionalProperties`, so that an entry
with a bad key is flagged and its value is still checked.

The schema checks each field alone, like the models: a file it accepts may still be refused by
`cascadesim validate`, which also checks references, network paths and the run limits.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from sim.scenario.schema import FORMAT_VERSION, Scenario

DIALECT = "http://json-schema.org/draft-07/schema#"


class _Draft07(GenerateJsonSchema):
    """pydantic's schema generator, writing draft-07 and leaving out per-field titles (an editor
    shows a field's name already; its description says what it is)."""

    schema_dialect = DIALECT

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def tuple_schema(self, schema: core_schema.TupleSchema) -> JsonSchemaValue:
        json_schema = super().tuple_schema(schema)
        if "prefixItems" in json_schema:
            if "items" in json_schema:
                json_schema["additionalItems"] = json_schema["items"]
            json_schema["items"] = json_schema.pop("prefixItems")
        return json_schema

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        if "patternProperties" in json_schema:
            ((pattern, values),) = json_schema.pop("patternProperties").items()
            json_schema["additionalProperties"] = values
            json_schema["propertyNames"] = {**json_schema.get("propertyNames", {}), "pattern": pattern}
        return json_schema


def _lone_refs(node: Any) -> Any:
    """`node` with every `$ref` that has siblings wrapped in an `allOf`, so draft-07 keeps them."""
    if isinstance(node, list):
        return [_lone_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _lone_refs(value) for key, value in node.items()}
    if "$ref" in node and len(node) > 1:
        return {"allOf": [{"$ref": node.pop("$ref")}], **node}
    return node


def _protocols(schema: dict[str, Any]) -> None:
    """Name the registered protocols where a protocol is named (`protocol`, the keys of
    `protocols` and of `expect`), and describe each one's settings under `protocols`."""
    from sim.protocols.registry import names, protocol  # the registry's strategies read this package

    registered = list(names())
    properties = schema["properties"]
    properties["protocol"]["enum"] = registered
    properties["expect"]["propertyNames"] = {**properties["expect"].get("propertyNames", {}), "enum": registered}
    settings = properties["protocols"]
    settings.pop("additionalProperties", None)
    settings["propertyNames"] = {**settings.get("propertyNames", {}), "enum": registered}
    settings["additionalProperties"] = False
    settings["properties"] = {}
    for name in registered:
        config = protocol(name).config.model_json_schema(by_alias=True, ref_template="#/definitions/{model}",
                                                          schema_generator=_Draft07, mode="validation")
        config["description"] = protocol(name).description
        settings["properties"][name] = config


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of a scenario file of format `FORMAT_VERSION`, with the
    protocols registered now."""
    schema = Scenario.model_json_schema(by_alias=True, ref_template="#/definitions/{model}",
                                        schema_generator=_Draft07, mode="validation")
    schema["definitions"] = schema.pop("$defs")
    schema["title"] = f"cascadesim scenario, format version {FORMAT_VERSION}"
    _protocols(schema)
    return {"$schema": DIALECT, **_lone_refs(schema)}

