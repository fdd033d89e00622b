"""The `snapshot` orchestration end to end: the real orchestrator and activities through the
replay harness, against graphsim and Azurite.

What it writes must be what `capture()` (the CLI's `entra-backup snapshot`) writes for the
same tenant: the same kind files, byte for byte (SHA-256 per kind), only the time differs.
Graph's pages are resumed from `@odata.nextLink` as returned
(https://learn.microsoft.com/en-us/graph/paging); small pages are asked for with
`Prefer: odata.maxpagesize` (https://learn.microsoft.com/en-us/graph/delta-query-overview),
so with one page per chunk and one wave per execution a kind takes several chunks and the
orchestration continues as new several times. A crash before every commit still gives one
snapshot with the same content and leaves no staging behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import pytest

from activities.capture import bp as capture_activities_bp
from entra_backup.capture import stages as capture_stages
from entra_backup.capture.snapshot import CaptureResult, capture
from entra_backup.connect import Connection
from entra_backup.graph import session as session_module
from entra_backup.store.verify import load_manifest, verify_snapshot
from orchestrators import snapshot as snapshot_module
from orchestrators.snapshot import bp as snapshot_bp
from tests.conftest import Sim
from tests.functions.e2e import replay_twice
from tests.support.durable_harness import Harness

app = df.DFApp()
for blueprint in (snapshot_bp, capture_activities_bp):
    app.register_functions(blueprint)

SIZE, SEED = 100, 13
pytestmark = pytest.mark.tenant(SIZE, SEED)
REFERENCE_AT = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # the evening before the harness's clock
PAGE = 7  # objects a page: users and groups take several pages, so several chunks


async def reference(sim: Sim, conn: Connection) -> CaptureResult:
    """A one-shot capture (whole kinds, full pages), then the tenant reset to the same seed."""
    async with conn.graph(None) as session:
        result = await capture(session, conn.store, now=REFERENCE_AT, chunk_pages=None)
    sim.reset(synthetic=SIZE, random_seed=SEED)
    return result


def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """One page a chunk, small pages, one wave an execution: many chunks, continue_as_new."""
    monkeypatch.setattr(capture_stages, "CHUNK_PAGES", 1)
    monkeypatch.setattr(session_module, "DEFAULT_DELTA_HEADERS",
                        {"Prefer": f"odata.maxpagesize={PAGE}"})
    monkeypatch.setattr(snapshot_module, "WAVES_PER_EXECUTION", 1)


def hashes(manifest: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {kind: (entry["sha256"], entry["count"]) for kind, entry in manifest["kinds"].items()}


def orchestrated(harness: Harness, tenant: str) -> dict[str, Any]:
    instance = f"snapshot-{tenant}-on-demand"
    harness.start("snapshot", instance, {"tenantId": tenant, "trigger": "http",
                                         "operationId": "on-demand"})
    harness.run_until_idle()
    status = harness.status(instance)
    assert status is not None and status["runtimeStatus"] == "Completed", status
    return status


def check_same_snapshot(conn: Connection, ref: CaptureResult, output: dict[str, Any]) -> None:
    tenant, snapshot = ref.tenant_id, output["snapshotId"]
    assert conn.store.list_snapshots(tenant) == sorted([snapshot, ref.snapshot_id],
                                                       reverse=True)
    assert snapshot > ref.snapshot_id and snapshot.startswith("20260302T08")
    assert verify_snapshot(conn.store, tenant, snapshot).ok
    manifest, _ = load_manifest(conn.store, tenant, snapshot)
    assert hashes(manifest) == hashes(ref.manifest)
    assert output["counts"] == ref.counts
    assert manifest["previousSnapshotId"] == ref.snapshot_id
    assert all(entry["deltaLink"] for name, entry in manifest["kinds"].items()
               if ref.manifest["kinds"][name]["deltaLink"])
    # same content, so the drift check after it finds nothing
    assert output["drift"]["previousSnapshotId"] == ref.snapshot_id
    assert output["drift"]["total"] == 0, output["drift"]
    assert conn.store.staging().list_files(tenant, snapshot) == []


async def test_the_orchestrated_snapshot_has_the_bytes_of_a_one_shot_capture(
        sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = await reference(sim, conn)
    assert ref.counts["users"] > 3 * PAGE and ref.counts["groups"] > PAGE
    tiny_chunks(monkeypatch)
    harness = Harness(app)
    status = orchestrated(harness, ref.tenant_id)
    check_same_snapshot(conn, ref, status["output"])
    instance = harness.instances[f"snapshot-{ref.tenant_id}-on-demand"]
    assert instance.execution >= 8  # users alone need ten chunks, one a kind an execution
    # an execution holds at most one chunk and one merge of each kind (plus begin): each
    # activity is two events and at most one episode's two markers, whatever the tenant's size
    kinds = len(ref.counts)
    assert max(instance.finished_histories) <= 4 * (2 * kinds + 1)
    assert max(instance.finished_histories[1:]) < 20  # later ones: the users chain alone
    assert harness.activity_runs["begin_snapshot"] == 1
    assert harness.activity_runs["capture_kind"] >= len(ref.counts) + 5
    assert harness.activity_runs["finish_kind"] == len(ref.counts)
    # every execution was replayed from scratch by the harness: same actions
    assert harness.replay_checks == instance.execution + 1
    # and once more by hand: the same history twice gives the same action JSON
    state = replay_twice(harness, instance.instance_id)
    assert state["output"]["snapshotId"] == status["output"]["snapshotId"]


async def test_a_crash_before_every_commit_still_writes_one_identical_snapshot(
        sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = await reference(sim, conn)
    tiny_chunks(monkeypatch)
    monkeypatch.setattr(snapshot_module, "WAVES_PER_EXECUTION", 2)
    harness = Harness(app)
    harness.crash_every_commit()
    status = orchestrated(harness, ref.tenant_id)
    assert harness.crashes > 30
    # each activity ran twice (crashed before its completion was recorded, then again)
    assert harness.activity_runs["begin_snapshot"] == 2
    assert harness.activity_runs["finish_snapshot"] == 2
    assert harness.activity_runs["drift_check"] == 2
    check_same_snapshot(conn, ref, status["output"])
    assert conn.store.staging().list_snapshots(ref.tenant_id) == []
