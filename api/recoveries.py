"""Recoveries: start one from a finished difference report, list them, follow one (status,
progress and per-object results, paged) and cancel one between waves."""

from __future__ import annotations

import itertools
from typing import Final

import azure.durable_functions as df
import azure.functions as func

from api import validate
from api.auth import ADMINISTRATOR, READER, authorize
from api.engine import Engine, engine
from api.errors import ApiError, bad_request, json_response, not_found, responds
from api.jobs import (
    LEASE_ENTITY,
    ensure_tenant_free,
    final_statuses,
    job_document,
    job_response,
    new_job,
    next_link,
    observed,
    start_job,
)
from entra_backup.errors import JobNotFoundError
from entra_backup.types import Json

bp = df.Blueprint()

ORCHESTRATOR: Final = "recovery"
_BODY: Final = ("reportId", "selection", "dryRun", "recreateHardDeleted", "reportOnlyCa")
_SELECTION: Final = ("kinds", "objectIds")


def recovery_path(tenant_id: str, recovery_id: str) -> str:
    return f"tenants/{tenant_id}/recoveries/{recovery_id}"


@bp.route(route="tenants/{tenantId}/recoveries", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def start_recovery(req: func.HttpRequest,
                         client: df.DurableOrchestrationClient) -> func.HttpResponse:
    from entra_backup.diff.reports import load_header
    from entra_backup.recover.plan import Selection

    principal = authorize(req, ADMINISTRATOR)
    validate.Query.of(req)
    body = validate.body_object(req, _BODY)
    report_ref = validate.text(body, "reportId")
    selection_body = validate.nested(body, "selection", _SELECTION)
    selection = Selection(kinds=validate.texts(selection_body, "kinds"),
                          object_ids=validate.texts(selection_body, "objectIds"))
    flags = {name: validate.flag(body, name)
             for name in ("dryRun", "recreateHardDeleted", "reportOnlyCa")}
    try:
        selection.validated()
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    eng = engine()
    tenant = eng.tenant(req.route_params["tenantId"])
    report_id = _stored_report(eng, tenant, report_ref)
    header = load_header(eng.store, tenant, report_id)
    if header.get("against", "live") != "live":
        raise bad_request(f"report {report_ref} compares two snapshots; a recovery needs a "
                          "report against the live tenant")
    await ensure_tenant_free(client, tenant)
    job = new_job(tenant, "recovery", principal.name, {
        "snapshotId": header["snapshotId"], "reportId": report_id,
        "diffReportId": report_ref if report_ref != report_id else None,
        "dryRun": flags["dryRun"],
        "selection": {"kinds": selection.kinds, "objectIds": selection.object_ids},
        "options": {"recreateHardDeleted": flags["recreateHardDeleted"],
                    "reportOnlyCa": flags["reportOnlyCa"]},
        "cursor": 0, "wave": 0, "steps": None,
        "counters": {"applied": 0, "skipped": 0, "failed": 0},
        "totalObjectsModified": 0, "totalFailedChanges": 0, "idMap": {}})
    await start_job(client, eng.jobs, job, ORCHESTRATOR, {  # what orchestrators.recovery reads
        "recoveryId": job["jobId"], "snapshotId": job["snapshotId"], "reportId": report_id,
        "selection": job["selection"], **flags})
    return job_response(req, job, recovery_path(tenant, job["jobId"]), created=True)


@bp.route(route="tenants/{tenantId}/recoveries", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
@responds
async def list_recoveries(req: func.HttpRequest) -> func.HttpResponse:
    authorize(req, READER)
    query = validate.Query.of(req)
    top, skip = query.top(), query.skip()
    eng = engine()
    tenant = eng.tenant(req.route_params["tenantId"])
    jobs = eng.jobs.list_jobs(tenant, job_type="recovery")
    body: Json = {"value": [job_document(job) for job in jobs[skip:skip + top]]}
    if len(jobs) > skip + top:
        body["@odata.nextLink"] = next_link(req, f"tenants/{tenant}/recoveries", query,
                                            skip + top)
    return json_response(body)


@bp.route(route="tenants/{tenantId}/recoveries/{recoveryId}", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def get_recovery(req: func.HttpRequest,
                       client: df.DurableOrchestrationClient) -> func.HttpResponse:
    authorize(req, READER)
    query = validate.Query.of(req)
    top, skip = query.top(), query.skip()
    eng, tenant, job = _recovery_job(req)
    job = await observed(client, job)
    rows = itertools.islice(eng.jobs.iter_results(tenant, job["jobId"]), skip, skip + top + 1)
    results = [_change(row) for row in rows]
    extra: Json = {"results": results[:top]}
    if len(results) > top:
        extra["results@odata.nextLink"] = next_link(
            req, recovery_path(tenant, job["jobId"]), query, skip + top)
    return job_response(req, job, recovery_path(tenant, job["jobId"]), extra=extra)


@bp.route(route="tenants/{tenantId}/recoveries/{recoveryId}/cancel", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def cancel_recovery(req: func.HttpRequest,
                          client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Ask the recovery to stop between waves; changes already applied stay (as natively)."""
    authorize(req, ADMINISTRATOR)
    validate.Query.of(req)
    validate.body_object(req, (), optional=True)
    _, tenant, job = _recovery_job(req)
    if job["status"] in final_statuses():
        raise ApiError(409, "conflict", f"recovery {job['jobId']} is already {job['status']}")
    await client.signal_entity(df.EntityId(LEASE_ENTITY, tenant), "request_cancel",
                               {"jobId": job["jobId"]})
    return job_response(req, job, recovery_path(tenant, job["jobId"]), created=True)


def _recovery_job(req: func.HttpRequest) -> tuple[Engine, str, Json]:
    recovery_id = validate.job_id(req.route_params["recoveryId"], "recovery id")
    eng = engine()
    tenant = eng.tenant(req.route_params["tenantId"])
    job = eng.jobs.get_job(tenant, recovery_id)
    if job.get("jobType") != "recovery":
        raise not_found(f"no recovery {recovery_id} for tenant {tenant}")
    return eng, tenant, job


def _stored_report(eng: Engine, tenant: str, reference: str) -> str:
    """The stored report a request names: a difference-report job this API started (which
    must have finished), or a stored report's own id (one the CLI made). Both are time-form
    ids; a job names the report it stored."""
    from entra_backup.diff.reports import list_reports

    report_id = validate.job_id(reference, "reportId")
    try:
        job = eng.jobs.get_job(tenant, report_id)
    except JobNotFoundError:
        if report_id not in list_reports(eng.store, tenant):
            raise not_found(f"no difference report {report_id} for tenant {tenant}") from None
        return report_id
    if job.get("jobType") != "diffReport":
        raise not_found(f"no difference report {report_id} for tenant {tenant}")
    if job["status"] != "successful":
        raise ApiError(409, "reportNotReady", f"report {report_id} is {job['status']}")
    return str(job["reportId"])


def _change(row: Json) -> Json:
    """A result row in recoveryChangeObjectBase's words, plus our outcome and wave."""
    return {"id": row["id"], "entityTypeName": row["kind"], "recoveryAction": row["action"],
            "outcome": row["outcome"], "wave": row["wave"], "step": row["step"],
            "failureMessage": row.get("detail") if row["outcome"] == "failed" else None,
            "detail": row.get("detail")}
