"""Capture a tenant into a snapshot: one sorted gzip NDJSON file per kind, then the manifest.

Per kind: stream objects from Graph (delta where Graph offers it, so the next diff can ask only
for what changed; inline `members@delta` / `manager@delta` instead of a request per object),
sort and fold them with the spill-and-merge sorter, attach per-object links in ordered
windows of `$batch` requests, write the file while hashing it, upload it write-once. The
manifest goes last and names the previous manifest's SHA-256, so removing or altering any
snapshot breaks a chain `verify` checks.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from entra_backup import __version__
from entra_backup.capture.records import DEFAULT_SPILL_LIMIT, RecordSorter, merge_into, normalized
from entra_backup.errors import AccessDeniedError, EntraBackupError
from entra_backup.graph.session import BatchRequest, GraphSession
from entra_backup.kinds import ALL_KINDS, Kind, Link
from entra_backup.store.snapshots import (
    DEFAULT_RETENTION_DAYS,
    FolderStore,
    SnapshotStore,
    apply_retention,
    new_snapshot_id,
)
from entra_backup.types import Json

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
BATCH_SIZE = 20
BATCH_WINDOW = 8
KEYS = "keys"  # a record's certificate public keys by keyId (apps, service principals)
KIND_CONCURRENCY = 4
Progress = Callable[[str, int], None]


def kind_file(kind_name: str) -> str:
    return f"{kind_name}.ndjson.gz"


@dataclass
class KindResult:
    name: str
    file: str
    count: int
    sha256: str
    size: int
    delta_link: str | None


@dataclass
class CaptureResult:
    tenant_id: str
    snapshot_id: str
    manifest: Json
    counts: dict[str, int] = field(default_factory=dict)


async def tenant_id_of(session: GraphSession) -> str:
    """The tenant the credential reaches: the organization object's id."""
    body = await session.get_json("organization", params={"$select": "id"})
    values = body.get("value") or []
    if not values:
        raise EntraBackupError("Graph returned no organization object for this credential")
    return str(values[0]["id"])


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
) -> CaptureResult:
    """Take one snapshot of the tenant and write it to the store. Returns its manifest.

    A folder store drops snapshots older than `retention_days` (never the newest) once the
    new manifest is written; Blob storage leaves that to its lifecycle policy.
    """
    actual = await tenant_id_of(session)
    if tenant_id is not None and tenant_id.lower() != actual.lower():
        raise EntraBackupError(
            f"the Graph credential reaches tenant {actual}, not the requested tenant {tenant_id}"
        )
    taken_at = now or datetime.now(UTC)
    snapshot_id = new_snapshot_id(taken_at)
    previous = store.list_snapshots(actual)
    previous_id = previous[0] if previous else None
    previous_hash = (
        hashlib.sha256(store.read_bytes(actual, previous_id, MANIFEST)).hexdigest()
        if previous_id else None
    )
    gate = asyncio.Semaphore(KIND_CONCURRENCY)

    async def one(kind: Kind) -> KindResult:
        async with gate:
            return await capture_kind(session, store, kind, tenant_id=actual,
                                      snapshot_id=snapshot_id, progress=progress,
                                      spill_limit=spill_limit, workdir=workdir)

    results = await asyncio.gather(*(one(kind) for kind in kinds))
    manifest: Json = {
        "schemaVersion": SCHEMA_VERSION,
        "tenantId": actual,
        "snapshotId": snapshot_id,
        "takenAt": taken_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "engineVersion": __version__,
        "previousSnapshotId": previous_id,
        "previousManifestSha256": previous_hash,
        "kinds": {
            r.name: {"file": r.file, "count": r.count, "sha256": r.sha256, "bytes": r.size,
                     "deltaLink": r.delta_link}
            for r in sorted(results, key=lambda r: r.name)
        },
    }
    body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    store.write(actual, snapshot_id, MANIFEST, body)
    if isinstance(store, FolderStore):  # Blob storage expires snapshots by lifecycle policy
        apply_retention(store, actual, days=retention_days, now=taken_at)
    return CaptureResult(actual, snapshot_id, manifest, {r.name: r.count for r in results})


