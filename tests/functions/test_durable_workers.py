"""Activities side by side through the replay harness (tests/support/durable_workers.py), as a
host instance runs a fan-out: at most `maxConcurrentActivityFunctions` at once, async ones on
one event loop, plain ones in a thread pool, each completion committed on its own, in the
order the activities end; crashes still lose one completion and rerun that activity.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from tests.support.durable_harness import Harness
from tests.support.durable_wire import EventType
from tests.support.durable_workers import run_concurrently

app = df.DFApp()
OVERLAP = {"now": 0, "max": 0}
LOOPS: set[int] = set()  # ids of the event loops async activities ran on
RUNS: list[int] = []  # every activity run's input, at-least-once runs included
_LOCK = threading.Lock()


def _enter() -> None:
    with _LOCK:
        OVERLAP["now"] += 1
        OVERLAP["max"] = max(OVERLAP["max"], OVERLAP["now"])


def _leave(value: int) -> None:
    with _LOCK:
        OVERLAP["now"] -= 1
        RUNS.append(value)


@app.activity_trigger(input_name="value")
async def slow_async(value: int) -> int:
    """Later inputs end sooner: completions arrive out of scheduling order."""
    _enter()
    LOOPS.add(id(asyncio.get_running_loop()))
    await asyncio.sleep(0.02 * (10 - value % 10))
    _leave(value)
    return value * 2


@app.activity_trigger(input_name="value")
def slow_sync(value: int) -> int:
    _enter()
    time.sleep(0.03)
    _leave(value)
    return value * 3


@app.activity_trigger(input_name="value")
async def refuse(value: int) -> int:
    raise ValueError(f"no {value}")


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    name, count = context.get_input()
    results = yield context.task_all([context.call_activity(name, i) for i in range(count)])
    return results


@app.orchestration_trigger(context_name="context")
def guarded(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("refuse", 7)
    except Exception as exc:
        return f"caught: {exc}"
    return "no failure"


@app.orchestration_trigger(context_name="context")
def waits(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    value = yield context.call_activity("slow_async", 9)
    return value


@pytest.fixture
def harness() -> Harness:
    OVERLAP.update(now=0, max=0)
    LOOPS.clear()
    RUNS.clear()
    return Harness(app)


def test_async_activities_overlap_up_to_the_slots_on_one_loop(harness: Harness) -> None:
    harness.start("fan", "f", ["slow_async", 10])
    run_concurrently(harness, slots=4)
    status = harness.status("f")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [2 * i for i in range(10)]  # task_all keeps scheduling order
    assert OVERLAP["max"] == 4
    assert len(LOOPS) == 1  # the worker's one event loop, as in the Python worker
    assert harness.activity_runs["slow_async"] == 10
    completed = [e["TaskScheduledId"] for e in harness.history("f")
                 if e["EventType"] == EventType.TASK_COMPLETED]
    assert sorted(completed) == list(range(10))
    assert completed != sorted(completed)  # committed as they ended, not as scheduled


def test_plain_activities_overlap_in_the_thread_pool(harness: Harness) -> None:
    harness.start("fan", "f", ["slow_sync", 6])
    run_concurrently(harness, slots=3)
    assert harness.status("f")["output"] == [3 * i for i in range(6)]
    assert OVERLAP["max"] == 3


def test_one_slot_runs_one_activity_at_a_time(harness: Harness) -> None:
    harness.start("fan", "f", ["slow_async", 3])
    run_concurrently(harness, slots=1)
    assert harness.status("f")["output"] == [0, 2, 4]
    assert OVERLAP["max"] == 1


def test_crash_before_every_commit_reruns_each_activity_once_more(harness: Harness) -> None:
    harness.crash_every_commit()
    harness.start("fan", "f", ["slow_async", 5])
    run_concurrently(harness, slots=4)
    assert harness.status("f")["output"] == [0, 2, 4, 6, 8]
    assert harness.crashes == harness.commits // 2
    assert harness.activity_runs["slow_async"] == 10  # each ran, lost its commit, ran again
    assert sorted(RUNS) == sorted([*range(5), *range(5)])


def test_a_failed_activity_is_thrown_into_the_generator(harness: Harness) -> None:
    harness.start("guarded", "g", None)
    run_concurrently(harness, slots=4)
    output: Any = harness.status("g")["output"]
    assert output.startswith("caught: ") and "no 7" in output


def test_timers_still_fire_on_the_fake_clock(harness: Harness) -> None:
    harness.start("waits", "w", None)
    start = harness.now
    assert run_concurrently(harness, slots=2, advance_timers=False) == 1
    assert harness.status("w")["runtimeStatus"] == "Running"
    run_concurrently(harness, slots=2)
    assert harness.status("w")["output"] == 18
    assert harness.now - start >= timedelta(hours=1)


def test_slots_must_be_positive(harness: Harness) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_concurrently(harness, slots=0)
