"""Capture as stages that meet in the store: begin, chunks per kind, finish each kind, finish.

A Durable activity runs on any instance, may be retried and exchanges at most 1 MB of JSON,
so a capture is cut where its state can live in the store's `staging` area:

- `begin_snapshot` checks the tenant, fixes the snapshot id from the scheduled time (a
  retried or repeated begin gives the same id) and clears staging left by an earlier attempt.
- `capture_chunk` reads at most `CHUNK_PAGES` pages of one kind from its cursor (Graph's
  nextLink; None for the first page), with the per-object links (owners, assignments,
  certificate keys) of the objects on those pages, sorts them and writes one run to staging,
  `{kind}.{seq:05d}.objects.ndjson.gz`. A kind's tenant-wide link lists (grants) follow in
  chunks of their own (`.rows.` runs). The cursor - `{"seq", "phase", "link", "deltaLink"}` -
  names the run, so a chunk run again with the same cursor rewrites the same run (staging
  overwrites) and a crash repeats only that chunk. The last chunk writes `{kind}.end.json`.
- `finish_kind` merges the kind's runs in order (the sorter's own merge, capture/records.py)
  into `{kind}.ndjson.gz`, hashing it: byte for byte the file a one-shot read would write.
- `finish_snapshot` writes the manifest last (naming the previous manifest's SHA-256, as
  before), deletes this snapshot's staging files (and any older than the retention that a
  failed capture left) and applies a folder store's retention.

Chunk bound: `CHUNK_PAGES` = 10 pages of up to 999 objects. Graph's pages take 1-3 s
(graph.md 1.8; graphsim's latency model charges 60 ms + 0.05 ms an object, ~0.11 s for a
full page), so the listing of a chunk is 10-30 s against Graph; the per-object reads scale
with the same bound: at most ~3 reads an object (owners, assignments, keys) is ~30,000
`$batch` entries, ~40 s at Graph's 800 RU/s even when four such chunks share the tenant's
budget at once ~150 s - within the five minutes an activity should take. Measured with
`bench/capture_stages.py --latency-model graph` at 100k objects (docs/benchmarks.md), on a
two-core machine overloaded five-fold: a chunk of users (10 pages) 13-18 s, the longest chunk
(groups: their pages' owner reads included) 52-72 s, the longest merge 7-16 s.

Nothing is left on an instance's disk between stages; a chunk may spill to a temporary file
inside its own call. The CLI's `snapshot` and `capture()` run these same stages in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from entra_backup import __version__
from entra_backup.capture.read import (
    Progress,
    join_rows,
    read_into,
    read_rows_into,
    tenant_id_of,
)
from entra_backup.capture.records import DEFAULT_SPILL_LIMIT, RecordSorter, merge_runs, read_run
from entra_backup.errors import EntraBackupError
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import ALL_KINDS, Kind, get_kind
from entra_backup.store.snapshots import (
    FolderStore,
    SnapshotStore,
    apply_retention,
    new_snapshot_id,
)
from entra_backup.types import Json

if TYPE_CHECKING:  # connect imports the recovery side, which reads records through capture
    from entra_backup.connect import Connection

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
CHUNK_PAGES = 10  # see the module docstring
OBJECTS, ROWS = "objects", "rows"


def kind_file(kind_name: str) -> str:
    return f"{kind_name}.ndjson.gz"


def run_file(kind_name: str, seq: int, part: str) -> str:
    """A chunk's run in staging: named by its cursor, so a retried chunk rewrites it."""
    return f"{kind_name}.{seq:05d}.{part}.ndjson.gz"


def end_file(kind_name: str) -> str:
    return f"{kind_name}.end.json"


def encode_record(record: Json) -> bytes:
    """One NDJSON line: sorted keys, so the same tenant always gives the same bytes."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


# ----- the stages, as the Functions activities call them ----------------------------------

async def begin_snapshot(conn: Connection, tenant_id: str | None, taken_at: str) -> Json:
    """Begin a snapshot of the tenant the credential reaches, taken at `taken_at` (ISO 8601)."""
    async with conn.graph(tenant_id) as session:
        return await begin(session, conn.store, tenant_id, taken_at)


async def capture_chunk(conn: Connection, begun: Json, kind: str, cursor: Json | None) -> Json:
    """Read one chunk of `kind` from `cursor` into staging; `done` when the kind is read."""
    async with conn.graph(begun["tenantId"]) as session:  # the bound read now, not at import
        return await read_chunk(session, conn.store, begun, kind, cursor, pages=CHUNK_PAGES)


async def finish_kind(conn: Connection, begun: Json, kind: str) -> Json:
    """Merge the kind's runs into its snapshot file."""
    return await merge_kind(conn.store, begun, kind)


async def finish_snapshot(conn: Connection, begun: Json, kinds: list[Json]) -> Json:
    """Write the manifest (last), clean staging, apply a folder store's retention."""
    manifest = await finish(conn.store, begun, kinds,
                            retention_days=conn.settings.retention_days)
    return {"tenantId": begun["tenantId"], "snapshotId": begun["snapshotId"],
            "counts": {name: entry["count"] for name, entry in manifest["kinds"].items()}}


