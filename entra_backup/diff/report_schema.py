"""The published difference-report contract: JSON Schemas, field order and reason codes.

The schemas live in `docs/` (not in the package) because they are documentation first: people
and SIEM pipelines read them beside `docs/report-format.md`, and the tests validate the
exporters' output against the very files we publish, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs"
ENTRY_SCHEMA = "report-entry.schema.json"
REPORT_SCHEMA = "report.schema.json"
_MESSAGE_LIMIT = 300

# Field order of the published examples; exporters write keys in this order so every format
# reads the same way and diffs of two exports stay small.
HEADER_KEYS: tuple[str, ...] = (
    "schemaVersion", "reportId", "snapshotId", "tenantId", "against", "createdAt", "filters",
    "summary",
)
ENTRY_KEYS: tuple[str, ...] = (
    "kind", "id", "displayName", "change", "deletion", "properties", "links", "recoverable",
    "reasons", "sourceOfAuthority", "changedBy",
)
CHANGES: tuple[str, ...] = ("created", "updated", "deleted")

# Every reason code the engine emits, with the sentence the docs and the HTML export show.
# New codes may appear within schemaVersion 1 (the schema only fixes their spelling), so the
# table is documentation, not validation; a test keeps docs/report-format.md in step with it.
REASON_CODES: dict[str, str] = {
    "synced_from_on_premises": "Mastered on-premises (onPremisesSyncEnabled is true): "
                               "change it in Active Directory; it cannot be recovered from "
                               "the cloud.",
    "source_of_authority_changed": "The object moved between cloud and on-premises "
                                   "management; that switch is never reversed silently.",
    "hard_deleted": "Gone from the recycle bin (or never soft-deletable): it can only be "
                    "re-created, with a new id.",
    "secret_cannot_be_restored": "Password credentials changed: secret values are never "
                                 "readable, so credentials can only be re-issued.",
    "read_only_property": "Only server-managed properties differ; there is nothing to write "
                          "back.",
    "dynamic_membership": "Members of a dynamic group are computed from its rule; restore "
                          "the rule, not the members.",
    "mail_enabled_group": "Membership of a mail-enabled security group or distribution list "
                          "is managed by Exchange, not Graph.",
}


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """One schema file from docs/, parsed once per process."""
    schema: dict[str, Any] = orjson.loads((SCHEMA_DIR / name).read_bytes())
    return schema


@functools.cache
def _registry() -> Registry[Any]:
    """Both schemas under their file names, so the report's relative `$ref`s resolve offline
    exactly as they do for a reader who opens docs/ (no `$id`, no network)."""
    return Registry().with_resources(
        (name, Resource.from_contents(load_schema(name), default_specification=DRAFT202012))
        for name in (ENTRY_SCHEMA, REPORT_SCHEMA)
    )


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


def _raise_first(errors: Any, what: str) -> None:
    error: ValidationError | None = best_match(errors)
    if error is not None:
        message = error.message
        if len(message) > _MESSAGE_LIMIT:  # a whole `before` value can be megabytes
            message = message[:_MESSAGE_LIMIT] + "…"
        raise ValueError(f"invalid {what} at {error.json_path}: {message}")


def validate_entry(entry: dict[str, Any]) -> None:
    """Raise ValueError naming the JSON path of the most relevant error, if any."""
    _raise_first(_validator(ENTRY_SCHEMA).iter_errors(entry), "report entry")


def validate_report(doc: dict[str, Any]) -> None:
    """Raise ValueError naming the JSON path of the most relevant error, if any."""
    _raise_first(_validator(REPORT_SCHEMA).iter_errors(doc), "report")


def validate_header(header: dict[str, Any]) -> None:
    """A report header (the document without `entries`), checked before an export starts so a
    malformed header fails in a second rather than after a million entries were written."""
    if "entries" in header:
        raise ValueError("a report header must not contain 'entries' (they are streamed)")
    validate_report({**header, "entries": []})


def known_kinds() -> list[str]:
    """The kind names the contract knows, in restore-rank order (as the schema lists them)."""
    return list(load_schema(ENTRY_SCHEMA)["$defs"]["kind"]["enum"])
