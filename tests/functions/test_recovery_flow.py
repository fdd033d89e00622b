"""The `recovery` orchestrator's control flow through the replay harness, with stand-in
activities of the same names over an in-memory job, so each control-flow branch is reached in
milliseconds (the engine-backed activities run against graphsim and Azurite in
test_recovery_orchestration.py). The orchestrator and the tenant_job entity are the real
ones; the stand-ins keep the activities' contract: small JSON in and out, idempotent repeats.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators import recovery as recovery_module
from orchestrators.recovery import bp as recovery_bp
from orchestrators.tenant_job import bp as tenant_job_bp
from tests.support.durable_harness import Harness

app = df.DFApp()
app.register_functions(recovery_bp)
app.register_functions(tenant_job_bp)

JOBS: dict[str, dict[str, Any]] = {}
APPLIED: list[int] = []  # the plan steps "written", to count duplicates
STEPS = 7


@app.activity_trigger(input_name="request")
def plan_recovery(request: dict[str, Any]) -> dict[str, Any]:
    job = JOBS[request["recoveryId"]]
    job.update(steps=STEPS, cursor=0, wave=0)
    return {"steps": STEPS, "reportId": "report-1"}


@app.activity_trigger(input_name="request")
def apply_wave(request: dict[str, Any]) -> dict[str, Any]:
    job = JOBS[request["recoveryId"]]
    if job["cursor"] == request["cursor"]:  # else: applied already (a repeated activity)
        stop = min(STEPS, job["cursor"] + request["waveSize"])
        APPLIED.extend(range(job["cursor"], stop))
        job.update(cursor=stop, wave=job["wave"] + 1)
    return {"cursor": job["cursor"], "wave": job["wave"], "counters": {"applied": job["cursor"]}}


@app.activity_trigger(input_name="request")
def verify_recovery(request: dict[str, Any]) -> dict[str, Any]:
    job = JOBS[request["recoveryId"]]
    job["status"] = "successful" if job["cursor"] == STEPS else "failed"
    return {"status": job["status"], "remaining": 0, "recoverableRemaining": 0}


@app.activity_trigger(input_name="request")
def record_job(request: dict[str, Any]) -> dict[str, Any]:
    job = JOBS[request["recoveryId"]]
    job.update(request["changes"])
    return {"status": job["status"]}


@pytest.fixture
def harness() -> Harness:
    JOBS.clear()
    APPLIED.clear()
    return Harness(app)


def start(harness: Harness, recovery_id: str, **extra: Any) -> None:
    JOBS[recovery_id] = {"status": "initialized"}
    harness.start("recovery", recovery_id, {
        "tenantId": "contoso", "recoveryId": recovery_id, "snapshotId": "s1", "reportId": None,
        "selection": {"kinds": [], "objectIds": []}, "dryRun": False,
        "recreateHardDeleted": False, "reportOnlyCa": False, "waveSize": 2, **extra})


def lease(harness: Harness) -> dict[str, Any]:
    return dict(harness.entity_state("tenant_job", "contoso"))


def test_waves_continue_as_new_and_end_successful_with_the_lease_released(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recovery_module, "WAVES_PER_EXECUTION", 2)
    start(harness, "r1")
    statuses = []
    while harness.step() is not None:
        statuses.append(harness.status("r1")["runtimeStatus"])
    status = harness.status("r1")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"recoveryId": "r1", "status": "successful", "remaining": 0}
    assert "ContinuedAsNew" in statuses
    assert harness.instances["r1"].execution == 1  # 4 waves of 2 steps, 2 waves per execution
    assert max(harness.instances["r1"].finished_histories) < 40
    assert list(range(STEPS)) == APPLIED
    assert JOBS["r1"]["status"] == "successful"
    assert lease(harness)["holder"] is None
    assert harness.replay_checks == 2  # each execution replayed from scratch, same actions


def test_crash_before_every_commit_applies_each_step_once(harness: Harness) -> None:
    harness.crash_every_commit()
    start(harness, "r1")
    harness.run_until_idle()
    assert harness.status("r1")["output"]["status"] == "successful"
    assert harness.activity_runs["apply_wave"] == 2 * 4
    assert list(range(STEPS)) == APPLIED
    assert lease(harness)["holder"] is None


def test_cancel_between_waves_abandons_and_keeps_applied_steps(harness: Harness) -> None:
    start(harness, "r1")
    while (harness.status("r1")["customStatus"] or {}).get("wave") != 1:
        assert harness.step() is not None
    harness.signal("tenant_job", "contoso", "request_cancel", {"jobId": "r1"})
    harness.run_until_idle()
    status = harness.status("r1")
    assert status["output"]["status"] == "abandoned"
    # the episode that showed wave 1 had already asked for the flag: seen before wave 3
    assert status["output"]["cursor"] == 4
    assert JOBS["r1"]["status"] == "abandoned"
    assert APPLIED == [0, 1, 2, 3]  # applied changes stay
    assert lease(harness)["holder"] is None


def test_second_job_is_refused_naming_the_holder(harness: Harness) -> None:
    start(harness, "r1")
    harness.step()  # r1's first episode asks for the lease
    harness.step()  # the entity grants it
    start(harness, "r2")
    harness.run_until_idle()
    refused = harness.status("r2")["output"]
    assert refused["status"] == "failed"
    assert "recovery job r1" in refused["error"]
    assert JOBS["r2"]["status"] == "failed" and "r1" in JOBS["r2"]["error"]
    assert harness.status("r1")["output"]["status"] == "successful"
    assert lease(harness)["holder"] is None


def test_a_terminated_holder_leaves_a_stale_lease_that_force_release_clears(
        harness: Harness) -> None:
    start(harness, "r1")
    while lease_holder(harness) != "r1":
        harness.step()
    harness.terminate("r1", "operator")
    harness.run_until_idle()
    assert lease(harness)["holder"] == "r1"  # terminate runs no orchestrator code
    # what a starter does on seeing a holder that is Terminated (CONTRACT-9)
    assert harness.status("r1")["runtimeStatus"] == "Terminated"
    harness.signal("tenant_job", "contoso", "force_release", {"instanceId": "r1"})
    start(harness, "r2")
    harness.run_until_idle()
    assert harness.status("r2")["output"]["status"] == "successful"
    assert lease(harness)["holder"] is None


def test_a_failing_activity_fails_the_job_and_releases_the_lease(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("Graph said no")

    monkeypatch.setitem(harness.activities, "apply_wave", (broken, "request"))
    start(harness, "r1")
    harness.run_until_idle()
    output = harness.status("r1")["output"]
    assert output["status"] == "failed" and "Graph said no" in output["error"]
    assert JOBS["r1"]["status"] == "failed"
    assert lease(harness)["holder"] is None


def lease_holder(harness: Harness) -> str | None:
    state = harness.entity_state("tenant_job", "contoso")
    return None if state is None else state["holder"]
