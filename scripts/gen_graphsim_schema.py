"""Generate ``graphsim/schema_data.py`` from msgraph-sdk's model classes.

The Microsoft Graph v1.0 schema the simulator needs (structural properties, navigation
properties, complex types, enums, subtype lists and base types) is read by introspecting
``msgraph.generated.models``:

* every model's ``get_field_deserializers()`` maps JSON names to lambdas such as
  ``lambda n: setattr(self, "x", n.get_enum_value(SomeEnum))``; each lambda is called with a
  recording fake parse node, which tells us the getter (hence the wire type) and its argument
  (enum class, element type or model class);
* Graph type names come from the ``"#microsoft.graph.X"`` discriminators in the models'
  ``create_from_discriminator_value`` factories (falling back to the class' ``odata_type``
  default, then to its class name);
* a model property whose class derives from ``Entity`` is a navigation property.

Usage::

    python scripts/gen_graphsim_schema.py          # (re)write graphsim/schema_data.py
    python scripts/gen_graphsim_schema.py --check  # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import datetime
import enum
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_PATH = REPO_ROOT / "graphsim" / "schema_data.py"

MODELS_PACKAGE = "msgraph.generated.models"
ODATA_PREFIX = "#microsoft.graph."

# Graph types served by the simulator (Graph names, without the "microsoft.graph." prefix).
SERVED_TYPES: tuple[str, ...] = (
    "user",
    "agentUser",
    "group",
    "application",
    "agentIdentityBlueprint",
    "servicePrincipal",
    "agentIdentity",
    "agentIdentityBlueprintPrincipal",
    "conditionalAccessPolicy",
    "ipNamedLocation",
    "countryNamedLocation",
    "authenticationMethodsPolicy",
    "authenticationMethodConfiguration",
    "authorizationPolicy",
    "organization",
    "appRoleAssignment",
    "oAuth2PermissionGrant",
    "directoryAudit",
)

# Every subtype (per the SDK's discriminator mapping) of these types is served as well.
SERVED_WITH_ALL_SUBTYPES: tuple[str, ...] = ("authenticationMethodConfiguration",)

# SUBTYPES lists are not emitted for these bases (every entity type derives from "entity").
SUBTYPES_SKIPPED: frozenset[str] = frozenset({"entity"})

# Getter name -> Graph primitive type string.
PRIMITIVE_GETTERS: dict[str, str] = {
    "get_str_value": "string",
    "get_bool_value": "boolean",
    "get_int_value": "int",
    "get_float_value": "double",
    "get_uuid_value": "guid",
    "get_datetime_value": "dateTimeOffset",
    "get_date_value": "date",
    "get_time_value": "timeOfDay",
    "get_timedelta_value": "duration",
    "get_bytes_value": "binary",
}

# Element type passed to get_collection_of_primitive_values -> Graph primitive type string.
PRIMITIVE_PY_TYPES: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "int",
    float: "double",
    uuid.UUID: "guid",
    datetime.datetime: "dateTimeOffset",
    datetime.date: "date",
    datetime.time: "timeOfDay",
    datetime.timedelta: "duration",
    bytes: "binary",
}

_DISCRIMINATOR_BRANCH = re.compile(
    r'==\s*"(?P<disc>#microsoft\.graph\.[^"]+)"\.casefold\(\):(?P<body>.*?)'
    r"return\s+(?P<ret>\w+)\(\)",
    re.DOTALL,
)
_RELATIVE_IMPORT = re.compile(
    r"from\s+(?P<mod>[.\w]+)\s+import\s+(?P<name>\w+)(?:\s+as\s+(?P<alias>\w+))?"
)

ClassKey = tuple[str, str]  # (module name, class name)


class SchemaError(RuntimeError):
    """The SDK's models did not look the way this generator expects."""


# --------------------------------------------------------------------------------------------
# SDK access helpers


@cache
def _entity_class() -> type:
    return importlib.import_module(f"{MODELS_PACKAGE}.entity").Entity


def _class_key(cls: type) -> ClassKey:
    return (cls.__module__, cls.__name__)


def _load_class(key: ClassKey) -> type:
    return getattr(importlib.import_module(key[0]), key[1])


def _is_model(cls: type) -> bool:
    return (
        isinstance(cls, type)
        and cls.__module__.startswith(MODELS_PACKAGE + ".")
        and "get_field_deserializers" in vars(cls)
        and not issubclass(cls, enum.Enum)
    )


