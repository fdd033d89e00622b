"""Graph's rules the session enforces: error translation and the permanent-delete guard.

Both are single points on purpose: every error answer - a response or a `$batch` entry - is
translated by `graph_error` (as httpx translates foreign errors once), and every DELETE, in
`request` or inside a batch, passes `refuse_permanent_delete` before anything is sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from entra_backup.errors import (
    AccessDeniedError,
    ConflictError,
    DeltaExpiredError,
    GraphRequestError,
    GraphResponseError,
    NotFoundError,
    PermanentDeleteRefusedError,
    ThrottledError,
)
from entra_backup.graph.pacing import parse_retry_after
from entra_backup.types import Json

_DELTA_CODES = frozenset({"syncstatenotfound", "resyncrequired"})
_BY_STATUS: dict[int, type[GraphResponseError]] = {
    403: AccessDeniedError, 404: NotFoundError, 409: ConflictError, 410: DeltaExpiredError,
    429: ThrottledError,
}


def graph_error(
    status: int, body: Any, headers: Mapping[str, str], *, method: str, url: str
) -> GraphResponseError:
    """Translate Graph's error answer (a response or a `$batch` entry) into our error tree.

    The one place that reads `{"error": {"code", "message", "innerError": {"request-id"}}}`.
    A 410, or a 4xx whose code is syncStateNotFound/resyncRequired, means the delta token is
    gone (graph.md §3.3). `url` is the path only: query strings carry opaque tokens.
    """
    error = body.get("error") if isinstance(body, dict) else None
    code = message = ""
    request_id: str | None = None
    if isinstance(error, dict):
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        inner = error.get("innerError") or error.get("innererror")
        if isinstance(inner, dict) and inner.get("request-id"):
            request_id = str(inner["request-id"])
    if request_id is None:
        request_id = next((v for k, v in headers.items() if k.lower() == "request-id"), None)
    cls = _BY_STATUS.get(status, GraphResponseError)
    if 400 <= status < 500 and code.lower() in _DELTA_CODES:
        cls = DeltaExpiredError
    exc = cls(status, code or f"HTTP{status}", message or "(no error body)",
              request_id=request_id, method=method, url=url)
    if isinstance(exc, ThrottledError):
        retry = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        exc.retry_after = parse_retry_after(retry)
    return exc


def refuse_permanent_delete(method: str, path: str, headers: Mapping[str, str] | None = None,
                            json: Any = None) -> None:
    """The invariant guard: raise for a DELETE on a deleted-items container, whoever asks.

    Graph paths are case-insensitive and may be percent-encoded, so the check normalises
    both; `$batch` bodies and X-HTTP-Method-Override are inspected too.
    """
    override = next((v for k, v in (headers or {}).items()
                     if k.lower() == "x-http-method-override"), "")
    if "DELETE" in (method.upper(), override.upper()):
        segments = [s for s in unquote(urlsplit(path).path).lower().split("/") if s not in
                    ("", ".")]
        for left, right in itertools.pairwise(segments):
            if right == "deleteditems" and left in ("directory", "conditionalaccess"):
                raise PermanentDeleteRefusedError(
                    f"refused {method.upper()} {urlsplit(path).path}: permanent deletes are "
                    "never sent")
    if isinstance(json, dict) and isinstance(json.get("requests"), list):
        for entry in json["requests"]:
            if isinstance(entry, dict):
                refuse_permanent_delete(str(entry.get("method", "")), str(entry.get("url", "")),
                                        entry.get("headers") or {})


def json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None


def json_object(response: httpx.Response) -> Json:
    """The response body as a JSON object, or GraphRequestError (the answer is unusable)."""
    body = json_or_none(response.content)
    if not isinstance(body, dict):
        raise GraphRequestError(f"{response.request.method} {response.request.url.path}: "
                                "the answer is not a JSON object")
    return body


def error_code(response: httpx.Response) -> str:
    body = json_or_none(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""
