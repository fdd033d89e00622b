"""A DurableBackend that only remembers: the orchestrations started, the entity signals
sent, and the statuses and entity states a test sets. The API tests use it to see exactly
what a request asked of Durable; the replay harness (`durable_harness.Harness`) runs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StubBackend:
    started: list[tuple[str, str, Any]] = field(default_factory=list)
    signals: list[tuple[str, str, str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    entities: dict[tuple[str, str], Any] = field(default_factory=dict)

    def start(self, name: str, instance_id: str, input: Any) -> None:
        self.started.append((name, instance_id, input))
        self.set_status(instance_id, "Pending", name=name, input=input)

    def status(self, instance_id: str) -> dict[str, Any] | None:
        return self.statuses.get(instance_id)

    def entity_state(self, name: str, key: str) -> Any | None:
        return self.entities.get((name, key))

    def signal(self, name: str, key: str, operation: str, input: Any) -> None:
        self.signals.append((name, key, operation, input))

    def set_status(self, instance_id: str, runtime_status: str, *, name: str = "",
                   input: Any = None, output: Any = None) -> None:
        old = self.statuses.get(instance_id, {})
        self.statuses[instance_id] = {
            "name": name or old.get("name", ""), "instanceId": instance_id,
            "runtimeStatus": runtime_status,
            "input": input if input is not None else old.get("input"), "output": output,
            "customStatus": None, "createdTime": "2026-12-01T00:00:00Z",
            "lastUpdatedTime": "2026-12-01T00:00:05Z"}

    def hold_lease(self, tenant_id: str, holder: str, job_id: str,
                   kind: str = "recovery") -> None:
        self.entities[("tenant_job", tenant_id)] = {
            "holder": holder, "jobKind": kind, "jobId": job_id,
            "startedAt": "2026-12-01T00:00:00Z", "cancel": False}
