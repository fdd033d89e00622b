"""Request parsing: every body and query string is checked here before anything is read or
written, and every refusal is a 400 with a sentence naming the field.

Strict on purpose: unknown fields, wrong JSON types and unknown query parameters are refused
rather than ignored, so a typo in a runbook (`dryrun` for `dryRun`) cannot start a real
recovery. Paging follows Graph: `$top` and an opaque `$skiptoken` carried in
`@odata.nextLink` (https://learn.microsoft.com/en-us/graph/paging).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import azure.functions as func
import orjson

from api.errors import bad_request
from entra_backup.ids import validate_snapshot_id

MAX_BODY_BYTES: Final = 256 * 1024
MAX_LIST: Final = 1000
MAX_TEXT: Final = 256
DEFAULT_TOP: Final = 100
MAX_TOP: Final = 1000
_OPERATION_ID = re.compile(r"[0-9a-f]{32}")
_PAGING = frozenset({"$top", "$skiptoken"})
_IGNORED = frozenset({"code"})  # a function key some callers still append; never used


def job_id(value: str, what: str = "job id") -> str:
    """A recovery or difference-report id: the engine's time-form id (`20261201T150102.345Z`),
    the name its report or plan is stored under."""
    try:
        return validate_snapshot_id(value)
    except (TypeError, ValueError):
        shown = value[:40] if isinstance(value, str) else value
        raise bad_request(f"malformed {what} {shown!r}: expected an id like "
                          "20261201T150102.345Z") from None


def operation_id(value: str, what: str = "operationId") -> str:
    """A backup operation id as the API makes them (uuid4 hex, 32 lowercase hex digits)."""
    if not isinstance(value, str) or not _OPERATION_ID.fullmatch(value):
        raise bad_request(f"malformed {what} {value[:40]!r}: expected 32 hexadecimal digits")
    return value


def body_object(req: func.HttpRequest, allowed: Iterable[str], *,
                optional: bool = False) -> dict[str, Any]:
    """The request's JSON object with only `allowed` keys; `{}` for an empty optional body."""
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise bad_request(f"the body is over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise bad_request("a JSON object body is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return only_keys(body, allowed, "the body")


def only_keys(value: Mapping[str, Any], allowed: Iterable[str], where: str) -> dict[str, Any]:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise bad_request(f"unknown field {unknown[0][:60]!r} in {where} "
                          f"(known: {', '.join(sorted(allowed))})")
    return dict(value)


def text(body: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = body.get(key, default)
    if value is None:
        raise bad_request(f"{key} is required")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        raise bad_request(f"{key} must be a string of 1 to {MAX_TEXT} characters")
    return value


def flag(body: Mapping[str, Any], key: str, *, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_request(f"{key} must be true or false")
    return value


def texts(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if (not isinstance(value, list) or len(value) > MAX_LIST
            or not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in value)):
        raise bad_request(f"{key} must be a list of at most {MAX_LIST} non-empty strings")
    return list(dict.fromkeys(value))


def nested(body: Mapping[str, Any], key: str, allowed: Iterable[str]) -> dict[str, Any]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        raise bad_request(f"{key} must be a JSON object")
    return only_keys(value, allowed, key)


@dataclass(frozen=True)
class Query:
    """A query string checked against the parameters a route knows."""

    params: dict[str, str]

    @classmethod
    def of(cls, req: func.HttpRequest, allowed: Iterable[str] = ()) -> Query:
        params = {k: v for k, v in req.params.items() if k not in _IGNORED}
        known = set(allowed) | _PAGING
        unknown = sorted(set(params) - known)
        if unknown:
            raise bad_request(f"unknown query parameter {unknown[0][:60]!r} "
                              f"(known: {', '.join(sorted(known))})")
        return cls(params)

    def get(self, name: str) -> str | None:
        return self.params.get(name)

    def listed(self, name: str) -> list[str]:
        """A comma-separated list parameter; [] when absent."""
        value = self.params.get(name)
        if value is None:
            return []
        items = [v.strip() for v in value.split(",")]
        if not all(items) or len(items) > MAX_LIST:
            raise bad_request(f"{name} must be a comma-separated list of at most {MAX_LIST} "
                              "non-empty values")
        return items

    def top(self) -> int:
        value = self.params.get("$top")
        if value is None:
            return DEFAULT_TOP
        if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_TOP:
            raise bad_request(f"$top must be a whole number from 1 to {MAX_TOP}")
        return int(value)

    def skip(self) -> int:
        """The offset a `$skiptoken` we issued stands for; 0 without one."""
        token = self.params.get("$skiptoken")
        if token is None:
            return 0
        try:
            decoded = base64.urlsafe_b64decode(token.encode("ascii") + b"==").decode("ascii")
        except (binascii.Error, UnicodeError, ValueError):
            decoded = ""
        prefix, _, number = decoded.partition(":")
        if prefix != "o" or not number.isdigit() or len(number) > 12:
            raise bad_request("$skiptoken is not one this API issued")
        return int(number)


def skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")
