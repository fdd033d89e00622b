"""Long operations: the tenant lease check, starting an orchestration, and the job resource a
caller polls (202 while running, 200 when final) in the native service's words.

Field names follow `microsoft.graph.entraRecoveryServices` (recoveryJobBase: id, status,
jobStartDateTime, jobCompletionDateTime, targetStateDateTime, totalChangedObjectsCalculated;
recoveryJob: totalObjectsModified, totalFailedChanges) - see
https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoveryjobbase
and .../entrarecoveryservices-recoveryjob (view=graph-rest-1.0). Our own progress fields sit
beside them. The pattern is the resource-based long-running operation Logic Apps follows:
202 + Location + Retry-After until a non-202 arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode, urlsplit

import azure.durable_functions as df
import azure.functions as func
import orjson

from api.errors import ApiError, json_response
from api.validate import Query, skiptoken
from entra_backup.ids import new_snapshot_id, snapshot_time
from entra_backup.types import Json

if TYPE_CHECKING:
    from entra_backup.recover.jobs import JobStore

_log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS: Final = 30
LEASE_ENTITY: Final = "tenant_job"
LIVE = frozenset({df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running,
                   df.OrchestrationRuntimeStatus.ContinuedAsNew,
                   df.OrchestrationRuntimeStatus.Suspended})
# Fields of our own that a caller may use to follow a job (the rest of the record is internal).
_OWN_FIELDS: Final = ("jobType", "snapshotId", "reportId", "against", "filters", "selection",
                      "dryRun", "options", "cursor", "wave", "steps", "counters",
                      "verification", "requestedBy", "error")


def final_statuses() -> frozenset[str]:
    """The job vocabulary's final statuses (the job store loads with the first request)."""
    from entra_backup.recover.jobs.base import FINAL_STATUSES

    return FINAL_STATUSES


def _iso_now() -> str:
    from entra_backup.recover.jobs.base import iso_now

    return iso_now()


def new_job_id() -> str:
    """The engine's time-form id: the report or plan is stored under it, and ids sort by time."""
    return new_snapshot_id(datetime.now(UTC))


def instance_id(job: Mapping[str, Any]) -> str:
    """The job's orchestration instance: unique across tenants (job ids are only per tenant)."""
    return f"{job['jobType']}-{job['tenantId']}-{job['jobId']}"


def absolute_url(req: func.HttpRequest, path: str) -> str:
    """`path` on the host the caller used; never the Durable status URL or any key."""
    url = urlsplit(req.url)
    return f"{url.scheme}://{url.netloc}/api/{path}"


def next_link(req: func.HttpRequest, path: str, query: Query, offset: int) -> str:
    """The URL of the page that starts at `offset`, with the caller's other parameters."""
    params = {**query.params, "$skiptoken": skiptoken(offset)}
    return f"{absolute_url(req, path)}?{urlencode(params)}"


async def ensure_tenant_free(client: df.DurableOrchestrationClient, tenant_id: str) -> None:
    """409 while another job holds the tenant; a lease whose holder has ended is released."""
    entity = df.EntityId(LEASE_ENTITY, tenant_id)
    state = await client.read_entity_state(entity)
    lease = state.entity_state if state.entity_exists else None
    if isinstance(lease, str | bytes):
        lease = orjson.loads(lease)
    holder = lease.get("holder") if isinstance(lease, dict) else None
    if not holder:
        return
    status = await client.get_status(holder)
    if status.runtime_status in LIVE:
        assert isinstance(lease, dict)
        raise ApiError(409, "conflict",
                       f"tenant {tenant_id} is busy: {lease.get('jobKind')} job "
                       f"{lease.get('jobId')} is running (one job per tenant at a time)")
    _log.info("releasing tenant %s: holder %s ended (%s)", tenant_id, holder,
              status.runtime_status)
    await client.signal_entity(entity, "force_release", {"instanceId": holder})


async def start_job(client: df.DurableOrchestrationClient, jobs: JobStore, job: Json,
                    orchestrator: str, request: Mapping[str, Any]) -> Json:
    """Record the job (status initialized), then start its orchestration (`instance_id`) with
    `request` (small JSON) plus tenantId and jobId as input. If the start fails the record is
    marked failed, so nothing half-begun stays waiting."""
    jobs.create_job(job)
    try:
        await client.start_new(orchestrator, instance_id(job),
                               {**request, "tenantId": job["tenantId"], "jobId": job["jobId"]})
    except Exception:
        jobs.update_job(job["tenantId"], job["jobId"], {
            "status": "failed", "error": "the orchestration could not be started",
            "completedAt": _iso_now()})
        raise
    return job


def new_job(tenant_id: str, job_type: str, requested_by: str, fields: Mapping[str, Any]) -> Json:
    now = _iso_now()
    return {"jobId": new_job_id(), "tenantId": tenant_id, "jobType": job_type,
            "status": "initialized", "createdAt": now, "updatedAt": now,
            "completedAt": None, "requestedBy": requested_by, "error": None, **fields}


async def observed(client: df.DurableOrchestrationClient, job: Json) -> Json:
    """The job as recorded, unless its orchestration ended without recording a final status
    (crashed, terminated): then it is reported failed, never as running for ever."""
    if job["status"] in final_statuses():
        return job
    status = await client.get_status(instance_id(job))
    ended = status.runtime_status
    if ended is None or ended in LIVE:
        return job
    return {**job, "status": "failed",
            "error": job.get("error") or f"the orchestration ended ({ended.value}) before "
                                          "recording a result"}


def job_document(job: Json) -> Json:
    """The resource a caller sees: native field names first, then our progress fields."""
    snapshot = job.get("snapshotId")
    target = None
    if isinstance(snapshot, str):
        try:
            target = snapshot_time(snapshot).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            target = None
    counters = job.get("counters") or {}
    doc: Json = {
        "id": job["jobId"], "status": job["status"],
        "jobStartDateTime": job.get("createdAt"),
        "jobCompletionDateTime": job.get("completedAt"),
        "lastUpdatedDateTime": job.get("updatedAt"),
        "targetStateDateTime": target,
        "totalChangedObjectsCalculated": job.get("totalChangedObjectsCalculated",
                                                 job.get("steps")),
    }
    if job["jobType"] == "recovery":
        doc["totalObjectsModified"] = job.get("totalObjectsModified", counters.get("applied", 0))
        doc["totalFailedChanges"] = job.get("totalFailedChanges", counters.get("failed", 0))
    doc.update((key, job[key]) for key in _OWN_FIELDS if key in job)
    return doc


def job_response(req: func.HttpRequest, job: Json, path: str, *,
                 extra: Mapping[str, Any] | None = None, created: bool = False
                 ) -> func.HttpResponse:
    """202 + Location + Retry-After while the job runs (always for a new job), 200 when final."""
    body = {**job_document(job), **(extra or {})}
    if job["status"] in final_statuses() and not created:
        return json_response(body, 200)
    return json_response(body, 202, headers={"Location": absolute_url(req, path),
                                             "Retry-After": str(RETRY_AFTER_SECONDS)})
