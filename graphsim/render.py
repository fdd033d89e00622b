"""The only writer of Graph's response shapes: collection pages, links and the error body."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from graphsim.errors import GraphError

Json = dict[str, Any]
_SAFE = ",()=$:./'"


@dataclass
class Result:
    """What a handler answers: status, a JSON body (or text), extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def context_url(base: str, version: str, fragment: str) -> str:
    return f"{base}/{version}/$metadata#{fragment}"


def link(base: str, version: str, path: str, params: list[tuple[str, str]]) -> str:
    query = "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in params)
    return f"{base}/{version}/{path}" + (f"?{query}" if query else "")


def page(
    items: list[Json], *, context: str, next_link: str | None = None,
    delta_link: str | None = None, count: int | None = None,
) -> Json:
    body: Json = {"@odata.context": context}
    if count is not None:
        body["@odata.count"] = count
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    body["value"] = items
    if delta_link is not None:
        body["@odata.deltaLink"] = delta_link
    return body


def error_body(error: GraphError, request_id: str, client_request_id: str) -> Json:
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    if error.status == 429:  # Graph's documented throttling sample carries both (graph.md 1.6)
        inner = {"code": "429", **inner, "status": "429"}
    body: Json = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    body["innerError"] = inner
    return {"error": body}


def new_request_id() -> str:
    return str(uuid.uuid4())
