"""Shared by the end-to-end tests that run the real orchestrators, entity and activities
through the replay harness against graphsim and Azurite: Graph write counts, what a recovery
left unexplained, and replaying a finished execution's history by hand (determinism)."""

from __future__ import annotations

import json
from typing import Any

from entra_backup.connect import Connection
from entra_backup.diff.reports import iter_entries
from entra_backup.diff.run import DiffRequest, run_diff
from tests.conftest import Sim
from tests.support.durable_harness import Harness
from tests.support.durable_wire import (
    EventType,
    action_matches_event,
    flatten_actions,
    orchestration_payload,
    scheduling_actions,
    scheduling_events,
)


def graph_writes(sim: Sim) -> int:
    return sum(sum(kinds.values()) for method, kinds in sim.stats()["requests"].items()
               if method != "GET")


async def differences(conn: Connection, tenant: str, snapshot: str, *,
                      use_delta: bool = False) -> list[Any]:
    """The entries of a fresh `run_diff` of `snapshot` against the live tenant."""
    async with conn.graph(tenant) as session:
        result = await run_diff(conn.store, DiffRequest(tenant_id=tenant, snapshot_id=snapshot,
                                                         use_delta=use_delta), session=session)
    return list(iter_entries(conn.store, tenant, result.report_id))


async def unexplained(conn: Connection, tenant: str, snapshot: str, recovery_id: str
                      ) -> list[Any]:
    """Differences left that the job's results do not name as an exception (an action
    `none`, or a detail such as "disabled, not deleted") - as the engine's round trip judges."""
    explained = {(r["kind"], r["id"]) for r in conn.jobs.iter_results(tenant, recovery_id)
                 if r["action"] == "none" or r.get("detail")}
    return [e for e in await differences(conn, tenant, snapshot)
            if (e["kind"], e["id"]) not in explained]


def replay_twice(harness: Harness, instance_id: str) -> dict[str, Any]:
    """Feed the finished execution's history - as its last episode saw it - to the
    orchestrator handle twice: the same JSON both times, the recorded scheduling events
    reproduced action for action, the recorded output. Returns the orchestrator's state."""
    instance = harness.instances[instance_id]
    history = harness.history(instance_id)
    assert [e["EventType"] for e in history[-2:]] == \
        [EventType.EXECUTION_COMPLETED, EventType.ORCHESTRATOR_COMPLETED], history[-2:]
    seen = history[:-2]
    payload = orchestration_payload(instance_id, instance.input, seen)
    handle = harness.orchestrators[instance.name]
    first, second = handle(payload), handle(payload)
    assert first == second
    state: dict[str, Any] = json.loads(first)
    assert state["isDone"] and state["output"] == instance.output
    scheduled, recorded = scheduling_actions(flatten_actions(state)), scheduling_events(seen)
    assert len(scheduled) == len(recorded) > 0
    assert all(action_matches_event(a, e) for a, e in zip(scheduled, recorded, strict=True))
    for action, event in zip(scheduled, recorded, strict=True):  # inputs too, not just names
        if event["EventType"] == EventType.TASK_SCHEDULED:
            assert action["input"] == event["Input"], (action, event)
    return state
