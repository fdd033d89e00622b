"""Orchestrator `recovery`: one point-in-time recovery job, lease to verification.

Input (made by the HTTP handler, which has already stored the job with status
`initialized`; the instance id is the recoveryId), mirroring `entra-backup recover`:
  {"tenantId": str, "recoveryId": str (uuid4 hex), "snapshotId": str,
   "reportId": str | null      (a stored report, re-checked against live; null = fresh report),
   "selection": {"kinds": [str], "objectIds": [str]}   (empty lists = everything),
   "dryRun": bool, "recreateHardDeleted": bool, "reportOnlyCa": bool,
   "waveSize": int?            (steps per apply_wave activity; default 200)}
continue_as_new adds {"progress": {"cursor", "wave", "steps"}} so each execution's history
holds at most WAVES_PER_EXECUTION waves (a 30-hour recovery keeps replays short).

Path: acquire the `tenant_job` lease (not granted -> job failed naming the holder) ->
calculating -> plan_recovery -> running -> waves of apply_wave, the entity's cancel flag read
between waves (cancel -> abandoned; applied changes stay) -> verify_recovery (successful or
failed). Every ending after the lease was granted releases it. Deterministic: no clock, random
or I/O here - times come from context.current_utc_datetime, everything else from activities.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()

WAVE_SIZE = 200
WAVES_PER_EXECUTION = 5
_ERROR_CHARS = 500


def _lease(context: df.DurableOrchestrationContext, tenant: str) -> df.EntityId:
    del context
    return df.EntityId("tenant_job", tenant)


def _record(context: df.DurableOrchestrationContext, job: dict[str, Any],
            changes: dict[str, Any]) -> Any:
    return context.call_activity("record_job", {"tenantId": job["tenantId"],
                                                "recoveryId": job["recoveryId"],
                                                "changes": changes})


def _ended(context: df.DurableOrchestrationContext, job: dict[str, Any], status: str,
           **extra: Any) -> Generator[Any, Any, dict[str, Any]]:
    """Release the lease (only this instance's) and return the job's final word."""
    yield context.call_entity(_lease(context, job["tenantId"]), "release",
                              {"instanceId": context.instance_id})
    context.set_custom_status({"stage": status})
    return {"recoveryId": job["recoveryId"], "status": status, **extra}


@bp.orchestration_trigger(context_name="context")
def recovery(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    job: dict[str, Any] = context.get_input()
    progress: dict[str, Any] | None = job.get("progress")
    if progress is None:
        answer = yield context.call_entity(_lease(context, job["tenantId"]), "acquire", {
            "instanceId": context.instance_id, "jobKind": "recovery",
            "jobId": job["recoveryId"],
            "startedAt": context.current_utc_datetime.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if not answer["granted"]:
            holder = answer["lease"]
            error = (f"tenant {job['tenantId']} is busy: {holder['jobKind']} job "
                     f"{holder['jobId']} (instance {holder['holder']}) holds the job lease")
            yield _record(context, job, {"status": "failed", "error": error})
            context.set_custom_status({"stage": "failed"})
            return {"recoveryId": job["recoveryId"], "status": "failed", "error": error}
    try:
        if progress is None:
            context.set_custom_status({"stage": "calculating"})
            yield _record(context, job, {"status": "calculating"})
            plan = yield context.call_activity("plan_recovery", {
                key: job.get(key) for key in ("tenantId", "recoveryId", "snapshotId",
                                              "reportId", "selection", "dryRun",
                                              "recreateHardDeleted", "reportOnlyCa")})
            if job.get("dryRun"):
                yield _record(context, job, {"status": "successful"})
                return (yield from _ended(context, job, "successful", steps=plan["steps"]))
            progress = {"cursor": 0, "wave": 0, "steps": plan["steps"]}
            yield _record(context, job, {"status": "running"})
        for _ in range(WAVES_PER_EXECUTION):
            if progress["cursor"] >= progress["steps"]:
                break
            lease = yield context.call_entity(_lease(context, job["tenantId"]), "get")
            if lease.get("cancel") and lease.get("holder") == context.instance_id:
                yield _record(context, job, {"status": "abandoned"})
                return (yield from _ended(context, job, "abandoned", **progress))
            wave = yield context.call_activity("apply_wave", {
                "tenantId": job["tenantId"], "recoveryId": job["recoveryId"],
                "cursor": progress["cursor"], "wave": progress["wave"] + 1,
                "waveSize": job.get("waveSize") or WAVE_SIZE})
            progress = {"cursor": wave["cursor"], "wave": wave["wave"],
                        "steps": progress["steps"]}
            context.set_custom_status({"stage": "running", **progress,
                                       "counters": wave["counters"]})
        if progress["cursor"] < progress["steps"]:
            context.continue_as_new({**job, "progress": progress})
            return None
        context.set_custom_status({"stage": "verifying", **progress})
        verified = yield context.call_activity("verify_recovery", {
            "tenantId": job["tenantId"], "recoveryId": job["recoveryId"]})
        return (yield from _ended(context, job, verified["status"],
                                  remaining=verified["remaining"]))
    except Exception as exc:  # an activity failed for good: the job fails, the lease goes
        error = str(exc)[:_ERROR_CHARS]
        yield _record(context, job, {"status": "failed", "error": error})
        return (yield from _ended(context, job, "failed", error=error))