def _model_ancestors(cls: type) -> list[type]:
    """Model base classes of ``cls`` nearest first (single inheritance chain)."""
    chain: list[type] = []
    current = cls
    while True:
        bases = [b for b in current.__bases__ if _is_model(b)]
        if not bases:
            return chain
        if len(bases) > 1:
            raise SchemaError(f"{current.__qualname__} has several model bases: {bases}")
        current = bases[0]
        chain.append(current)


@cache
def _discriminator_map(cls: type) -> dict[str, ClassKey]:
    """Discriminator ("#microsoft.graph.X") -> class key, read from ``cls``'s own factory.

    The factories are if-chains of ``mapping_value.casefold() == "#...".casefold()`` branches,
    each importing and returning a class.  We read them from source instead of calling them so
    that the (huge) ``Entity`` factory doesn't import every model module.  When a branch imports
    the same name twice (it happens), the last import wins, as it does at run time.
    """
    factory = vars(cls).get("create_from_discriminator_value")
    if factory is None:
        return {}
    source = inspect.getsource(factory.__func__ if isinstance(factory, staticmethod) else factory)
    package = cls.__module__.rpartition(".")[0]
    result: dict[str, ClassKey] = {}
    seen_folded: set[str] = set()
    for match in _DISCRIMINATOR_BRANCH.finditer(source):
        disc, returned = match["disc"], match["ret"]
        bound: dict[str, ClassKey] = {}
        for imp in _RELATIVE_IMPORT.finditer(match["body"]):
            module = importlib.util.resolve_name(imp["mod"], package)
            bound[imp["alias"] or imp["name"]] = (module, imp["name"])
        if returned not in bound:
            raise SchemaError(f"{cls.__qualname__}: cannot resolve {returned} for {disc}")
        if disc.casefold() in seen_folded:  # the first matching branch wins at run time
            continue
        seen_folded.add(disc.casefold())
        result[disc] = bound[returned]
    if "mapping_value" in source and not result:
        raise SchemaError(f"{cls.__qualname__}: discriminator mapping not understood")
    return result


def _strip_prefix(discriminator: str) -> str:
    if not discriminator.startswith(ODATA_PREFIX):
        raise SchemaError(f"unexpected discriminator {discriminator!r}")
    return discriminator[len(ODATA_PREFIX) :]


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _fallback_name(cls: type) -> str:
    """Graph name from the class name, with the sub-namespace (e.g. "security.") if any."""
    sub_package = cls.__module__[len(MODELS_PACKAGE) + 1 :].rpartition(".")[0]
    namespace = "".join(_snake_to_camel(part) + "." for part in sub_package.split(".") if part)
    return namespace + _lower_first(cls.__name__)


@cache
def graph_name(cls: type) -> str:
    """The Graph (camelCase, unprefixed) name of a model or enum class."""
    if issubclass(cls, enum.Enum):
        return _fallback_name(cls)
    key = _class_key(cls)
    from_factories = {
        disc
        for owner in (cls, *_model_ancestors(cls))
        for disc, target in _discriminator_map(owner).items()
        if target == key
    }
    own_default = vars(cls).get("odata_type")
    if isinstance(own_default, str):
        if from_factories and own_default not in from_factories:
            raise SchemaError(f"{cls.__qualname__}: {own_default} not in {from_factories}")
        return _strip_prefix(own_default)
    if len(from_factories) > 1:
        # Kiota sometimes imports two same-named classes in one factory branch (e.g. Entity's
        # "#microsoft.graph.security.user" branch returns microsoft.graph's User): keep the
        # discriminator whose namespace matches the class' module.
        namespace = _fallback_name(cls).rpartition(".")[0]
        from_factories = {
            disc for disc in from_factories if _strip_prefix(disc).rpartition(".")[0] == namespace
        }
        if len(from_factories) != 1:
            raise SchemaError(f"{cls.__qualname__}: ambiguous discriminators {from_factories}")
    if from_factories:
        return _strip_prefix(from_factories.pop())
    return _fallback_name(cls)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def class_for_graph_name(name: str) -> type:
    """Find the model class of an (un-namespaced) Graph type name and verify its name."""
    module = importlib.import_module(f"{MODELS_PACKAGE}.{_camel_to_snake(name)}")
    candidates = [
        obj
        for obj in vars(module).values()
        if _is_model(obj) and obj.__module__ == module.__name__ and graph_name(obj) == name
    ]
    if len(candidates) != 1:
        raise SchemaError(f"cannot find the msgraph-sdk model class of {name!r}")
    return candidates[0]


