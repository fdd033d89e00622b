"""Graph's errors as small classes: each knows its HTTP status and Graph `code`.

The model raises them; `render.error_body` is the only writer of the JSON error shape, so every
answer - from a handler, the throttle or a malformed request - looks like Graph's.
"""

from __future__ import annotations

from typing import Any


class GraphError(Exception):
    """An error Graph would answer with; `details` and `headers` are optional extras."""

    status = 400
    code = "Request_BadRequest"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []
        self.headers = headers or {}


class BadRequest(GraphError):
    status = 400
    code = "Request_BadRequest"


class UnsupportedQuery(GraphError):
    status = 400
    code = "Request_UnsupportedQuery"


class InvalidAuthenticationToken(GraphError):
    status = 401
    code = "InvalidAuthenticationToken"


class AccessDenied(GraphError):
    status = 403
    code = "Authorization_RequestDenied"


class NotFound(GraphError):
    status = 404
    code = "Request_ResourceNotFound"


class MethodNotAllowed(GraphError):
    status = 405
    code = "Request_BadRequest"


class Conflict(GraphError):
    status = 409
    code = "Request_MultipleObjectsWithSameKeyValue"


class SyncStateNotFound(GraphError):
    status = 410
    code = "syncStateNotFound"


class ResyncRequired(GraphError):
    """Graph's forced reset of a delta round: 410 with a Location to start again from."""

    status = 410
    code = "resyncRequired"


class TooManyRequests(GraphError):
    status = 429
    code = "TooManyRequests"


class ServiceUnavailable(GraphError):
    status = 503
    code = "serviceNotAvailable"


class GatewayTimeout(GraphError):
    status = 504
    code = "UnknownError"


def resource_not_found(object_id: str) -> NotFound:
    return NotFound(
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present."
    )


def invalid_property(name: str) -> BadRequest:
    return BadRequest(f"Invalid property '{name}'.")


def read_only_property(name: str) -> BadRequest:
    return BadRequest(f"Property '{name}' is read-only and cannot be set.")
