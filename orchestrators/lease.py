"""The per-tenant job lease held in the `tenant_job` entity's state: pure, typed rules.

One diff report or recovery per tenant at a time (as in the native service). The lease is
state, not a critical section: a held entity lock would queue `get`, `request_cancel` and
`force_release` for the whole 30-hour job, and could stick after a crash (functions-2.md §3.2).
Entity operations for one key run one at a time, so each check-and-set below is atomic.

State (JSON, with an explicit released state - `destruct_on_exit` does not clear state in
the 1.x SDK, azure-functions-durable-python#316):
  {"holder": instanceId|null, "jobKind": "diffReport"|"recovery"|null, "jobId": str|null,
   "startedAt": iso|null, "cancel": bool}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

JOB_KINDS = ("diffReport", "recovery")


@dataclass(frozen=True)
class Lease:
    holder: str | None = None
    job_kind: str | None = None
    job_id: str | None = None
    started_at: str | None = None
    cancel: bool = False

    @classmethod
    def from_json(cls, state: dict[str, Any] | None) -> Lease:
        state = state or {}
        return cls(state.get("holder"), state.get("jobKind"), state.get("jobId"),
                   state.get("startedAt"), bool(state.get("cancel", False)))

    def to_json(self) -> dict[str, Any]:
        return {"holder": self.holder, "jobKind": self.job_kind, "jobId": self.job_id,
                "startedAt": self.started_at, "cancel": self.cancel}


RELEASED = Lease()


def _text(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be a non-empty string")
    return value


def acquire(lease: Lease, payload: dict[str, Any]) -> tuple[Lease, dict[str, Any]]:
    """Grant when free, or when the same instance already holds it (a replayed or retried
    acquire must not lock its own job out); otherwise refuse and show the holder."""
    instance_id = _text(payload, "instanceId")
    job_kind = _text(payload, "jobKind")
    if job_kind not in JOB_KINDS:
        raise ValueError(f"jobKind must be one of {JOB_KINDS}")
    if lease.holder is None:
        lease = Lease(instance_id, job_kind, _text(payload, "jobId"),
                      _text(payload, "startedAt"))
        return lease, {"granted": True, "lease": lease.to_json()}
    return lease, {"granted": lease.holder == instance_id, "lease": lease.to_json()}


def release(lease: Lease, payload: dict[str, Any]) -> tuple[Lease, dict[str, Any]]:
    """Only the holder releases; anyone else is told no and changes nothing."""
    if lease.holder is not None and lease.holder == _text(payload, "instanceId"):
        return RELEASED, {"released": True}
    return lease, {"released": False}


def request_cancel(lease: Lease, payload: dict[str, Any]) -> tuple[Lease, dict[str, Any]]:
    """Set the cancel flag when `jobId` is the job holding the lease."""
    if lease.holder is not None and lease.job_id == _text(payload, "jobId"):
        return replace(lease, cancel=True), {"accepted": True}
    return lease, {"accepted": False}


def force_release(lease: Lease, payload: dict[str, Any]) -> tuple[Lease, dict[str, Any]]:
    """Clear a stale lease; with `instanceId`, only if that instance still holds it (so a
    late force_release cannot free a lease a newer job took in between)."""
    expected = payload.get("instanceId")
    if lease.holder is None or (expected is not None and lease.holder != expected):
        return lease, {"released": False}
    return RELEASED, {"released": True}


def apply(lease: Lease, operation: str, payload: Any) -> tuple[Lease, Any]:
    """The entity's one dispatch: new lease and the operation's result. Bad input or an
    unknown operation raises ValueError (the caller's call_entity raises in turn)."""
    if operation == "get":
        return lease, lease.to_json()
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValueError(f"{operation} takes a JSON object")
    handlers = {"acquire": acquire, "release": release, "request_cancel": request_cancel,
                "force_release": force_release}
    if operation not in handlers:
        raise ValueError(f"unknown tenant_job operation {operation!r}")
    return handlers[operation](lease, payload)
