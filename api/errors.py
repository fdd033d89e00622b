"""One error vocabulary for every route: Graph's `{"error": {"code", "message"}}` body.

Handlers raise `ApiError` (or let an engine error through); `responds` turns either into a
response in one place, as moto's `call_action` does, so no route invents its own error shape
and no input can surface as a 500. Graph's error body:
https://learn.microsoft.com/en-us/graph/errors
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec

import azure.functions as func
import orjson

from entra_backup.errors import (
    JobConflictError,
    JobNotFoundError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
)

_log = logging.getLogger(__name__)
_P = ParamSpec("_P")


class ApiError(Exception):
    """An answer other than success: HTTP status, Graph-style code, a one-line message."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "badRequest", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "notFound", message)


def json_response(body: Any, status: int = 200, *,
                  headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(orjson.dumps(body), status_code=status,
                             headers=dict(headers or {}), mimetype="application/json")


def error_response(error: ApiError) -> func.HttpResponse:
    body = {"error": {"code": error.code, "message": error.message}}
    return json_response(body, error.status, headers=error.headers)


def as_api_error(exc: Exception) -> ApiError | None:
    """The engine's errors a caller can act on, mapped to their status; None for the rest."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, JobNotFoundError | SnapshotNotFoundError):
        return not_found(str(exc))
    if isinstance(exc, JobConflictError):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, SnapshotIntegrityError):
        return ApiError(409, "snapshotIntegrity", str(exc))
    return None


def responds(handler: Callable[_P, Awaitable[func.HttpResponse]]
             ) -> Callable[_P, Awaitable[func.HttpResponse]]:
    """Wrap a handler so every failure answers with the Graph-style body. An unexpected
    exception is logged (type only at WARNING: messages may carry request data) and answered
    503, never with its text."""

    @functools.wraps(handler)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> func.HttpResponse:
        try:
            return await handler(*args, **kwargs)
        except Exception as exc:
            known = as_api_error(exc)
            if known is not None:
                return error_response(known)
            _log.warning("%s failed: %s", handler.__name__, type(exc).__name__)
            _log.debug("details", exc_info=True)
            return error_response(ApiError(503, "serviceUnavailable",
                                           "the service could not complete the request; "
                                           "retry later"))

    return wrapper
