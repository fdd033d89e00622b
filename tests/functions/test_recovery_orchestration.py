"""The `recovery` orchestration through the replay harness: the real orchestrator, the real
tenant_job entity and the real activities, against graphsim and Azurite.

An incident damages a snapshotted tenant; the orchestration plans, applies waves, verifies.
Checked: the job ends successful with nothing recoverable left, over several executions
(continue_as_new); a crash before every commit (so after every history event) writes to Graph
exactly what an undisturbed run writes; a cancel between waves keeps the applied changes and
ends abandoned; a second job is refused while the lease is held and a terminated holder's lease
is released; a dry run writes nothing. Every finished execution is replayed from scratch by
the harness and must give the same actions (determinism).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import pytest

from activities.recovery import bp as activities_bp
from entra_backup.capture.snapshot import capture
from entra_backup.connect import Connection
from entra_backup.store.snapshots import new_snapshot_id
from orchestrators import recovery as recovery_module
from orchestrators.recovery import bp as recovery_bp
from orchestrators.tenant_job import bp as tenant_job_bp
from tests.conftest import Sim
from tests.engine.incidents import Incident
from tests.functions.e2e import differences, graph_writes, unexplained
from tests.support.durable_harness import Harness

app = df.DFApp()
for blueprint in (recovery_bp, activities_bp, tenant_job_bp):
    app.register_functions(blueprint)

SIZE, SEED, INCIDENT_SEED = 120, 11, 5
pytestmark = pytest.mark.tenant(SIZE, SEED)


async def damaged(sim: Sim, conn: Connection, *, changes: int = 8) -> tuple[str, str]:
    """Snapshot the fresh tenant, then an incident of `changes` random operations."""
    async with conn.graph(None) as session:
        result = await capture(session, conn.store)
    Incident(sim, INCIDENT_SEED).run(changes)
    return result.tenant_id, result.snapshot_id


def new_job(conn: Connection, tenant: str) -> str:
    """What the HTTP handler does before start_new: a job record in status initialized."""
    at = datetime.now(UTC)
    recovery_id = new_snapshot_id(at)
    now = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn.jobs.create_job({"jobId": recovery_id, "tenantId": tenant, "jobType": "recovery",
                          "status": "initialized", "createdAt": now})
    return recovery_id


def job_input(tenant: str, snapshot: str, recovery_id: str, **extra: Any) -> dict[str, Any]:
    return {"tenantId": tenant, "recoveryId": recovery_id, "snapshotId": snapshot,
            "reportId": None, "selection": {"kinds": [], "objectIds": []}, "dryRun": False,
            "recreateHardDeleted": False, "reportOnlyCa": False, **extra}


def run(harness: Harness, conn: Connection, tenant: str, snapshot: str,
        **extra: Any) -> tuple[str, dict[str, Any]]:
    recovery_id = new_job(conn, tenant)
    harness.start("recovery", recovery_id, job_input(tenant, snapshot, recovery_id, **extra))
    harness.run_until_idle()
    return recovery_id, conn.jobs.get_job(tenant, recovery_id)


async def test_a_recovery_runs_over_several_executions_and_leaves_nothing_recoverable(
        sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recovery_module, "WAVES_PER_EXECUTION", 2)
    tenant, snapshot = await damaged(sim, conn)
    assert await differences(conn, tenant, snapshot)
    purged = sim.stats()["permanentDeletes"]  # by the incident itself
    harness = Harness(app)
    recovery_id, job = run(harness, conn, tenant, snapshot, waveSize=2)
    status = harness.status(recovery_id)
    assert status is not None and status["runtimeStatus"] == "Completed", status
    assert status["output"]["status"] == "successful", status["output"].get("error")
    assert job["status"] == "successful" and job["cursor"] == job["steps"] > 4
    assert job["counters"]["applied"] > 0 and job["counters"]["failed"] == 0
    assert harness.instances[recovery_id].execution >= 1  # continued as new at least once
    assert max(harness.instances[recovery_id].finished_histories) < 60
    assert harness.entity_state("tenant_job", tenant)["holder"] is None
    assert harness.replay_checks >= 2
    assert await unexplained(conn, tenant, snapshot, recovery_id) == []
    assert job["verification"]["remaining"] == len(await differences(conn, tenant, snapshot))
    assert sim.stats()["permanentDeletes"] == purged  # never one by the recovery


async def test_a_crash_before_every_commit_writes_to_graph_what_a_calm_run_writes(
        sim: Sim, conn: Connection) -> None:
    """Same tenant, same incident, twice: once undisturbed, once with every unit of work
    (episode, activity, entity batch) crashing once before its commit and running again."""
    counts = []
    for crash in (False, True):
        sim.reset(synthetic=SIZE, random_seed=SEED)
        tenant, snapshot = await damaged(sim, conn)
        harness = Harness(app)
        harness.crash_every_commit(crash)
        before = graph_writes(sim)
        _, job = run(harness, conn, tenant, snapshot, waveSize=3)
        assert job["status"] == "successful", job.get("error")
        counts.append((graph_writes(sim) - before, job["counters"]))
        if crash:
            assert harness.crashes > 10
            assert harness.activity_runs["apply_wave"] >= 2 * job["wave"]
    (calm_writes, calm_counters), (crashed_writes, crashed_counters) = counts
    assert calm_writes > 0
    assert crashed_writes == calm_writes
    assert crashed_counters == calm_counters


async def test_cancel_between_waves_keeps_what_was_applied_and_ends_abandoned(
        sim: Sim, conn: Connection) -> None:
    tenant, snapshot = await damaged(sim, conn, changes=10)
    harness = Harness(app)
    recovery_id = new_job(conn, tenant)
    harness.start("recovery", recovery_id, job_input(tenant, snapshot, recovery_id, waveSize=1))
    while harness.activity_runs["apply_wave"] < 1:
        assert harness.step() is not None
    harness.signal("tenant_job", tenant, "request_cancel", {"jobId": recovery_id})
    harness.run_until_idle()
    job = conn.jobs.get_job(tenant, recovery_id)
    assert job["status"] == "abandoned"
    assert 0 < job["cursor"] < job["steps"]
    assert job["counters"]["applied"] + job["counters"]["skipped"] >= 1
    results = list(conn.jobs.iter_results(tenant, recovery_id))
    assert results and all(r["step"] < job["cursor"] for r in results)
    assert harness.entity_state("tenant_job", tenant)["holder"] is None
    # the rest of the incident is still there: nothing after the cancel ran
    assert await unexplained(conn, tenant, snapshot, recovery_id)


async def test_a_second_job_is_refused_and_a_terminated_holders_lease_is_released(
        sim: Sim, conn: Connection) -> None:
    tenant, snapshot = await damaged(sim, conn)
    harness = Harness(app)
    first = new_job(conn, tenant)
    harness.start("recovery", first, job_input(tenant, snapshot, first))
    while (harness.entity_state("tenant_job", tenant) or {}).get("holder") != first:
        assert harness.step() is not None
    harness.terminate(first)  # the holder dies: its lease stays until someone releases it
    second, refused = run(harness, conn, tenant, snapshot)
    assert refused["status"] == "failed" and first in refused["error"]
    assert harness.entity_state("tenant_job", tenant)["holder"] == first  # stale, not freed
    # what a starter does on seeing a Terminated holder (api/, the timers)
    harness.signal("tenant_job", tenant, "force_release", {"instanceId": first})
    harness.run_until_idle()
    third, job = run(harness, conn, tenant, snapshot)
    assert job["status"] == "successful", job.get("error")
    assert second != third


async def test_a_dry_run_plans_and_writes_nothing(sim: Sim, conn: Connection) -> None:
    tenant, snapshot = await damaged(sim, conn)
    before = graph_writes(sim)
    harness = Harness(app)
    recovery_id, job = run(harness, conn, tenant, snapshot, dryRun=True)
    assert job["status"] == "successful" and job["steps"] > 0 and job["dryRun"] is True
    assert job["completedAt"]  # set with the final status: the API's jobCompletionDateTime
    assert graph_writes(sim) == before
    assert harness.status(recovery_id)["output"]["steps"] == job["steps"]
