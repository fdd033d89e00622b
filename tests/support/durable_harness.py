"""A replay harness that stands in for the Durable Functions host (1.x JSON protocol).

`Harness(app)` takes the app's orchestrators, activities and entities from `app.get_functions()`
and runs them through the SDK's own code: the orchestrator handle the v2 decorator builds
(`Orchestrator.create`) fed the context JSON the extension sends, the entity handle
(`Entity.create`) fed entity batches, activities called for real (coroutines awaited) with
their input and output converted by the worker's `ActivityTriggerConverter`.

Units of work are those the host runs, each ending in one atomic commit:
- an orchestrator *episode*: OrchestratorStarted, the inbox events that are due, replay, then
  the new actions recorded (TaskScheduled / TimerCreated / EventSent with a request GUID) and
  OrchestratorCompleted; the work they start is enqueued in the same commit;
- an *activity* run, whose commit is the TaskCompleted/TaskFailed message to the instance;
- an *entity batch*: every queued operation of one entity, new state and the responses
  (EventRaised named by the request GUID) committed together.

Faults: a crash discards the unit in flight, as a host restart does: commits are atomic (one
history batch, or one queue message), so a crash after any history event leaves the store as it
was before that event's unit, and the orchestrator is replayed from the stored history. An
activity that ran but whose completion was not committed runs again (at-least-once).
`crash_every_commit()` makes every unit crash once before it commits, which visits every stored
state a crash can leave, in one run; `crash_after(n)` crashes the n-th commit only.

Cross-checks: each episode's replayed actions must match the recorded scheduling events
(the host's NonDeterministic check); each finished execution is replayed again from scratch
and must give the same actions, inputs and outcome; outputs are validated against JSON schemas
of the SDK's shapes; payloads above the Durable Task Scheduler's 1 MB (custom status 16 KB)
are refused.

Not covered: retry actions, sub-orchestrations, call_http, external events raised by clients,
long timers (schema V3), suspend/resume, rewind.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import random
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from tests.support.durable_actions import schedule
from tests.support.durable_schema import check_entity_state, check_orchestrator_state
from tests.support.durable_store import (
    ACTIVE,
    MAX_CUSTOM_STATUS_BYTES,
    Entity,
    EntityRequest,
    Instance,
    Message,
    WorkItem,
    check_size,
)
from tests.support.durable_wire import (
    ActionType,
    Event,
    EventType,
    action_matches_event,
    entity_batch,
    entity_response_event,
    entity_scheduler_id,
    event,
    execution_started,
    flatten_actions,
    orchestration_payload,
    scheduling_actions,
    scheduling_events,
)

_ERROR_LABEL = "\n\n$OutOfProcData$:"
_FUNCTIONS: dict[int, tuple[Any, list[Any]]] = {}


class HostCrash(Exception):
    """Injected: the host died before the unit in flight committed."""


class NondeterminismError(AssertionError):
    """Replaying the same history gave different actions."""


def app_functions(app: Any) -> list[Any]:
    """`app.get_functions()`, once per app object (a second call raises in azure-functions)."""
    cached = _FUNCTIONS.get(id(app))
    if cached is None or cached[0] is not app:
        cached = (app, list(app.get_functions()))
        _FUNCTIONS[id(app)] = cached
    return cached[1]


def _run(result: Any) -> Any:
    """Await a coroutine on a fresh event loop (in a helper thread inside a running loop)."""
    if not inspect.iscoroutine(result):
        return result
    coro: Coroutine[Any, Any, Any] = result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Harness:
    """The host and task hub for one app: a DurableBackend (CONTRACT-9) plus driving controls."""

    def __init__(self, app: Any, *, start: datetime = datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
                 tick: timedelta = timedelta(seconds=1), shuffle_seed: int | None = None,
                 schema_version: int = 2) -> None:
        self.orchestrators: dict[str, Callable[[str], str]] = {}
        self.activities: dict[str, tuple[Callable[..., Any], str]] = {}
        self.entities: dict[str, Callable[[str], str]] = {}
        for function in app_functions(app):
            trigger = function.get_trigger().get_dict_repr()
            name = function.get_function_name()
            if trigger["type"] == "orchestrationTrigger":
                self.orchestrators[trigger.get("orchestration") or name] = \
                    function.get_user_function()
            elif trigger["type"] == "activityTrigger":
                self.activities[trigger.get("activity") or name] = \
                    (function.get_user_function(), trigger["name"])
            elif trigger["type"] == "entityTrigger":
                self.entities[(trigger.get("entityName") or name).lower()] = \
                    function.get_user_function()
        self.now = start
        self._tick = tick
        self._random = random.Random(shuffle_seed) if shuffle_seed is not None else None
        self._schema = schema_version
        self._lock = threading.RLock()
        self.instances: dict[str, Instance] = {}
        self.work: list[WorkItem] = []
        self.entity_store: dict[tuple[str, str], Entity] = {}
        self.activity_runs: Counter[str] = Counter()
        self.entity_batch_sizes: list[int] = []
        self.episodes = 0
        self.commits = 0
        self.crashes = 0
        self.replay_checks = 0
        self._crash_at: int | None = None
        self._crash_every = False
        self._just_crashed = False
        self._crashed_items: set[tuple[str, int, int]] = set()

    # -- DurableBackend ---------------------------------------------------------------------
    def start(self, name: str, instance_id: str, input: Any) -> None:
        """Enqueue a new instance (refused while one with that id is active, as the
        extension's default `overridableExistingInstanceStates: NonRunningStates` does)."""
        with self._lock:
            if name not in self.orchestrators:
                raise KeyError(f"no orchestrator named {name!r}")
            existing = self.instances.get(instance_id)
            if existing is not None and existing.status in ACTIVE:
                raise ValueError(f"instance {instance_id!r} is {existing.status}")
            text = json.dumps(input)
            check_size("orchestration input", text)
            instance = Instance(name, instance_id, text, self.now, self.now)
            instance.inbox.append(
                Message(execution_started(self.now, name, text, instance_id), self.now, 0))
            self.instances[instance_id] = instance

    def status(self, instance_id: str) -> dict[str, Any] | None:
        with self._lock:
            instance = self.instances.get(instance_id)
            return None if instance is None else instance.status_dict()

    def entity_state(self, name: str, key: str) -> Any | None:
        with self._lock:
            entity = self.entity_store.get((name.lower(), key))
            if entity is None or not entity.exists or entity.state is None:
                return None
            return json.loads(entity.state)

    def signal(self, name: str, key: str, operation: str, input: Any) -> None:
        with self._lock:
            self._entity(name, key).queue.append(
                EntityRequest(operation, json.dumps(input), str(uuid.uuid4()), signal=True))

    # -- driving ----------------------------------------------------------------------------
    def history(self, instance_id: str) -> list[Event]:
        """The current execution's history (a copy)."""
        with self._lock:
            return [dict(e) for e in self.instances[instance_id].history]

    def terminate(self, instance_id: str, reason: str = "") -> None:
        """Terminate now: no orchestrator code runs (so no lease release), queued completions
        are dropped; activities already queued still run, as in Azure."""
        with self._lock:
            instance = self.instances[instance_id]
            instance.history.append(event(EventType.EXECUTION_TERMINATED, self.now,
                                          Input=json.dumps(reason)))
            instance.status, instance.output, instance.updated = "Terminated", reason, self.now
            instance.inbox.clear()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta

    def crash_after(self, commits: int) -> None:
        """The `commits`-th commit from now crashes (once); 1 = the next one."""
        self._crash_at = self.commits + commits

    def crash_every_commit(self, enabled: bool = True) -> None:
        """Every unit of work crashes once before its commit, then is retried."""
        self._crash_every = enabled

    def step(self, *, activities: bool = True) -> str | None:
        """Run one unit of work; return what ran ("crash: ..." if it crashed), or None when
        nothing is due now. Activities go first (unless `activities` is False: a concurrent
        drive runs them itself, tests/support/durable_workers.py), then the entity batch or
        episode whose oldest message has waited longest."""
        with self._lock:
            unit = self._next_unit(activities)
            if unit is None:
                return None
            label, run = unit
            try:
                run()
            except HostCrash:
                self.crashes += 1
                return f"crash: {label}"
            return label

    def run_until_idle(self, *, max_steps: int = 100_000, advance_timers: bool = True) -> int:
        """Step until no work is left (moving the fake clock to the next timer when only
        timers are pending); return the number of steps."""
        steps = 0
        while steps < max_steps:
            if self.step() is None:
                due = self.next_timer()
                if not advance_timers or due is None:
                    return steps
                with self._lock:
                    self.now = max(self.now, due)
                continue
            steps += 1
        raise AssertionError(f"still busy after {max_steps} steps")

    # -- scheduling -------------------------------------------------------------------------
    def _clock(self) -> datetime:
        self.now += self._tick
        return self.now

    def _entity(self, name: str, key: str) -> Entity:
        return self.entity_store.setdefault((name.lower(), key), Entity())

    def next_timer(self) -> datetime | None:
        with self._lock:
            times = [m.visible_at for i in self.instances.values() if i.status in ACTIVE
                     for m in i.inbox if m.execution == i.execution]
            return min(times) if times else None

    def _next_unit(self, activities: bool = True) -> tuple[str, Callable[[], None]] | None:
        if self.work and activities:
            index = self._random.randrange(len(self.work)) if self._random else 0
            item = self.work[index]
            return f"activity {item.name} #{item.task_id} of {item.instance_id}", \
                functools.partial(self._run_activity, item)
        # otherwise whoever has waited longest: the host serves instances side by side
        waiting: list[tuple[int, str, Callable[[], None]]] = []
        for (name, key), entity in self.entity_store.items():
            if entity.queue:
                waiting.append((entity.queue[0].arrival, f"entity @{name}@{key}",
                                functools.partial(self._run_entity, name, key)))
        for instance in self.instances.values():
            due = [m.arrival for m in instance.inbox if m.visible_at <= self.now]
            if instance.status in ACTIVE and due:
                waiting.append((min(due), f"episode of {instance.instance_id}",
                                functools.partial(self._run_episode, instance)))
        if waiting:
            _, label, run = min(waiting, key=lambda w: w[0])
            return label, run
        return None

    def _commit(self, apply: Callable[[], None], item: WorkItem | None = None) -> None:
        """Apply one unit's changes, or raise HostCrash where a crash is injected. Under
        `crash_every_commit` an activity (`item`) crashes on its first completion only, even
        when others complete in between (durable_workers.py runs them side by side)."""
        self.commits += 1
        crash = self._crash_at == self.commits
        if self._crash_every and item is not None:
            key = (item.instance_id or "", item.execution, item.task_id)
            crash = key not in self._crashed_items
            self._crashed_items.add(key)
        elif self._crash_every:
            crash, self._just_crashed = not self._just_crashed, not self._just_crashed
        if crash:
            raise HostCrash
        apply()

    # -- activities -------------------------------------------------------------------------
    def activity_started(self, item: WorkItem) -> datetime:
        """Count a run of `item` and stamp its start (the completion's timestamp)."""
        with self._lock:
            self.activity_runs[item.name] += 1
            return self._clock()

    def _run_activity(self, item: WorkItem) -> None:
        now = self.activity_started(item)
        try:
            function, kwargs = self.activity_call(item)
            done = self.completed(item, now, _run(function(**kwargs)))
        except AssertionError:
            raise
        except Exception as exc:
            done = self.failed(item, now, exc)
        self.commit_activity(item, now, done)

    def activity_call(self, item: WorkItem) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The activity's user function and its keyword argument (the decoded input)."""
        function, parameter = self.activities[item.name]
        value = ActivityTriggerConverter.decode(
            meta.Datum(type="json", value=item.input), trigger_metadata=None)
        return function, {parameter: value}

    def completed(self, item: WorkItem, now: datetime, result: Any) -> Event:
        encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
        check_size(f"output of activity {item.name}", encoded)
        return event(EventType.TASK_COMPLETED, now, TaskScheduledId=item.task_id, Result=encoded)

    @staticmethod
    def failed(item: WorkItem, now: datetime, exc: BaseException) -> Event:
        return event(EventType.TASK_FAILED, now, TaskScheduledId=item.task_id,
                     Reason=f"Activity function '{item.name}' failed: "
                            f"{type(exc).__name__}: {exc}",
                     Details="".join(traceback.format_exception(exc)))

    def commit_activity(self, item: WorkItem, now: datetime, done: Event) -> None:
        """The activity's one commit: its completion message to the instance (or a crash)."""
        def apply() -> None:
            self.work.remove(item)
            self._deliver(item.instance_id, item.execution, done, now)

        with self._lock:
            self._commit(apply, item)

    def _deliver(self, instance_id: str | None, execution: int, message: Event,
                 visible_at: datetime) -> None:
        instance = self.instances.get(instance_id or "")
        if instance is not None and instance.status in ACTIVE \
                and instance.execution == execution:
            instance.inbox.append(Message(message, visible_at, execution))

    # -- entities ---------------------------------------------------------------------------
    def _run_entity(self, name: str, key: str) -> None:
        now = self._clock()
        entity = self.entity_store[(name, key)]
        batch = list(entity.queue)
        if name not in self.entities:
            raise KeyError(f"no entity named {name!r}")
        payload = entity_batch(name, key, entity.exists, entity.state,
                               [(r.operation, r.input) for r in batch])
        self.entity_batch_sizes.append(len(batch))
        answer = json.loads(self.entities[name](payload))
        check_entity_state(answer, len(batch))
        state = answer["entityState"] if answer["entityExists"] else None
        check_size(f"state of entity @{name}@{key}", state)

        def apply() -> None:
            del entity.queue[:len(batch)]
            entity.exists, entity.state = answer["entityExists"], state
            for request, result in zip(batch, answer["results"], strict=True):
                if not request.signal:
                    self._deliver(request.parent, request.execution, entity_response_event(
                        now, request.request_id, result["result"], result["isError"]), now)

        self._commit(apply)

    # -- orchestrations ---------------------------------------------------------------------
    def _invoke(self, instance: Instance, history: list[Event]) -> tuple[dict[str, Any], str]:
        """Call the orchestrator handle; return its state and error text ("" when none)."""
        payload = orchestration_payload(instance.instance_id, instance.input, history,
                                        self._schema)
        try:
            state = json.loads(self.orchestrators[instance.name](payload))
            error = ""
        except Exception as exc:
            text = str(exc)
            if _ERROR_LABEL not in text:
                raise
            error, _, state_text = text.partition(_ERROR_LABEL)
            state = json.loads(state_text)
        check_orchestrator_state(state)
        return state, error

    def _run_episode(self, instance: Instance) -> None:
        now = self._clock()
        self.episodes += 1
        due = [m for m in instance.inbox
               if m.visible_at <= now and m.execution == instance.execution]
        history = [*instance.history, event(EventType.ORCHESTRATOR_STARTED, now),
                   *(m.event for m in due)]
        state, error = self._invoke(instance, history)
        actions = flatten_actions(state)
        scheduled = scheduling_actions(actions)
        recorded = scheduling_events(history)
        for position, past in enumerate(recorded):
            if position >= len(scheduled) or not action_matches_event(scheduled[position], past):
                raise NondeterminismError(
                    f"{instance.instance_id}: replay does not reproduce recorded event "
                    f"#{position} {past}; actions now: {scheduled}")
        out = schedule(instance, scheduled[len(recorded):], len(recorded), now)
        continued = next((a for a in actions if a["actionType"] == ActionType.CONTINUE_AS_NEW),
                         None)
        custom = state.get("customStatus", instance.custom_status)
        check_size("custom status", json.dumps(custom), MAX_CUSTOM_STATUS_BYTES, utf16=True)
        finished = bool(error) or state["isDone"]
        if finished:
            self._check_from_scratch(instance, history, state, error)

        def apply() -> None:
            for item in due:
                instance.inbox.remove(item)
            instance.inbox = [m for m in instance.inbox if m.execution == instance.execution]
            instance.history = [*history, *out.events]
            instance.custom_status, instance.updated = custom, now
            instance.status = "Running"
            self.work.extend(out.work)
            for (name, key), request in out.requests:
                self._entity(name, key).queue.append(request)
            instance.inbox.extend(out.timers)
            if finished:
                self._finish(instance, now, state, error, continued)
            else:
                instance.history.append(event(EventType.ORCHESTRATOR_COMPLETED, now))

        self._commit(apply)

    def _finish(self, instance: Instance, now: datetime, state: dict[str, Any], error: str,
                continued: dict[str, Any] | None) -> None:
        if error:
            instance.status = "Failed"
            instance.output = f"Orchestrator function '{instance.name}' failed: {error}"
            instance.history.append(event(EventType.EXECUTION_FAILED, now, Reason=error))
            instance.history.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
        elif continued is not None:
            check_size("continue_as_new input", continued["input"])
            instance.finished_histories.append(len(instance.history) + 2)  # + CAN, completed
            instance.status, instance.execution = "ContinuedAsNew", instance.execution + 1
            instance.input, instance.history, instance.inbox = continued["input"], [], [
                Message(execution_started(now, instance.name, continued["input"],
                                          instance.instance_id), now, instance.execution)]
        else:
            output = state.get("output")
            check_size("orchestration output", json.dumps(output))
            instance.status, instance.output = "Completed", output
            instance.history.append(event(EventType.EXECUTION_COMPLETED, now,
                                          Result=json.dumps(output)))
            instance.history.append(event(EventType.ORCHESTRATOR_COMPLETED, now))

    def _check_from_scratch(self, instance: Instance, history: list[Event],
                            state: dict[str, Any], error: str) -> None:
        """Replay the finished execution once more from its full history: same actions
        (inputs included, also against the recorded events), same outcome."""
        self.replay_checks += 1
        again, again_error = self._invoke(instance, [*history, event(
            EventType.ORCHESTRATOR_STARTED, self.now)])
        same = (flatten_actions(again) == flatten_actions(state)
                and again.get("output") == state.get("output") and again_error == error)
        recorded = scheduling_events(history)
        replayed = scheduling_actions(flatten_actions(again))
        for past, action in zip(recorded, replayed, strict=False):
            if past["EventType"] == EventType.TASK_SCHEDULED and past["Input"] != action["input"]:
                same = False
        if not same:
            raise NondeterminismError(
                f"{instance.instance_id}: replaying the finished history from scratch gave "
                f"{flatten_actions(again)} / {again.get('output')!r} / {again_error!r}, "
                f"the run gave {flatten_actions(state)} / {state.get('output')!r} / {error!r}")

    # -- inspection -------------------------------------------------------------------------
    def entity_id(self, name: str, key: str) -> str:
        return entity_scheduler_id(name, key)
