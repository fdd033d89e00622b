"""Type-check request bodies against Graph's schema (generated from msgraph-sdk's models).

Graph answers 400 for a property it does not know, a read-only property, or a value of the
wrong type; the simulator must too, or the engine could send bodies production refuses.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from graphsim import schema_data
from graphsim.errors import BadRequest, invalid_property, read_only_property
from graphsim.rules import Rule

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# Contained navigations Graph accepts inline in a PATCH body (method-configuration targets).
CONTAINED_NAVIGATIONS = frozenset({"includeTargets", "excludeTargets"})


def type_properties(type_name: str) -> dict[str, str]:
    return schema_data.PROPERTIES.get(type_name) or schema_data.COMPLEX.get(type_name) or {}


def type_navigations(type_name: str) -> dict[str, str]:
    return schema_data.NAVIGATIONS.get(type_name, {})


def _edm(type_str: str) -> str:
    return "Edm." + type_str.split(":")[-1].capitalize()


def _fail(path: str, value: Any, type_str: str) -> BadRequest:
    shown = str(value)[:60]
    return BadRequest(
        f"Cannot convert the literal '{shown}' to the expected type '{_edm(type_str)}' "
        f"for property '{path}'."
    )


def check_value(type_str: str, value: Any, path: str) -> None:
    """Raise BadRequest when `value` cannot be `type_str` (null is accepted, as Graph does)."""
    if value is None:
        return
    if type_str.startswith("collection(") and type_str.endswith(")"):
        if not isinstance(value, list):
            raise _fail(path, value, type_str[11:-1])
        for item in value:
            check_value(type_str[11:-1], item, path)
        return
    kind, _, name = type_str.partition(":")
    ok = True
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "double":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "guid":
        ok = isinstance(value, str) and _is_guid(value)
    elif kind == "dateTimeOffset":
        ok = isinstance(value, str) and bool(_DATETIME.match(value))
    elif kind == "date":
        ok = isinstance(value, str) and bool(_DATE.match(value))
    elif kind in ("timeOfDay", "duration", "binary"):
        ok = isinstance(value, str)
    elif kind == "enum":
        members = schema_data.ENUMS.get(name)
        ok = isinstance(value, str) and (
            members is None or all(part.strip() in members for part in value.split(","))
        )
    elif kind in ("complex", "entity"):
        if not isinstance(value, dict):
            raise _fail(path, value, type_str)
        check_object(_derived(name, value), value, path, strict=kind == "complex")
        return
    if not ok:
        raise _fail(path, value, type_str)


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _derived(name: str, value: dict[str, Any]) -> str:
    odata_type = value.get("@odata.type")
    if isinstance(odata_type, str):
        candidate = odata_type.removeprefix("#").removeprefix("microsoft.graph.")
        if candidate == name or candidate in schema_data.SUBTYPES.get(name, ()):
            return candidate
        raise BadRequest(f"Type '{odata_type}' is not compatible with '{name}'.")
    return name


def check_object(type_name: str, body: dict[str, Any], path: str, *, strict: bool) -> None:
    """Check each key of a nested complex value; unknown keys are refused when `strict`."""
    props = type_properties(type_name)
    for key, value in body.items():
        if "@" in key:
            continue
        where = f"{path}.{key}" if path else key
        if key not in props:
            if strict and props:
                raise invalid_property(where)
            continue
        check_value(props[key], value, where)


def check_body(
    rule: Rule, type_name: str, body: dict[str, Any], *, creating: bool
) -> dict[str, Any]:
    """Validate a POST/PATCH body and return its plain properties (annotations removed).

    `@odata.type` and `*@odata.bind` annotations are handled by the caller; anything else
    Graph does not know, or does not let a client set, is a 400.
    """
    props = type_properties(type_name)
    navs = type_navigations(type_name)
    plain: dict[str, Any] = {}
    for key, value in body.items():
        if key == "@odata.type" or key.endswith("@odata.bind"):
            continue
        if key.startswith("@") or "@" in key:
            raise BadRequest(f"Invalid annotation '{key}'.")
        if key in navs and key not in CONTAINED_NAVIGATIONS:
            raise BadRequest(
                f"Navigation property '{key}' cannot be set in a request body; "
                f"use '{key}@odata.bind' or the $ref endpoint."
            )
        if key not in props and key not in CONTAINED_NAVIGATIONS:
            raise invalid_property(key)
        if key in rule.read_only:
            raise read_only_property(key)
        if not creating and key in rule.create_only:
            raise BadRequest(f"Property '{key}' can only be set when the object is created.")
        if key in props:
            check_value(props[key], value, key)
        plain[key] = value
    return plain
