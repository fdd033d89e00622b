"""Recovery runs recorded in the job store: cancellation between waves, resumption from the
job's cursor, the old->new id map, and the final status (folder store and Azurite tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from entra_backup.recover.jobs import JobStore, open_job_store
from entra_backup.recover.plan import PlanOptions, Selection, build_plan
from entra_backup.recover.run import new_job, run_waves, verify_recovery
from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.recover_helpers import report, snap
from tests.engine.test_capture import session_for
from tests.engine.test_diff import cloud_user


@pytest.fixture(params=["folder", "azurite"])
def jobs(request: pytest.FixtureRequest, tmp_path: Path,
         storage_connection_string: str) -> JobStore:
    if request.param == "folder":
        return open_job_store(str(tmp_path / "store"))
    import uuid

    return open_job_store(storage_connection_string,
                          table_prefix=f"t{uuid.uuid4().hex[:12]}")


async def _planned(sim: Sim, store: FolderStore, edits: int) -> tuple[str, str, dict, list]:
    tenant, snapshot = await snap(sim, store)
    users = [u for u in sim.state()["objects"]["users"]
             if not u.get("onPremisesSyncEnabled") and "@odata.type" not in u][:edits]
    for user in users:
        sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Evil"}).raise_for_status()
    report_id, _ = await report(sim, store, tenant, snapshot)
    plan = build_plan(store, tenant, report_id, Selection(), PlanOptions())
    return tenant, snapshot, plan, users


def _title(sim: Sim, user_id: str) -> str | None:
    return sim.client.get(f"/users/{user_id}?$select=jobTitle").json()["jobTitle"]


async def test_cancel_between_waves_keeps_what_was_applied_and_resume_finishes(
    sim: Sim, tmp_path: Path, jobs: JobStore
) -> None:
    store = FolderStore(tmp_path / "store")
    tenant, _, plan, users = await _planned(sim, store, 6)
    jobs.create_job(new_job(plan))
    waves_seen: list[int] = []

    def cancelled() -> bool:
        return len(waves_seen) >= 2  # the cancel arrives after the second wave

    async with session_for(sim) as session:
        job = await run_waves(session, store, jobs, tenant, plan["recoveryId"], wave_size=2,
                              cancelled=cancelled,
                              progress=lambda wave: waves_seen.append(wave.wave))
    assert job["status"] == "abandoned" and job["cursor"] == 4
    assert job["counters"]["applied"] == 4 and job["totalObjectsModified"] == 4
    titles = [_title(sim, u["id"]) for u in users]
    assert titles.count("Evil") == 2  # applied changes stay; the rest was never written
    recorded = list(jobs.iter_results(tenant, plan["recoveryId"]))
    assert [r["step"] for r in recorded] == [0, 1, 2, 3]
    jobs.update_job(tenant, plan["recoveryId"], {"status": "running"})
    async with session_for(sim) as session:
        job = await run_waves(session, store, jobs, tenant, plan["recoveryId"], wave_size=2)
        job = await verify_recovery(store, session, jobs, tenant, plan["recoveryId"])
    assert job["status"] == "successful" and job["verification"]["remaining"] == 0
    assert [r["step"] for r in jobs.iter_results(tenant, plan["recoveryId"])] == list(
        range(6))
    assert "Evil" not in [_title(sim, u["id"]) for u in users]


async def test_a_crashed_run_resumes_from_the_jobs_cursor(
    sim: Sim, tmp_path: Path, jobs: JobStore
) -> None:
    store = FolderStore(tmp_path / "store")
    tenant, _, plan, _ = await _planned(sim, store, 5)
    jobs.create_job(new_job(plan))
    async with session_for(sim) as session:  # one wave, then the process dies
        await run_waves(session, store, jobs, tenant, plan["recoveryId"], wave_size=2,
                        max_waves=1)
    assert jobs.get_job(tenant, plan["recoveryId"])["cursor"] == 2
    async with session_for(sim) as session:
        job = await run_waves(session, store, jobs, tenant, plan["recoveryId"], wave_size=2)
    assert job["cursor"] == 5 and job["counters"] == {"applied": 5, "skipped": 0,
                                                      "failed": 0}


async def test_recreated_objects_keep_their_old_to_new_id_map_in_the_job(
    sim: Sim, tmp_path: Path, jobs: JobStore
) -> None:
    store = FolderStore(tmp_path / "store")
    tenant, snapshot = await snap(sim, store)
    user = cloud_user(sim)
    sim.client.delete(f"/users/{user['id']}").raise_for_status()
    sim.client.delete(f"/directory/deletedItems/{user['id']}").raise_for_status()
    report_id, _ = await report(sim, store, tenant, snapshot)
    plan = build_plan(store, tenant, report_id, Selection(),
                      PlanOptions(recreate_hard_deleted=True))
    jobs.create_job(new_job(plan))
    async with session_for(sim) as session:
        job = await run_waves(session, store, jobs, tenant, plan["recoveryId"])
    new_id = job["idMap"][user["id"]]
    assert new_id != user["id"]
    created = sim.client.get(f"/users/{new_id}?$select=userPrincipalName").json()
    assert created["userPrincipalName"] == user["userPrincipalName"]
    assert jobs.get_job(tenant, plan["recoveryId"])["idMap"] == {user["id"]: new_id}
