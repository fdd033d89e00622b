"""Light JSON-schema checks of what the SDK hands back to the host.

Adapted from the SDK's own test schema (`tests/orchestrator/schemas/OrchetrationStateSchema.py`
in Azure/azure-functions-durable-python), extended to schema V2 (`schemaVersion`, compound
actions) and to each action type's fields as `models/actions/*.py` write them, plus the entity
response (`models/entities/EntityState.py`, `OperationResult.py`). A payload that the extension
could not read fails here instead of passing silently through the harness.
"""

from __future__ import annotations

from typing import Any

import jsonschema

_JSON_TEXT = {"type": "string"}  # an already JSON-encoded value

_ACTION_FIELDS: dict[int, dict[str, Any]] = {
    0: {"functionName": {"type": "string", "minLength": 1}, "input": _JSON_TEXT},
    4: {"input": _JSON_TEXT},
    5: {"fireAt": {"type": "string"}, "isCanceled": {"type": "boolean"}},
    6: {"externalEventName": {"type": "string"}, "reason": {"type": "string"}},
    7: {"instanceId": {"type": "string", "pattern": "^@[^@]+@"},
        "operation": {"type": "string"}, "input": _JSON_TEXT},
    9: {"instanceId": {"type": "string", "pattern": "^@[^@]+@"},
        "operation": {"type": "string"}, "input": _JSON_TEXT},
}


def _action_schema() -> dict[str, Any]:
    variants: list[dict[str, Any]] = []
    for kind, fields in _ACTION_FIELDS.items():
        variants.append({
            "type": "object",
            "properties": {"actionType": {"const": kind}, **fields},
            "required": ["actionType", *fields],
            "additionalProperties": False,
        })
    variants.append({
        "type": "object",
        "properties": {"actionType": {"enum": [11, 12]},
                       "compoundActions": {"type": "array", "items": {"$ref": "#/$defs/action"}}},
        "required": ["actionType", "compoundActions"],
        "additionalProperties": False,
    })
    return {"oneOf": variants}


ORCHESTRATOR_STATE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"action": _action_schema()},
    "type": "object",
    "properties": {
        "isDone": {"type": "boolean"},
        "schemaVersion": {"type": "integer", "minimum": 1},
        "output": {},
        "error": {"type": "string"},
        "customStatus": {},
        "actions": {"type": "array",
                    "items": {"type": "array", "items": {"$ref": "#/$defs/action"}}},
    },
    "required": ["isDone", "actions"],
    "additionalProperties": False,
}

ENTITY_STATE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "entityExists": {"type": "boolean"},
        "entityState": {"type": ["string", "null"]},
        "results": {"type": "array", "items": {
            "type": "object",
            "properties": {"isError": {"type": "boolean"}, "duration": {"type": "integer"},
                           "startTime": {"type": "integer"}, "result": _JSON_TEXT},
            "required": ["isError", "duration", "startTime", "result"],
            "additionalProperties": False,
        }},
        "signals": {"type": "array", "maxItems": 0},
    },
    "required": ["entityExists", "entityState", "results", "signals"],
    "additionalProperties": False,
}


# Schemas checked once here; validators reused (validate() re-checks the schema every call).
jsonschema.Draft202012Validator.check_schema(ORCHESTRATOR_STATE)
jsonschema.Draft202012Validator.check_schema(ENTITY_STATE)
_ORCHESTRATOR = jsonschema.Draft202012Validator(ORCHESTRATOR_STATE)
_ENTITY = jsonschema.Draft202012Validator(ENTITY_STATE)


def check_orchestrator_state(state: dict[str, Any]) -> None:
    """Raise `jsonschema.ValidationError` unless `state` is a well-formed orchestrator answer."""
    _ORCHESTRATOR.validate(state)


def check_entity_state(state: dict[str, Any], operations: int) -> None:
    """Raise unless `state` is a well-formed entity answer with one result per operation."""
    _ENTITY.validate(state)
    if len(state["results"]) != operations:
        raise jsonschema.ValidationError(
            f"{len(state['results'])} results for {operations} operations")
