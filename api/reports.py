"""Difference reports: start one (`POST diff-reports`), follow it, and read its entries
filtered, paged and in any export format, always from the stored report (never recomputed)."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator
from typing import Any, Final

import azure.durable_functions as df
import azure.functions as func

from api import validate
from api.auth import ADMINISTRATOR, READER, authorize
from api.engine import Engine, engine
from api.errors import ApiError, bad_request, json_response, not_found, responds
from api.jobs import (
    ensure_tenant_free,
    job_response,
    new_job,
    next_link,
    observed,
    start_job,
)
from entra_backup.kinds import get_kind
from entra_backup.types import Json

bp = df.Blueprint()

ORCHESTRATOR: Final = "diff_report"
_BODY: Final = ("snapshotId", "against", "kinds", "objectIds", "changes", "useDelta")
_OBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def report_path(tenant_id: str, report_id: str) -> str:
    return f"tenants/{tenant_id}/diff-reports/{report_id}"


@bp.route(route="tenants/{tenantId}/diff-reports", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def start_diff_report(req: func.HttpRequest,
                            client: df.DurableOrchestrationClient) -> func.HttpResponse:
    from entra_backup.diff.run import DiffRequest

    principal = authorize(req, ADMINISTRATOR)
    validate.Query.of(req)
    body = validate.body_object(req, _BODY)
    request = DiffRequest(
        tenant_id="", snapshot_id=validate.text(body, "snapshotId"),
        against=validate.text(body, "against", default="live"),
        kinds=validate.texts(body, "kinds"), object_ids=validate.texts(body, "objectIds"),
        changes=validate.texts(body, "changes"),
        use_delta=validate.flag(body, "useDelta", default=True))
    try:
        request.validated()
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    eng = engine()
    tenant = eng.tenant(req.route_params["tenantId"])
    stored = eng.store.list_snapshots(tenant)
    for snapshot in {request.snapshot_id, request.against} - {"live"}:
        if snapshot not in stored:
            raise not_found(f"no snapshot {snapshot} for tenant {tenant}")
    await ensure_tenant_free(client, tenant)
    job = new_job(tenant, "diffReport", principal.name, {
        "snapshotId": request.snapshot_id, "against": request.against,
        "filters": {"kinds": request.kinds, "objectIds": request.object_ids,
                    "changes": request.changes},
        "useDelta": request.use_delta, "totalChangedObjectsCalculated": None})
    job["reportId"] = job["jobId"]  # where the report is stored; the orchestration may move it
    await start_job(client, eng.jobs, job, ORCHESTRATOR, {
        "reportId": job["reportId"], "snapshotId": request.snapshot_id,
        "against": request.against, "kinds": request.kinds, "objectIds": request.object_ids,
        "changes": request.changes, "useDelta": request.use_delta})
    return job_response(req, job, report_path(tenant, job["jobId"]), created=True)


@bp.route(route="tenants/{tenantId}/diff-reports/{reportId}", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def get_diff_report(req: func.HttpRequest,
                          client: df.DurableOrchestrationClient) -> func.HttpResponse:
    authorize(req, READER)
    validate.Query.of(req)
    eng, tenant, job = _report_job(req)
    job = await observed(client, job)
    extra: dict[str, Any] = {}
    if job["status"] == "successful":
        from entra_backup.diff.reports import load_header

        extra["summary"] = load_header(eng.store, tenant, job["reportId"]).get("summary")
    return job_response(req, job, report_path(tenant, job["jobId"]), extra=extra)


@bp.route(route="tenants/{tenantId}/diff-reports/{reportId}/entries", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
@responds
async def list_diff_report_entries(req: func.HttpRequest) -> func.HttpResponse:
    from entra_backup.diff.export import EXPORTERS, MEDIA_TYPES
    from entra_backup.diff.reports import iter_entries, load_header

    authorize(req, READER)
    query = validate.Query.of(req, ("kind", "changeType", "id", "format"))
    fmt = query.get("format")
    if fmt is not None and fmt not in EXPORTERS:
        raise bad_request(f"unknown format {fmt[:40]!r} (known: {', '.join(EXPORTERS)})")
    kinds, changes, ids = query.listed("kind"), query.listed("changeType"), query.listed("id")
    _check_filters(kinds, changes, ids)
    top, skip = query.top(), query.skip()
    eng, tenant, job = _report_job(req)
    if job["status"] != "successful":
        raise ApiError(409, "reportNotReady",
                       f"report {job['jobId']} is {job['status']}; entries exist once it is "
                       "successful")
    header = load_header(eng.store, tenant, job["reportId"])
    wanted = _filtered(iter_entries(eng.store, tenant, job["reportId"]), kinds, changes, ids)
    page = list(itertools.islice(wanted, skip, skip + top + 1))
    link = None
    if len(page) > top:
        page = page[:top]
        link = next_link(req, f"{report_path(tenant, job['jobId'])}/entries", query, skip + top)
    if fmt is None:
        body: Json = {"value": page}
        if link:
            body["@odata.nextLink"] = link
        return json_response(body)
    out = io.BytesIO()
    EXPORTERS[fmt](header, page, out)
    headers = {"Link": f'<{link}>; rel="next"'} if link else {}
    return func.HttpResponse(out.getvalue(), status_code=200, headers=headers,
                             mimetype=MEDIA_TYPES[fmt].split(";")[0], charset="utf-8")


def _report_job(req: func.HttpRequest) -> tuple[Engine, str, Json]:
    """The engine, tenant and diff-report job a route names; 400/404 as the ids deserve."""
    report_id = validate.job_id(req.route_params["reportId"], "report id")
    eng = engine()
    tenant = eng.tenant(req.route_params["tenantId"])
    job = eng.jobs.get_job(tenant, report_id)
    if job.get("jobType") != "diffReport":
        raise not_found(f"no difference report {report_id} for tenant {tenant}")
    return eng, tenant, job


def _check_filters(kinds: list[str], changes: list[str], ids: list[str]) -> None:
    from entra_backup.diff.report_schema import CHANGES

    try:
        for kind in kinds:
            get_kind(kind)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    for change in changes:
        if change not in CHANGES:
            raise bad_request(f"unknown changeType {change[:40]!r} (known: {', '.join(CHANGES)})")
    for object_id in ids:
        if not _OBJECT_ID.fullmatch(object_id):
            raise bad_request(f"malformed object id {object_id[:60]!r}")


def _filtered(entries: Iterator[Json], kinds: list[str], changes: list[str],
              ids: list[str]) -> Iterator[Json]:
    for entry in entries:
        if ((not kinds or entry["kind"] in kinds) and (not changes or entry["change"] in changes)
                and (not ids or entry["id"] in ids)):
            yield entry
