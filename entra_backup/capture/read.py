"""Reading a kind from Graph: pages as records, per-object links in `$batch`, tenant-wide lists.

`read_into` is the one reading loop: up to `pages` pages of a kind from a saved cursor (a
nextLink or Graph's first page), each record into a `RecordSorter`, the per-object links of
those records (owners, assignments, certificate keys) fetched in ordered windows of `$batch`
requests while the listing goes on. A one-shot read (the diff's full read) runs it to the end;
a capture chunk runs it for a bounded number of pages (capture/stages.py). Tenant-wide link
lists (grants) are read by `read_rows_into` and joined to their owners by id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from entra_backup.capture.records import DEFAULT_SPILL_LIMIT, RecordSorter, merge_into, normalized
from entra_backup.errors import AccessDeniedError, EntraBackupError
from entra_backup.graph.session import BatchRequest, GraphSession, Page
from entra_backup.kinds import Kind, Link
from entra_backup.types import Json

BATCH_SIZE = 20
BATCH_WINDOW = 8
KEYS = "keys"  # a record's certificate public keys by keyId (apps, service principals)
LIST_TOP = 999  # tenant-wide link lists: Graph's largest page
Progress = Callable[[str, int], None]


@dataclass
class KindPage:
    """One page of a kind, as records, with Graph's link to continue (or its delta link)."""

    records: list[Json]
    next_link: str | None
    delta_link: str | None


@dataclass
class ReadEnd:
    """Where a bounded read stopped: records read, the link to continue, the delta link."""

    count: int
    next_link: str | None
    delta_link: str | None


async def tenant_id_of(session: GraphSession) -> str:
    """The tenant the credential reaches: the organization object's id."""
    body = await session.get_json("organization", params={"$select": "id"})
    values = body.get("value") or []
    if not values:
        raise EntraBackupError("Graph returned no organization object for this credential")
    return str(values[0]["id"])



async def kind_records(
    session: GraphSession, kind: Kind, *, delta_link: list[str | None] | None = None,
    progress: Progress | None = None, spill_limit: int = DEFAULT_SPILL_LIMIT,
    workdir: Path | None = None,
) -> AsyncIterator[Json]:
    """Every record of a kind as Graph has it now, sorted by id, links attached.

    The diff's full read. `delta_link[0]` receives the delta link that ends the read, for
    kinds read through delta.
    """
    sorter = RecordSorter(limit=spill_limit, workdir=workdir)
    end = await read_into(session, kind, sorter, progress=progress)
    if delta_link is not None:
        delta_link[0] = end.delta_link
    records: Iterator[Json] = iter(sorter)  # the sorter yields records normalized
    tenant_links = [link for link in kind.links if link.read == "tenant_list"]
    if tenant_links:
        rows = RecordSorter(limit=spill_limit, workdir=workdir)
        for link in tenant_links:
            await read_rows_into(session, kind, link, rows)
        records = join_rows(records, iter(rows))
    for record in records:
        yield record


async def read_into(
    session: GraphSession, kind: Kind, sorter: RecordSorter, *, link: str | None = None,
    pages: int | None = None, progress: Progress | None = None,
) -> ReadEnd:
    """Read up to `pages` pages (all when None) of `kind` from `link` (None: the first page)
    into `sorter`, with the per-object links of every record read."""
    per_object = [link for link in kind.links if link.read == "per_object"]
    fetcher = _LinkFetcher(session, kind, per_object, sorter) if per_object else None
    end = ReadEnd(0, None, None)
    read = 0
    try:
        async with contextlib.aclosing(kind_pages(session, kind, link=link)) as stream:
            async for page in stream:
                for record in page.records:
                    sorter.add(record)
                    if fetcher is not None:
                        await fetcher.wanted(record["id"], keyed=_needs_keys(kind, record))
                    end.count += 1
                    if progress and end.count % 1000 == 0:
                        progress(kind.name, end.count)
                end.next_link, end.delta_link = page.next_link, page.delta_link
                read += 1
                if pages is not None and read >= pages:
                    break
        if fetcher is not None:
            await fetcher.finish()
        if progress:
            progress(kind.name, end.count)
    except AccessDeniedError as exc:
        raise AccessDeniedError(
            exc.status, exc.code,
            f"reading {kind.name} needs the Graph permission {kind.permissions.read} "
            f"({exc.message})", request_id=exc.request_id,
        ) from exc
    finally:
        if fetcher is not None:
            await fetcher.cancel()
    return end


async def kind_pages(session: GraphSession, kind: Kind, *, link: str | None = None
                     ) -> AsyncGenerator[KindPage, None]:
    """The kind's pages as records, from the first page or from a saved nextLink.

    Delta kinds are read through delta (so the snapshot keeps the link that ends the round),
    with their inline links (`members@delta`, `manager@delta`) selected.
    """
    if kind.singleton:
        record = to_record(kind, await session.get_json(kind.path, api_version=kind.api_version))
        yield KindPage([record] if record is not None else [], None, None)
        return
    if kind.delta:
        select = [*kind.select, *(link.name for link in kind.links if link.read == "delta")]
        pages = session.list_delta(kind.path, api_version=kind.api_version, select=select,
                                   delta_link=link)
    else:
        pages = session.list_pages(link or kind.path, api_version=kind.api_version,
                                   select=None if link else list(kind.select) or None,
                                   top=None if link else kind.max_top)
    async with contextlib.aclosing(cast(AsyncGenerator[Page, None], pages)) as stream:
        async for page in stream:
            records = [record for item in page.items if "@removed" not in item
                       for record in [to_record(kind, item)] if record is not None]
            yield KindPage(records, page.next_link, page.delta_link)


async def read_rows_into(
    session: GraphSession, kind: Kind, link: Link, sorter: RecordSorter, *,
    start: str | None = None, pages: int | None = None,
) -> str | None:
    """Read up to `pages` pages of a tenant-wide link list (grants) from `start` into
    `sorter` as link-only records of their owners; returns the link to continue, if any."""
    read = 0
    next_link: str | None = None
    listing = session.list_pages(start or link.path.split("?")[0],
                                 top=None if start else LIST_TOP)
    async with contextlib.aclosing(cast(AsyncGenerator[Page, None], listing)) as stream:
        async for page in stream:
            for item in page.items:
                owner = item.get(link.group_by)
                if not isinstance(owner, str):
                    continue
                row = {k: item.get(k) for k in link.fields}
                sorter.add({"id": owner, "kind": kind.name, "object": {},
                            "links": {link.name: [row]}})
            next_link = page.next_link
            read += 1
            if pages is not None and read >= pages:
                break
    return next_link


async def tenant_link_rows(
    session: GraphSession, kind: Kind, links: list[Link], spill_limit: int,
    workdir: Path | None,
) -> Iterator[Json]:
    """Tenant-wide link lists (grants) regrouped by owner, sorted like the records."""
    sorter = RecordSorter(limit=spill_limit, workdir=workdir)
    for link in links:
        await read_rows_into(session, kind, link, sorter)
    return iter(sorter)


def join_rows(records: Iterator[Json], rows: Iterator[Json]) -> Iterator[Json]:
    """Merge-join id-sorted records with id-sorted link rows, records normalized again;
    link rows without an owning record are dropped."""
    row = next(rows, None)
    for record in records:
        while row is not None and row["id"] < record["id"]:
            row = next(rows, None)
        if row is not None and row["id"] == record["id"]:
            merge_into(record, {"object": {}, "links": row["links"]})
            row = next(rows, None)
        yield normalized(record)


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


async def with_object_links(
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
