"""Activities of the `recovery` orchestration: plan_recovery, apply_wave, verify_recovery,
record_job. Thin doors: small JSON in, one engine stage through `connect(Settings.from_env())`,
small JSON out (never the plan or results themselves: those meet in the store).

Each may run more than once (a host crash after it ran but before its completion was
recorded): each first looks at the job record and returns what an earlier run stored instead
of redoing it, so a repeat changes nothing in Graph or in the job's counters.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()
Json = dict[str, Any]
FINAL = ("successful", "failed", "abandoned")


def _connection() -> Any:
    from entra_backup.connect import connect
    from entra_backup.settings import Settings

    return connect(Settings.from_env())


def _open_job(request: Json) -> tuple[Any, str, str, Json]:
    """The connection, tenant, recovery id and current job record of a request."""
    connection = _connection()
    tenant, recovery_id = request["tenantId"], request["recoveryId"]
    return connection, tenant, recovery_id, connection.jobs.get_job(tenant, recovery_id)


def _wave_answer(job: Json) -> Json:
    return {"cursor": job["cursor"], "wave": job["wave"], "counters": job["counters"]}


@bp.activity_trigger(input_name="request")
async def plan_recovery(request: Json) -> Json:
    """Report (fresh, or the given one re-checked against live) -> stored plan; the job gets
    the plan's fields. Returns {"steps", "reportId"}."""
    from entra_backup.diff.reports import load_header
    from entra_backup.errors import SnapshotIntegrityError
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan
    from entra_backup.recover.run import check_not_stale, fresh_report, new_job
    from entra_backup.store.verify import verify_snapshot

    connection, tenant, recovery_id, job = _open_job(request)
    if job.get("steps") is not None:  # planned by an earlier run of this activity
        return {"steps": job["steps"], "reportId": job["reportId"]}
    store, snapshot_id = connection.store, request["snapshotId"]
    checked = verify_snapshot(store, tenant, snapshot_id)
    if not checked.ok:
        raise SnapshotIntegrityError(
            f"snapshot {snapshot_id} failed verification: {checked.problems[0]}")
    wanted = request.get("selection") or {}
    selection = Selection(kinds=list(wanted.get("kinds") or []),
                          object_ids=list(wanted.get("objectIds") or [])).validated()
    report_id = request.get("reportId")
    if report_id and load_header(store, tenant, report_id)["snapshotId"] != snapshot_id:
        raise ValueError(f"report {report_id} is not of snapshot {snapshot_id}")
    async with connection.graph(tenant) as session:
        if report_id:
            await check_not_stale(store, session, tenant, report_id)
        else:
            report_id = await fresh_report(store, session, tenant, snapshot_id,
                                           selection.kinds, selection.object_ids)
    options = PlanOptions(recreate_hard_deleted=bool(request.get("recreateHardDeleted")),
                          report_only_ca=bool(request.get("reportOnlyCa")),
                          break_glass=list(connection.settings.break_glass))
    plan = build_plan(store, tenant, report_id, selection, options, recovery_id=recovery_id)
    fields = new_job(plan, dry_run=bool(request.get("dryRun")))
    for key in ("jobId", "tenantId", "jobType", "status", "createdAt", "updatedAt"):
        fields.pop(key)
    connection.jobs.update_job(tenant, recovery_id, fields)
    return {"steps": plan["steps"], "reportId": report_id}


@bp.activity_trigger(input_name="request")
async def apply_wave(request: Json) -> Json:
    """One wave from `cursor` (results and cursor recorded in the job store).
    Returns {"cursor", "wave", "counters"}."""
    from entra_backup.recover.run import run_waves

    connection, tenant, recovery_id, job = _open_job(request)
    if job["cursor"] != request["cursor"]:  # this wave was applied and recorded already
        return _wave_answer(job)
    async with connection.graph(tenant) as session:
        job = await run_waves(session, connection.store, connection.jobs, tenant, recovery_id,
                              wave_size=int(request["waveSize"]), max_waves=1)
    return _wave_answer(job)


@bp.activity_trigger(input_name="request")
async def verify_recovery(request: Json) -> Json:
    """Re-diff the recovered scope; the job becomes successful or failed.
    Returns {"status", "remaining", "recoverableRemaining"}."""
    from entra_backup.recover.run import verify_recovery as verify

    connection, tenant, recovery_id, job = _open_job(request)
    if job["status"] not in FINAL or not job.get("verification"):
        async with connection.graph(tenant) as session:
            job = await verify(connection.store, session, connection.jobs, tenant, recovery_id)
    verification = job["verification"]
    return {"status": job["status"], "remaining": verification["remaining"],
            "recoverableRemaining": verification["recoverableRemaining"]}


@bp.activity_trigger(input_name="request")
def record_job(request: Json) -> Json:
    """Set the job's status (and error); a final status is never moved back to a running one.
    Shared by `recovery` ({"recoveryId"}) and `diff_report` ({"jobId"}). Returns {"status"}."""
    changes = {k: v for k, v in (request.get("changes") or {}).items()
               if k in ("status", "error")}
    connection = _connection()
    tenant, job_id = request["tenantId"], request.get("jobId") or request["recoveryId"]
    job = connection.jobs.get_job(tenant, job_id)
    if job["status"] in FINAL and changes.get("status") not in FINAL:
        return {"status": job["status"]}
    if changes.get("status") in FINAL and not job.get("completedAt"):
        from entra_backup.recover.jobs.base import iso_now

        changes["completedAt"] = iso_now()  # the API's jobCompletionDateTime
    job = connection.jobs.update_job(tenant, job_id, changes)
    return {"status": job["status"]}
