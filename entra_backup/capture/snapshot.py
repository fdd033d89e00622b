"""Capture a tenant into a snapshot: one sorted gzip NDJSON file per kind, then the manifest.

Per kind: stream objects from Graph (delta where Graph offers it, so the next diff can ask only
for what changed; inline `members@delta` / `manager@delta` instead of a request per object),
attach per-object links in ordered windows of `$batch` requests (capture/read.py), sort and
fold them, write the file while hashing it, upload it write-once. The manifest goes last and
names the previous manifest's SHA-256, so removing or altering any snapshot breaks a chain
`verify` checks.

`capture()` runs the same stages the Functions orchestration runs one activity at a time
(capture/stages.py): begin, chunks of pages into the store's staging area, a merge per kind,
the manifest - here in one process, four kinds at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from entra_backup.capture import stages
from entra_backup.capture.read import (
    Progress,
    kind_records,
    tenant_id_of,
    to_record,
)
from entra_backup.capture.records import DEFAULT_SPILL_LIMIT
from entra_backup.capture.stages import CHUNK_PAGES, MANIFEST, SCHEMA_VERSION, kind_file
from entra_backup.graph.batch import gather_or_cancel
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import ALL_KINDS, Kind
from entra_backup.store.snapshots import DEFAULT_RETENTION_DAYS, SnapshotStore
from entra_backup.types import Json

__all__ = ["CHUNK_PAGES", "KIND_CONCURRENCY", "MANIFEST", "SCHEMA_VERSION", "CaptureResult",
           "Progress", "capture", "kind_file", "kind_records", "tenant_id_of", "to_record"]

KIND_CONCURRENCY = 4


@dataclass
class CaptureResult:
    tenant_id: str
    snapshot_id: str
    manifest: Json
    counts: dict[str, int] = field(default_factory=dict)


async def capture(
    session: GraphSession,
    store: SnapshotStore,
    *,
    tenant_id: str | None = None,
    kinds: Iterable[Kind] = ALL_KINDS,
    now: datetime | None = None,
    progress: Progress | None = None,
    spill_limit: int = DEFAULT_SPILL_LIMIT,
    workdir: Path | None = None,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    chunk_pages: int | None = CHUNK_PAGES,
) -> CaptureResult:
    """Take one snapshot of the tenant and write it to the store. Returns its manifest.

    Kinds are read four at a time, each in chunks of `chunk_pages` pages (None: the whole
    kind in one chunk) that meet in the store's staging area. A folder store drops snapshots
    older than `retention_days` (never the newest) once the new manifest is written; Blob
    storage leaves that to its lifecycle policy.
    """
    taken = (now or datetime.now(UTC)).astimezone(UTC)
    begun = await stages.begin(session, store, tenant_id, taken.isoformat(),
                               kinds=[kind.name for kind in kinds])
    gate = asyncio.Semaphore(KIND_CONCURRENCY)

    async def one(name: str) -> Json:
        async with gate:
            cursor: Json | None = None
            read = 0
            while True:
                def counted(kind: str, count: int, base: int = read) -> None:
                    if progress:
                        progress(kind, base + count)

                chunk = await stages.read_chunk(session, store, begun, name, cursor,
                                                pages=chunk_pages, spill_limit=spill_limit,
                                                workdir=workdir, progress=counted)
                read += chunk["count"]
                if chunk["done"]:
                    break
                cursor = chunk["cursor"]
            result = await stages.merge_kind(store, begun, name, workdir=workdir)
            if progress:
                progress(name, result["count"])
            return result

    results = await gather_or_cancel([one(name) for name in begun["kinds"]])
    manifest = await stages.finish(store, begun, results, retention_days=retention_days)
    return CaptureResult(begun["tenantId"], begun["snapshotId"], manifest,
                         {name: entry["count"] for name, entry in manifest["kinds"].items()})
