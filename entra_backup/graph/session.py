"""The Graph session: every call the engine makes to Microsoft Graph goes through here.

`GraphSession.request` is the single place for retries, pacing, authentication and error
translation; the list, delta, batch and write helpers are thin layers over it.

The httpx client comes from msgraph-core's `GraphClientFactory`, but with an *empty* middleware
list instead of kiota's default pipeline. Kiota's RetryHandler cannot do what a tenant-wide
backup needs (graph.md §1): exponential backoff for Conditional Access 429s that carry no
Retry-After, one pacing state shared by all concurrent requests of a service, retrying only
the throttled entries of a `$batch`, and never resending a non-idempotent POST after an
ambiguous failure. Running both would also multiply attempts (kiota's retries inside each of
ours). Redirects are not followed: Graph's directory APIs do not redirect, and a redirect must
never carry our bearer token elsewhere - for the same reason absolute URLs (nextLinks) must
point at `base_url`'s origin.

Invariant: a DELETE on `directory/deletedItems` or `conditionalAccess/deletedItems` (a
permanent delete) raises PermanentDeleteRefusedError before anything is sent, whoever asks,
including inside a `$batch`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx
import orjson
from msgraph_core import GraphClientFactory

from entra_backup.errors import GraphRequestError, NotFoundError
from entra_backup.graph.auth import (
    CredentialTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    token_provider_from_env,
)
from entra_backup.graph.batch import BatchRequest, BatchResponse, get_many, list_all_many, run_batch
from entra_backup.graph.pacing import (
    GraphStats,
    Pacer,
    RateMemory,
    backoff_delay,
    is_budget_429,
    parse_retry_after,
    resource_units,
    service_of,
)
from entra_backup.graph.rules import (
    error_code,
    graph_error,
    json_object,
    json_or_none,
    refuse_permanent_delete,
)
from entra_backup.types import Json

__all__ = [
    "BatchRequest", "BatchResponse", "CredentialTokenProvider", "GraphSession", "GraphStats",
    "Page", "StaticTokenProvider", "TokenProvider", "graph_error", "refuse_permanent_delete",
    "token_provider_from_env",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# As azure-core's retry_connect=3: a host that keeps refusing connections is down or wrong,
# not throttling, so it fails within seconds rather than after the whole backoff ladder.
CONNECT_ATTEMPTS = 4
_NOT_EXECUTED = frozenset({429, 503})  # a non-idempotent POST may be resent only after these
_PRIORITIES = ("low", "normal", "high")
_QUERY_SAFE = "$,()':/@"
DEFAULT_DELTA_HEADERS = {"Prefer": "odata.maxpagesize=999"}


@dataclass(frozen=True)
class Page:
    """One page of a collection: its items and the link to continue (or the delta link)."""

    items: list[Json]
    next_link: str | None
    delta_link: str | None


class GraphSession:
    """An async Graph client for one tenant: retries, pacing, paging, delta, batch, writes.

    `base_url` is the host root without version ("https://graph.microsoft.com", or graphsim's
    "http://127.0.0.1:PORT"); each call names its `api_version`. Use `async with`.
    `rate_memory` (with `tenant`) lets the session start from the refill rate an earlier
    session of this process learned for the same Graph and tenant (pacing.py).
    """

    def __init__(
        self,
        *,
        base_url: str = "https://graph.microsoft.com",
        tokens: TokenProvider,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 16,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        priority: str = "low",
        timeout: float = 60.0,
        tenant: str | None = None,
        rate_memory: RateMemory | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) host root, not {base_url!r}")
        if max_concurrency < 1 or max_attempts < 1 or not 0 < backoff_base <= backoff_max:
            raise ValueError("need max_concurrency >= 1, max_attempts >= 1 and "
                             "0 < backoff_base <= backoff_max")
        if priority not in _PRIORITIES:
            raise ValueError(f"priority must be one of {_PRIORITIES}")
        self.base_url = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc.lower())
        self._tokens = tokens
        self.max_concurrency = max_concurrency
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.priority = priority
        self.stats = GraphStats()
        self.pacer = Pacer(min_interval=backoff_base, max_interval=backoff_max, stats=self.stats,
                           memory=rate_memory, scope=(self.base_url, tenant or ""))
        self._slots = asyncio.Semaphore(max_concurrency)
        self._rng = random.Random()
        # msgraph-core's wrapper transport does not forward aclose(): a pool we create is
        # ours to close. An injected transport belongs to the caller.
        self._own_transport = None if transport is not None else httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=max_concurrency,
                                max_keepalive_connections=max_concurrency))
        client = httpx.AsyncClient(transport=transport or self._own_transport,
                                   timeout=httpx.Timeout(timeout), follow_redirects=False)
        # Our retry loop replaces kiota's RetryHandler: see the module docstring.
        self._client: httpx.AsyncClient = GraphClientFactory.create_with_custom_middleware(
            middleware=[], client=client)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._own_transport is not None:
            await self._own_transport.aclose()

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the `attempt`-th failure (1-based)."""
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_max,
                             rng=self._rng)

    def cap_retry_after(self, seconds: float) -> float:
        """Retry-After is honoured as sent, up to 10 x backoff_max against a broken header."""
        return min(seconds, 10 * self.backoff_max)

    # ----- the single request path -------------------------------------------------------

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        api_version: str = "v1.0",
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
        entries: int = 0,
    ) -> httpx.Response:
        """Send one Graph request with retries; return the 2xx/3xx response or raise.

        `entries` > 0 says this is a $batch of that many entries: bulk work, paced against
        the learned budget (see `_pacing`), its entries' cost settled by the caller.

        Retried: 429 (Retry-After, else backoff, shared through the pacer), 500/502/503/504
        (Retry-After if present, else backoff) and transport errors (backoff; connection
        failures at most CONNECT_ATTEMPTS times). A POST is resent after a transport error or
        500/502/504 only when `idempotent` (reads such as getByIds or a GET-only $batch) or
        when the connection never opened: otherwise it may already have been executed. A 401
        InvalidAuthenticationToken gets one token refresh and one more try.
        """
        method = method.upper()
        url = self._url(path_or_url, api_version, params)
        path = urlsplit(url).path
        relative = self._relative(path)
        refuse_permanent_delete(method, relative, headers, json)
        service = service_of(relative)
        label = f"{method} {path}"
        content = orjson.dumps(json) if json is not None else None
        extra = dict(headers or {})
        if content is not None:
            extra.setdefault("Content-Type", "application/json")
        resendable = method != "POST" or idempotent
        request_id = str(uuid.uuid4())
        failed_token: str | None = None
        refreshed = False
        attempt = connect_failures = 0
        while True:
            attempt += 1
            epoch = await self.pacer.admit(service, entries=entries)
            token = await self._token(failed_token)
            failed_token = None
            sent = {"Authorization": f"Bearer {token}", "client-request-id": request_id,
                    "x-ms-throttle-priority": self.priority, **extra}
            if attempt > 1:
                sent["Retry-Attempt"] = str(attempt - 1)
            try:
                async with self._slots:
                    self.stats.requests += 1
                    response = await self._client.request(method, url, content=content,
                                                          headers=sent)
            except httpx.TransportError as exc:
                self.stats.transport_errors += 1
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                connect_failures += unsent
                if ((resendable or unsent) and attempt < self.max_attempts
                        and connect_failures < CONNECT_ATTEMPTS):
                    delay = self.backoff(attempt)
                    log.debug("%s: %s, retry in %.3fs", label, type(exc).__name__, delay)
                    self.stats.retries += 1
                    await asyncio.sleep(delay)
                    continue
                log.info("%s failed after %d attempt(s): %s", label, attempt,
                         type(exc).__name__)
                raise GraphRequestError(f"{label}: {type(exc).__name__}: {exc}") from exc
            except httpx.HTTPError as exc:
                raise GraphRequestError(f"{label}: {type(exc).__name__}: {exc}") from exc
            status = response.status_code
            self.stats.by_status[status] += 1
            if (status == 401 and not refreshed
                    and error_code(response) == "InvalidAuthenticationToken"):
                refreshed, failed_token = True, token
                self.stats.token_refreshes += 1
                attempt -= 1  # the refresh try does not use up a retry
                continue
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            units = resource_units(response.headers.get("x-ms-resource-unit"))
            if status == 429:
                self.stats.throttled += 1
                self.pacer.charged(service, 0.0, refused=units)
            if (status in RETRY_STATUSES and attempt < self.max_attempts
                    and (resendable or status in _NOT_EXECUTED)):
                wait = self.backoff(attempt) if retry_after is None else self.cap_retry_after(
                    retry_after)
                log.debug("%s: %d, attempt %d, retry in %.3fs", label, status, attempt, wait)
                self.stats.retries += 1
                if status == 429:  # with Retry-After, admit() holds everyone at the gate
                    self.pacer.throttled(service, None if retry_after is None else wait, epoch,
                                         budget=is_budget_429(response.headers.get(
                                             "x-ms-throttle-information")))
                if status != 429 or retry_after is None:
                    await asyncio.sleep(wait)
                continue
            if status != 429:
                self.pacer.answered(service, _percentage(response), epoch)
                if not entries:  # a $batch envelope costs nothing; its entries are settled
                    self.pacer.charged(service, units)
            if status >= 400:
                error = graph_error(status, json_or_none(response.content), response.headers,
                                    method=method, url=path)
                if status in RETRY_STATUSES:  # INFO: the raised error is the report
                    log.info("%s gave up after %d attempt(s): %s", label, attempt, error)
                raise error
            return response

    async def _token(self, failed: str | None) -> str:
        """The current token; after a 401, a forced refresh unless someone already refreshed."""
        token = await self._tokens.token()
        if failed is not None and token == failed:
            token = await self._tokens.token(force_refresh=True)
        return token

    def _url(self, path_or_url: str, api_version: str,
             params: Mapping[str, str | int] | None) -> str:
        if path_or_url.startswith(("http://", "https://")):
            parts = urlsplit(path_or_url)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                # A nextLink elsewhere would receive our bearer token: never follow it.
                raise GraphRequestError(f"refusing a link outside {self.base_url}: "
                                        f"{parts.scheme}://{parts.netloc}{parts.path}")
            url = path_or_url
        else:
            url = f"{self.base_url}/{api_version}/{path_or_url.lstrip('/')}"
        if params:
            query = "&".join(f"{quote(str(k), safe='$')}={quote(str(v), safe=_QUERY_SAFE)}"
                             for k, v in params.items())
            url += ("&" if "?" in url else "?") + query
        return url

    def _relative(self, path: str) -> str:
        """`/v1.0/identity/x` -> `identity/x` (the part Graph's services and our guard see)."""
        base_path = urlsplit(self.base_url).path.rstrip("/")
        rest = path[len(base_path):] if path.startswith(base_path) else path
        return rest.lstrip("/").partition("/")[2]

    # ----- reads ---------------------------------------------------------------------------

    async def get_json(self, path: str, *, api_version: str = "v1.0",
                       params: Mapping[str, str | int] | None = None,
                       headers: Mapping[str, str] | None = None) -> Json:
        """GET one resource as a JSON object."""
        response = await self.request("GET", path, api_version=api_version, params=params,
                                      headers=headers)
        return json_object(response)

    async def get_object(self, path: str, *, api_version: str = "v1.0",
                         select: Sequence[str] | None = None) -> Json:
        """GET one directory object, optionally with `$select`."""
        params = {"$select": ",".join(select)} if select else None
        return await self.get_json(path, api_version=api_version, params=params)

    async def list_pages(
        self, path: str, *, api_version: str = "v1.0", select: Sequence[str] | None = None,
        top: int | None = None, filter: str | None = None,  # OData's name
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Page]:
        """Every page of a collection, following whole `@odata.nextLink` URLs.

        Headers (e.g. ConsistencyLevel) are sent again on every page, since Graph does not
        carry them (graph.md §6). A failed page is retried with the same link.
        """
        params: dict[str, str | int] = {}
        if select:
            params["$select"] = ",".join(select)
        if top is not None:
            params["$top"] = top
        if filter is not None:
            params["$filter"] = filter
        async for page in self._pages(path, api_version, params, headers):
            yield page

    async def list_objects(
        self, path: str, *, api_version: str = "v1.0", select: Sequence[str] | None = None,
        top: int | None = None, filter: str | None = None,  # OData's name
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Json]:
        """Every item of a collection, page by page (never the whole collection in memory)."""
        async for page in self.list_pages(path, api_version=api_version, select=select,
                                          top=top, filter=filter, headers=headers):
            for item in page.items:
                yield item

    async def list_delta(
        self, path: str, *, api_version: str = "v1.0", select: Sequence[str] | None = None,
        delta_link: str | None = None, headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Page]:
        """One delta round: from `{path}/delta` (or a saved `delta_link`) to a new delta link.

        Options are encoded in the tokens, so `select` applies to a fresh round only. The
        last page has `delta_link`; an expired token raises DeltaExpiredError (full read).
        Asks for 999-item pages (`Prefer: odata.maxpagesize`) unless `headers` says otherwise.
        """
        sent = {**DEFAULT_DELTA_HEADERS, **(headers or {})}
        params = {"$select": ",".join(select)} if select and delta_link is None else {}
        start = delta_link or f"{path.rstrip('/')}/delta"
        last: Page | None = None
        async for page in self._pages(start, api_version, params, sent):
            last = page
            yield page
        if last is None or last.delta_link is None:
            raise GraphRequestError(f"GET {path}/delta: the round ended without a deltaLink")

    async def _pages(self, url: str, api_version: str, params: Mapping[str, str | int],
                     headers: Mapping[str, str] | None) -> AsyncIterator[Page]:
        current: str | None = url
        first = True
        while current is not None:
            response = await self.request("GET", current, api_version=api_version,
                                          params=params if first else None, headers=headers)
            first = False
            page = _page(json_object(response), f"GET {response.request.url.path}")
            if page.next_link is not None and page.next_link == str(response.request.url):
                raise GraphRequestError(f"GET {response.request.url.path}: nextLink loops")
            yield page
            current = page.next_link

    # ----- batch ---------------------------------------------------------------------------

    async def batch(self, requests: Sequence[BatchRequest], *,
                    api_version: str = "v1.0") -> list[BatchResponse]:
        """Send sub-requests via `$batch` (20 per call); answers come back in input order."""
        seen = [r.id.lower() for r in requests]
        if len(set(seen)) != len(seen) or "" in seen:
            raise ValueError("batch request ids must be non-empty and unique (case-insensitive)")
        for entry in requests:  # refuse before any chunk is sent
            refuse_permanent_delete(entry.method, entry.url, entry.headers)
        return await run_batch(self, requests, api_version=api_version)

    async def get_many(self, urls: Sequence[str], *,
                       api_version: str = "v1.0") -> list[Json | None]:
        """GET many relative URLs via `$batch`, in order; None where the object is gone (404).

        A 404 is normal between listing and reading a live tenant and must not discard the
        other answers; any other error entry raises, translated like `request`.
        """
        return await get_many(self, urls, api_version=api_version)

    def list_all_many(self, urls: Sequence[str], *,
                      api_version: str = "v1.0") -> AsyncIterator[tuple[str, list[Json] | None]]:
        """Yield (url, every item) per relative collection URL, in input order.

        First pages come through `$batch`; one with a nextLink is followed on its own. For
        owners/appRoleAssignedTo of thousands of objects; memory holds one window of URLs.
        None where the parent is gone (404).
        """
        return list_all_many(self, urls, api_version=api_version)

    # ----- writes --------------------------------------------------------------------------

    async def create_object(self, path: str, body: Json, *, api_version: str = "v1.0") -> Json:
        """POST a new object; returns Graph's answer (the created object)."""
        response = await self.request("POST", path, api_version=api_version, json=body)
        return json_object(response) if response.content else {}

    async def update_object(self, path: str, body: Json, *, api_version: str = "v1.0") -> None:
        """PATCH an object (idempotent, so retried like a read)."""
        await self.request("PATCH", path, api_version=api_version, json=body)

    async def delete_object(self, path: str, *, api_version: str = "v1.0") -> bool:
        """Soft-delete a live object; False if it was already gone (delete succeeds on 404)."""
        try:
            await self.request("DELETE", path, api_version=api_version)
        except NotFoundError:
            return False
        return True

    async def restore_deleted(self, object_id: str, *, api_version: str = "v1.0") -> Json:
        """Restore a soft-deleted directory object from the recycle bin (same id, links)."""
        path = f"directory/deletedItems/{quote(object_id, safe='')}/restore"
        response = await self.request("POST", path, api_version=api_version)
        return json_object(response) if response.content else {}

    async def add_link(self, path: str, nav: str, target_id: str, *,
                       api_version: str = "v1.0") -> None:
        """Add a reference: POST {path}/{nav}/$ref (PUT for the single-valued manager)."""
        ref = {"@odata.id": f"{self.base_url}/{api_version}/directoryObjects/{target_id}"}
        method = "PUT" if nav == "manager" else "POST"
        await self.request(method, f"{path.rstrip('/')}/{nav}/$ref", api_version=api_version,
                           json=ref, idempotent=method == "PUT")

    async def remove_link(self, path: str, nav: str, target_id: str, *,
                          api_version: str = "v1.0") -> bool:
        """Remove a reference; False if it was already gone. Manager: DELETE manager/$ref."""
        target = "" if nav == "manager" else f"/{quote(target_id, safe='')}"
        try:
            await self.request("DELETE", f"{path.rstrip('/')}/{nav}{target}/$ref",
                               api_version=api_version)
        except NotFoundError:
            return False
        return True


def _page(body: Json, label: str) -> Page:
    items = body.get("value")
    if not isinstance(items, list):
        raise GraphRequestError(f"{label}: the answer is not a collection page")
    return Page(items, body.get("@odata.nextLink"), body.get("@odata.deltaLink"))


def _percentage(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["x-ms-throttle-limit-percentage"])
    except (KeyError, ValueError):
        return None