# --------------------------------------------------------------------------------------------
# Property introspection


class _RecordingParseNode:
    """Fake ParseNode: records each ``get_*`` call and returns ``None``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        if not name.startswith("get_"):
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def _element_type(owner: type, prop: str, getter: str, args: tuple[Any, ...]) -> tuple[str, Any]:
    """(type string, referenced class or None) for one getter call."""
    where = f"{owner.__qualname__}.{prop}"
    if getter in PRIMITIVE_GETTERS and not args:
        return PRIMITIVE_GETTERS[getter], None
    if len(args) != 1:
        raise SchemaError(f"{where}: unexpected call {getter}{args}")
    (arg,) = args
    if getter == "get_collection_of_primitive_values":
        if arg not in PRIMITIVE_PY_TYPES:
            raise SchemaError(f"{where}: unknown primitive element type {arg!r}")
        return f"collection({PRIMITIVE_PY_TYPES[arg]})", None
    if getter in ("get_enum_value", "get_collection_of_enum_values"):
        if not (isinstance(arg, type) and issubclass(arg, enum.Enum)):
            raise SchemaError(f"{where}: {getter} with non-enum {arg!r}")
        text = f"enum:{graph_name(arg)}"
        return (text if getter == "get_enum_value" else f"collection({text})"), arg
    if getter in ("get_object_value", "get_collection_of_object_values"):
        if not _is_model(arg):
            raise SchemaError(f"{where}: {getter} with non-model {arg!r}")
        kind = "entity" if issubclass(arg, _entity_class()) else "complex"
        text = f"{kind}:{graph_name(arg)}"
        return (text if getter == "get_object_value" else f"collection({text})"), arg
    raise SchemaError(f"{where}: unsupported getter {getter}")


def describe(cls: type) -> dict[str, tuple[str, Any]]:
    """JSON name -> (type string, referenced model/enum class or None), sorted by name."""
    instance = cls()
    result: dict[str, tuple[str, Any]] = {}
    for prop, deserializer in cls.get_field_deserializers(instance).items():
        if prop == "@odata.type":
            continue
        node = _RecordingParseNode()
        deserializer(node)
        if len(node.calls) != 1:
            raise SchemaError(f"{cls.__qualname__}.{prop}: expected one getter, got {node.calls}")
        ((getter, args),) = node.calls
        result[prop] = _element_type(cls, prop, getter, args)
    return dict(sorted(result.items()))


def _subtype_classes(cls: type) -> list[type]:
    own = _class_key(cls)
    return [_load_class(key) for key in _discriminator_map(cls).values() if key != own]


# --------------------------------------------------------------------------------------------
# Schema assembly


def _served_classes() -> list[type]:
    classes = [class_for_graph_name(name) for name in SERVED_TYPES]
    for name in SERVED_WITH_ALL_SUBTYPES:
        classes.extend(_subtype_classes(class_for_graph_name(name)))
    return classes


def build_schema() -> dict[str, Any]:
    """Collect the schema tables (see the generated module for their meaning)."""
    entity_types: dict[str, type] = {}
    for cls in _served_classes():
        for each in (cls, *_model_ancestors(cls)):
            entity_types.setdefault(graph_name(each), each)

    properties: dict[str, dict[str, str]] = {}
    navigations: dict[str, dict[str, str]] = {}
    complex_queue: list[type] = []
    enums: dict[str, type] = {}

    def note_reference(ref: Any) -> None:
        if ref is None:
            return
        if issubclass(ref, enum.Enum):
            enums.setdefault(graph_name(ref), ref)
        elif not issubclass(ref, _entity_class()):
            complex_queue.append(ref)

    for name, cls in entity_types.items():
        properties[name], navigations[name] = {}, {}
        for prop, (text, ref) in describe(cls).items():
            is_navigation = ref is not None and _is_model(ref) and issubclass(ref, _entity_class())
            (navigations if is_navigation else properties)[name][prop] = text
            note_reference(ref)

    complex_types: dict[str, dict[str, str]] = {}
    complex_classes: dict[str, type] = {}
    while complex_queue:
        cls = complex_queue.pop()
        name = graph_name(cls)
        if name in complex_classes or name in entity_types:
            continue
        complex_classes[name] = cls
        complex_types[name] = {}
        for prop, (text, ref) in describe(cls).items():
            complex_types[name][prop] = text
            note_reference(ref)
        complex_queue.extend(_model_ancestors(cls))
        complex_queue.extend(_subtype_classes(cls))

    all_types = {**entity_types, **complex_classes}
    subtypes: dict[str, list[str]] = {}
    base_types: dict[str, str | None] = {}
    for name, cls in all_types.items():
        ancestors = _model_ancestors(cls)
        base_types[name] = graph_name(ancestors[0]) if ancestors else None
        derived = sorted({graph_name(sub) for sub in _subtype_classes(cls)} - {name})
        if derived and name not in SUBTYPES_SKIPPED:
            subtypes[name] = derived

    return {
        "PROPERTIES": properties,
        "NAVIGATIONS": navigations,
        "COMPLEX": complex_types,
        "ENUMS": {name: [member.value for member in cls] for name, cls in enums.items()},
        "SUBTYPES": subtypes,
        "BASE_TYPES": base_types,
    }


# --------------------------------------------------------------------------------------------
# Rendering

_ANNOTATIONS = {
    "PROPERTIES": "dict[str, dict[str, str]]",
    "NAVIGATIONS": "dict[str, dict[str, str]]",
    "COMPLEX": "dict[str, dict[str, str]]",
    "ENUMS": "dict[str, list[str]]",
    "SUBTYPES": "dict[str, list[str]]",
    "BASE_TYPES": "dict[str, str | None]",
}

_COMMENTS = {
    "PROPERTIES": "Served entity types (and their bases) -> structural property -> type string.",
    "NAVIGATIONS": "Served entity types (and their bases) -> navigation property -> type string.",
    "COMPLEX": "Complex types reachable from PROPERTIES -> property -> type string.",
    "ENUMS": "Enum types used by PROPERTIES/COMPLEX -> member values (SDK declaration order).",
    "SUBTYPES": "Type -> every derived type the SDK's discriminator maps (none listed for entity).",
    "BASE_TYPES": "Every PROPERTIES/COMPLEX type -> its base type (None at the root).",
}

_MODULE_DOC = '''"""Microsoft Graph v1.0 schema data for graphsim (generated).

