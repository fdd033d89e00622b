"""Orchestrator `snapshot`: one capture of one tenant, staged so no activity runs long.

Input: {"tenantId": str, "trigger": "timer" | "http", "scheduledFor"?: iso (timer),
        "operationId"?: str (http), "kinds"?: [str] (empty or absent = every kind)}
continue_as_new adds {"progress": waves progress} (begun + cursors + counts), so each
execution's history holds at most WAVES_PER_EXECUTION waves however large the tenant.
Output: {"tenantId", "snapshotId", "counts": {kind: n}, "drift": drift_check summary
         (or {"error": ...}: a failed drift check never fails the snapshot)}.

Path: begin_snapshot -> waves of capture_kind (one activity per unfinished kind, continuing
its cursor) until every kind is done -> finish_kind per kind (fan-out) -> finish_snapshot
(manifest last) -> drift_check. Snapshots take no tenant lease: reading never conflicts with
a diff or a recovery. Deterministic: the taken-at time is context.current_utc_datetime, the
snapshot id comes from begin_snapshot; nothing here reads a clock, random or I/O.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import waves

bp = df.Blueprint()

WAVES_PER_EXECUTION = 4
_ERROR_CHARS = 500


@bp.orchestration_trigger(context_name="context")
def snapshot(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    request: dict[str, Any] = context.get_input()
    progress: dict[str, Any] | None = request.get("progress")
    if progress is None:
        begun = yield context.call_activity("begin_snapshot", {
            "tenantId": request["tenantId"], "takenAt": waves.iso(context),
            "kinds": list(request.get("kinds") or [])})
        progress = waves.started(begun)
    snapshot_id = progress["begun"]["snapshotId"]
    for _ in range(WAVES_PER_EXECUTION):
        kinds = waves.pending(progress)
        if not kinds:
            break
        context.set_custom_status(waves.status("capturing", progress, snapshotId=snapshot_id))
        results = yield waves.wave(context, "capture_kind", progress, kinds)
        progress = waves.absorbed(progress, results, "count")
    if waves.pending(progress):
        context.set_custom_status(waves.status("capturing", progress, snapshotId=snapshot_id))
        context.continue_as_new({**request, "progress": progress})
        return None
    begun = progress["begun"]
    context.set_custom_status(waves.status("finishing", progress, snapshotId=snapshot_id))
    finished: list[dict[str, Any]] = []
    for batch in waves.in_batches(begun["kinds"]):
        finished += yield context.task_all([
            context.call_activity("finish_kind", {"begun": begun, "kind": kind})
            for kind in batch])
    done = yield context.call_activity("finish_snapshot", {"begun": begun, "kinds": finished})
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
