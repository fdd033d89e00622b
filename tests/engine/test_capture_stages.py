"""Capture as stages meeting in the store (capture/stages.py): chunks give the one-shot bytes,
a repeated chunk repeats only itself, staging is emptied, activities run on a Connection.

Graph's pages are resumed from `@odata.nextLink` exactly as returned
(https://learn.microsoft.com/en-us/graph/paging); delta rounds end with `@odata.deltaLink`
(https://learn.microsoft.com/en-us/graph/delta-query-overview).
"""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from entra_backup.capture import stages
from entra_backup.capture.snapshot import capture, kind_file
from entra_backup.connect import connect
from entra_backup.kinds import ALL_KINDS, KINDS_BY_NAME
from entra_backup.settings import Settings
from entra_backup.store.snapshots import FolderStore, SnapshotStore, open_store
from entra_backup.store.verify import verify_snapshot
from tests.conftest import TOKEN, Sim
from tests.engine.test_capture import session_for

NOW = datetime(2026, 12, 1, 23, 0, 0, 250000, tzinfo=UTC)


def kind_bytes(store: SnapshotStore, tenant: str, snapshot: str) -> dict[str, bytes]:
    return {kind.name: store.read_bytes(tenant, snapshot, kind_file(kind.name))
            for kind in ALL_KINDS}


def staged_files(store: SnapshotStore, tenant: str, snapshot: str) -> list[str]:
    return store.staging().list_files(tenant, snapshot)


@pytest.mark.tenant(5_000, 3)
async def test_one_page_chunks_write_the_bytes_of_one_chunk_per_kind(
    sim: Sim, tmp_path: Path
) -> None:
    """Several chunks per kind (users, groups with members@delta spread over pages, grants
    in chunks of their own) merge to the same files, hashes and manifest entries."""
    whole, tiny = FolderStore(tmp_path / "whole"), FolderStore(tmp_path / "tiny")
    async with session_for(sim) as session:
        one = await capture(session, whole, now=NOW, chunk_pages=None)
        many = await capture(session, tiny, now=NOW, chunk_pages=1)
    assert one.snapshot_id == many.snapshot_id
    assert one.counts["users"] > 3_000  # four pages of users at least
    for name, entry in one.manifest["kinds"].items():  # each round gets its own delta link
        assert {**many.manifest["kinds"][name], "deltaLink": None} == \
            {**entry, "deltaLink": None}, name
        assert bool(many.manifest["kinds"][name]["deltaLink"]) == bool(entry["deltaLink"])
    assert kind_bytes(whole, one.tenant_id, one.snapshot_id) == \
        kind_bytes(tiny, many.tenant_id, many.snapshot_id)
    assert staged_files(tiny, many.tenant_id, many.snapshot_id) == []
    assert not any((tmp_path / "tiny" / "staging" / many.tenant_id).iterdir())
    assert verify_snapshot(tiny, many.tenant_id, many.snapshot_id).ok


@pytest.mark.tenant(3_000, 5)
async def test_a_repeated_chunk_rewrites_only_its_own_run(sim: Sim, tmp_path: Path) -> None:
    """A retried activity starts again from its own cursor: same run name, same bytes, same
    next cursor; the kind file is the one an uninterrupted capture writes."""
    store = FolderStore(tmp_path / "store")
    async with session_for(sim) as session:
        reference = await capture(session, FolderStore(tmp_path / "reference"), now=NOW,
                                  chunk_pages=None)
        begun = await stages.begin(session, store, None, NOW.isoformat())
        assert begun["snapshotId"] == reference.snapshot_id
        assert begun["previousSnapshotId"] is None
        first = await stages.read_chunk(session, store, begun, "users", None, pages=1)
        second = await stages.read_chunk(session, store, begun, "users", first["cursor"],
                                         pages=1)
        run = stages.run_file("users", 1, stages.OBJECTS)
        written = store.staging().read_bytes(begun["tenantId"], begun["snapshotId"], run)
        again = await stages.read_chunk(session, store, begun, "users", first["cursor"],
                                        pages=1)
        assert again == second and not second["done"] and second["count"] == 999
        assert store.staging().read_bytes(begun["tenantId"], begun["snapshotId"], run) == \
            written
        cursor = second["cursor"]
        while True:
            chunk = await stages.read_chunk(session, store, begun, "users", cursor, pages=1)
            if chunk["done"]:
                break
            cursor = chunk["cursor"]
    assert chunk["cursor"] is None and cursor["deltaLink"] is None
    done = await stages.merge_kind(store, begun, "users")
    expected = reference.manifest["kinds"]["users"]
    assert {k: done[k] for k in expected if k != "deltaLink"} == \
        {k: v for k, v in expected.items() if k != "deltaLink"}
    assert done["deltaLink"] and "deltatoken" in done["deltaLink"].lower()
    assert await stages.merge_kind(store, begun, "users") == done  # retried after the write


