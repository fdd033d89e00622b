"""The harness's durable state: what a task hub stores between function invocations.

Instances (history of the current execution, inbox of events not yet processed), the activity
work queue, and entities (state plus queued operation requests). Everything here is plain data
that survives a simulated host crash; a unit of work changes it only when it commits.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.support.durable_wire import Event

ACTIVE = ("Pending", "Running", "ContinuedAsNew")
TERMINAL = ("Completed", "Failed", "Terminated")

# Durable Task Scheduler: 1 MB for any payload or entity state (functions-2.md §3.3); custom
# status: 16 KB of UTF-16 JSON on the Azure Storage provider.
MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_CUSTOM_STATUS_BYTES = 16 * 1024
_ARRIVAL = itertools.count()  # queue order across instances and entities (fair scheduling)


class PayloadTooLarge(AssertionError):
    """A payload the Durable Task Scheduler (or custom status) would refuse."""


def check_size(what: str, text: str | None, limit: int = MAX_PAYLOAD_BYTES,
               *, utf16: bool = False) -> None:
    if text is None:
        return
    size = len(text.encode("utf-16-le")) if utf16 else len(text.encode())
    if size > limit:
        raise PayloadTooLarge(f"{what} is {size} bytes, over the {limit}-byte limit")


@dataclass
class Message:
    """An event waiting in an instance's inbox (a control-queue message)."""

    event: Event
    visible_at: datetime
    execution: int
    arrival: int = field(default_factory=lambda: next(_ARRIVAL))


@dataclass
class WorkItem:
    """An activity invocation waiting on the work-item queue."""

    instance_id: str
    execution: int
    task_id: int
    name: str
    input: str


@dataclass
class EntityRequest:
    """An operation waiting in an entity's queue (extension `RequestMessage`)."""

    operation: str
    input: str | None
    request_id: str
    signal: bool
    parent: str | None = None
    execution: int = 0
    arrival: int = field(default_factory=lambda: next(_ARRIVAL))


@dataclass
class Entity:
    exists: bool = False
    state: str | None = None
    queue: list[EntityRequest] = field(default_factory=list)


@dataclass
class Instance:
    name: str
    instance_id: str
    input: str | None
    created: datetime
    updated: datetime
    status: str = "Pending"
    execution: int = 0
    history: list[Event] = field(default_factory=list)
    inbox: list[Message] = field(default_factory=list)
    output: Any = None
    custom_status: Any = None
    finished_histories: list[int] = field(default_factory=list)  # lengths, per execution

    def status_dict(self) -> dict[str, Any]:
        """The shape the extension's status API (and DurableBackend.status) returns."""
        return {
            "name": self.name, "instanceId": self.instance_id, "runtimeStatus": self.status,
            "input": _decode(self.input), "output": self.output,
            "customStatus": self.custom_status,
            "createdTime": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastUpdatedTime": self.updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)
