"""Exporters for difference reports: json, ndjson, csv and html, all streaming.

A report can hold a million entries, so every writer takes the header (the document without
`entries`) and an *iterator* of entries and writes to a binary file object as it goes: memory
stays flat whatever the report size. The formats are described in docs/report-format.md;
json and ndjson are lossless, csv and html are for people.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import orjson

from entra_backup.diff.report_schema import ENTRY_KEYS, HEADER_KEYS, SCHEMA_VERSION, validate_header
from entra_backup.types import Json

Header = Mapping[str, Any]
Exporter = Callable[[Header, Iterable[Json], IO[bytes]], None]

_CHUNK = 1 << 20
# Cells a spreadsheet would evaluate as a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS: tuple[str, ...] = (
    "reportId", "kind", "id", "displayName", "change", "deletion", "recoverable", "reasons",
    "sourceOfAuthority", "itemType", "path", "before", "after", "added", "removed", "changedBy",
)


class ChunkWriter:
    """Coalesces many small writes into ~1 MiB ones: a report is millions of short lines, and
    `out` may be unbuffered (a socket, a blob upload stream)."""

    def __init__(self, out: IO[bytes], chunk: int = _CHUNK) -> None:
        self._out = out
        self._chunk = chunk
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._chunk:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._out.write(bytes(self._buffer))
            self._buffer.clear()
        self._out.flush()


def ordered_header(header: Header) -> Json:
    """The header checked against the schema, keys in published order, with schemaVersion."""
    doc = {"schemaVersion": SCHEMA_VERSION, **header}
    validate_header(doc)
    return {key: doc[key] for key in HEADER_KEYS if key in doc}


def ordered_entry(entry: Json) -> Json:
    """Keys in published order (unknown keys kept, last) so every line reads the same way."""
    if tuple(entry) == ENTRY_KEYS:
        return entry
    ordered = {key: entry[key] for key in ENTRY_KEYS if key in entry}
    ordered.update((key, value) for key, value in entry.items() if key not in ordered)
    return ordered


def write_json(header: Header, entries: Iterable[Json], out: IO[bytes]) -> None:
    """One JSON document, streamed: the header keys, then `"entries": [` one entry per line."""
    head = orjson.dumps(ordered_header(header))
    sink = ChunkWriter(out)
    sink.write(head[:-1] + b',"entries":[')
    separator = b"\n"
    for entry in entries:
        sink.write(separator + orjson.dumps(ordered_entry(entry)))
        separator = b",\n"
    sink.write(b"\n]}\n" if separator == b",\n" else b"]}\n")
    sink.flush()


def write_ndjson(header: Header, entries: Iterable[Json], out: IO[bytes]) -> None:
    """One schema-valid entry per line and nothing else, so a SIEM can ingest every line with
    one parser; the report id travels in the file name and the summary, not on each line."""
    ordered_header(header)  # the same contract check as every other format
    sink = ChunkWriter(out)
    for entry in entries:
        sink.write(orjson.dumps(ordered_entry(entry)) + b"\n")
    sink.flush()


def write_csv(header: Header, entries: Iterable[Json], out: IO[bytes]) -> None:
    """RFC 4180 rows for spreadsheets: one per property change, one per link change, and one
    `object` row for a created/deleted object (or any entry that would otherwise have none).

    UTF-8 with a byte-order mark, because that is what makes Excel read non-ASCII names right.
    """
    report_id = str(ordered_header(header)["reportId"])
    out.write(b"\xef\xbb\xbf")
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            writer.writerows(csv_rows(report_id, entry))
        text.flush()
    finally:
        text.detach()  # the caller owns `out`; closing the wrapper must not close it


def csv_rows(report_id: str, entry: Json) -> list[list[str]]:
    """The CSV rows for one entry, every cell neutralised against formula injection."""
    common = [
        report_id, entry["kind"], entry["id"], entry.get("displayName") or "", entry["change"],
        entry.get("deletion") or "", "true" if entry["recoverable"] else "false",
        ";".join(entry.get("reasons") or []), entry["sourceOfAuthority"],
    ]
    who = audit_trail(entry.get("changedBy") or [])
    rows: list[list[str]] = []
    for change in entry.get("properties") or []:
        rows.append([*common, "property", change["path"], _value(change.get("before")),
                     _value(change.get("after")), "", "", who])
    for link in entry.get("links") or []:
        rows.append([*common, "link", link["link"], "", "",
                     _json(link.get("added") or []), _json(link.get("removed") or []), who])
    if not rows or entry["change"] != "updated":
        rows.insert(0, [*common, "object", "", "", "", "", "", who])
    return [[safe_cell(cell) for cell in row] for row in rows]


def audit_trail(events: Iterable[Json]) -> str:
    """`when who activity` per audit event, `; `-joined, oldest first."""
    parts = []
    for event in events:
        text = f"{event.get('when') or ''} {actor(event.get('by') or {})} " \
               f"{event.get('activity') or ''}".strip()
        result = event.get("result")
        if result and result != "success":
            text += f" ({result})"
        parts.append(text)
    return "; ".join(parts)


def actor(by: Json) -> str:
    """The most recognisable name an audit event gives for who acted."""
    name = by.get("userPrincipalName") or by.get("displayName") or by.get("id")
    return f"{by.get('type') or 'unknown'}:{name}" if name else str(by.get("type") or "unknown")


def safe_cell(text: str) -> str:
    """Prefix a quote to cells a spreadsheet would run as a formula (`=HYPERLINK(...)`)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _value(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def write_html(header: Header, entries: Iterable[Json], out: IO[bytes]) -> None:
    """One self-contained page (see `export_html`); imported lazily because its template is
    large and most exports never need it."""
    from entra_backup.diff.export_html import write_html as write

    write(header, entries, out)


EXPORTERS: dict[str, Exporter] = {
    "json": write_json,
    "ndjson": write_ndjson,
    "csv": write_csv,
    "html": write_html,
}
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def export(fmt: str, header: Header, entries: Iterable[Json], out: IO[bytes]) -> None:
    """Write the report in `fmt`; ValueError for a format we do not publish."""
    try:
        writer = EXPORTERS[fmt]
    except KeyError:
        known = ", ".join(EXPORTERS)
        raise ValueError(f"unknown export format {fmt!r} (known: {known})") from None
    writer(header, entries, out)


__all__ = ["CSV_COLUMNS", "EXPORTERS", "MEDIA_TYPES", "ChunkWriter", "export",
           "write_csv", "write_html", "write_json", "write_ndjson"]
