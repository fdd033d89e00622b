"""Activities of the `diff_report` orchestration: begin_diff, diff_kind, assemble_report,
discard_diff (an abandoned or failed job's staging).
Thin doors over entra_backup.diff.stages: small JSON in and out, the entries themselves meet
in the store (staging chunks, then the report).

The request comes in the orchestration's input (the HTTP handler's, small: ids and filters),
or from the job record the handler wrote. assemble_report also puts the report id and
its total on the job record (where the API reads them); record_job (shared with `recovery`)
moves the status.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.capture import connection

bp = df.Blueprint()
Json = dict[str, Any]


def diff_request(job: Json) -> Json:
    """The stage's request from a diffReport job record (fields as api/reports.py stores)."""
    filters = job.get("filters") or {}
    return {"tenantId": job["tenantId"], "jobId": job["jobId"],
            "reportId": job.get("reportId") or job["jobId"],
            "snapshotId": job["snapshotId"], "against": job.get("against") or "live",
            "kinds": list(filters.get("kinds") or []),
            "objectIds": list(filters.get("objectIds") or []),
            "changes": list(filters.get("changes") or []),
            "useDelta": bool(job.get("useDelta", True))}


@bp.activity_trigger(input_name="request")
async def begin_diff(request: Json) -> Json:
    """The orchestration's request ({"tenantId", "jobId", "reportId", "snapshotId", "against",
    "kinds", "objectIds", "changes", "useDelta"}; with only tenantId and jobId, the job
    record's) -> begun {"reportId", "tenantId", "snapshotId", "against", "kinds", ...}."""
    from entra_backup.diff import stages

    conn = connection()
    if "snapshotId" not in request:
        job = conn.jobs.get_job(request["tenantId"], request["jobId"])
        if job.get("jobType") != "diffReport":
            raise ValueError(f"job {request['jobId']} is not a diff report")
        request = diff_request(job)
    begun: Json = await stages.begin_diff(conn, request)
    return begun


@bp.activity_trigger(input_name="request")
async def diff_kind(request: Json) -> Json:
    """{"begun", "kind", "cursor"} -> {"kind", "done", "cursor", "entries"}: one chunk."""
    from entra_backup.diff import stages

    result: Json = await stages.diff_kind(connection(), request["begun"], request["kind"],
                                          request.get("cursor"))
    return result


@bp.activity_trigger(input_name="request")
async def assemble_report(request: Json) -> Json:
    """{"jobId", "begun", "kinds": [diff_kind results]} -> {"reportId", "summary"}; the job
    record gets reportId and totalChangedObjectsCalculated."""
    from entra_backup.diff import stages

    conn = connection()
    begun = request["begun"]
    report: Json = await stages.assemble_report(conn, begun, request["kinds"])
    total = (report.get("summary") or {}).get("total")
    conn.jobs.update_job(begun["tenantId"], request["jobId"], {
        "reportId": report["reportId"], "totalChangedObjectsCalculated": total})
    return report


@bp.activity_trigger(input_name="request")
async def discard_diff(request: Json) -> Json:
    """{"begun"} -> {"reportId"}: staging of a report that will not be assembled, deleted."""
    from entra_backup.diff import stages

    result: Json = await stages.discard_diff(connection(), request["begun"])
    return result
