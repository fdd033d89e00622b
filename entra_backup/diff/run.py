"""Difference reports: a snapshot against the live tenant or against another snapshot.

`run_diff` runs the diff's stages (diff/stages.py) in one process, four kinds at a time as
capture reads them: begin (verify, audit log), each kind into its draft in the store's
staging area (diff/entries.py says how a kind's entries are found: delta, full read, or a
second snapshot), then the report assembled from the drafts and stored write-once beside the
snapshots, from where it is exported. The Functions orchestration runs the same stages one
activity at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from entra_backup.capture.read import Progress
from entra_backup.capture.records import DEFAULT_SPILL_LIMIT
from entra_backup.capture.snapshot import KIND_CONCURRENCY
from entra_backup.capture.stages import CHUNK_PAGES
from entra_backup.diff import stages
from entra_backup.diff.entries import CHANGES, DiffRequest
from entra_backup.diff.stages import REPORT_SCHEMA_VERSION
from entra_backup.graph.batch import gather_or_cancel
from entra_backup.graph.session import GraphSession
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json

__all__ = ["CHANGES", "REPORT_SCHEMA_VERSION", "DiffRequest", "DiffResult", "run_diff"]


@dataclass
class DiffResult:
    header: Json
    report_id: str


async def run_diff(
    store: SnapshotStore, request: DiffRequest, *, session: GraphSession | None = None,
    now: datetime | None = None, spill_limit: int = DEFAULT_SPILL_LIMIT,
    workdir: Path | None = None, progress: Progress | None = None,
    chunk_pages: int | None = CHUNK_PAGES,
) -> DiffResult:
    """Compute, store and return a report. No report is written unless it completes (a
    failed run removes its staging files).

    `progress(kind, count)` hears how far each full live read has come (the long part).
    """
    begun = await stages.begin(session, store, request, created=now or datetime.now(UTC))
    gate = asyncio.Semaphore(KIND_CONCURRENCY)

    async def one(name: str) -> Json:
        async with gate:
            cursor: Json | None = None
            done_before, in_chunk = 0, [0]  # records of the full read, for progress
            while True:
                def counted(kind: str, count: int, base: int = done_before) -> None:
                    in_chunk[0] = count
                    if progress:
                        progress(kind, base + count)

                step = await stages.diff_chunk(session, store, begun, name, cursor,
                                               pages=chunk_pages, spill_limit=spill_limit,
                                               workdir=workdir, progress=counted)
                if step["done"]:
                    return step
                cursor = step["cursor"]
                done_before, in_chunk[0] = done_before + in_chunk[0], 0

    try:
        results = await gather_or_cancel([one(name) for name in begun["kinds"]])
        header = await stages.assemble(store, begun, results)
    except BaseException:
        with contextlib.suppress(Exception):
            store.staging().delete_snapshot(begun["tenantId"], begun["reportId"])
        raise
    return DiffResult(header, header["reportId"])