# ----- the same stages on a session and a store (capture() and the tests use these) -------

async def begin(session: GraphSession, store: SnapshotStore, tenant_id: str | None,
                taken_at: str, *, kinds: Iterable[str] | None = None) -> Json:
    actual = await tenant_id_of(session)
    if tenant_id is not None and tenant_id.lower() != actual.lower():
        raise EntraBackupError(
            f"the Graph credential reaches tenant {actual}, not the requested tenant {tenant_id}"
        )
    taken = parse_time(taken_at)
    snapshot_id = new_snapshot_id(taken)
    older = [s for s in store.list_snapshots(actual) if s < snapshot_id]
    names = reading_order([get_kind(name) for name in kinds] if kinds is not None
                          else list(ALL_KINDS))
    await asyncio.to_thread(store.staging().delete_snapshot, actual, snapshot_id)
    return {"tenantId": actual, "snapshotId": snapshot_id,
            "takenAt": taken.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "previousSnapshotId": older[0] if older else None, "kinds": names}


def reading_order(kinds: Iterable[Kind]) -> list[str]:
    """Kind names in the order a capture starts them: the big collections (read through
    delta) with the most per-object reads first, then the rest, in rank order otherwise.

    Under Graph's budget the capture is as fast as Graph's bucket is kept busy from the
    first second to the last. The `$batch` fan-out of per-object reads is what spends it,
    and those kinds only make reads once their first pages are listed, so they go first;
    the users delta (a chain of pages, no fan-out) right after, and the small kinds fill
    slots as they free up. The snapshot does not depend on it: the manifest sorts kinds.
    """
    def key(kind: Kind) -> tuple[bool, int]:
        return not kind.delta, -sum(1 for link in kind.links if link.read == "per_object")

    return [kind.name for kind in sorted(kinds, key=key)]


