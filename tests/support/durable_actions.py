"""What the host does with an episode's new actions: history events and outbound work.

Each scheduling action gets the next sequence number as its EventId (the SDK numbers tasks in
creation order from 0, and matches completions by it): CallActivity -> TaskScheduled plus a
work item; CreateTimer -> TimerCreated plus a TimerFired message due at FireAt; CallEntity /
SignalEntity -> EventSent carrying a request GUID (a call's response is an EventRaised with
that GUID as its Name) plus a request in the entity's queue.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.durable_store import EntityRequest, Instance, Message, WorkItem, check_size
from tests.support.durable_wire import (
    TIME_FORMAT,
    ActionType,
    Event,
    EventType,
    event,
    split_scheduler_id,
)


@dataclass
class Outbound:
    events: list[Event] = field(default_factory=list)
    work: list[WorkItem] = field(default_factory=list)
    requests: list[tuple[tuple[str, str], EntityRequest]] = field(default_factory=list)
    timers: list[Message] = field(default_factory=list)


def schedule(instance: Instance, new_actions: list[dict[str, Any]], first_sequence: int,
             now: datetime) -> Outbound:
    """Translate an episode's new scheduling actions; refuse kinds the harness cannot run."""
    out = Outbound()
    for sequence, action in enumerate(new_actions, start=first_sequence):
        kind = ActionType(action["actionType"])
        if kind is ActionType.CALL_ACTIVITY:
            check_size(f"input of activity {action['functionName']}", action["input"])
            out.events.append(event(EventType.TASK_SCHEDULED, now, event_id=sequence,
                                    Name=action["functionName"], Input=action["input"]))
            out.work.append(WorkItem(instance.instance_id, instance.execution, sequence,
                                     action["functionName"], action["input"]))
        elif kind is ActionType.CREATE_TIMER:
            out.events.append(event(EventType.TIMER_CREATED, now, event_id=sequence,
                                    FireAt=action["fireAt"]))
            fire_at = datetime.strptime(action["fireAt"], TIME_FORMAT).replace(tzinfo=UTC)
            out.timers.append(Message(event(EventType.TIMER_FIRED, fire_at, TimerId=sequence,
                                            FireAt=action["fireAt"]),
                                      fire_at, instance.execution))
        elif kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
            signal = kind is ActionType.SIGNAL_ENTITY
            request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{instance.instance_id}/"
                                        f"{instance.execution}/{sequence}"))
            message = {"id": request_id, "op": action["operation"], "signal": signal,
                       "input": action["input"], "parent": instance.instance_id}
            out.events.append(event(EventType.EVENT_SENT, now, event_id=sequence,
                                    InstanceId=action["instanceId"], Name="op",
                                    Input=json.dumps(message)))
            out.requests.append((split_scheduler_id(action["instanceId"]), EntityRequest(
                action["operation"], action["input"], request_id, signal,
                instance.instance_id, instance.execution)))
        else:
            raise NotImplementedError(f"the harness does not run {kind.name} actions")
    return out
