"""The `diff_report` orchestrator's control flow through the replay harness, with the real
`tenant_job` entity and stand-in activities of the same names over in-memory job records:
status sequence, waves with continue_as_new, cancel between waves, a refused lease, a failed
activity, and a crash before every commit producing exactly one report."""

from __future__ import annotations

from collections import Counter
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators import diff_report as diff_module
from orchestrators.diff_report import bp as diff_report_bp
from orchestrators.tenant_job import bp as tenant_job_bp
from tests.support.durable_harness import Harness

app = df.DFApp()
app.register_functions(diff_report_bp)
app.register_functions(tenant_job_bp)

KINDS = {"users": 3, "groups": 1}  # diff_kind chunks each kind needs
JOBS: dict[str, dict[str, Any]] = {}
STATUSES: dict[str, list[str]] = {}
CHUNKS: Counter[tuple[str, int]] = Counter()
REPORTS: list[str] = []
FAIL: dict[str, bool] = {}


@app.activity_trigger(input_name="request")
def record_job(request: dict[str, Any]) -> dict[str, Any]:
    job = JOBS[request["jobId"]]
    if job["status"] in ("successful", "failed", "abandoned"):
        return {"status": job["status"]}
    job.update(request["changes"])
    STATUSES.setdefault(request["jobId"], []).append(job["status"])
    return {"status": job["status"]}


@app.activity_trigger(input_name="request")
def begin_diff(request: dict[str, Any]) -> dict[str, Any]:
    job = JOBS[request["jobId"]]
    return {"reportId": job["reportId"], "tenantId": request["tenantId"],
            "snapshotId": job["snapshotId"], "against": "live", "kinds": list(KINDS)}


@app.activity_trigger(input_name="request")
def diff_kind(request: dict[str, Any]) -> dict[str, Any]:
    if FAIL.get("diff"):
        raise RuntimeError("Graph answered 403 for groups")
    kind, chunk = request["kind"], (request["cursor"] or {}).get("chunk", 0)
    CHUNKS[(kind, chunk)] += 1
    done = chunk + 1 >= KINDS[kind]
    return {"kind": kind, "done": done, "cursor": None if done else {"chunk": chunk + 1},
            "entries": 2}


@app.activity_trigger(input_name="request")
def assemble_report(request: dict[str, Any]) -> dict[str, Any]:
    report_id = request["begun"]["reportId"]
    if report_id not in REPORTS:  # write-once
        REPORTS.append(report_id)
    total = sum(k["entries"] for k in request["kinds"])
    JOBS[request["jobId"]]["totalChangedObjectsCalculated"] = total
    return {"reportId": report_id, "summary": {"total": total}}


@pytest.fixture
def harness() -> Harness:
    for store in (JOBS, STATUSES, FAIL):
        store.clear()
    CHUNKS.clear()
    REPORTS.clear()
    return Harness(app)


def start(harness: Harness, job_id: str) -> None:
    JOBS[job_id] = {"status": "initialized", "reportId": job_id, "snapshotId": "s1"}
    harness.start("diff_report", job_id, {"tenantId": "contoso", "jobId": job_id})


def lease(harness: Harness) -> dict[str, Any]:
    return dict(harness.entity_state("tenant_job", "contoso"))


def test_statuses_waves_and_continue_as_new_end_successful_with_the_lease_released(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diff_module, "WAVES_PER_EXECUTION", 2)
    start(harness, "d1")
    harness.run_until_idle()
    status = harness.status("d1")
    assert status["output"] == {"jobId": "d1", "status": "successful", "reportId": "d1",
                                "summary": {"total": 8}}
    assert STATUSES["d1"] == ["calculating", "running", "successful"]
    assert harness.instances["d1"].execution == 1  # users need 3 waves, 2 per execution
    assert dict(CHUNKS) == {("users", 0): 1, ("users", 1): 1, ("users", 2): 1,
                            ("groups", 0): 1}
    assert REPORTS == ["d1"]
    assert lease(harness)["holder"] is None


def test_crash_before_every_commit_makes_one_report(harness: Harness) -> None:
    harness.crash_every_commit()
    start(harness, "d1")
    harness.run_until_idle()
    assert harness.status("d1")["output"]["status"] == "successful"
    assert REPORTS == ["d1"]
    assert STATUSES["d1"][-1] == "successful"
    assert lease(harness)["holder"] is None


def test_cancel_between_waves_abandons_and_releases(harness: Harness) -> None:
    start(harness, "d1")
    while (harness.status("d1")["customStatus"] or {}).get("wave") != 1:
        assert harness.step() is not None
    harness.signal("tenant_job", "contoso", "request_cancel", {"jobId": "d1"})
    harness.run_until_idle()
    status = harness.status("d1")
    assert status["output"]["status"] == "abandoned"
    assert JOBS["d1"]["status"] == "abandoned"
    assert REPORTS == []
    assert CHUNKS[("users", 2)] == 0  # the last wave never ran
    assert lease(harness) == {"holder": None, "jobKind": None, "jobId": None,
                              "startedAt": None, "cancel": False}


def test_a_second_job_for_the_tenant_fails_naming_the_holder(harness: Harness) -> None:
    start(harness, "d1")
    while lease_holder(harness) != "d1":
        assert harness.step() is not None
    start(harness, "d2")
    harness.run_until_idle()
    refused = harness.status("d2")["output"]
    assert refused["status"] == "failed"
    assert "diffReport job d1" in refused["error"]
    assert JOBS["d2"] == {**JOBS["d2"], "status": "failed", "error": refused["error"]}
    assert harness.status("d1")["output"]["status"] == "successful"
    assert lease(harness)["holder"] is None  # d2 never released what d1 held; d1 did


def lease_holder(harness: Harness) -> str | None:
    state = harness.entity_state("tenant_job", "contoso")
    return None if state is None else state.get("holder")


def test_a_failed_activity_fails_the_job_and_releases(harness: Harness) -> None:
    FAIL["diff"] = True
    start(harness, "d1")
    harness.run_until_idle()
    output = harness.status("d1")["output"]
    assert output["status"] == "failed"
    assert "Graph answered 403" in output["error"]
    assert JOBS["d1"]["status"] == "failed"
    assert REPORTS == []
    assert lease(harness)["holder"] is None
