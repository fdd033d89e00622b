"""The engine's errors, one module, one tree (a class exists only where a caller branches on it).

    EntraBackupError
    ├─ GraphError
    │  ├─ GraphRequestError         no usable response (connection dropped, timeout); retried
    │  └─ GraphResponseError        status, code, message, request_id from Graph's OData body
    │     ├─ NotFoundError
    │     ├─ ConflictError
    │     ├─ AccessDeniedError      names the Graph permission the kind needs when known
    │     ├─ ThrottledError         retry_after (None where Graph sends none: CA, named locations)
    │     └─ DeltaExpiredError      410: the delta token expired, read everything again
    ├─ AuthenticationError          no token could be obtained for Graph
    ├─ StoreError                   bad store address, unreachable store
    │  ├─ SnapshotExistsError       write-once refused an overwrite
    │  ├─ SnapshotNotFoundError
    │  └─ JobNotFoundError          no job with that id in the recovery history (→ 404)
    ├─ SnapshotIntegrityError       a file or manifest differs from what the chain promises
    ├─ JobConflictError             another job holds the tenant (→ 409)
    ├─ NotRecoverableError          reason: synced, hard-deleted without record, ...
    └─ PermanentDeleteRefusedError  the invariant guard: never a permanent delete

Bad arguments are plain ValueError. Foreign exceptions are translated once, where they enter
(graph.py for httpx, store.py for azure-storage-blob), with the cause chained.
"""

from __future__ import annotations


class EntraBackupError(Exception):
    """Base of every error the engine raises on purpose."""


class GraphError(EntraBackupError):
    """Talking to Microsoft Graph failed."""


class GraphRequestError(GraphError):
    """No usable response: the request may or may not have reached Graph."""


class GraphResponseError(GraphError):
    """Graph answered with an error status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        detail = f"{status} {code}: {message}"
        if method:
            detail = f"{method} {url} -> {detail}"
        super().__init__(detail)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.url = url


class NotFoundError(GraphResponseError):
    pass


class ConflictError(GraphResponseError):
    pass


class AccessDeniedError(GraphResponseError):
    """403: the app lacks a permission; `permission` names it when the caller knows it."""

    permission: str | None = None


class ThrottledError(GraphResponseError):
    """Still 429 after every retry; `retry_after` is what Graph last asked for."""

    retry_after: float | None = None


class DeltaExpiredError(GraphResponseError):
    """410 on a delta link: start a full read."""


class AuthenticationError(EntraBackupError):
    """No access token could be obtained."""


class StoreError(EntraBackupError):
    """The snapshot store cannot be reached or is misconfigured."""


class SnapshotExistsError(StoreError):
    """A write-once file already exists: snapshots are never overwritten."""


class SnapshotNotFoundError(StoreError):
    """No snapshot (or file) with that id in the store."""


class JobNotFoundError(StoreError):
    """No job with that tenant and id in the job store (never created, or purged)."""

    def __init__(self, message: str, *, tenant_id: str, job_id: str) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.job_id = job_id


class SnapshotIntegrityError(EntraBackupError):
    """A stored file or manifest does not match what the manifest chain promises."""

    def __init__(self, message: str, *, snapshot_id: str = "", name: str = "") -> None:
        super().__init__(message)
        self.snapshot_id = snapshot_id
        self.name = name


class JobConflictError(EntraBackupError):
    """Another job holds the tenant; carries the running instance id."""

    def __init__(self, message: str, *, instance_id: str) -> None:
        super().__init__(message)
        self.instance_id = instance_id


class NotRecoverableError(EntraBackupError):
    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PermanentDeleteRefusedError(EntraBackupError):
    """Raised by the Graph layer for any DELETE on a deleted-items path, whoever asks."""
