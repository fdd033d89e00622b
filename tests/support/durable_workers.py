"""Activities run side by side, as one Functions host instance runs a fan-out.

The harness (durable_harness.py) runs one unit of work at a time, which is all the replay
and crash tests need. A host instance does more at once: up to
`extensions.durableTask.maxConcurrentActivityFunctions` activities (host.json: 4) in one
Python worker process, whose `async def` functions all run on the worker's one event loop
(sync ones in its thread pool; functions.md 1.5), while orchestrator episodes and entity
batches go on beside them. Activities that share process-wide state - the Graph pacer's
learned refill rate (entra_backup/graph/pacing.py `RATES`), a connection pool - meet only
when they overlap like that, so benchmarks of the orchestration drive it this way.

`run_concurrently(harness, slots)` keeps the harness's commit semantics: each activity's
TaskCompleted/TaskFailed is committed on its own as the activity ends (in completion order,
not scheduling order), through the harness's `_commit`, so injected crashes still discard
that one completion and the activity runs again. Episodes and entity batches run on the
driving thread between completions, one at a time, exactly as `step()` runs them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.support.durable_harness import Harness, HostCrash
from tests.support.durable_store import WorkItem
from tests.support.durable_wire import Event

Outcome = concurrent.futures.Future[Event]


async def _invoke(harness: Harness, item: WorkItem, now: datetime) -> Event:
    """One activity on the worker loop: a coroutine function awaited there, a plain function
    in the loop's thread pool (as the Python worker does); its outcome as the history event."""
    try:
        function, kwargs = harness.activity_call(item)
        if inspect.iscoroutinefunction(function):
            result = await function(**kwargs)
        else:
            result = await asyncio.get_running_loop().run_in_executor(
                None, lambda: function(**kwargs))
        if inspect.iscoroutine(result):
            result = await result
        return harness.completed(item, now, result)
    except AssertionError:
        raise
    except Exception as exc:
        return harness.failed(item, now, exc)


class _WorkerLoop:
    """The worker process's event loop, on a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any]) -> Outcome:
        return asyncio.run_coroutine_threadsafe(job(), self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def run_concurrently(harness: Harness, slots: int = 4, *, max_steps: int = 100_000,
                     advance_timers: bool = True) -> int:
    """Like `harness.run_until_idle()`, with up to `slots` activities running at once.

    Returns the number of units committed or crashed (episodes, entity batches, activity
    completions). Activities start in queue order (FIFO, as the task hub hands them out).
    """
    if slots < 1:
        raise ValueError("slots must be at least 1")
    worker = _WorkerLoop()
    running: dict[Outcome, tuple[WorkItem, datetime]] = {}
    steps = 0
    try:
        while steps < max_steps:
            _start_activities(harness, worker, running, slots)
            if harness.step(activities=False) is not None:
                steps += 1
                continue
            if running:
                finished, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED)
                for outcome in finished:
                    item, now = running.pop(outcome)
                    steps += 1
                    try:
                        harness.commit_activity(item, now, outcome.result())
                    except HostCrash:  # the completion is lost; the item runs again
                        harness.crashes += 1
                continue
            due = harness.next_timer()  # nothing runs or is due: only timers are left
            if not advance_timers or due is None:
                return steps
            harness.advance(max(due - harness.now, timedelta(0)))
        raise AssertionError(f"still busy after {max_steps} steps")
    finally:
        for outcome in running:
            outcome.cancel()
        worker.close()


def _start_activities(harness: Harness, worker: _WorkerLoop,
                      running: dict[Outcome, tuple[WorkItem, datetime]], slots: int) -> None:
    busy = {id(item) for item, _ in running.values()}
    for item in [w for w in harness.work if id(w) not in busy][:slots - len(running)]:
        now = harness.activity_started(item)
        running[worker.submit(lambda item=item, now=now: _invoke(harness, item, now))] = \
            (item, now)