async def kind_records(
    session: GraphSession, kind: Kind, *, delta_link: list[str | None] | None = None,
    progress: Progress | None = None, spill_limit: int = DEFAULT_SPILL_LIMIT,
    workdir: Path | None = None,
) -> AsyncIterator[Json]:
    """Every record of a kind as Graph has it now, sorted by id, links attached.

    Shared by capture and by the diff's full read. `delta_link[0]` receives the delta link
    that ends the read, for kinds read through delta.
    """
    sorter = RecordSorter(limit=spill_limit, workdir=workdir)
    link_out: list[str | None] = delta_link if delta_link is not None else [None]
    per_object = [link for link in kind.links if link.read == "per_object"]
    fetcher = _LinkFetcher(session, kind, per_object, sorter) if per_object else None
    count = 0
    try:
        async for record in _read_records(session, kind, link_out):
            sorter.add(record)
            if fetcher is not None:
                await fetcher.wanted(record["id"], keyed=_needs_keys(kind, record))
            count += 1
            if progress and count % 1000 == 0:
                progress(kind.name, count)
        if fetcher is not None:
            await fetcher.finish()
        if progress:
            progress(kind.name, count)
    except AccessDeniedError as exc:
        raise AccessDeniedError(
            exc.status, exc.code,
            f"reading {kind.name} needs the Graph permission {kind.permissions.read} "
            f"({exc.message})", request_id=exc.request_id,
        ) from exc
    finally:
        if fetcher is not None:
            await fetcher.cancel()
    records: Iterator[Json] = iter(sorter)  # the sorter yields records normalized
    tenant_links = [link for link in kind.links if link.read == "tenant_list"]
    if tenant_links:
        rows = await _tenant_link_rows(session, kind, tenant_links, spill_limit, workdir)
        records = (normalized(r) for r in _join(records, rows))
    for record in records:
        yield record


