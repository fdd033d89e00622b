"""The `diff_report` orchestration end to end: the real orchestrator, `tenant_job` entity and
activities through the replay harness, against graphsim and Azurite, after an incident.

The stored report must hold the entries `run_diff` (the CLI's `entra-backup diff`) gives for
the same snapshot and live tenant. A full live read is cut into one-page chunks of small pages
(`Prefer: odata.maxpagesize`, https://learn.microsoft.com/en-us/graph/paging) so the job
takes several waves and continues as new; a crash before every commit still stores one
report; a cancel between waves abandons the job with no report and the lease released.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import pytest

from activities.diff import bp as diff_activities_bp
from activities.recovery import bp as recovery_activities_bp
from api.jobs import instance_id, new_job
from entra_backup.capture import stages as capture_stages
from entra_backup.capture.snapshot import capture
from entra_backup.connect import Connection
from entra_backup.diff.reports import iter_entries, list_reports
from entra_backup.graph import session as session_module
from entra_backup.kinds import ALL_KINDS
from orchestrators import diff_report as diff_module
from orchestrators.diff_report import bp as diff_report_bp
from orchestrators.tenant_job import bp as tenant_job_bp
from tests.conftest import Sim
from tests.engine.incidents import Incident
from tests.functions.e2e import differences
from tests.support.durable_harness import Harness

app = df.DFApp()
for blueprint in (diff_report_bp, diff_activities_bp, recovery_activities_bp, tenant_job_bp):
    app.register_functions(blueprint)

SIZE, SEED, INCIDENT_SEED = 110, 17, 3
pytestmark = pytest.mark.tenant(SIZE, SEED)
RELEASED = {"holder": None, "jobKind": None, "jobId": None, "startedAt": None, "cancel": False}


async def damaged(sim: Sim, conn: Connection) -> tuple[str, str]:
    """A snapshot of the fresh tenant, then an incident."""
    async with conn.graph(None) as session:
        result = await capture(session, conn.store)
    Incident(sim, INCIDENT_SEED).run(10)
    return result.tenant_id, result.snapshot_id


def start(harness: Harness, conn: Connection, tenant: str, snapshot: str) -> dict[str, Any]:
    """What `POST diff-reports` does (api/reports.py): the job record, then the instance."""
    job = new_job(tenant, "diffReport", "e2e", {
        "snapshotId": snapshot, "against": "live",
        "filters": {"kinds": [], "objectIds": [], "changes": []}, "useDelta": False,
        "totalChangedObjectsCalculated": None})
    job["reportId"] = job["jobId"]
    conn.jobs.create_job(job)
    harness.start("diff_report", instance_id(job), {
        "tenantId": tenant, "jobId": job["jobId"], "reportId": job["jobId"],
        "snapshotId": snapshot, "against": "live", "kinds": [], "objectIds": [],
        "changes": [], "useDelta": False})
    return job


async def started(sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch, *,
                  waves: int = 1, crash: bool = False
                  ) -> tuple[Harness, str, str, dict[str, Any]]:
    """A damaged tenant and a diff job started on it, reading one 8-object page a chunk
    (full reads, no delta) and `waves` waves an execution."""
    tenant, snapshot = await damaged(sim, conn)
    monkeypatch.setattr(capture_stages, "CHUNK_PAGES", 1)
    monkeypatch.setattr(session_module, "DEFAULT_DELTA_HEADERS",
                        {"Prefer": "odata.maxpagesize=8"})
    monkeypatch.setattr(diff_module, "WAVES_PER_EXECUTION", waves)
    harness = Harness(app)
    harness.crash_every_commit(crash)
    return harness, tenant, snapshot, start(harness, conn, tenant, snapshot)


def finished(harness: Harness, conn: Connection, job: dict[str, Any]) -> dict[str, Any]:
    status = harness.status(instance_id(job))
    assert status is not None and status["runtimeStatus"] == "Completed", status
    record = conn.jobs.get_job(job["tenantId"], job["jobId"])
    assert record["status"] == status["output"]["status"], (record, status["output"])
    assert record["completedAt"]
    assert harness.entity_state("tenant_job", job["tenantId"]) == RELEASED
    staging = conn.store.staging()
    assert staging.list_files(job["tenantId"], job["jobId"]) == []
    return record


async def test_the_stored_report_holds_run_diffs_entries(
        sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    harness, tenant, snapshot, job = await started(sim, conn, monkeypatch)
    harness.run_until_idle()
    record = finished(harness, conn, job)
    output = harness.status(instance_id(job))["output"]
    assert output["status"] == "successful", output.get("error")
    assert record["reportId"] == output["reportId"] == job["jobId"]
    stored = list(iter_entries(conn.store, tenant, job["jobId"]))
    assert stored and record["totalChangedObjectsCalculated"] == len(stored)
    assert output["summary"]["total"] == len(stored)
    assert stored == await differences(conn, tenant, snapshot)
    instance = harness.instances[instance_id(job)]
    assert instance.execution >= 4  # users' full read alone takes many one-page chunks
    assert harness.replay_checks == instance.execution + 1


async def test_a_crash_before_every_commit_stores_one_report(
        sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    harness, tenant, _, job = await started(sim, conn, monkeypatch, waves=3, crash=True)
    harness.run_until_idle()
    record = finished(harness, conn, job)
    assert record["status"] == "successful", record.get("error")
    assert harness.crashes > 30 and harness.activity_runs["assemble_report"] == 2
    assert list_reports(conn.store, tenant) == [job["jobId"]]
    stored = list(iter_entries(conn.store, tenant, job["jobId"]))
    assert record["totalChangedObjectsCalculated"] == len(stored) > 0


async def test_a_cancel_between_waves_abandons_the_job_and_releases_the_lease(
        sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    harness, tenant, _, job = await started(sim, conn, monkeypatch)
    while harness.activity_runs["diff_kind"] < 1:
        assert harness.step() is not None
    harness.signal("tenant_job", tenant, "request_cancel", {"jobId": job["jobId"]})
    harness.run_until_idle()
    record = finished(harness, conn, job)
    assert record["status"] == "abandoned"
    assert list_reports(conn.store, tenant) == []
    assert record["totalChangedObjectsCalculated"] is None
    output = harness.status(instance_id(job))["output"]
    assert output["status"] == "abandoned" and output["kindsDone"] < len(ALL_KINDS)
    assert harness.activity_runs["assemble_report"] == 0
