"""The replay harness itself, on small orchestrators and entities of a throwaway `DFApp`.

Each test drives the SDK's own replay code (`Orchestrator.create` / `Entity.create` handles
from `get_functions()`) through `tests/support/durable_harness.py` and checks a protocol fact
the real host relies on: sequence-numbered scheduling events, entity request GUIDs,
TaskFailed thrown into the generator, continue_as_new starting a fresh history, timers
firing on the fake clock, at-least-once activities after a crash, and the determinism checks.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from tests.support.durable_harness import Harness, NondeterminismError, app_functions
from tests.support.durable_store import PayloadTooLarge
from tests.support.durable_wire import EventType

app = df.DFApp()
SIDE_EFFECTS: list[Any] = []


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="value")
async def record(value: Any) -> str:
    """An async activity with a visible side effect (to count at-least-once runs)."""
    await asyncio.sleep(0)
    SIDE_EFFECTS.append(value)
    return f"recorded {value}"


@app.activity_trigger(input_name="value")
def explode(value: str) -> None:
    raise ValueError(f"boom: {value}")


@app.activity_trigger(input_name="value")
def huge(value: int) -> str:
    return "x" * value


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    context.set_custom_status({"stage": "fanning out", "count": count})
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    context.set_custom_status({"stage": "done"})
    return sum(results)


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(hours=2))
    yield context.call_activity("record", "after timer")
    return (context.current_utc_datetime - started).total_seconds()


@app.orchestration_trigger(context_name="context")
def looper(context: df.DurableOrchestrationContext):
    state = context.get_input()
    yield context.call_activity("record", state["i"])
    context.set_custom_status({"i": state["i"]})
    if state["i"] < state["n"]:
        context.continue_as_new({"i": state["i"] + 1, "n": state["n"]})
        return None
    return state["i"]


@app.orchestration_trigger(context_name="context")
def with_counter(context: df.DurableOrchestrationContext):
    key = context.get_input()
    counter = df.EntityId("counter", key)
    first = yield context.call_entity(counter, "add", 5)
    context.signal_entity(counter, "add", 10)
    second = yield context.call_entity(counter, "add", 1)
    try:
        yield context.call_entity(counter, "fail")
    except Exception as exc:
        failure = str(exc)
    return {"first": first, "second": second, "failure": failure}


@app.orchestration_trigger(context_name="context")
def catches(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "wave 3")
    except Exception as exc:
        return {"caught": str(exc)}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def careless(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", "unhandled")
    return "never"


@app.orchestration_trigger(context_name="context")
def random_input(context: df.DurableOrchestrationContext):
    """Deliberately nondeterministic: a fresh uuid4 per replay."""
    yield context.call_activity("record", str(uuid.uuid4()))
    return "done"


@app.orchestration_trigger(context_name="context")
def switches_activity(context: df.DurableOrchestrationContext):
    """Deliberately nondeterministic: a different activity once replaying."""
    yield context.call_activity("double" if not context.is_replaying else "record", 1)
    yield context.call_activity("double", 2)
    return "done"


@app.orchestration_trigger(context_name="context")
def too_big(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("huge", 1024 * 1024 + 1))


@app.entity_trigger(context_name="context", entity_name="counter")
def counter(context: df.DurableEntityContext) -> None:
    total = context.get_state(lambda: 0)
    if context.operation_name == "add":
        total += context.get_input()
        context.set_state(total)
        context.set_result(total)
    elif context.operation_name == "fail":
        raise RuntimeError("counter refuses")
    else:
        context.set_result(total)


@pytest.fixture
def harness() -> Harness:
    SIDE_EFFECTS.clear()
    return Harness(app)


def _types(history: list[dict[str, Any]]) -> list[EventType]:
    return [EventType(e["EventType"]) for e in history]


def test_collects_functions_by_trigger_type(harness: Harness) -> None:
    assert {"fan_out", "sleeper", "looper", "with_counter"} <= set(harness.orchestrators)
    assert {"double", "record", "explode"} <= set(harness.activities)
    assert set(harness.entities) == {"counter"}
    assert app_functions(app) is app_functions(app)  # get_functions() ran once


def test_fan_out_fan_in_records_sequence_numbered_events(harness: Harness) -> None:
    harness.start("fan_out", "fan", 4)
    assert harness.status("fan")["runtimeStatus"] == "Pending"
    harness.run_until_idle()
    status = harness.status("fan")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == 0 + 2 + 4 + 6
    assert status["customStatus"] == {"stage": "done"}
    history = harness.history("fan")
    scheduled = [e for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    assert [(e["EventId"], e["Name"], e["Input"]) for e in scheduled] == \
        [(i, "double", str(i)) for i in range(4)]
    completed = [e for e in history if e["EventType"] == EventType.TASK_COMPLETED]
    assert sorted(e["TaskScheduledId"] for e in completed) == [0, 1, 2, 3]
    assert _types(history)[:3] == [EventType.ORCHESTRATOR_STARTED,
                                   EventType.EXECUTION_STARTED, EventType.TASK_SCHEDULED]
    assert _types(history)[-2:] == [EventType.EXECUTION_COMPLETED,
                                    EventType.ORCHESTRATOR_COMPLETED]
    assert harness.replay_checks == 1


def test_completions_in_shuffled_order_give_the_same_result() -> None:
    shuffled = Harness(app, shuffle_seed=3)
    shuffled.start("fan_out", "fan", 6)
    shuffled.run_until_idle()
    assert shuffled.status("fan")["output"] == 30


def test_step_runs_one_unit_at_a_time(harness: Harness) -> None:
    harness.start("fan_out", "fan", 2)
    assert harness.step() == "episode of fan"
    assert harness.status("fan")["runtimeStatus"] == "Running"
    assert harness.status("fan")["customStatus"] == {"stage": "fanning out", "count": 2}
    assert harness.step() == "activity double #0 of fan"
    assert harness.step() == "activity double #1 of fan"
    assert harness.step() == "episode of fan"
    assert harness.step() is None
    assert harness.status("fan")["runtimeStatus"] == "Completed"


def test_timer_fires_on_the_fake_clock(harness: Harness) -> None:
    harness.start("sleeper", "sleep", None)
    assert harness.run_until_idle(advance_timers=False) == 1
    assert harness.status("sleep")["runtimeStatus"] == "Running"
    harness.run_until_idle()
    assert harness.status("sleep")["runtimeStatus"] == "Completed"
    assert harness.status("sleep")["output"] >= 2 * 3600
    fired = [e for e in harness.history("sleep") if e["EventType"] == EventType.TIMER_FIRED]
    assert [e["TimerId"] for e in fired] == [0]
    assert SIDE_EFFECTS == ["after timer"]


def test_continue_as_new_starts_a_fresh_history(harness: Harness) -> None:
    harness.start("looper", "loop", {"i": 0, "n": 3})
    seen = set()
    while harness.step() is not None:
        seen.add(harness.status("loop")["runtimeStatus"])
        if harness.status("loop")["runtimeStatus"] == "ContinuedAsNew":
            assert harness.history("loop") == []
    assert {"ContinuedAsNew", "Running", "Completed"} <= seen
    status = harness.status("loop")
    assert status["output"] == 3
    assert status["input"] == {"i": 3, "n": 3}
    assert status["customStatus"] == {"i": 3}
    assert SIDE_EFFECTS == [0, 1, 2, 3]
    instance = harness.instances["loop"]
    assert instance.execution == 3
    assert max(instance.finished_histories) < 12  # each execution's history stays small
    assert harness.replay_checks == 4


def test_entity_call_signal_and_failure(harness: Harness) -> None:
    harness.signal("counter", "t1", "add", 100)
    harness.start("with_counter", "ent", "t1")
    harness.run_until_idle()
    status = harness.status("ent")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["first"] == 105
    assert status["output"]["second"] == 116  # the signal was delivered in between
    assert "counter refuses" in status["output"]["failure"]
    assert harness.entity_state("counter", "t1") == 116
    assert harness.entity_state("Counter", "t2") is None
    sent = [e for e in harness.history("ent") if e["EventType"] == EventType.EVENT_SENT]
    assert [e["InstanceId"] for e in sent] == ["@counter@t1"] * 4
    assert [e["EventId"] for e in sent] == [0, 1, 2, 3]
    raised = {e["Name"] for e in harness.history("ent")
              if e["EventType"] == EventType.EVENT_RAISED}
    assert len(raised) == 3  # three calls answered by request GUID, the signal is not


def test_activity_failure_is_thrown_into_the_generator(harness: Harness) -> None:
    harness.start("catches", "c", None)
    harness.start("careless", "d", None)
    harness.run_until_idle()
    caught = harness.status("c")
    assert caught["runtimeStatus"] == "Completed"
    assert "ValueError: boom: wave 3" in caught["output"]["caught"]
    failed = harness.status("d")
    assert failed["runtimeStatus"] == "Failed"
    assert "boom: unhandled" in failed["output"]
    assert EventType.TASK_FAILED in _types(harness.history("d"))


def test_a_running_instance_id_is_not_started_twice(harness: Harness) -> None:
    harness.start("fan_out", "same", 1)
    with pytest.raises(ValueError, match="Pending"):
        harness.start("fan_out", "same", 1)
    harness.run_until_idle()
    harness.start("fan_out", "same", 2)  # a finished instance may be replaced
    harness.run_until_idle()
    assert harness.status("same")["output"] == 2


def test_terminate_runs_no_more_orchestrator_code(harness: Harness) -> None:
    harness.start("sleeper", "t", None)
    harness.step()
    harness.terminate("t", "operator said so")
    harness.run_until_idle()
    assert harness.status("t")["runtimeStatus"] == "Terminated"
    assert SIDE_EFFECTS == []


def test_nondeterministic_input_is_caught_by_the_replay_check(harness: Harness) -> None:
    harness.start("random_input", "r", None)
    with pytest.raises(NondeterminismError, match="from scratch"):
        harness.run_until_idle()


def test_nondeterministic_schedule_is_caught_like_the_host_does(harness: Harness) -> None:
    harness.start("switches_activity", "s", None)
    with pytest.raises(NondeterminismError, match="recorded event #0"):
        harness.run_until_idle()


def test_oversized_activity_output_is_refused(harness: Harness) -> None:
    harness.start("too_big", "big", None)
    with pytest.raises(PayloadTooLarge, match="huge"):
        harness.run_until_idle()


def test_crash_before_every_commit_reruns_activities_at_least_once(harness: Harness) -> None:
    harness.crash_every_commit()
    harness.start("looper", "loop", {"i": 0, "n": 2})
    harness.run_until_idle()
    assert harness.status("loop")["output"] == 2
    assert SIDE_EFFECTS == [0, 0, 1, 1, 2, 2]  # each ran, crashed uncommitted, ran again
    assert harness.crashes == harness.commits // 2


def test_crash_after_each_commit_replays_to_the_same_outcome() -> None:
    """Every crash point of a run (each commit in turn) ends in the clean run's outcome."""
    clean = Harness(app)
    clean.start("with_counter", "ent", "t1")
    clean.run_until_idle()
    assert clean.commits >= 6
    for crash_at in range(1, clean.commits + 1):
        crashed = Harness(app)
        crashed.crash_after(crash_at)
        crashed.start("with_counter", "ent", "t1")
        crashed.run_until_idle()
        assert crashed.crashes == 1
        assert crashed.commits == clean.commits + 1
        assert crashed.status("ent")["output"] == clean.status("ent")["output"]
        assert crashed.entity_state("counter", "t1") == clean.entity_state("counter", "t1")
        assert _types(crashed.history("ent")) == _types(clean.history("ent"))
    assert clean.entity_state("counter", "t1") == 16


def test_schema_check_refuses_what_the_extension_could_not_read() -> None:
    import jsonschema

    from tests.support.durable_schema import check_entity_state, check_orchestrator_state

    check_orchestrator_state({"isDone": False, "schemaVersion": 1, "actions": [[
        {"actionType": 0, "functionName": "double", "input": "1"}]]})
    with pytest.raises(jsonschema.ValidationError):
        check_orchestrator_state({"isDone": False, "actions": [[{"actionType": 0}]]})
    with pytest.raises(jsonschema.ValidationError):
        check_entity_state({"entityExists": True, "entityState": "1", "signals": [],
                            "results": [{"isError": False, "duration": 0, "startTime": 0,
                                         "result": "1"}]}, operations=2)