class _LinkFetcher:
    """Per-object link reads started while the kind is still being listed.

    Reading them only after the whole kind was listed left Graph's budget idle for the
    first seconds of a throttled capture (and the per-object reads of the biggest kind last
    on the critical path). Answers go into the sorter as link-only records, which it folds
    into their objects like any repeated record; BATCH_WINDOW batches at most are in flight,
    and a full window holds the listing back.
    """

    def __init__(self, session: GraphSession, kind: Kind, links: list[Link],
                 sorter: RecordSorter) -> None:
        self._session, self._kind, self._links, self._sorter = session, kind, links, sorter
        self._per_batch = max(1, BATCH_SIZE // len(links))
        self._seen: set[str] = set()  # a group comes back once per chunk of members
        self._chunk: list[Json] = []
        self._keyed: set[str] = set()
        self._pending: list[asyncio.Task[list[Json]]] = []

    async def wanted(self, object_id: str, *, keyed: bool = False) -> None:
        if object_id in self._seen:
            return
        self._seen.add(object_id)
        if keyed:
            self._keyed.add(object_id)
        self._chunk.append({"id": object_id, "kind": self._kind.name, "object": {},
                            "links": {}})
        if len(self._chunk) == self._per_batch:
            self._launch()
        while len(self._pending) >= BATCH_WINDOW:
            await self._settle_oldest()

    async def finish(self) -> None:
        if self._chunk:
            self._launch()
        while self._pending:
            await self._settle_oldest()

    async def cancel(self) -> None:
        """After a failure: stop what is still in flight and collect it quietly."""
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending = []

    def _launch(self) -> None:
        chunk, self._chunk = self._chunk, []
        keyed = {row["id"] for row in chunk} & self._keyed
        self._keyed -= keyed
        self._pending.append(asyncio.create_task(
            _fetch_links(self._session, self._kind, self._links, chunk, keyed)))

    async def _settle_oldest(self) -> None:
        for row in await self._pending.pop(0):
            self._sorter.add(row)


def encode_record(record: Json) -> bytes:
    """One NDJSON line: sorted keys, so the same tenant always gives the same bytes."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


async def capture_kind(
    session: GraphSession, store: SnapshotStore, kind: Kind, *, tenant_id: str,
    snapshot_id: str, progress: Progress | None = None,
    spill_limit: int = DEFAULT_SPILL_LIMIT, workdir: Path | None = None,
) -> KindResult:
    """Capture one kind into `{kind}.ndjson.gz` in the store."""
    delta_link: list[str | None] = [None]
    with tempfile.TemporaryFile(dir=workdir) as raw:
        hasher = _HashingWriter(raw)
        written = 0
        with gzip.GzipFile(fileobj=hasher, mode="wb", compresslevel=3, mtime=0) as out:
            async for record in kind_records(session, kind, delta_link=delta_link,
                                             progress=progress, spill_limit=spill_limit,
                                             workdir=workdir):
                out.write(encode_record(record))
                written += 1
        size = hasher.size
        raw.seek(0)
        store.write(tenant_id, snapshot_id, kind_file(kind.name), raw, length=size)
    if progress:
        progress(kind.name, written)
    return KindResult(kind.name, kind_file(kind.name), written, hasher.hexdigest(), size,
                      delta_link[0])


class _HashingWriter:
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


def to_record(kind: Kind, item: Json) -> Json | None:
    """Turn one Graph item into a record, or None when it belongs to another kind."""
    odata_type = item.get("@odata.type")
    if odata_type in kind.exclude_types:
        return None
    if kind.odata_type is not None and odata_type not in (None, kind.odata_type):
        return None
    links: Json = {}
    obj: Json = {}
    for key, value in item.items():
        if key.endswith("@delta"):
            name = key[:-6]
            links[name] = [v["id"] for v in value if "@removed" not in v]
        elif key.startswith("@odata.") and key != "@odata.type":
            continue
        else:
            obj[key] = value
    _strip_secrets(obj, kind.secret)
    return {"id": item["id"], "kind": kind.name, "object": obj, "links": links}


def _strip_secrets(value: Any, secret: frozenset[str]) -> None:
    if not secret:
        return
    if isinstance(value, dict):
        for key in [k for k in value if k in secret]:
            del value[key]
        for inner in value.values():
            _strip_secrets(inner, secret)
    elif isinstance(value, list):
        for inner in value:
            _strip_secrets(inner, secret)


async def _read_records(
    session: GraphSession, kind: Kind, delta_link: list[str | None]
) -> AsyncIterator[Json]:
    if kind.singleton:
        item = await session.get_json(kind.path, api_version=kind.api_version)
        record = to_record(kind, item)
        if record is not None:
            yield record
        return
    if kind.delta:
        select = [*kind.select, *(link.name for link in kind.links if link.read == "delta")]
        async for page in session.list_delta(kind.path, api_version=kind.api_version,
                                             select=select):
            for item in page.items:
                if "@removed" in item:
                    continue
                record = to_record(kind, item)
                if record is not None:
                    yield record
            if page.delta_link:
                delta_link[0] = page.delta_link
        return
    async for page in session.list_pages(kind.path, api_version=kind.api_version,
                                         select=list(kind.select) or None, top=kind.max_top):
        for item in page.items:
            record = to_record(kind, item)
            if record is not None:
                yield record


async def _tenant_link_rows(
    session: GraphSession, kind: Kind, links: list[Link], spill_limit: int,
    workdir: Path | None,
) -> Iterator[Json]:
    """Tenant-wide link lists (grants) regrouped by owner, sorted like the records."""
    sorter = RecordSorter(limit=spill_limit, workdir=workdir)
    for link in links:
        async for page in session.list_pages(link.path.split("?")[0], top=999):
            for item in page.items:
                owner = item.get(link.group_by)
                if not isinstance(owner, str):
                    continue
                row = {k: item.get(k) for k in link.fields}
                sorter.add({"id": owner, "kind": kind.name, "object": {},
                            "links": {link.name: [row]}})
    return iter(sorter)


def _join(records: Iterator[Json], rows: Iterator[Json]) -> Iterator[Json]:
    """Merge-join two id-sorted streams; link rows without an owning record are dropped."""
    row = next(rows, None)
    for record in records:
        while row is not None and row["id"] < record["id"]:
            row = next(rows, None)
        if row is not None and row["id"] == record["id"]:
            merge_into(record, {"object": {}, "links": row["links"]})
            row = next(rows, None)
        yield record


async def _with_object_links(
    session: GraphSession, kind: Kind, links: list[Link], records: Iterator[Json]
) -> AsyncIterator[Json]:
    """Attach per-object links in $batch windows, keeping the sorted order."""
    if not links:
        for record in records:
            yield record
        return
    per_batch = max(1, BATCH_SIZE // len(links))
    pending: list[asyncio.Task[list[Json]]] = []
    chunk: list[Json] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == per_batch:
            pending.append(asyncio.create_task(_fetch_links(session, kind, links, chunk)))
            chunk = []
            if len(pending) >= BATCH_WINDOW:
                for done in await pending.pop(0):
                    yield done
    if chunk:
        pending.append(asyncio.create_task(_fetch_links(session, kind, links, chunk)))
    for task in pending:
        for done in await task:
            yield done


def _needs_keys(kind: Kind, record: Json) -> bool:
    """Whether the record lists certificates whose public keys only a single GET returns."""
    return "keyCredentials" in kind.single_get and bool(
        (record.get("object") or {}).get("keyCredentials"))


async def _fetch_links(
    session: GraphSession, kind: Kind, links: list[Link], chunk: list[Json],
    keyed: set[str] | frozenset[str] = frozenset(),
) -> list[Json]:
    """Per-object links of a chunk of records in $batch; for `keyed` ids also the public keys
    of their certificates (`record["keys"]`: keyId -> key), which lists never carry."""
    requests = [
        BatchRequest(id=f"{index}:{link.name}", method="GET",
                     url="/" + link.path.format(id=record["id"]))
        for index, record in enumerate(chunk) for link in links
    ] + [
        BatchRequest(id=f"{index}:{KEYS}", method="GET",
                     url=f"/{kind.collection_path}/{record['id']}?$select=id,keyCredentials")
        for index, record in enumerate(chunk) if record["id"] in keyed
    ]
    responses = await session.batch(requests, api_version=kind.api_version)
    for request, response in zip(requests, responses, strict=True):
        index, name = request.id.split(":", 1)
        record = chunk[int(index)]
        if name == KEYS:
            record[KEYS] = _public_keys(response.body) if response.status < 400 else {}
            continue
        link = kind.link(name)
        if response.status == 404:
            values: list[Any] = []  # deleted between the list and this read
        elif response.status >= 400:
            raise _batch_error(kind, link, response)
        else:
            values = await _link_values(session, kind, link, response.body or {})
        record.setdefault("links", {})[link.name] = values
    return chunk


def _public_keys(body: Any) -> dict[str, str]:
    creds = body.get("keyCredentials") if isinstance(body, dict) else None
    return {c["keyId"]: c["key"] for c in creds or []
            if isinstance(c, dict) and c.get("keyId") and c.get("key")}


async def _link_values(session: GraphSession, kind: Kind, link: Link, body: Json) -> list[Any]:
    if link.single:  # manager: the body is the object itself
        return [body["id"]] if body.get("id") else []
    values: list[Any] = []
    page: Json | None = body
    while page is not None:
        for item in page.get("value", []):
            values.append({k: item.get(k) for k in link.fields} if link.fields else item["id"])
        next_link = page.get("@odata.nextLink")
        page = await session.get_json(next_link, api_version=kind.api_version) if next_link \
            else None
    return values


def _batch_error(kind: Kind, link: Link, response: Any) -> EntraBackupError:
    error = (response.body or {}).get("error", {}) if isinstance(response.body, dict) else {}
    message = f"reading {kind.name} {link.name} failed: {response.status} " \
              f"{error.get('code', '')} {error.get('message', '')}".strip()
    if response.status == 403:
        return AccessDeniedError(403, str(error.get("code", "")),
                                 f"{message}; needs {kind.permissions.read}")
    return EntraBackupError(message)
