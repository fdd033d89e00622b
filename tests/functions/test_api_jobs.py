"""The long-operation pattern a Logic App follows (202 + Location + Retry-After, then 200 when
final), the tenant lease, cancellation, report entries and backups, through the registered
functions with real HttpRequest objects and the SDK's own durable client.

Logic Apps' HTTP action polls `Location` while it gets 202 and honours `Retry-After`
(https://learn.microsoft.com/en-us/azure/connectors/connectors-native-http); statuses and
counters are the native service's
(https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoveryjobbase).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from urllib.parse import urlsplit

from tests.functions.api_helpers import HOST, entry, seed_report, seed_snapshot
from tests.functions.conftest import World

SNAPSHOT = "20261201T020000.000Z"


_ids = itertools.count()


def new_id() -> str:
    """A fresh time-form job id, the shape the API and the engine make."""
    n = next(_ids)
    return f"20261201T07{n // 60:02d}{n % 60:02d}.000Z"


def instance(kind: str, tenant: str, job_id: str) -> str:
    """The orchestration instance the API starts for a job (unique across tenants)."""
    return f"{kind}-{tenant}-{job_id}"


def _path(location: str) -> str:
    url = urlsplit(location)
    assert f"{url.scheme}://{url.netloc}" == HOST and url.path.startswith("/api/")
    return url.path[len("/api/"):] + (f"?{url.query}" if url.query else "")


def test_diff_report_answers_202_then_200_when_the_job_is_final(world: World) -> None:
    seed_snapshot(world.engine.store, world.tenant, SNAPSHOT)
    answer = world.api.post(f"tenants/{world.tenant}/diff-reports",
                            body={"snapshotId": SNAPSHOT, "kinds": ["users"]})
    assert answer.status == 202, answer.body
    job_id = answer.json()["id"]
    assert answer.headers["Location"] == f"{HOST}/api/tenants/{world.tenant}/diff-reports/{job_id}"
    assert answer.headers["Retry-After"] == "30"
    assert "code=" not in answer.headers["Location"]
    assert world.durable.started == [("diff_report", instance("diffReport", world.tenant, job_id), {
        "tenantId": world.tenant, "jobId": job_id, "reportId": job_id, "snapshotId": SNAPSHOT,
        "against": "live", "kinds": ["users"], "objectIds": [], "changes": [],
        "useDelta": True})]
    record = world.engine.jobs.get_job(world.tenant, job_id)
    assert record["status"] == "initialized" and record["jobType"] == "diffReport"
    assert record["filters"] == {"kinds": ["users"], "objectIds": [], "changes": []}
    assert record["snapshotId"] == SNAPSHOT and record["against"] == "live"

    location = _path(answer.headers["Location"])
    polled = world.api.get(location)
    assert polled.status == 202 and polled.json()["status"] == "initialized"
    assert polled.headers["Location"] == answer.headers["Location"]
    world.engine.jobs.update_job(world.tenant, job_id, {"status": "calculating"})
    world.durable.set_status(instance("diffReport", world.tenant, job_id), "Running")
    assert world.api.get(location).json()["status"] == "calculating"

    seed_report(world.engine.store, world.engine.jobs, world.tenant, new_id(),
                [entry("u1")], report_id="20261201T040000.000Z")
    world.engine.jobs.update_job(world.tenant, job_id, {
        "status": "successful", "reportId": "20261201T040000.000Z",
        "completedAt": "2026-12-01T04:00:00Z", "totalChangedObjectsCalculated": 1})
    world.durable.set_status(instance("diffReport", world.tenant, job_id), "Completed")
    done = world.api.get(location)
    assert done.status == 200 and "Location" not in done.headers
    body = done.json()
    assert body["status"] == "successful" and body["summary"]["total"] == 1
    assert body["jobCompletionDateTime"] == "2026-12-01T04:00:00Z"
    assert body["targetStateDateTime"].startswith("2026-12-01T02:00:00")


def test_a_failed_job_is_reported_failed_not_successful(world: World) -> None:
    seed_snapshot(world.engine.store, world.tenant, SNAPSHOT)
    first = world.api.post(f"tenants/{world.tenant}/diff-reports", body={"snapshotId": SNAPSHOT})
    job_id = first.json()["id"]
    world.engine.jobs.update_job(world.tenant, job_id, {"status": "failed", "error": "boom"})
    answer = world.api.get(f"tenants/{world.tenant}/diff-reports/{job_id}")
    assert answer.status == 200 and answer.json()["status"] == "failed"
    assert answer.json()["error"] == "boom"


def test_an_orchestration_that_died_unrecorded_reads_as_failed(world: World) -> None:
    """Terminated (or crashed) before record_job ran: a Logic App must not poll for ever."""
    seed_snapshot(world.engine.store, world.tenant, SNAPSHOT)
    job_id = world.api.post(f"tenants/{world.tenant}/diff-reports",
                            body={"snapshotId": SNAPSHOT}).json()["id"]
    world.engine.jobs.update_job(world.tenant, job_id, {"status": "running"})
    world.durable.set_status(instance("diffReport", world.tenant, job_id), "Terminated")
    answer = world.api.get(f"tenants/{world.tenant}/diff-reports/{job_id}")
    assert answer.status == 200 and answer.json()["status"] == "failed"
    assert "Terminated" in answer.json()["error"]


def test_a_live_lease_holder_answers_409_naming_the_running_job(world: World) -> None:
    seed_snapshot(world.engine.store, world.tenant, SNAPSHOT)
    world.durable.hold_lease(world.tenant, "a" * 32, "a" * 32, kind="recovery")
    world.durable.set_status("a" * 32, "Running", name="recovery")
    answer = world.api.post(f"tenants/{world.tenant}/diff-reports", body={"snapshotId": SNAPSHOT})
    assert answer.status == 409
    assert answer.error["code"] == "conflict" and "a" * 32 in answer.error["message"]
    assert "recovery" in answer.error["message"]
    assert world.durable.started == [] and world.durable.signals == []
    assert world.engine.jobs.list_jobs(world.tenant) == []


def test_a_stale_lease_is_released_and_the_job_started(world: World) -> None:
    seed_snapshot(world.engine.store, world.tenant, SNAPSHOT)
    for holder, runtime in (("b" * 32, "Failed"), ("c" * 32, None)):
        world.durable.started.clear()
        world.durable.signals.clear()
        world.durable.hold_lease(world.tenant, holder, holder)
        if runtime:
            world.durable.set_status(holder, runtime)
        answer = world.api.post(f"tenants/{world.tenant}/diff-reports",
                                body={"snapshotId": SNAPSHOT})
        assert answer.status == 202, answer.body
        assert world.durable.signals == [("tenant_job", world.tenant, "force_release",
                                          {"instanceId": holder})]
        assert [name for name, _, _ in world.durable.started] == ["diff_report"]


def test_recovery_from_a_finished_report_then_results_paged(world: World) -> None:
    report_job = new_id()
    seed_report(world.engine.store, world.engine.jobs, world.tenant, report_job,
                [entry("u1"), entry("u2", change="deleted")])
    answer = world.api.post(f"tenants/{world.tenant}/recoveries", body={
        "reportId": report_job, "selection": {"kinds": ["users"]}, "dryRun": True,
        "reportOnlyCa": True})
    assert answer.status == 202, answer.body
    recovery = answer.json()["id"]
    assert answer.headers["Location"] == f"{HOST}/api/tenants/{world.tenant}/recoveries/{recovery}"
    assert world.durable.started == [("recovery", instance("recovery", world.tenant, recovery), {
        "tenantId": world.tenant, "jobId": recovery, "recoveryId": recovery,
        "snapshotId": SNAPSHOT, "reportId": "20261201T030000.000Z",
        "selection": {"kinds": ["users"], "objectIds": []}, "dryRun": True,
        "recreateHardDeleted": False, "reportOnlyCa": True})]
    record = world.engine.jobs.get_job(world.tenant, recovery)
    assert record["reportId"] == "20261201T030000.000Z" and record["diffReportId"] == report_job
    assert record["dryRun"] is True and record["selection"] == {"kinds": ["users"],
                                                                "objectIds": []}
    assert record["options"] == {"recreateHardDeleted": False, "reportOnlyCa": True}
    assert (record["cursor"], record["wave"], record["status"]) == (0, 0, "initialized")

    rows = [{"step": i, "kind": "users", "id": f"u{i}", "action": "restore",
             "outcome": "failed" if i == 1 else "applied", "detail": "nope" if i == 1 else None,
             "at": "2026-12-01T05:00:00Z", "wave": 1} for i in range(3)]
    world.engine.jobs.record_results(world.tenant, recovery, rows)
    world.engine.jobs.update_job(world.tenant, recovery, {
        "status": "successful", "totalObjectsModified": 2, "totalFailedChanges": 1})
    first = world.api.get(f"tenants/{world.tenant}/recoveries/{recovery}?$top=2")
    assert first.status == 200
    body = first.json()
    assert (body["totalObjectsModified"], body["totalFailedChanges"]) == (2, 1)
    assert [r["id"] for r in body["results"]] == ["u0", "u1"]
    assert body["results"][1]["failureMessage"] == "nope"
    rest = world.api.get(_path(body["results@odata.nextLink"])).json()
    assert [r["id"] for r in rest["results"]] == ["u2"] and "results@odata.nextLink" not in rest
    listed = world.api.get(f"tenants/{world.tenant}/recoveries").json()["value"]
    assert [job["id"] for job in listed] == [recovery]


def test_recovery_refuses_unfinished_and_snapshot_to_snapshot_reports(world: World) -> None:
    running, between = new_id(), new_id()
    seed_report(world.engine.store, world.engine.jobs, world.tenant, running, [entry("u1")],
                status="running")
    seed_report(world.engine.store, world.engine.jobs, world.tenant, between, [entry("u1")],
                report_id="20261201T050000.000Z", against="20261202T020000.000Z")
    path = f"tenants/{world.tenant}/recoveries"
    assert world.api.post(path, body={"reportId": running}).status == 409
    assert world.api.post(path, body={"reportId": between}).status == 400
    assert world.api.post(path, body={"reportId": new_id()}).status == 404
    assert world.durable.started == []


def test_cancel_signals_the_lease_and_refuses_final_or_unknown_jobs(world: World) -> None:
    report_job = new_id()
    seed_report(world.engine.store, world.engine.jobs, world.tenant, report_job, [entry("u1")])
    recovery = world.api.post(f"tenants/{world.tenant}/recoveries",
                              body={"reportId": report_job}).json()["id"]
    answer = world.api.post(f"tenants/{world.tenant}/recoveries/{recovery}/cancel")
    assert answer.status == 202
    assert answer.headers["Location"] == f"{HOST}/api/tenants/{world.tenant}/recoveries/{recovery}"
    assert world.durable.signals == [("tenant_job", world.tenant, "request_cancel",
                                      {"jobId": recovery})]
    world.engine.jobs.update_job(world.tenant, recovery, {"status": "abandoned"})
    assert world.api.post(f"tenants/{world.tenant}/recoveries/{recovery}/cancel").status == 409
    unknown = world.api.post(f"tenants/{world.tenant}/recoveries/{new_id()}/cancel")
    assert unknown.status == 404 and unknown.error["code"] == "notFound"
    assert world.api.post(f"tenants/{world.tenant}/recoveries/nope/cancel").status == 400
    assert len(world.durable.signals) == 1


def test_entries_filter_page_and_export_from_the_stored_report(world: World) -> None:
    report_job = new_id()
    items = [entry(f"u{i}") for i in range(5)] + [entry("g1", kind="groups", change="created")]
    seed_report(world.engine.store, world.engine.jobs, world.tenant, report_job, items)
    base = f"tenants/{world.tenant}/diff-reports/{report_job}/entries"
    page = world.api.get(f"{base}?kind=users&$top=2").json()
    assert [e["id"] for e in page["value"]] == ["u0", "u1"]
    second = world.api.get(_path(page["@odata.nextLink"])).json()
    assert [e["id"] for e in second["value"]] == ["u2", "u3"]
    created = world.api.get(f"{base}?changeType=created").json()
    assert [e["id"] for e in created["value"]] == ["g1"]
    assert [e["id"] for e in world.api.get(f"{base}?id=u4,g1").json()["value"]] == ["u4", "g1"]

    exported = world.api.get(f"{base}?format=csv&kind=groups")
    assert exported.status == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.body.decode("utf-8-sig"))))
    assert rows[1][1:3] == ["groups", "g1"]
    lines = world.api.get(f"{base}?format=ndjson&$top=3")
    assert [json.loads(x)["id"] for x in lines.body.splitlines()] == ["u0", "u1", "u2"]
    assert 'rel="next"' in lines.headers["Link"]
    document = world.api.get(f"{base}?format=json").json()
    assert document["reportId"] == "20261201T030000.000Z" and len(document["entries"]) == 6
    assert b"<html" in world.api.get(f"{base}?format=html").body.lower()
    for bad in ("format=xml", "kind=nope", "changeType=moved", "id=%2F..", "$top=0",
                "$skiptoken=zzz", "color=red"):
        answer = world.api.get(f"{base}?{bad}")
        assert answer.status == 400 and answer.error["code"] == "badRequest", bad


def test_unknown_and_malformed_ids_are_404_and_400(world: World) -> None:
    running = new_id()
    seed_report(world.engine.store, world.engine.jobs, world.tenant, running, [entry("u1")],
                status="running")
    tenant = world.tenant
    assert world.api.get(f"tenants/{tenant}/diff-reports/{running}/entries").status == 409
    assert world.api.get(f"tenants/{tenant}/diff-reports/{new_id()}").status == 404
    assert world.api.get(f"tenants/{tenant}/diff-reports/XYZ").status == 400
    assert world.api.get(f"tenants/{tenant}/recoveries/{running}").status == 404  # a report
    assert world.api.get("tenants/unknown.example/recoveries").status == 404
    assert world.api.get("tenants/bad%20tenant/recoveries").status == 400
    missing = world.api.post(f"tenants/{tenant}/diff-reports", body={"snapshotId": SNAPSHOT})
    assert missing.status == 404 and world.durable.started == []


def test_backups_list_start_and_follow(world: World) -> None:
    for snapshot in ("20261130T020000.000Z", SNAPSHOT):
        seed_snapshot(world.engine.store, world.tenant, snapshot)
    listed = world.api.get(f"tenants/{world.tenant}/backups?$top=1").json()
    assert [s["id"] for s in listed["value"]] == [SNAPSHOT]
    assert listed["value"][0]["objectCounts"] == {"users": 3, "groups": 2}
    older = world.api.get(_path(listed["@odata.nextLink"])).json()["value"]
    assert [s["id"] for s in older] == ["20261130T020000.000Z"]

    answer = world.api.post(f"tenants/{world.tenant}/backups", body={"kinds": ["users"]})
    assert answer.status == 202 and answer.headers["Retry-After"] == "30"
    operation = answer.json()["id"]
    assert world.durable.started == [("snapshot", operation, {
        "tenantId": world.tenant, "operationId": operation, "trigger": "http",
        "kinds": ["users"]})]
    location = _path(answer.headers["Location"])
    assert world.api.get(location).status == 202
    world.durable.set_status(operation, "Completed", output={"snapshotId": SNAPSHOT})
    done = world.api.get(location)
    assert done.status == 200 and done.json()["status"] == "successful"
    assert done.json()["snapshotId"] == SNAPSHOT
    world.durable.set_status(operation, "Failed")
    assert world.api.get(location).json()["status"] == "failed"
    assert world.api.get(f"tenants/{world.tenant}/backups?operationId={'d' * 32}").status == 404
    assert world.api.post(f"tenants/{world.tenant}/backups", body={"kinds": ["x"]}).status == 400
