"""JSON `$batch` for GraphSession: chunks of 20, per-entry retries, answers in input order.

Graph throttles every sub-request on its own and the SDKs do not retry entries (graph.md
§1.7), so a batch can come back 200 with a few entries at 429. Resending the whole batch would
repeat the entries that already worked (and double their cost); resending none loses data.
Here only the 429/503/504 entries go again, after the largest Retry-After among them (or
the session's backoff when none is given), and the others are kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import orjson

from entra_backup.errors import GraphRequestError
from entra_backup.graph.pacing import is_budget_429, parse_retry_after, resource_units, service_of
from entra_backup.graph.rules import graph_error
from entra_backup.types import Json

if TYPE_CHECKING:
    from entra_backup.graph.session import GraphSession

MAX_BATCH = 20
RETRY_ENTRY_STATUSES = frozenset({429, 503, 504})
_NOT_EXECUTED = frozenset({429, 503})  # a write entry may be resent only after these
T = TypeVar("T")


@dataclass(frozen=True)
class BatchRequest:
    """One sub-request; `url` is relative to the version, e.g. "/groups/{id}/owners"."""

    id: str
    method: str
    url: str
    body: Json | None = None
    headers: Mapping[str, str] | None = None

    def as_json(self) -> Json:
        entry: Json = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers or {})
        if self.body is not None:
            entry["body"] = self.body
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"  # Graph refuses a body without it
        if headers:
            entry["headers"] = headers
        return entry


@dataclass(frozen=True)
class BatchResponse:
    """One sub-response: status, headers and the (already parsed) body."""

    id: str
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name (entry headers are a plain JSON object)."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


async def gather_or_cancel(aws: Sequence[Awaitable[T]]) -> list[T]:
    """Like gather, but the first error cancels the rest and surfaces unwrapped.

    (asyncio.TaskGroup would wrap it in an ExceptionGroup, and callers branch on our error
    classes.)
    """
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def run_batch(
    session: GraphSession, requests: Sequence[BatchRequest], *, api_version: str
) -> list[BatchResponse]:
    """Send `requests` as concurrent batches of <= 20; return one answer per request, in order.

    The caller (GraphSession.batch) has already validated ids and applied the permanent-delete
    guard to every entry, so nothing is sent if any entry is refused.
    """
    chunks = [requests[i:i + MAX_BATCH] for i in range(0, len(requests), MAX_BATCH)]
    answers = await gather_or_cancel([_run_chunk(session, c, api_version) for c in chunks])
    return [answer for chunk in answers for answer in chunk]


async def _run_chunk(
    session: GraphSession, chunk: Sequence[BatchRequest], api_version: str
) -> list[BatchResponse]:
    pending = list(chunk)
    done: dict[str, BatchResponse] = {}
    attempt = 0
    while pending:
        attempt += 1
        reads_only = all(r.method.upper() == "GET" for r in pending)
        response = await session.request(
            "POST", "$batch", api_version=api_version, idempotent=reads_only,
            json={"requests": [r.as_json() for r in pending]}, entries=len(pending),
        )
        answers = _parse(response.content)
        session.stats.batch_entries += len(pending)
        again: list[BatchRequest] = []
        waits: list[float | None] = []
        throttled_services: set[str] = set()
        units, accepted, budget, refused = 0.0, 0, False, 0.0
        for request in pending:
            answer = answers.get(request.id.lower())
            if answer is None:
                raise GraphRequestError(f"POST $batch: no answer for entry {request.id!r}")
            session.stats.by_status[answer.status] += 1
            cost = resource_units(answer.header("x-ms-resource-unit"))
            if answer.status == 429:
                session.stats.throttled += 1
                throttled_services.add(service_of(request.url))
                budget |= is_budget_429(answer.header("x-ms-throttle-information"))
                refused += cost
            else:
                units += cost
                accepted += 1
            resendable = request.method.upper() == "GET" or answer.status in _NOT_EXECUTED
            if (answer.status in RETRY_ENTRY_STATUSES and resendable
                    and attempt < session.max_attempts):
                again.append(request)
                waits.append(parse_retry_after(answer.header("Retry-After")))
            else:
                done[request.id.lower()] = answer
        session.pacer.charged(service_of("$batch"), units, entries=len(pending),
                              accepted=accepted, refused=refused)
        if not again:
            break
        known = [w for w in waits if w is not None]
        retry_after = session.cap_retry_after(max(known)) if known else None
        for service in throttled_services:  # everyone else on that service waits too
            session.pacer.throttled(service, retry_after, None, budget=budget)
        delay = retry_after if retry_after is not None else session.backoff(attempt)
        session.stats.retries += len(again)
        await asyncio.sleep(delay)
        pending = again
    return [done[r.id.lower()] for r in chunk]


async def get_many(session: GraphSession, urls: Sequence[str], *,
                   api_version: str) -> list[Json | None]:
    """GraphSession.get_many: one GET entry per URL; None for 404, other errors raise."""
    answers = await session.batch([BatchRequest(str(i), "GET", u) for i, u in enumerate(urls)],
                                  api_version=api_version)
    return [None if a.status == 404 else _entry_json(a, u)
            for a, u in zip(answers, urls, strict=True)]


async def list_all_many(session: GraphSession, urls: Sequence[str], *,
                        api_version: str) -> AsyncIterator[tuple[str, list[Json] | None]]:
    """GraphSession.list_all_many: windows of 20 x max_concurrency URLs, yielded in order."""
    window = MAX_BATCH * session.max_concurrency
    for start in range(0, len(urls), window):
        part = urls[start:start + window]
        answers = await session.batch(
            [BatchRequest(str(i), "GET", u) for i, u in enumerate(part)], api_version=api_version)
        results = await gather_or_cancel([_all_items(session, a, u, api_version)
                                          for a, u in zip(answers, part, strict=True)])
        for url, items in zip(part, results, strict=True):
            yield url, items


async def _all_items(session: GraphSession, answer: BatchResponse, url: str,
                     api_version: str) -> list[Json] | None:
    if answer.status == 404:
        return None
    body = _entry_json(answer, url)
    items = body.get("value")
    if not isinstance(items, list):
        raise GraphRequestError(f"GET {urlsplit(url).path}: the answer is not a collection page")
    items = list(items)
    next_link = body.get("@odata.nextLink")
    if isinstance(next_link, str):
        async for page in session.list_pages(next_link, api_version=api_version):
            items.extend(page.items)
    return items


def _entry_json(answer: BatchResponse, url: str) -> Json:
    if not answer.ok:
        raise graph_error(answer.status, answer.body, answer.headers, method="GET",
                          url=urlsplit(url).path)
    return answer.body if isinstance(answer.body, dict) else {}


def _parse(content: bytes) -> dict[str, BatchResponse]:
    try:
        body = orjson.loads(content)
        entries = body["responses"]
        out: dict[str, BatchResponse] = {}
        for entry in entries:
            headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
            out[str(entry["id"]).lower()] = BatchResponse(
                str(entry["id"]), int(entry["status"]), headers, entry.get("body"))
        return out
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GraphRequestError("POST $batch: the batch response is not Graph's shape") from exc
