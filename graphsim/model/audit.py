"""Directory audit events in Graph's `directoryAudit` shape, one per write.

Recorded here so later work can answer "who changed this object, when, and what" from
`auditLogs/directoryAudits`, exactly as it would against a real tenant.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from graphsim.clock import SimClock, iso

Json = dict[str, Any]


@dataclass(frozen=True)
class Caller:
    """Who a bearer token names: an app (default) or a user (`user:<upn>` tokens)."""

    token: str

    @property
    def is_user(self) -> bool:
        return self.token.startswith("user:")

    @property
    def name(self) -> str:
        return self.token.split(":", 1)[1] if ":" in self.token[:6] else self.token[:64]

    @property
    def stable_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "graphsim-caller:" + self.name))

    def initiated_by(self) -> Json:
        if self.is_user:
            return {"app": None, "user": {"id": self.stable_id, "displayName": None,
                                          "userPrincipalName": self.name, "ipAddress": None}}
        return {"user": None, "app": {"appId": self.stable_id, "displayName": self.name,
                                      "servicePrincipalId": self.stable_id,
                                      "servicePrincipalName": self.name}}


def _encode(value: Any) -> str:
    """Audit old/new values are JSON text, as Graph writes them."""
    return json.dumps(value if isinstance(value, list) else [value])


class AuditLog:
    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self.events: list[Json] = []

    def record(
        self,
        caller: Caller,
        activity: str,
        *,
        category: str,
        operation: str,
        target_id: str,
        target_type: str,
        display_name: str | None,
        changes: list[tuple[str, Any, Any]] | None = None,
        upn: str | None = None,
        service: str = "Core Directory",
    ) -> None:
        modified = [
            {"displayName": name, "oldValue": _encode(old), "newValue": _encode(new)}
            for name, old, new in (changes or [])
        ]
        self.events.append({
            "id": f"Directory_{uuid.uuid4()}",
            "category": category,
            "correlationId": str(uuid.uuid4()),
            "result": "success",
            "resultReason": "",
            "activityDisplayName": activity,
            "activityDateTime": iso(self._clock.now()),
            "loggedByService": service,
            "operationType": operation,
            "initiatedBy": caller.initiated_by(),
            "targetResources": [{
                "id": target_id,
                "displayName": display_name,
                "type": target_type,
                "userPrincipalName": upn,
                "groupType": None,
                "modifiedProperties": modified,
            }],
            "additionalDetails": [],
        })
