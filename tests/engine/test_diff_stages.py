"""A difference report as stages meeting in the store (diff/stages.py): the activities' entry
points give the report run_diff gives, a full read in one-page chunks gives the entries of
one big read, a retried assemble answers from the stored report, staging is emptied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from entra_backup.capture.snapshot import capture
from entra_backup.connect import connect
from entra_backup.diff import stages
from entra_backup.diff.reports import iter_entries, load_header
from entra_backup.diff.run import DiffRequest, run_diff
from entra_backup.settings import Settings
from entra_backup.store.snapshots import FolderStore, open_store
from tests.conftest import TOKEN, Sim
from tests.engine.test_capture import session_for
from tests.engine.test_diff import cloud_user

CREATED = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)


def _without_times(header: dict) -> dict:
    summary = {k: v for k, v in header["summary"].items() if k != "durationSeconds"}
    return {**{k: v for k, v in header.items() if k not in ("reportId", "createdAt")},
            "summary": summary}


@pytest.mark.tenant(3_000, 5)
async def test_one_page_chunks_of_a_full_read_give_the_entries_of_one_read(
    sim: Sim, tmp_path: Path
) -> None:
    store = FolderStore(tmp_path / "store")
    async with session_for(sim) as session:
        taken = await capture(session, store)
    assert sim.client.delete(f"/users/{cloud_user(sim)['id']}").status_code == 204
    assert sim.client.patch(f"/users/{cloud_user(sim)['id']}",
                            json={"jobTitle": "Staged"}).status_code == 204
    request = DiffRequest(tenant_id=taken.tenant_id, snapshot_id=taken.snapshot_id,
                          use_delta=False, kinds=["users", "groups", "servicePrincipals"])
    async with session_for(sim) as session:
        whole = await run_diff(store, request, session=session, chunk_pages=None)
        tiny = await run_diff(store, request, session=session, chunk_pages=1,
                              now=datetime.now(UTC).replace(year=2027))
    assert tiny.header["summary"]["livePath"] == {"users": "full", "groups": "full",
                                                  "servicePrincipals": "full"}
    assert _without_times(tiny.header) == _without_times(whole.header)
    assert whole.header["summary"]["byKind"]["users"] == {"created": 0, "updated": 1,
                                                          "deleted": 1}
    assert list(iter_entries(store, taken.tenant_id, tiny.report_id)) == \
        list(iter_entries(store, taken.tenant_id, whole.report_id))
    for report in (whole, tiny):
        assert store.staging().list_files(taken.tenant_id, report.report_id) == []


async def test_activity_entry_points_give_run_diffs_report_on_azurite(
    sim: Sim, storage_connection_string: str
) -> None:
    address = f"{storage_connection_string};Container=diff-{uuid.uuid4().hex[:12]}"
    conn = connect(Settings(store=address, graph_url=sim.url, graph_token=TOKEN))
    store = open_store(address)
    async with session_for(sim) as session:
        taken = await capture(session, store)
    assert sim.client.patch(f"/users/{cloud_user(sim)['id']}",
                            json={"jobTitle": "Through activities"}).status_code == 204
    body = {"tenantId": taken.tenant_id, "snapshotId": taken.snapshot_id,  # the API's job
            "filters": {"kinds": [], "objectIds": [], "changes": []}, "useDelta": True,
            "reportId": uuid.uuid4().hex, "createdAt": CREATED.isoformat()}
    begun = await stages.begin_diff(conn, body)
    assert begun["reportId"] == "20261202T090000.000Z"  # a job id is not a report id
    results = []
    for kind in begun["kinds"]:
        cursor = None
        while True:
            step = await stages.diff_kind(conn, orjson.loads(orjson.dumps(begun)), kind, cursor)
            assert set(step) == {"kind", "done", "cursor", "entries"}
            assert len(orjson.dumps(step)) < 4096
            if step["done"]:
                break
            cursor = step["cursor"]
        results.append(step)
    with pytest.raises(ValueError, match="not diffed yet"):
        await stages.assemble_report(conn, begun, results[:-1])
    assembled = await stages.assemble_report(conn, begun, results)
    assert assembled["summary"]["byKind"]["users"]["updated"] == 1
    assert len(orjson.dumps(assembled)) < 16_384
    assert await stages.assemble_report(conn, begun, results) == assembled  # a retry
    assert store.staging().list_files(taken.tenant_id, begun["reportId"]) == []
    async with session_for(sim) as session:
        reference = await run_diff(store, DiffRequest(taken.tenant_id, taken.snapshot_id),
                                   session=session)
    assert _without_times(load_header(store, taken.tenant_id, begun["reportId"])) == \
        _without_times(reference.header)
    assert list(iter_entries(store, taken.tenant_id, begun["reportId"])) == \
        list(iter_entries(store, taken.tenant_id, reference.report_id))


async def test_a_failed_run_leaves_no_report_and_no_staging(sim: Sim, tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    async with session_for(sim) as session:
        taken = await capture(session, store)
    sim.configure(fail_rate=1.0)  # every Graph request fails from here on
    request = DiffRequest(taken.tenant_id, taken.snapshot_id, use_delta=False)
    async with session_for(sim, max_attempts=1) as session:
        with pytest.raises(Exception):  # noqa: B017 - any Graph error ends the run
            await run_diff(store, request, session=session, now=CREATED)
    assert store.reports().list_snapshots(taken.tenant_id, include_incomplete=True) == []
    assert store.staging().list_snapshots(taken.tenant_id, include_incomplete=True) == []