async def test_finish_is_idempotent_and_cleans_staging(sim: Sim, tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    kinds = ["organization", "namedLocations"]
    async with session_for(sim) as session:
        begun = await stages.begin(session, store, None, "2026-12-01T23:00:00Z", kinds=kinds)
        results = []
        for name in kinds:
            chunk = await stages.read_chunk(session, store, begun, name, None)
            assert chunk["done"]
            results.append(await stages.merge_kind(store, begun, name))
    tenant, snapshot = begun["tenantId"], begun["snapshotId"]
    assert snapshot == "20261201T230000.000Z"
    assert staged_files(store, tenant, snapshot) == [
        "namedLocations.00000.objects.ndjson.gz", "namedLocations.end.json",
        "organization.00000.objects.ndjson.gz", "organization.end.json"]
    manifest = await stages.finish(store, begun, results, retention_days=5)
    assert staged_files(store, tenant, snapshot) == []
    assert await stages.finish(store, begun, results, retention_days=5) == manifest
    assert store.list_snapshots(tenant) == [snapshot]
    assert sorted(manifest["kinds"]) == sorted(kinds)


async def test_begin_clears_an_earlier_attempt_and_refuses_another_tenant(
    sim: Sim, tmp_path: Path
) -> None:
    store = FolderStore(tmp_path / "store")
    async with session_for(sim) as session:
        begun = await stages.begin(session, store, None, NOW.isoformat())
        await stages.read_chunk(session, store, begun, "organization", None)
        assert staged_files(store, begun["tenantId"], begun["snapshotId"])
        assert await stages.begin(session, store, None, NOW.isoformat()) == begun
        assert staged_files(store, begun["tenantId"], begun["snapshotId"]) == []
        with pytest.raises(Exception, match="reaches tenant"):
            await stages.begin(session, store, str(uuid.uuid4()), NOW.isoformat())
        with pytest.raises(ValueError, match="time zone"):
            await stages.begin(session, store, None, "2026-12-01T23:00:00")


async def test_stage_functions_on_a_connection_meet_in_blob_storage(
    sim: Sim, storage_connection_string: str, tmp_path: Path
) -> None:
    """The activities' entry points, one call each as the orchestration makes them, on
    Azurite: JSON in and out (small), the snapshot equal to the one-shot capture."""
    container = f"stages-{uuid.uuid4().hex[:12]}"
    address = f"{storage_connection_string};Container={container}"
    conn = connect(Settings(store=address, graph_url=sim.url, graph_token=TOKEN))
    begun = await stages.begin_snapshot(conn, None, NOW.isoformat())
    assert set(begun) == {"tenantId", "snapshotId", "takenAt", "previousSnapshotId", "kinds"}
    finished = []
    for name in begun["kinds"]:
        cursor = None
        while True:
            chunk = await stages.capture_chunk(conn, orjson.loads(orjson.dumps(begun)), name,
                                               cursor)
            assert set(chunk) == {"kind", "done", "cursor", "count"}
            assert len(orjson.dumps(chunk)) < 4096
            if chunk["done"]:
                break
            cursor = chunk["cursor"]
        finished.append(await stages.finish_kind(conn, begun, name))
    done = await stages.finish_snapshot(conn, begun, finished)
    assert done["snapshotId"] == begun["snapshotId"]
    assert set(done["counts"]) == {kind.name for kind in ALL_KINDS}
    store = open_store(address)
    assert store.staging().list_files(begun["tenantId"], begun["snapshotId"]) == []
    reference_store = FolderStore(tmp_path / "reference")
    async with session_for(sim) as session:
        reference = await capture(session, reference_store, now=NOW)
    assert verify_snapshot(store, done["tenantId"], done["snapshotId"]).ok
    for name in reference.manifest["kinds"]:
        stored = store.read_bytes(done["tenantId"], done["snapshotId"], kind_file(name))
        assert stored == reference_store.read_bytes(
            reference.tenant_id, reference.snapshot_id, kind_file(name)), name


async def test_a_kind_too_big_for_one_chunk_keeps_its_group_members(sim: Sim,
                                                                    tmp_path: Path) -> None:
    """A group whose members@delta arrive on several pages (and so in several chunks)
    is folded back together across the runs."""
    sim.reset(synthetic=25_000, random_seed=11)
    state = sim.state()
    members: dict[str, set[str]] = {}
    for link in state["links"]:
        if link["link"] == "members":
            members.setdefault(link["source"], set()).add(link["target"])
    store = FolderStore(tmp_path / "store")
    async with session_for(sim) as session:
        result = await capture(session, store, kinds=[KINDS_BY_NAME["groups"]], chunk_pages=2,
                               spill_limit=500)
    with store.open(result.tenant_id, result.snapshot_id, kind_file("groups")) as raw:
        records = [orjson.loads(line) for line in gzip.GzipFile(fileobj=raw)]
    assert max(len(v) for v in members.values()) >= 2_000
    for record in records:
        assert set(record["links"].get("members", [])) == members.get(record["id"], set())


def test_reading_order_starts_the_fan_out_kinds_first() -> None:
    """The big collections with per-object reads (owners, assignments: one `$batch` entry
    per object, https://learn.microsoft.com/en-us/graph/json-batching) start first, the
    users delta next, the small kinds last; every kind is read exactly once."""
    order = stages.reading_order(ALL_KINDS)
    assert sorted(order) == sorted(kind.name for kind in ALL_KINDS)
    assert order[:4] == ["servicePrincipals", "groups", "applications", "users"]
    assert order.index("organization") > order.index("agentIdentities")
    assert order[-1] == "conditionalAccessPolicies"  # rank order among the plain ones
    assert stages.reading_order([KINDS_BY_NAME["users"], KINDS_BY_NAME["groups"]]) == [
        "groups", "users"]
