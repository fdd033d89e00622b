"""Orchestrator `snapshot`: one capture of one tenant, staged so no activity runs long.

Input: {"tenantId": str, "trigger": "timer" | "http", "scheduledFor"?: iso (timer),
        "operationId"?: str (http), "kinds"?: [str] (empty or absent = every kind)}
continue_as_new adds {"progress": waves progress + "finished": {kind: finish_kind result}},
so each execution's history holds at most WAVES_PER_EXECUTION chunks of each kind however
large the tenant.
Output: {"tenantId", "snapshotId", "counts": {kind: n}, "drift": drift_check summary
         (or {"error": ...}: a failed drift check never fails the snapshot)}.

Path: begin_snapshot -> per kind, capture_kind chunk after chunk (continuing its cursor),
then finish_kind as soon as that kind is read -> finish_snapshot (manifest last) ->
drift_check. Kinds do not wait for each other: a wave is one chunk of every unfinished kind,
but the next chunk of a kind is scheduled the moment its last one ends (task_any), as the
CLI's capture() reads each kind on its own. Waiting for the slowest kind of each wave
(a 10-page chunk of groups with its owner reads runs a minute under Graph's budget) left
the users delta's chain of pages, and its merge, for after everything else: +53 % over the
budget's minimum time in bench/capture.py --orchestration, against the CLI's +17 %.

Snapshots take no tenant lease: reading never conflicts with a diff or a recovery.
Deterministic: the taken-at time is context.current_utc_datetime, the snapshot id comes
from begin_snapshot, the schedule depends only on completed tasks in history order; nothing
here reads a clock, random or I/O.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from orchestrators import waves

bp = df.Blueprint()

WAVES_PER_EXECUTION = 16  # chunks of one kind per execution: 16 x 10 pages of 999
FINISHED = "finished"
_ERROR_CHARS = 500


@bp.orchestration_trigger(context_name="context")
def snapshot(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    request: dict[str, Any] = context.get_input()
    progress: dict[str, Any] | None = request.get("progress")
    if progress is None:
        begun = yield context.call_activity("begin_snapshot", {
            "tenantId": request["tenantId"], "takenAt": waves.iso(context),
            "kinds": list(request.get("kinds") or [])})
        progress = {**waves.started(begun), FINISHED: {}}
    begun = progress["begun"]
    snapshot_id = begun["snapshotId"]
    chunks: dict[str, int] = {}  # chunks of each kind scheduled in this execution
    running: dict[str, Any] = {}  # kind -> its capture_kind or finish_kind task
    while True:
        for kind, task in _next_tasks(context, progress, running, chunks).items():
            running[kind] = task
        if not running:
            break
        context.set_custom_status(_status(progress, snapshot_id))
        winner = yield context.task_any(list(running.values()))
        kind = next(name for name, task in running.items() if task is winner)
        del running[kind]
        if winner.state is TaskState.FAILED:
            raise winner.result
        if kind in progress["done"]:
            progress = {**progress, FINISHED: {**progress[FINISHED], kind: winner.result}}
        else:
            progress = waves.absorbed(progress, [winner.result], "count")
    if len(progress[FINISHED]) < len(begun["kinds"]):
        context.set_custom_status(_status(progress, snapshot_id))
        context.continue_as_new({**request, "progress": progress})
        return None
    done = yield context.call_activity("finish_snapshot", {
        "begun": begun, "kinds": [progress[FINISHED][kind] for kind in begun["kinds"]]})
    context.set_custom_status(waves.status("driftCheck", progress, snapshotId=snapshot_id))
    try:
        drift = yield context.call_activity("drift_check", {
            "tenantId": done["tenantId"], "snapshotId": done["snapshotId"],
            "previousSnapshotId": begun.get("previousSnapshotId")})
    except Exception as exc:  # the snapshot is written and sound; only the comparison failed
        drift = {"error": str(exc)[:_ERROR_CHARS]}
    context.set_custom_status(waves.status("done", progress, snapshotId=snapshot_id))
    return {"tenantId": done["tenantId"], "snapshotId": done["snapshotId"],
            "counts": done["counts"], "drift": drift}


def _next_tasks(context: df.DurableOrchestrationContext, progress: dict[str, Any],
                running: dict[str, Any], chunks: dict[str, int]) -> dict[str, Any]:
    """A task for every kind with none running: its merge once it is read, else its next
    chunk while this execution's allowance lasts. In the begun order (the stage's reading
    order), which is the order the task hub hands them to free activity slots."""
    begun, tasks = progress["begun"], {}
    for kind in begun["kinds"]:
        if kind in running or kind in progress[FINISHED]:
            continue
        if kind in progress["done"]:
            tasks[kind] = context.call_activity("finish_kind", {"begun": begun, "kind": kind})
        elif chunks.get(kind, 0) < WAVES_PER_EXECUTION:
            chunks[kind] = chunks.get(kind, 0) + 1
            tasks[kind] = context.call_activity("capture_kind", {
                "begun": begun, "kind": kind, "cursor": progress["cursors"].get(kind)})
    return tasks


def _status(progress: dict[str, Any], snapshot_id: str) -> dict[str, Any]:
    stage = "capturing" if waves.pending(progress) else "finishing"
    return waves.status(stage, progress, snapshotId=snapshot_id)
