"""The JSON the Durable extension exchanges with the Python worker (1.x protocol), as data.

History events carry exactly the fields `azure.durable_functions` 1.7.0 reads (`HistoryEvent`,
`TaskOrchestrationExecutor`); the shapes follow the SDK's own test builders
(`tests/test_utils/ContextBuilder.py`, `json_utils.py`, `EntityContextBuilder.py` in
Azure/azure-functions-durable-python) and the extension's `RequestMessage`/`ResponseMessage`
(`src/WebJobs.Extensions.DurableTask/EntityScheduler/`). Nothing here runs user code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]

# azure.durable_functions.constants.DATETIME_STRING_FORMAT
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class EventType(IntEnum):
    """`HistoryEventType` values the harness writes (DurableTask.Core numbering)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class ActionType(IntEnum):
    """`ActionType` values an orchestrator returns (azure.durable_functions.models.actions)."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


# Actions the host records with a sequence-numbered history event (EventId = position).
SCHEDULING_ACTIONS = {
    ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY,
    ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    ActionType.CREATE_TIMER, ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY,
    ActionType.CALL_HTTP,
}
# The history event each scheduling action leaves behind.
SCHEDULED_EVENT = {
    ActionType.CALL_ACTIVITY: EventType.TASK_SCHEDULED,
    ActionType.CREATE_TIMER: EventType.TIMER_CREATED,
    ActionType.CALL_ENTITY: EventType.EVENT_SENT,
    ActionType.SIGNAL_ENTITY: EventType.EVENT_SENT,
}


def stamp(moment: datetime) -> str:
    """Format a UTC moment the way the host writes history timestamps."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def event(kind: EventType, moment: datetime, *, event_id: int = -1, **fields: Any) -> Event:
    """One history event: the common fields plus the type-specific ones given."""
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
            "Timestamp": stamp(moment), **fields}


def execution_started(moment: datetime, name: str, input_: str | None, instance_id: str) -> Event:
    return event(EventType.EXECUTION_STARTED, moment, Name=name, Input=input_, Version="",
                 OrchestrationInstance={"InstanceId": instance_id})


def orchestration_payload(instance_id: str, input_: str | None, history: list[Event],
                          schema_version: int = 2) -> str:
    """The context string the host hands the orchestrator trigger (all events before the
    last OrchestratorStarted are marked played, as the extension does)."""
    last_start = max(i for i, e in enumerate(history)
                     if e["EventType"] == EventType.ORCHESTRATOR_STARTED)
    events = [{**e, "IsPlayed": i < last_start} for i, e in enumerate(history)]
    return json.dumps({
        "history": events, "input": input_, "instanceId": instance_id,
        "isReplaying": last_start > 0, "parentInstanceId": None,
        "upperSchemaVersion": schema_version,
    })


def flatten_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The orchestrator's actions in creation order, compound (WhenAll/WhenAny) ones opened.

    With schema V2 the SDK returns one cumulative list inside the outer list; with V1 one list
    per yield. Either way the order is the order of the SDK's sequence numbers."""
    flat: list[dict[str, Any]] = []

    def visit(action: dict[str, Any]) -> None:
        if action["actionType"] in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            for child in action["compoundActions"]:
                visit(child)
        else:
            flat.append(action)

    for group in state.get("actions", []):
        for action in group:
            visit(action)
    return flat


def scheduling_actions(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in actions if a["actionType"] in SCHEDULING_ACTIONS]


def scheduling_events(history: list[Event]) -> list[Event]:
    """History events that record a scheduling action, in order (their EventId = position)."""
    kinds = set(SCHEDULED_EVENT.values())
    return [e for e in history if e["EventType"] in kinds and e["EventId"] >= 0]


def action_matches_event(action: dict[str, Any], recorded: Event) -> bool:
    """The host's replay check (DurableTask.Core): same kind of task and same target name.

    Inputs are not compared here, as in DTFx; the from-scratch replay check compares them."""
    kind = ActionType(action["actionType"])
    if SCHEDULED_EVENT.get(kind) != recorded["EventType"]:
        return False
    if kind is ActionType.CALL_ACTIVITY:
        return bool(recorded["Name"] == action["functionName"])
    if kind in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
        message = json.loads(recorded["Input"])
        return bool(recorded["InstanceId"] == action["instanceId"]
                    and message["op"] == action["operation"]
                    and message.get("signal", False) == (kind is ActionType.SIGNAL_ENTITY))
    return True  # a timer is a timer


def entity_scheduler_id(name: str, key: str) -> str:
    """`@name@key`, the entity's instance id on the wire (name lower-cased, as the SDK does)."""
    return f"@{name.lower()}@{key}"


def split_scheduler_id(scheduler_id: str) -> tuple[str, str]:
    _, name, key = scheduler_id.split("@", 2)
    return name, key


def entity_batch(name: str, key: str, exists: bool, state: str | None,
                 operations: list[tuple[str, str | None]]) -> str:
    """The entity trigger payload: operation inputs are JSON strings, sent encoded once more
    (`DurableEntityContext.get_input` decodes twice, as the SDK's EntityContextBuilder tests show).
    """
    batch = [{"name": op, "input": json.dumps(input_)} for op, input_ in operations]
    return json.dumps({"self": {"name": name, "key": key}, "state": state, "exists": exists,
                       "batch": batch})


def entity_response_event(moment: datetime, request_id: str, result: str,
                          is_error: bool) -> Event:
    """The EventRaised that answers a call_entity: Name = request GUID, Input = ResponseMessage."""
    message: dict[str, Any] = {"result": result}
    if is_error:
        message["exceptionType"] = "EntityOperationFailed"
    return event(EventType.EVENT_RAISED, moment, Name=request_id, Input=json.dumps(message))
