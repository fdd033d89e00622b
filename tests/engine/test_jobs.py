"""The recovery history store: every scenario on a folder and on real Azurite Table storage.

Vocabulary from Microsoft's recovery API (beta):
https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoveryjobbase?view=graph-rest-beta
https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoverychangeobjectbase?view=graph-rest-beta
"""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient

from entra_backup.errors import JobNotFoundError, StoreError
from entra_backup.recover.jobs import (
    JOB_STATUSES,
    MAX_DETAIL_CHARS,
    FolderJobStore,
    JobStore,
    TableJobStore,
    open_job_store,
)
from entra_backup.recover.jobs.folder import RESULTS
from tests.support.servers import AZURITE_ACCOUNT, AZURITE_KEY

TENANT = "0f2c5a4e-7d1b-4c39-9a6e-2b8f1d3c4e5a"
OTHER = "contoso.onmicrosoft.com"
NOW = datetime(2026, 11, 26, 17, 30, 0, 123000, tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.isoformat()


def _job(job_id: str, *, tenant: str = TENANT, created: datetime = NOW,
         job_type: str = "recovery", **extra: Any) -> dict[str, Any]:
    return {"jobId": job_id, "tenantId": tenant, "jobType": job_type, "status": "initialized",
            "snapshotId": "20261126T000000.000Z", "reportId": None, "createdAt": _iso(created),
            "dryRun": False, "selection": {"kinds": ["users", "groups"], "ids": ["a", "b"]},
            "counters": {"applied": 0, "failed": 0}, "error": None, **extra}


def _result(step: int, *, wave: int = 0, outcome: str = "applied", **extra: Any) -> dict[str, Any]:
    return {"step": step, "kind": "users", "id": f"id-{step}", "action": "update",
            "outcome": outcome, "detail": None, "at": _iso(NOW), "wave": wave,
            "before": {"displayName": f"old {step}"}, "after": {"displayName": f"new {step}"},
            **extra}


def _table_url(connection_string: str) -> str:
    settings = dict(part.split("=", 1) for part in connection_string.split(";") if part)
    return settings["TableEndpoint"].rstrip("/")


@pytest.fixture(params=["folder", "table"])
def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """Each scenario runs once per backend; Table runs get their own tables."""
    if request.param == "folder":
        yield open_job_store(str(tmp_path / "store"))
        return
    connection = request.getfixturevalue("storage_connection_string")
    prefix = f"t{uuid.uuid4().hex[:16]}"
    yield open_job_store(connection, table_prefix=prefix)
    service = TableServiceClient.from_connection_string(connection)
    for table in (f"{prefix}Jobs", f"{prefix}Results"):
        service.delete_table(table)  # succeeds when absent


# --- jobs -----------------------------------------------------------------------------------

def test_create_and_get_round_trip(jobs: JobStore) -> None:
    job = _job("job-1")
    jobs.create_job(job)
    assert jobs.get_job(TENANT, "job-1") == {**job, "updatedAt": job["createdAt"]}


def test_create_refuses_an_existing_id_and_keeps_the_first(jobs: JobStore) -> None:
    jobs.create_job(_job("job-1", dryRun=True))
    with pytest.raises(ValueError, match="already exists"):
        jobs.create_job(_job("job-1", dryRun=False))
    assert jobs.get_job(TENANT, "job-1")["dryRun"] is True
    jobs.create_job(_job("job-1", tenant=OTHER))  # ids are per tenant
    assert jobs.get_job(OTHER, "job-1")["tenantId"] == OTHER


def test_update_merges_top_level_keys_and_stamps_updated_at(jobs: JobStore) -> None:
    jobs.create_job(_job("job-1"))
    before = datetime.now(UTC)
    updated = jobs.update_job(TENANT, "job-1", {"status": "running",
                                                "counters": {"applied": 5, "failed": 1}})
    assert updated == jobs.get_job(TENANT, "job-1")
    assert updated["status"] == "running"
    assert updated["counters"] == {"applied": 5, "failed": 1}  # top-level replace, not deep
    assert updated["selection"] == _job("job-1")["selection"]
    assert datetime.fromisoformat(updated["updatedAt"]) >= before - timedelta(seconds=1)
    again = jobs.update_job(TENANT, "job-1", {"status": "successful",
                                              "updatedAt": "2027-01-01T00:00:00Z"})
    assert again["updatedAt"] == "2027-01-01T00:00:00Z" and again["counters"]["applied"] == 5


def test_update_refuses_fixed_keys_and_unknown_statuses(jobs: JobStore) -> None:
    jobs.create_job(_job("job-1"))
    for changes in ({"jobId": "job-2"}, {"createdAt": _iso(NOW + timedelta(days=1))},
                    {"tenantId": OTHER}, {"jobType": "diffReport"},
                    {"status": "partiallySuccessful"}, {"when": NOW}):
        with pytest.raises(ValueError):
            jobs.update_job(TENANT, "job-1", changes)
    assert jobs.get_job(TENANT, "job-1") == {**_job("job-1"), "updatedAt": _iso(NOW)}


def test_microsoft_statuses_are_all_accepted(jobs: JobStore) -> None:
    jobs.create_job(_job("job-1"))
    for status in ("initialized", "loadingData", "calculating", "running", "successful",
                   "failed", "abandoned"):
        assert jobs.update_job(TENANT, "job-1", {"status": status})["status"] == status
    assert set(JOB_STATUSES) == {"initialized", "loadingData", "calculating", "running",
                                 "successful", "failed", "abandoned"}


@pytest.mark.parametrize("bad", [
    {"jobId": "a/b"}, {"jobId": "a#b"}, {"jobId": "a?b"}, {"jobId": "..x"}, {"jobId": ""},
    {"tenantId": "x_y"}, {"tenantId": "a/b"}, {"jobType": "snapshot"}, {"status": "done"},
    {"createdAt": "2026-11-26T17:30:00"}, {"createdAt": "yesterday"},
    {"selection": {"when": NOW}}, {"counters": {1: 2}},
])
def test_create_validates_ids_vocabulary_and_json(jobs: JobStore, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        jobs.create_job({**_job("job-1"), **bad})
    assert jobs.list_jobs(TENANT) == []


def test_create_refuses_a_job_over_the_size_cap(jobs: JobStore) -> None:
    with pytest.raises(ValueError, match="keep per-object data in the results"):
        jobs.create_job(_job("job-1", selection={"ids": ["x" * 36] * 12_000}))


def test_unknown_jobs_raise_job_not_found(jobs: JobStore) -> None:
    assert jobs.list_jobs(TENANT) == []  # nothing stored yet, not even tables
    with pytest.raises(JobNotFoundError) as caught:
        jobs.get_job(TENANT, "nope")
    assert (caught.value.tenant_id, caught.value.job_id) == (TENANT, "nope")
    assert isinstance(caught.value, StoreError)
    jobs.create_job(_job("job-1"))
    with pytest.raises(JobNotFoundError):
        jobs.get_job(OTHER, "job-1")
    with pytest.raises(JobNotFoundError):
        jobs.update_job(TENANT, "nope", {"status": "running"})
    with pytest.raises(JobNotFoundError):
        jobs.record_results(TENANT, "nope", [_result(0)])
    with pytest.raises(JobNotFoundError):
        jobs.iter_results(TENANT, "nope")  # at the call, not at the first next()


def test_list_jobs_newest_first_by_instant_and_by_type(jobs: JobStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    created = {  # created out of order; one written with a +02:00 offset
        "b": NOW - timedelta(days=3),
        "a": (NOW - timedelta(hours=1)).astimezone(plus_two),  # later instant than "d"
        "d": NOW - timedelta(hours=1, milliseconds=1),
        "c": NOW,
        "e": NOW - timedelta(days=300),
    }
    for job_id, when in created.items():
        job_type = "diffReport" if job_id in "be" else "recovery"
        jobs.create_job(_job(job_id, created=when, job_type=job_type))
    jobs.create_job(_job("z", tenant=OTHER))
    assert [job["jobId"] for job in jobs.list_jobs(TENANT)] == ["c", "a", "d", "b", "e"]
    assert [job["jobId"] for job in jobs.list_jobs(TENANT, job_type="recovery")] == ["c", "a", "d"]
    assert [job["jobId"] for job in jobs.list_jobs(TENANT, job_type="diffReport")] == ["b", "e"]
    assert [job["jobId"] for job in jobs.list_jobs(OTHER)] == ["z"]
    jobs.update_job(TENANT, "e", {"status": "failed", "error": "boom"})
    listed = jobs.list_jobs(TENANT)
    assert listed[-1]["status"] == "failed" and listed[-1]["error"] == "boom"  # list sees updates


def test_same_instant_lists_by_job_id(jobs: JobStore) -> None:
    for job_id in ("m", "k", "l"):
        jobs.create_job(_job(job_id))
    assert [job["jobId"] for job in jobs.list_jobs(TENANT)] == ["k", "l", "m"]


# --- results --------------------------------------------------------------------------------

def test_results_round_trip_in_step_order(jobs: JobStore) -> None:
    jobs.create_job(_job("job-1"))
    jobs.record_results(TENANT, "job-1", [_result(20 + i, wave=2) for i in range(10)])
    jobs.record_results(TENANT, "job-1", [_result(i) for i in range(10)])
    jobs.record_results(TENANT, "job-1", [_result(10 + i, wave=1) for i in range(10)][::-1])
    rows = list(jobs.iter_results(TENANT, "job-1"))
    assert [row["step"] for row in rows] == list(range(30))
    assert rows[0] == {**_result(0), "truncated": []}
    assert rows[25]["wave"] == 2
    jobs.record_results(TENANT, "job-1", [])  # nothing to do, no error
    assert sum(1 for _ in jobs.iter_results(TENANT, "job-1")) == 30


def test_re_recording_a_step_keeps_one_row_last_write_wins(jobs: JobStore) -> None:
    """A retried wave records its steps again: one row per step, the retry's."""
    jobs.create_job(_job("job-1"))
    jobs.record_results(TENANT, "job-1", [_result(i, outcome="failed") for i in range(6)])
    jobs.record_results(TENANT, "job-1", [_result(i, wave=1, detail="retried",
                                                  before=None) for i in range(2, 5)])
    jobs.record_results(TENANT, "job-1", [_result(5, outcome="skipped"),
                                          _result(5, outcome="applied", wave=7)])
    rows = {row["step"]: row for row in jobs.iter_results(TENANT, "job-1")}
    assert sorted(rows) == list(range(6))
    assert [rows[i]["outcome"] for i in range(6)] == ["failed"] * 2 + ["applied"] * 4
    assert rows[3]["detail"] == "retried" and rows[3]["before"] is None  # replaced, not merged
    assert rows[1]["detail"] is None and rows[1]["before"] == {"displayName": "old 1"}
    assert rows[5]["wave"] == 7


def test_every_action_and_outcome_is_kept(jobs: JobStore) -> None:
    jobs.create_job(_job("job-1", dryRun=True))
    pairs = [("update", "planned"), ("softDelete", "applied"), ("restore", "failed"),
             ("create", "skipped"), ("none", "skipped")]
    jobs.record_results(TENANT, "job-1", [_result(i, action=a, outcome=o)
                                          for i, (a, o) in enumerate(pairs)])
    got = [(r["action"], r["outcome"]) for r in jobs.iter_results(TENANT, "job-1")]
    assert got == pairs


@pytest.mark.parametrize("bad", [
    {"action": "delete"}, {"outcome": "partiallySuccessful"}, {"step": -1}, {"step": 10**10},
    {"step": "3"}, {"wave": None}, {"at": "now"}, {"id": ""}, {"before": [1]},
    {"after": {"x": NOW}}, {"status": "applied"}, {"detail": 5},
])
def test_record_validates_every_result_before_writing_any(jobs: JobStore,
                                                          bad: dict[str, Any]) -> None:
    jobs.create_job(_job("job-1"))
    with pytest.raises(ValueError):
        jobs.record_results(TENANT, "job-1", [_result(0), {**_result(1), **bad}])
    assert list(jobs.iter_results(TENANT, "job-1")) == []


def test_results_of_jobs_and_tenants_stay_apart(jobs: JobStore) -> None:
    for tenant, job_id in ((TENANT, "job-1"), (TENANT, "job-2"), (OTHER, "job-1")):
        jobs.create_job(_job(job_id, tenant=tenant))
        jobs.record_results(tenant, job_id, [_result(0, detail=f"{tenant}/{job_id}")])
    assert [r["detail"] for r in jobs.iter_results(TENANT, "job-2")] == [f"{TENANT}/job-2"]
    assert [r["detail"] for r in jobs.iter_results(OTHER, "job-1")] == [f"{OTHER}/job-1"]


def test_thousands_of_results_stream_across_pages(jobs: JobStore) -> None:
    """2,500 rows: ten Table pages; on a folder, many merged segments."""
    jobs.create_job(_job("job-1"))
    for start in range(0, 2500, 250):
        jobs.record_results(TENANT, "job-1", [_result(i) for i in range(start, start + 250)])
    jobs.record_results(TENANT, "job-1", [_result(i, wave=9) for i in range(990, 1010)])
    steps, waves = [], {}
    for row in jobs.iter_results(TENANT, "job-1"):
        steps.append(row["step"])
        waves[row["step"]] = row["wave"]
    assert steps == list(range(2500))
    assert {s for s, w in waves.items() if w == 9} == set(range(990, 1010))


def test_reading_results_holds_a_page_not_the_whole_history(jobs: JobStore) -> None:
    """3,000 results of ~4 KB (12 MB of JSON) are read with far less memory than that."""
    jobs.create_job(_job("job-1"))
    payload = {"description": "x" * 4000}
    for start in range(0, 3000, 1000):
        jobs.record_results(TENANT, "job-1", [_result(i, after=payload)
                                              for i in range(start, start + 1000)])
    tracemalloc.start()
    try:
        count = sum(1 for _ in jobs.iter_results(TENANT, "job-1"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 3000
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while streaming"


def test_large_states_split_and_oversized_ones_dropped_with_a_flag(jobs: JobStore) -> None:
    """Azure Table holds 64 KiB per string and 1 MiB per entity; both backends apply one cap.

    https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model
    """
    jobs.create_job(_job("job-1"))
    # 150 KB of text with non-ASCII and astral characters crossing the 16,000-character splits
    big = {"notes": ("ab€😀" * 15_000), "n": 1}
    huge = {"blob": "y" * 300_000}
    rows = [_result(0, before=big, after=big),
            _result(1, before=huge, after=big, detail="d" * 20_000),
            *(_result(2 + i, before=big) for i in range(20))]  # ~3 MB: several transactions
    jobs.record_results(TENANT, "job-1", rows)
    got = list(jobs.iter_results(TENANT, "job-1"))
    assert got[0]["before"] == big and got[0]["after"] == big and got[0]["truncated"] == []
    assert got[1]["before"] is None and got[1]["after"] == big
    assert len(got[1]["detail"]) == MAX_DETAIL_CHARS and got[1]["detail"].endswith("…")
    assert got[1]["truncated"] == ["before", "detail"]
    assert [row["before"] == big for row in got[2:]] == [True] * 20
    jobs.record_results(TENANT, "job-1", [got[1]])  # a read row records again as it was
    assert list(jobs.iter_results(TENANT, "job-1"))[1] == got[1]


# --- purge ----------------------------------------------------------------------------------

def test_purge_removes_jobs_and_results_older_than_keep_days(jobs: JobStore) -> None:
    ages = {"old": 400, "just-old": 365, "kept": 364, "new": 0}
    for job_id, days in ages.items():
        created = NOW - timedelta(days=days, milliseconds=1 if job_id == "just-old" else 0)
        jobs.create_job(_job(job_id, created=created))
        jobs.record_results(TENANT, job_id, [_result(i) for i in range(150)])
    jobs.create_job(_job("other-old", tenant=OTHER, created=NOW - timedelta(days=500)))
    jobs.record_results(OTHER, "other-old", [_result(0)])
    assert jobs.purge(now=NOW) == 3  # the default keeps 365 days
    assert [job["jobId"] for job in jobs.list_jobs(TENANT)] == ["new", "kept"]
    assert jobs.list_jobs(OTHER) == []
    for tenant, job_id in ((TENANT, "old"), (TENANT, "just-old"), (OTHER, "other-old")):
        with pytest.raises(JobNotFoundError):
            jobs.get_job(tenant, job_id)
        with pytest.raises(JobNotFoundError):
            jobs.iter_results(tenant, job_id)
        with pytest.raises(JobNotFoundError):  # a store that saw the job forgets it
            jobs.record_results(tenant, job_id, [_result(0)])
    assert sum(1 for _ in jobs.iter_results(TENANT, "kept")) == 150
    assert jobs.purge(now=NOW) == 0
    assert jobs.purge(now=NOW, keep_days=30) == 1
    assert [job["jobId"] for job in jobs.list_jobs(TENANT)] == ["new"]
    jobs.create_job(_job("old", created=NOW - timedelta(days=400)))  # the id is free again
    assert list(jobs.iter_results(TENANT, "old")) == []  # no results came back with it


def test_purge_refuses_bad_arguments(jobs: JobStore) -> None:
    with pytest.raises(ValueError):
        jobs.purge(now=NOW, keep_days=0)
    with pytest.raises(ValueError):
        jobs.purge(now=NOW.replace(tzinfo=None))


# --- backend specifics ----------------------------------------------------------------------

def test_folder_segments_stay_few_and_last_still_wins(tmp_path: Path) -> None:
    """Per-call segments are merged as they come, so 400 waves leave a handful of files."""
    jobs = open_job_store(str(tmp_path))
    jobs.create_job(_job("job-1"))
    for wave in range(400):
        jobs.record_results(TENANT, "job-1", [_result(0, wave=wave), _result(wave + 1)])
    segments = list((tmp_path / "jobs" / TENANT / "job-1" / RESULTS).glob("*.ndjson"))
    assert 1 <= len(segments) <= 12
    rows = list(jobs.iter_results(TENANT, "job-1"))
    assert [row["step"] for row in rows] == list(range(401))
    assert rows[0]["wave"] == 399


def test_folder_purge_passes_over_folders_that_are_not_tenants(tmp_path: Path) -> None:
    jobs = open_job_store(str(tmp_path))
    jobs.create_job(_job("job-1", created=NOW - timedelta(days=400)))
    (tmp_path / "jobs" / "not_a_tenant" / "x").mkdir(parents=True)
    assert jobs.purge(now=NOW) == 1
    assert (tmp_path / "jobs" / "not_a_tenant" / "x").is_dir()
    assert not (tmp_path / "jobs" / TENANT / "job-1").exists()


def test_folder_reader_keeps_its_view_while_a_writer_merges(tmp_path: Path) -> None:
    jobs = open_job_store(str(tmp_path))
    jobs.create_job(_job("job-1"))
    for start in range(0, 300, 100):
        jobs.record_results(TENANT, "job-1", [_result(i) for i in range(start, start + 100)])
    reader = jobs.iter_results(TENANT, "job-1")
    first = next(reader)
    for start in range(300, 2000, 100):  # merges and unlinks segments the reader has open
        jobs.record_results(TENANT, "job-1", [_result(i) for i in range(start, start + 100)])
    assert [first["step"], *(row["step"] for row in reader)] == list(range(300))
    assert sum(1 for _ in jobs.iter_results(TENANT, "job-1")) == 2000


def test_open_job_store_address_forms(tmp_path: Path, storage_connection_string: str) -> None:
    folder = open_job_store(str(tmp_path))
    assert isinstance(folder, FolderJobStore) and folder.root == tmp_path / "jobs"
    from_url = open_job_store(tmp_path.as_uri())
    assert isinstance(from_url, FolderJobStore) and from_url.root == tmp_path / "jobs"
    table = open_job_store(f"{storage_connection_string};Container=snapshots")
    assert isinstance(table, TableJobStore) and AZURITE_KEY not in repr(table)
    blob = open_job_store("https://acct.blob.core.windows.net/snapshots?sv=1&sig=secret",
                          credential=AzureNamedKeyCredential("acct", AZURITE_KEY))
    assert blob.location == "https://acct.table.core.windows.net/recovery*"
    sas = open_job_store("https://acct.table.core.windows.net/?sv=1&sig=secret")
    assert "secret" not in sas.location
    for bad in ("", "   ", "http://127.0.0.1:10000/devstoreaccount1/snapshots",
                "https://acct.table.core.windows.net/extra/path", "ftp://host/x",
                "Container=only"):
        with pytest.raises(ValueError):
            open_job_store(bad)
    with pytest.raises(ValueError):
        open_job_store(str(tmp_path), table_prefix="bad-prefix")


def test_path_style_table_url_with_a_key_works_end_to_end(storage_connection_string: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:16]}"
    jobs = open_job_store(_table_url(storage_connection_string), table_prefix=prefix,
                          credential=AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY))
    try:
        jobs.create_job(_job("job-1"))
        jobs.record_results(TENANT, "job-1", [_result(0)])
        assert [r["step"] for r in jobs.iter_results(TENANT, "job-1")] == [0]
    finally:
        service = TableServiceClient.from_connection_string(storage_connection_string)
        for table in (f"{prefix}Jobs", f"{prefix}Results"):
            service.delete_table(table)


def test_a_second_store_on_the_same_tables_shares_the_history(
        storage_connection_string: str) -> None:
    """Every Functions worker opens its own store: tables that exist already are fine."""
    prefix = f"t{uuid.uuid4().hex[:16]}"
    first = open_job_store(storage_connection_string, table_prefix=prefix)
    second = open_job_store(storage_connection_string, table_prefix=prefix)
    try:
        first.create_job(_job("job-1"))
        second.create_job(_job("job-2"))
        second.record_results(TENANT, "job-1", [_result(0)])
        first.update_job(TENANT, "job-2", {"status": "running"})
        assert [job["jobId"] for job in first.list_jobs(TENANT)] == ["job-1", "job-2"]
        assert [r["step"] for r in first.iter_results(TENANT, "job-1")] == [0]
        assert second.get_job(TENANT, "job-2")["status"] == "running"
    finally:
        service = TableServiceClient.from_connection_string(storage_connection_string)
        for table in (f"{prefix}Jobs", f"{prefix}Results"):
            service.delete_table(table)


def test_unreachable_table_store_is_a_store_error() -> None:
    jobs = open_job_store("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                          f"AccountKey={AZURITE_KEY};"
                          "TableEndpoint=http://127.0.0.1:9/devstoreaccount1")
    with pytest.raises(StoreError) as caught:
        jobs.create_job(_job("job-1"))
    assert AZURITE_KEY not in str(caught.value)
