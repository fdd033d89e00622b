"""A difference report as stages that meet in the store: begin, one kind at a time, assemble.

- `begin_diff` validates the request, verifies the snapshot(s), fixes the report id, reads
  the audit log since the snapshot once (who changed what; which kinds Microsoft's own
  recovery service wrote behind delta's back) and leaves it in staging as `audit.json`.
- `diff_kind` computes one kind's entries (diff/entries.py) into a draft in staging,
  `{kind}.draft.ndjson.gz`, with `{kind}.draft.json` (entry count, live path, and the ids
  soft-deleted and recoverable here, for the cascade pass). Through delta, or between two
  snapshots, that is one call. A full live read is cut like a capture: chunks of
  `CHUNK_PAGES` pages into runs under the report's staging folder (capture/stages.py, the
  same runs and bound), then one call merges them with the snapshot's records. The cursor
  says which: None, `{"read": capture cursor}`, `{"compare": true}`.
- `assemble_report` joins the drafts in catalog order, drops link removals that only mirror
  a soft deletion listed in the same report (the cascade post-pass, needing every kind's
  soft deletions first), writes the report write-once (entries, then summary) and deletes
  the report's staging files. A retried assemble finds the summary and answers from it.

`run_diff` (diff/run.py) runs the same stages in one process, four kinds at a time.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from entra_backup.capture import stages as capture_stages
from entra_backup.capture.read import Progress
from entra_backup.capture.records import DEFAULT_SPILL_LIMIT
from entra_backup.capture.stages import (
    CHUNK_PAGES,
    HashingWriter,
    parse_time,
    read_chunk,
    staged_records,
)
from entra_backup.diff.audit import read_audit
from entra_backup.diff.entries import (
    CHANGES,
    DiffRequest,
    delta_changes,
    delta_entries,
    full_entries,
    snapshot_entries,
    verified_manifest,
    without_cascade,
)
from entra_backup.diff.reports import SUMMARY, load_header, save_report
from entra_backup.errors import SnapshotNotFoundError
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import ALL_KINDS, get_kind
from entra_backup.store.snapshots import (
    SnapshotStore,
    is_snapshot_id,
    new_snapshot_id,
    validate_snapshot_id,
)
from entra_backup.store.verify import load_manifest
from entra_backup.types import Json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from entra_backup.connect import Connection

log = logging.getLogger(__name__)
REPORT_SCHEMA_VERSION = 1
AUDIT = "audit.json"


def draft_file(kind_name: str) -> str:
    return f"{kind_name}.draft.ndjson.gz"


def draft_meta(kind_name: str) -> str:
    return f"{kind_name}.draft.json"


# ----- the stages, as the Functions activities call them ----------------------------------

async def begin_diff(conn: Connection, request: Json) -> Json:
    """Begin a report. `request`: tenantId, snapshotId, against ("live" or a snapshot id),
    kinds, objectIds, changes (top level or under "filters", as the API's job has them),
    useDelta; optional createdAt (ISO 8601, fixes the report id, so a retried begin gives the
    same one) and reportId (used when it has a stored report id's form; a job id does not,
    and the report gets its own id: the job records where it went)."""
    diff = request_of(request)
    created = parse_time(str(request["createdAt"])) if request.get("createdAt") else \
        datetime.now(UTC)
    report_id = request.get("reportId")
    if not isinstance(report_id, str) or not is_snapshot_id(report_id):
        report_id = None
    if diff.against != "live":
        return await begin(None, conn.store, diff, created=created, report_id=report_id)
    async with conn.graph(diff.tenant_id) as session:
        return await begin(session, conn.store, diff, created=created, report_id=report_id)


async def diff_kind(conn: Connection, begun: Json, kind: str, cursor: Json | None) -> Json:
    """One step of one kind's entries into its draft; `done` when the draft is written."""
    pages = capture_stages.CHUNK_PAGES  # capture's bound, read now (a default binds at import)
    if begun["against"] != "live":
        return await diff_chunk(None, conn.store, begun, kind, cursor, pages=pages)
    async with conn.graph(begun["tenantId"]) as session:
        return await diff_chunk(session, conn.store, begun, kind, cursor, pages=pages)


async def assemble_report(conn: Connection, begun: Json, kinds: list[Json]) -> Json:
    """Write the report from the drafts; returns its id and summary (small counts)."""
    header = await assemble(conn.store, begun, kinds)
    return {"reportId": header["reportId"], "summary": header["summary"]}


async def discard_diff(conn: Connection, begun: Json) -> Json:
    """A report that will not be assembled (job abandoned or failed): delete its staging
    files, as run_diff does when it fails. Idempotent."""
    staging = conn.store.staging()
    await asyncio.to_thread(staging.delete_snapshot, begun["tenantId"], begun["reportId"])
    return {"reportId": begun["reportId"]}


def request_of(body: Json) -> DiffRequest:
    """The DiffRequest a JSON request names (the API's and the orchestration's words)."""
    filters = body.get("filters") or {}

    def listed(name: str) -> list[str]:
        return list(body.get(name) or filters.get(name) or [])

    return DiffRequest(
        tenant_id=str(body["tenantId"]), snapshot_id=str(body["snapshotId"]),
        against=str(body.get("against") or "live"), kinds=listed("kinds"),
        object_ids=listed("objectIds"), changes=listed("changes"),
        use_delta=bool(body.get("useDelta", True)))


# ----- the same stages on a session and a store (run_diff and the tests use these) --------

async def begin(session: GraphSession | None, store: SnapshotStore, request: DiffRequest, *,
                created: datetime, report_id: str | None = None) -> Json:
    request.validated()
    if report_id is not None:
        validate_snapshot_id(report_id)
    manifest = await asyncio.to_thread(verified_manifest, store, request.tenant_id,
                                       request.snapshot_id)
    other = None
    if request.against != "live":
        other = await asyncio.to_thread(verified_manifest, store, request.tenant_id,
                                        request.against)
    elif session is None:
        raise ValueError("a diff against the live tenant needs a Graph session")
    kinds = [get_kind(n) for n in request.kinds] if request.kinds else [
        k for k in ALL_KINDS if k.name in manifest["kinds"]]
    for kind in kinds:
        for source in (manifest, other):
            if source is not None and kind.name not in source["kinds"]:
                raise SnapshotNotFoundError(
                    f"snapshot {source['snapshotId']} did not capture {kind.name}")
    trail = await read_audit(session if other is None else None, manifest["takenAt"], kinds)
    for name in sorted(trail.native_recovery & {k.name for k in kinds}):
        log.info("%s: Microsoft's recovery service wrote since the snapshot, without delta "
                 "records; reading everything", name)
    created = created.astimezone(UTC)
    report_id = report_id or new_snapshot_id(created)
    staging = store.staging()
    audit = orjson.dumps({"byTarget": trail.by_target,
                          "nativeRecovery": sorted(trail.native_recovery)})
    await asyncio.to_thread(staging.delete_snapshot, request.tenant_id, report_id)
    await asyncio.to_thread(staging.write, request.tenant_id, report_id, AUDIT, audit)
    return {"reportId": report_id, "tenantId": request.tenant_id,
            "snapshotId": request.snapshot_id, "against": request.against,
            "kinds": [kind.name for kind in kinds], "requestedKinds": request.kinds,
            "objectIds": request.object_ids,
            "changes": request.changes, "useDelta": request.use_delta,
            "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "startedAt": datetime.now(UTC).isoformat()}


async def diff_chunk(
    session: GraphSession | None, store: SnapshotStore, begun: Json, kind_name: str,
    cursor: Json | None, *, pages: int | None = CHUNK_PAGES,
    spill_limit: int = DEFAULT_SPILL_LIMIT, workdir: Path | None = None,
    progress: Progress | None = None,
) -> Json:
    """diff_kind on a session and a store (session None: snapshot against snapshot)."""
    kind = get_kind(kind_name)
    request = request_of(begun)
    wanted = set(request.object_ids) or None
    staging, tenant, report_id = store.staging(), begun["tenantId"], begun["reportId"]
    audit = orjson.loads(await asyncio.to_thread(staging.read_bytes, tenant, report_id, AUDIT))
    if request.against != "live":
        entries = snapshot_entries(store, request, kind, wanted, session)
        return await _draft(store, begun, kind.name, entries, "snapshot", audit)
    assert session is not None
    live = {"tenantId": tenant, "snapshotId": report_id}  # runs go under the report's folder
    state = cursor or {}
    if not state:
        manifest, _ = await asyncio.to_thread(load_manifest, store, tenant, request.snapshot_id)
        changes = await delta_changes(session, request, kind, manifest,
                                      trusted=kind.name not in audit["nativeRecovery"])
        if changes is not None:
            entries = delta_entries(store, request, kind, changes, session, wanted,
                                    audit["byTarget"], spill_limit, workdir)
            return await _draft(store, begun, kind.name, entries, "delta", audit)
        state = {"read": None}
    if "read" in state:
        chunk = await read_chunk(session, store, live, kind.name, state["read"], pages=pages,
                                 spill_limit=spill_limit, workdir=workdir, progress=progress)
        following = {"compare": True} if chunk["done"] else {"read": chunk["cursor"]}
        return {"kind": kind.name, "done": False, "cursor": following, "entries": 0}
    with staged_records(store, live, kind.name) as records:
        entries = full_entries(store, request, kind, records, session, wanted)
        return await _draft(store, begun, kind.name, entries, "full", audit)


async def _draft(store: SnapshotStore, begun: Json, kind: str, entries: AsyncIterator[Json],
                 live_path: str, audit: Json) -> Json:
    """Write one kind's entries (filtered by change, with who changed them) to staging."""
    staging, tenant, report_id = store.staging(), begun["tenantId"], begun["reportId"]
    restorable: list[str] = []  # soft-deleted here: a restore brings their links back
    count = 0
    with tempfile.TemporaryFile() as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as out:
            async for entry in entries:
                if entry["deletion"] == "soft" and entry["recoverable"]:
                    restorable.append(entry["id"])
                if begun["changes"] and entry["change"] not in begun["changes"]:
                    continue
                entry["changedBy"] = audit["byTarget"].get(entry["id"], [])
                out.write(orjson.dumps(entry) + b"\n")
                count += 1
        size = raw.tell()
        raw.seek(0)
        await asyncio.to_thread(staging.write, tenant, report_id, draft_file(kind), raw,
                                length=size)
    meta = {"entries": count, "livePath": live_path, "restorable": restorable}
    await asyncio.to_thread(staging.write, tenant, report_id, draft_meta(kind),
                            orjson.dumps(meta))
    return {"kind": kind, "done": True, "cursor": None, "entries": count}


async def assemble(store: SnapshotStore, begun: Json, kinds: list[Json]) -> Json:
    """assemble_report on a store; returns the report's header."""
    done = {entry["kind"] for entry in kinds if entry.get("done")}
    missing = [name for name in begun["kinds"] if name not in done]
    if missing:
        raise ValueError(f"kinds not diffed yet: {', '.join(missing)}")
    return await asyncio.to_thread(_assemble, store, begun)


def _assemble(store: SnapshotStore, begun: Json) -> Json:
    staging, tenant, report_id = store.staging(), begun["tenantId"], begun["reportId"]
    if store.reports().exists(tenant, report_id, SUMMARY):  # a retry after the write
        staging.delete_snapshot(tenant, report_id)
        return load_header(store, tenant, report_id)
    metas = {name: orjson.loads(staging.read_bytes(tenant, report_id, draft_meta(name)))
             for name in begun["kinds"]}
    restorable = {object_id for meta in metas.values() for object_id in meta["restorable"]}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    with tempfile.TemporaryFile() as raw:
        hasher = HashingWriter(raw)
        with gzip.GzipFile(fileobj=hasher, mode="wb", compresslevel=5, mtime=0) as out:
            for name in begun["kinds"]:
                with staging.open(tenant, report_id, draft_file(name)) as stored, \
                        gzip.GzipFile(fileobj=stored) as lines:
                    for line in lines:
                        entry = without_cascade(orjson.loads(line), restorable)
                        if entry is None:
                            continue
                        out.write(orjson.dumps(entry) + b"\n")
                        _count(entry, counts, totals)
        raw.seek(0)
        started = datetime.fromisoformat(begun["startedAt"])
        header: Json = {
            "schemaVersion": REPORT_SCHEMA_VERSION,
            "reportId": report_id,
            "snapshotId": begun["snapshotId"],
            "tenantId": tenant,
            "against": begun["against"],
            "createdAt": begun["createdAt"],
            "filters": {"kinds": begun["requestedKinds"], "objectIds": begun["objectIds"],
                        "changes": begun["changes"]},
            "summary": {
                "total": sum(totals[c] for c in CHANGES),
                "byKind": {k: {c: counts[k][c] for c in CHANGES} for k in counts},
                "byChange": {c: totals[c] for c in CHANGES},
                "softDeleted": totals["softDeleted"], "hardDeleted": totals["hardDeleted"],
                "recoverable": totals["recoverable"],
                "notRecoverable": totals["notRecoverable"],
                "durationSeconds": round((datetime.now(UTC) - started).total_seconds(), 3),
                "livePath": {name: metas[name]["livePath"] for name in begun["kinds"]},
            },
        }
        save_report(store, header, raw, hasher.size)
    staging.delete_snapshot(tenant, report_id)
    return header


def _count(entry: Json, counts: dict[str, Counter[str]], totals: Counter[str]) -> None:
    counts[entry["kind"]][entry["change"]] += 1
    totals[entry["change"]] += 1
    totals["recoverable" if entry["recoverable"] else "notRecoverable"] += 1
    if entry["deletion"]:
        totals[f"{entry['deletion']}Deleted"] += 1