def parse_time(text: str) -> datetime:
    """An ISO 8601 instant with its zone ('Z' or an offset), in UTC; ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"taken_at {text!r} needs a time zone")
    return moment.astimezone(UTC)


async def read_chunk(
    session: GraphSession, store: SnapshotStore, begun: Json, kind_name: str,
    cursor: Json | None, *, pages: int | None = CHUNK_PAGES,
    spill_limit: int = DEFAULT_SPILL_LIMIT, workdir: Path | None = None,
    progress: Progress | None = None,
) -> Json:
    """One chunk: up to `pages` pages (None: all) of one part of the kind, as one run."""
    kind = get_kind(kind_name)
    state = cursor or {"seq": 0, "phase": 0, "link": None, "deltaLink": None}
    seq, phase, link = int(state["seq"]), int(state["phase"]), state.get("link")
    delta_link = state.get("deltaLink")
    tenant_links = [link for link in kind.links if link.read == "tenant_list"]
    sorter = RecordSorter(limit=spill_limit, workdir=workdir)
    if phase == 0:
        end = await read_into(session, kind, sorter, link=link, pages=pages, progress=progress)
        count, next_link, delta_link = end.count, end.next_link, end.delta_link
        part = OBJECTS
    else:
        next_link = await read_rows_into(session, kind, tenant_links[phase - 1], sorter,
                                         start=link, pages=pages)
        count, part = 0, ROWS
    staging, tenant, snapshot = store.staging(), begun["tenantId"], begun["snapshotId"]
    await asyncio.to_thread(_write_run, staging, tenant, snapshot,
                            run_file(kind.name, seq, part), iter(sorter), workdir)
    following: Json | None = None
    if next_link is not None:
        following = {"seq": seq + 1, "phase": phase, "link": next_link, "deltaLink": delta_link}
    elif phase < len(tenant_links):
        following = {"seq": seq + 1, "phase": phase + 1, "link": None, "deltaLink": delta_link}
    else:
        marker = orjson.dumps({"runs": seq + 1, "deltaLink": delta_link})
        await asyncio.to_thread(staging.write, tenant, snapshot, end_file(kind.name), marker)
    return {"kind": kind.name, "done": following is None, "cursor": following, "count": count}


def _write_run(staging: SnapshotStore, tenant: str, snapshot: str, name: str,
               records: Iterator[Json], workdir: Path | None) -> None:
    """Sorted records into one gzip NDJSON run (deterministic bytes: mtime 0)."""
    with tempfile.TemporaryFile(dir=workdir) as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as out:
            for record in records:
                out.write(orjson.dumps(record) + b"\n")
        size = raw.tell()
        raw.seek(0)
        staging.write(tenant, snapshot, name, raw, length=size)


async def merge_kind(store: SnapshotStore, begun: Json, kind_name: str, *,
                     workdir: Path | None = None) -> Json:
    """finish_kind on a store: merge the runs into `{kind}.ndjson.gz` (once; a retry after
    the file was written describes the stored file instead)."""
    return await asyncio.to_thread(_merge_kind, store, begun, get_kind(kind_name).name, workdir)


def _merge_kind(store: SnapshotStore, begun: Json, kind: str, workdir: Path | None) -> Json:
    staging, tenant, snapshot = store.staging(), begun["tenantId"], begun["snapshotId"]
    end = orjson.loads(staging.read_bytes(tenant, snapshot, end_file(kind)))
    name = kind_file(kind)
    result: Json = {"kind": kind, "file": name, "deltaLink": end["deltaLink"]}
    if store.exists(tenant, snapshot, name):
        return {**result, **_described(store, tenant, snapshot, name)}
    with staged_records(store, begun, kind) as records, \
            tempfile.TemporaryFile(dir=workdir) as raw:
        hasher = HashingWriter(raw)
        count = 0
        with gzip.GzipFile(fileobj=hasher, mode="wb", compresslevel=3, mtime=0) as out:
            for record in records:
                out.write(encode_record(record))
                count += 1
        raw.seek(0)
        store.write(tenant, snapshot, name, raw, length=hasher.size)
    return {**result, "count": count, "sha256": hasher.hexdigest(), "bytes": hasher.size}


@contextlib.contextmanager
def staged_records(store: SnapshotStore, begun: Json, kind: str) -> Iterator[Iterator[Json]]:
    """The kind's records from its runs in staging, sorted and folded (grants joined to
    their owners): what one read of the whole kind gives. Runs are streamed, not loaded."""
    staging, tenant, snapshot = store.staging(), begun["tenantId"], begun["snapshotId"]
    end = orjson.loads(staging.read_bytes(tenant, snapshot, end_file(kind)))
    runs: dict[str, list[str]] = {OBJECTS: [], ROWS: []}
    for file in staging.list_files(tenant, snapshot):  # sorted: in seq order
        parts = file.split(".")
        if len(parts) == 5 and parts[0] == kind and int(parts[1]) < end["runs"]:
            runs[parts[2]].append(file)
    with contextlib.ExitStack() as files:

        def opened(names: list[str]) -> list[Iterator[Json]]:
            return [read_run(files.enter_context(gzip.GzipFile(
                fileobj=files.enter_context(staging.open(tenant, snapshot, run)))))
                for run in names]

        records = merge_runs(opened(runs[OBJECTS]))
        if any(link.read == "tenant_list" for link in get_kind(kind).links):
            records = join_rows(records, merge_runs(opened(runs[ROWS])))
        yield records


def _described(store: SnapshotStore, tenant: str, snapshot: str, name: str) -> Json:
    """Count, hash and size of a kind file already in the store."""
    digest, size = hashlib.sha256(), 0
    with store.open(tenant, snapshot, name) as raw:
        for piece in iter(lambda: raw.read(1 << 20), b""):
            digest.update(piece)
            size += len(piece)
    with store.open(tenant, snapshot, name) as raw, gzip.GzipFile(fileobj=raw) as lines:
        count = sum(1 for _ in lines)
    return {"count": count, "sha256": digest.hexdigest(), "bytes": size}


async def finish(store: SnapshotStore, begun: Json, kinds: list[Json], *,
                 retention_days: int) -> Json:
    """finish_snapshot on a store; returns the manifest."""
    return await asyncio.to_thread(_finish, store, begun, kinds, retention_days)


def _finish(store: SnapshotStore, begun: Json, kinds: list[Json], retention_days: int) -> Json:
    tenant, snapshot = begun["tenantId"], begun["snapshotId"]
    if store.exists(tenant, snapshot, MANIFEST):  # a retry after the manifest was written
        manifest: Json = orjson.loads(store.read_bytes(tenant, snapshot, MANIFEST))
    else:
        previous = begun["previousSnapshotId"]
        manifest = {
            "schemaVersion": SCHEMA_VERSION,
            "tenantId": tenant,
            "snapshotId": snapshot,
            "takenAt": begun["takenAt"],
            "engineVersion": __version__,
            "previousSnapshotId": previous,
            "previousManifestSha256": hashlib.sha256(
                store.read_bytes(tenant, previous, MANIFEST)).hexdigest() if previous else None,
            "kinds": {
                entry["kind"]: {"file": entry["file"], "count": entry["count"],
                                "sha256": entry["sha256"], "bytes": entry["bytes"],
                                "deltaLink": entry["deltaLink"]}
                for entry in sorted(kinds, key=lambda entry: str(entry["kind"]))
            },
        }
        body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        store.write(tenant, snapshot, MANIFEST, body)
    taken = parse_time(begun["takenAt"])
    staging = store.staging()
    staging.delete_snapshot(tenant, snapshot)
    apply_retention(staging, tenant, days=retention_days, now=taken)  # failed captures' runs
    if isinstance(store, FolderStore):  # Blob storage expires snapshots by lifecycle policy
        apply_retention(store, tenant, days=retention_days, now=taken)
    return manifest


class HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return int(self._target.write(data))

    def flush(self) -> None:
        self._target.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

