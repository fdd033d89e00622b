"""One parsed request as handlers see it, independent of the web framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphsim.errors import BadRequest
from graphsim.model.audit import Caller
from graphsim.odata import Query

Json = dict[str, Any]


@dataclass
class Ctx:
    method: str
    version: str
    segments: list[str]
    params: list[tuple[str, str]]
    query: Query
    headers: dict[str, str]
    body: Any
    base: str
    caller: Caller
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return "/".join(self.segments)

    @property
    def advanced(self) -> bool:
        """ConsistencyLevel: eventual was sent (advanced query capabilities)."""
        return self.headers.get("consistencylevel", "").lower() == "eventual"

    @property
    def odata_v4(self) -> bool:
        return self.headers.get("odata-version", "") == "4.0"

    def json_body(self) -> Json:
        if not isinstance(self.body, dict):
            raise BadRequest("The request body must be a JSON object.")
        return self.body

    def max_page_size(self) -> int | None:
        prefer = self.headers.get("prefer", "")
        for part in prefer.split(","):
            name, _, value = part.strip().partition("=")
            if name.lower() == "odata.maxpagesize" and value.isdigit():
                return int(value)
        return None
