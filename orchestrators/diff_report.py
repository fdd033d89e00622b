"""Orchestrator `diff_report`: one difference-report job, lease to stored report.

Input (made by the HTTP handler, which has already stored the job - jobType diffReport,
status initialized - and names the instance after the job, api.jobs.instance_id; the job
id itself always comes from the input):
  {"tenantId", "jobId", "reportId", "snapshotId", "against", "kinds", "objectIds",
   "changes", "useDelta"}
(with only {"tenantId", "jobId"}, begin_diff reads the request from the job record).
continue_as_new adds {"progress": waves progress} (begun + cursors).
Output: {"jobId", "status": "successful" | "failed" | "abandoned", "reportId"?, "summary"?,
         "error"?}.

Path: acquire the `tenant_job` lease (not granted -> job failed naming the holder) ->
calculating -> begin_diff -> running -> waves of diff_kind, the entity's cancel flag read
before each wave (cancel -> abandoned) -> assemble_report -> successful. An abandoned or
failed job's staging is deleted (discard_diff). Every ending after the lease was granted
releases it; a failed activity fails the job (never a success a Logic
App would follow blindly). Deterministic: no clock, random or I/O here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrators import job_lease, waves

bp = df.Blueprint()

WAVES_PER_EXECUTION = 4
_ERROR_CHARS = 500


def _record(context: df.DurableOrchestrationContext, job: dict[str, Any],
            changes: dict[str, Any]) -> Any:
    """The job-store status change (record_job, shared with `recovery`)."""
    return context.call_activity("record_job", {"tenantId": job["tenantId"],
                                                "jobId": job["jobId"], "changes": changes})


def _ended(context: df.DurableOrchestrationContext, job: dict[str, Any], status: str,
           **extra: Any) -> Generator[Any, Any, dict[str, Any]]:
    """Record the final status, release the lease (only this instance's), answer."""
    changes = {"status": status}
    if "error" in extra:
        changes["error"] = extra["error"]
    yield _record(context, job, changes)
    yield context.call_entity(job_lease.lease_of(job["tenantId"]), "release",
                              {"instanceId": context.instance_id})
    context.set_custom_status({"stage": status})
    return {"jobId": job["jobId"], "status": status, **extra}


def _discard(context: df.DurableOrchestrationContext,
             progress: dict[str, Any] | None) -> Generator[Any, Any, None]:
    """Delete the staging of a report that will not be assembled (best effort: staging
    retention is the backstop, and the job's ending must not depend on it)."""
    if progress is None:
        return
    with contextlib.suppress(Exception):  # a failed clean-up leaves what retention removes
        yield context.call_activity("discard_diff", {"begun": progress["begun"]})


@bp.orchestration_trigger(context_name="context")
def diff_report(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    request: dict[str, Any] = context.get_input()
    job = {"tenantId": request["tenantId"],
           "jobId": request.get("jobId") or request["reportId"]}
    progress: dict[str, Any] | None = request.get("progress")
    if progress is None:
        error = yield from job_lease.acquire(context, job["tenantId"], "diffReport",
                                             job["jobId"])
        if error is not None:
            yield _record(context, job, {"status": "failed", "error": error})
            context.set_custom_status({"stage": "failed"})
            return {"jobId": job["jobId"], "status": "failed", "error": error}
    try:
        if progress is None:
            context.set_custom_status({"stage": "calculating"})
            yield _record(context, job, {"status": "calculating"})
            begun = yield context.call_activity("begin_diff", {
                key: value for key, value in request.items() if key != "progress"})
            progress = waves.started(begun)
            yield _record(context, job, {"status": "running"})
        for _ in range(WAVES_PER_EXECUTION):
            kinds = waves.pending(progress)
            if not kinds:
                break
            lease = yield context.call_entity(job_lease.lease_of(job["tenantId"]), "get")
            if lease.get("cancel") and lease.get("holder") == context.instance_id:
                yield from _discard(context, progress)
                return (yield from _ended(context, job, "abandoned",
                                          kindsDone=len(progress["done"])))
            context.set_custom_status(waves.status("running", progress))
            results = yield waves.wave(context, "diff_kind", progress, kinds)
            progress = waves.absorbed(progress, results, "entries")
        if waves.pending(progress):
            context.set_custom_status(waves.status("running", progress))
            context.continue_as_new({**request, "progress": progress})
            return None
        begun = progress["begun"]
        context.set_custom_status(waves.status("assembling", progress))
        report = yield context.call_activity("assemble_report", {
            "jobId": job["jobId"], "begun": begun,
            "kinds": [progress["done"][kind] for kind in begun["kinds"]]})
        return (yield from _ended(context, job, "successful", reportId=report["reportId"],
                                  summary=report["summary"]))
    except Exception as exc:  # an activity failed for good: the job fails, the lease goes
        yield from _discard(context, progress)
        return (yield from _ended(context, job, "failed", error=str(exc)[:_ERROR_CHARS]))