Type strings: "string", "boolean", "int", "double", "guid", "dateTimeOffset", "date",
"timeOfDay", "duration", "binary", "enum:<name>", "complex:<name>", "entity:<name>" and
"collection(<one of those>)".  Type names are Graph names without "microsoft.graph.".
"""
'''


def _literal(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(value)


def _render_table(name: str, table: dict[str, Any]) -> Iterable[str]:
    yield f"# {_COMMENTS[name]}"
    yield f"{name}: {_ANNOTATIONS[name]} = {{"
    for key in sorted(table):
        value = table[key]
        if isinstance(value, dict):
            if not value:
                yield f"    {_literal(key)}: {{}},"
                continue
            yield f"    {_literal(key)}: {{"
            for sub_key in sorted(value):
                yield f"        {_literal(sub_key)}: {_literal(value[sub_key])},"
            yield "    },"
        elif isinstance(value, list):
            items = ", ".join(_literal(item) for item in value)
            yield f"    {_literal(key)}: [{items}],"
        else:
            yield f"    {_literal(key)}: {_literal(value)},"
    yield "}"
    yield ""


def sdk_version() -> str:
    return importlib.metadata.version("msgraph-sdk")


def render() -> str:
    """The full text of graphsim/schema_data.py for the installed msgraph-sdk."""
    version = sdk_version()
    schema = build_schema()
    lines = [
        f"# Generated by scripts/gen_graphsim_schema.py from msgraph-sdk {version}; do not edit.",
        "# ruff: noqa",
        _MODULE_DOC,
        "from __future__ import annotations",
        "",
        f"SDK_VERSION: str = {_literal(version)}",
        "",
    ]
    for name in _ANNOTATIONS:
        lines.extend(_render_table(name, schema[name]))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the file is out of date"
    )
    args = parser.parse_args(argv)
    text = render()
    current = OUTPUT_PATH.read_text(encoding="utf-8") if OUTPUT_PATH.exists() else None
    if args.check:
        if current != text:
            print(f"{OUTPUT_PATH} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        OUTPUT_PATH.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT_PATH.relative_to(REPO_ROOT)} (msgraph-sdk {sdk_version()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
