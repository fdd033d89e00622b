"""The snapshot timer's dedup (one snapshot per tenant per scheduled occurrence) against the
replay harness as task hub, and the retention timer against a real store."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest
from azure.functions.timer import TimerRequest

from entra_backup.errors import StoreError
from entra_backup.store.snapshots import FolderStore, new_snapshot_id, open_store
from orchestrators.schedule import (
    archive_pass,
    retention_pass,
    retention_timer,
    scheduled_occurrence,
    snapshot_instance_id,
)
from orchestrators.schedule import bp as schedule_bp
from orchestrators.snapshot import bp as snapshot_bp
from tests.conftest import Sim
from tests.engine.recover_helpers import snap
from tests.support.durable_harness import Harness, app_functions
from tests.support.durable_http import DurableHttpServer, call

app = df.DFApp()
app.register_functions(snapshot_bp)
app.register_functions(schedule_bp)
TENANTS = "contoso,FABRIKAM.example"


class Hub:
    """The harness as task hub behind the loopback management API: the timer gets the SDK's
    own DurableOrchestrationClient, built from the durableClient binding JSON."""

    def __init__(self) -> None:
        self.harness = Harness(app)
        self.server = DurableHttpServer(self.harness)
        self.timer = next(f for f in app_functions(app)
                          if f.get_function_name() == "snapshot_timer")

    @property
    def started(self) -> list[str]:
        return list(self.harness.instances)


def fire(hub: Hub, next_occurrence: str | None, *, past_due: bool = False) -> None:
    timer = TimerRequest(past_due=past_due, schedule_status=None if next_occurrence is None
                         else {"Last": "2026-03-01T23:00:00+00:00", "Next": next_occurrence,
                               "LastUpdated": "2026-03-01T23:00:00.1+00:00"})
    call(hub.timer, timer=timer, client=hub.server.binding())


@pytest.fixture
def hub() -> Iterator[Hub]:
    made = Hub()
    yield made
    made.server.close()


@pytest.fixture
def tenants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_BACKUP_TENANTS", TENANTS)


@pytest.mark.usefixtures("tenants")
def test_two_firings_for_one_occurrence_start_one_snapshot_per_tenant(hub: Hub) -> None:
    fire(hub, "2026-03-02T23:00:00+00:00")
    fire(hub, "2026-03-02T23:00:00.0000000+00:00", past_due=True)  # a repeat after restart
    assert hub.started == ["snapshot-contoso-20260302T230000Z",
                              "snapshot-fabrikam.example-20260302T230000Z"]
    assert hub.harness.status(hub.started[0])["input"] == {
        "tenantId": "contoso", "trigger": "timer", "scheduledFor": "2026-03-02T23:00:00Z"}


@pytest.mark.usefixtures("tenants")
def test_a_completed_occurrence_is_not_taken_again_but_the_next_one_is(hub: Hub) -> None:
    harness = hub.harness
    fire(hub, "2026-03-02T23:00:00Z")
    first = hub.started
    for instance_id in first:  # end them: the orchestration has no activities here
        harness.terminate(instance_id)
    harness.instances[first[0]].status = "Completed"
    created = {i: harness.instances[i].created for i in first}
    harness.advance(timedelta(minutes=5))
    fire(hub, "2026-03-02T23:00:00Z")
    # the terminated one is started again (a new instance), the completed one is not
    assert harness.instances[first[0]].created == created[first[0]]
    assert harness.instances[first[1]].created > created[first[1]]
    assert harness.status(first[1])["runtimeStatus"] == "Pending"
    fire(hub, "2026-03-03T23:00:00Z")
    assert hub.started[2:] == ["snapshot-contoso-20260303T230000Z",
                               "snapshot-fabrikam.example-20260303T230000Z"]


def test_occurrence_comes_from_schedule_status_or_the_minute_without_a_monitor() -> None:
    now = datetime(2026, 3, 2, 23, 0, 41, 5000, tzinfo=UTC)
    assert scheduled_occurrence(TimerRequest(schedule_status={
        "Next": "2026-03-02T23:00:00"}), now) == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert scheduled_occurrence(TimerRequest(), now) == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert scheduled_occurrence(TimerRequest(schedule_status={"Next": "soon"}), now) == \
        datetime(2026, 3, 2, 23, tzinfo=UTC)


def test_instance_ids_stay_within_the_scheduler_limit() -> None:
    occurrence = datetime(2026, 3, 2, 23, tzinfo=UTC)
    long_tenant = "a" * 120
    instance_id = snapshot_instance_id(long_tenant, occurrence)
    assert len(instance_id) <= 100
    assert instance_id == snapshot_instance_id(long_tenant.upper(), occurrence)
    assert snapshot_instance_id("Contoso", occurrence) == "snapshot-contoso-20260302T230000Z"


def _snapshot(store: Any, tenant: str, taken: datetime) -> str:
    snapshot_id = new_snapshot_id(taken)
    store.write(tenant, snapshot_id, "users.ndjson.gz", b"x")
    store.write(tenant, snapshot_id, "manifest.json", b"{}")
    return snapshot_id


@pytest.mark.parametrize("backend", ["folder", "azurite"])
def test_retention_keeps_recent_and_the_newest_snapshot(
        backend: str, tmp_path: Path, storage_connection_string: str) -> None:
    if backend == "folder":
        store: Any = FolderStore(tmp_path)
    else:
        container = f"retention{time.time_ns() % 10**12}"
        store = open_store(f"{storage_connection_string};Container={container}")
    now = datetime(2026, 3, 20, 23, 30, tzinfo=UTC)
    old = [_snapshot(store, "contoso", now - timedelta(days=d)) for d in (9, 7)]
    recent = _snapshot(store, "contoso", now - timedelta(days=1))
    lonely = _snapshot(store, "fabrikam", now - timedelta(days=30))  # its newest: kept
    outcome = retention_pass(store, ["contoso", "fabrikam"], days=5, now=now)
    assert outcome == {"deleted": {"contoso": sorted(old, reverse=True), "fabrikam": []},
                       "refused": {}}
    assert store.list_snapshots("contoso") == [recent]
    assert store.list_snapshots("fabrikam") == [lonely]


class ImmutableStore(FolderStore):
    """A folder whose one snapshot is still under immutability: Blob answers 409, which the
    store turns into StoreError (the only thing retention sees of it)."""

    locked: str = ""

    def delete_snapshot(self, tenant_id: str, snapshot_id: str) -> None:
        if snapshot_id == self.locked:
            raise StoreError(f"cannot delete {tenant_id}/{snapshot_id}: "
                             "BlobImmutableDueToPolicy")
        super().delete_snapshot(tenant_id, snapshot_id)


def test_retention_tolerates_a_refused_delete_and_goes_on_with_other_tenants(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = datetime(2026, 3, 20, 23, 30, tzinfo=UTC)
    store = ImmutableStore(tmp_path)
    kept = _snapshot(store, "contoso", now - timedelta(days=1))
    store.locked = _snapshot(store, "contoso", now - timedelta(days=8))
    newest = _snapshot(store, "fabrikam", now)
    gone = _snapshot(store, "fabrikam", now - timedelta(days=6))
    with caplog.at_level(logging.WARNING):
        outcome = retention_pass(store, ["contoso", "fabrikam"], days=5, now=now)
    assert "retention for tenant contoso stopped" in caplog.text
    assert "BlobImmutableDueToPolicy" in outcome["refused"]["contoso"]
    assert outcome["deleted"] == {"fabrikam": [gone]}
    assert store.list_snapshots("contoso") == [kept, store.locked]
    assert store.list_snapshots("fabrikam") == [newest]


def test_retention_timer_covers_stored_and_configured_tenants(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    store = FolderStore(tmp_path)
    kept = _snapshot(store, "contoso", now - timedelta(minutes=5))
    old = _snapshot(store, "contoso", now - timedelta(days=3))
    newest = _snapshot(store, "retired", now - timedelta(days=40))  # no longer protected
    expired = _snapshot(store, "retired", now - timedelta(days=50))
    monkeypatch.setenv("ENTRA_BACKUP_STORE", str(tmp_path))
    monkeypatch.setenv("ENTRA_BACKUP_TENANTS", "contoso")
    monkeypatch.setenv("ENTRA_BACKUP_RETENTION_DAYS", "2")
    retention_timer.build().get_user_function()(TimerRequest())
    assert store.list_snapshots("contoso", include_incomplete=True) == [kept]
    assert old not in store.list_snapshots("contoso", include_incomplete=True)
    assert store.list_snapshots("retired", include_incomplete=True) == [newest]
    assert expired not in store.list_snapshots("retired", include_incomplete=True)


@pytest.mark.tenant(40, 2)
async def test_archive_pass_copies_each_due_tenant_and_a_broken_one_costs_the_others_nothing(
        sim: Sim, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, archive = FolderStore(tmp_path / "store"), FolderStore(tmp_path / "archive")
    tenant, snapshot = await snap(sim, store)
    broken = _snapshot(store, "fabrikam", datetime.now(UTC))  # its manifest is not one
    with caplog.at_level(logging.ERROR):
        outcome = archive_pass(store, archive, ["fabrikam", tenant], now=datetime.now(UTC))
    assert outcome["archived"] == {tenant: snapshot}
    assert "fabrikam" in outcome["failed"] and "archive of tenant fabrikam" in caplog.text
    assert archive.list_snapshots(tenant) == [snapshot]
    assert archive.list_snapshots("fabrikam", include_incomplete=True) == []
    again = archive_pass(store, archive, [tenant], now=datetime.now(UTC))
    assert again == {"archived": {}, "failed": {}}  # not due again within the week
    del broken
