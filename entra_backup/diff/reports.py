"""Difference reports at rest: `reports/{tenantId}/{reportId}/` beside the snapshots.

A report is written once - `entries.ndjson.gz` (one entry per line, in kind-rank then id
order) and `summary.json` (the header: ids, filters, summary) last - so exporting or paging a
report never recomputes it.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import IO

import orjson

from entra_backup.errors import SnapshotNotFoundError
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json

ENTRIES = "entries.ndjson.gz"
SUMMARY = "summary.json"


def save_report(store: SnapshotStore, header: Json, entries_gz: IO[bytes], size: int) -> None:
    """Write a finished report: entries first, then the summary that makes it a report.

    Entries already there without a summary are an interrupted earlier attempt at the same
    report (assembled from the same drafts, so the same bytes): they are kept.
    """
    reports = store.reports()
    tenant, report_id = header["tenantId"], header["reportId"]
    if not reports.exists(tenant, report_id, ENTRIES):
        reports.write(tenant, report_id, ENTRIES, entries_gz, length=size)
    reports.write(tenant, report_id, SUMMARY,
                  orjson.dumps(header, option=orjson.OPT_INDENT_2))


def load_header(store: SnapshotStore, tenant_id: str, report_id: str) -> Json:
    reports = store.reports()
    if report_id not in reports.list_snapshots(tenant_id, include_incomplete=True) or \
            not reports.exists(tenant_id, report_id, SUMMARY):
        raise SnapshotNotFoundError(f"no report {report_id} for tenant {tenant_id}")
    header: Json = orjson.loads(reports.read_bytes(tenant_id, report_id, SUMMARY))
    return header


def iter_entries(store: SnapshotStore, tenant_id: str, report_id: str) -> Iterator[Json]:
    with store.reports().open(tenant_id, report_id, ENTRIES) as raw, \
            gzip.GzipFile(fileobj=raw) as lines:
        for line in lines:
            yield orjson.loads(line)


def list_reports(store: SnapshotStore, tenant_id: str) -> list[str]:
    reports = store.reports()
    return [r for r in reports.list_snapshots(tenant_id, include_incomplete=True)
            if reports.exists(tenant_id, r, SUMMARY)]
