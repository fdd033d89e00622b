"""Capture against graphsim and Azurite as real servers: complete, exact, and robust."""

from __future__ import annotations

import gzip
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from entra_backup.capture.snapshot import MANIFEST, capture, kind_file
from entra_backup.graph.session import GraphSession, StaticTokenProvider
from entra_backup.kinds import ALL_KINDS, KINDS_BY_NAME
from entra_backup.store.snapshots import FolderStore, SnapshotStore, open_store
from tests.conftest import TOKEN, Sim

# Which simulator objects each kind must capture, written out here rather than read from the
# kind declarations under test: the collection, and the derived type (None: the base type
# only). Agent types live in their base collections (graph.md 5) and belong to their own kinds.
KIND_OBJECTS: dict[str, tuple[str, str | None]] = {
    "users": ("users", None),
    "agentUsers": ("users", "#microsoft.graph.agentUser"),
    "groups": ("groups", None),
    "applications": ("applications", None),
    "agentIdentityBlueprints": ("applications", "#microsoft.graph.agentIdentityBlueprint"),
    "servicePrincipals": ("servicePrincipals", None),
    "agentIdentities": ("servicePrincipals", "#microsoft.graph.agentIdentity"),
    "agentIdentityBlueprintPrincipals": (
        "servicePrincipals", "#microsoft.graph.agentIdentityBlueprintPrincipal"),
    "conditionalAccessPolicies": ("conditionalAccessPolicies", None),
    "namedLocations": ("namedLocations", "*"),  # abstract base: every derived location
    "organization": ("organization", None),
    "authorizationPolicy": ("authorizationPolicy", None),
    "authenticationMethodsPolicy": ("authenticationMethodsPolicy", None),
}
# What Graph never returns on a read, so no capture can hold it (graph.md 4.1: the password
# is write-only); everything else the simulator holds must come back unchanged.
NEVER_READ = frozenset({"passwordProfile"})


def session_for(sim: Sim, token: str = TOKEN, **options: Any) -> GraphSession:
    options.setdefault("backoff_base", 0.01)
    options.setdefault("backoff_max", 0.5)
    return GraphSession(base_url=sim.url, tokens=StaticTokenProvider(token), **options)


def read_kind(store: SnapshotStore, tenant: str, snapshot: str, kind: str) -> list[dict]:
    with store.open(tenant, snapshot, kind_file(kind)) as handle:
        return [orjson.loads(line) for line in gzip.GzipFile(fileobj=handle)]


def expected_objects(state: dict, kind_name: str) -> dict[str, dict]:
    """The simulator's objects that belong to a kind, by KIND_OBJECTS (not the kind)."""
    collection, odata_type = KIND_OBJECTS[kind_name]
    return {obj["id"]: obj for obj in state["objects"][collection]
            if odata_type == "*" or obj.get("@odata.type") == odata_type}


@pytest.fixture
def folder_store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "snapshots")


@pytest.fixture
def blob_store(storage_connection_string: str) -> SnapshotStore:
    return open_store(f"{storage_connection_string};Container=cap-{uuid.uuid4().hex[:12]}")


async def test_every_kind_captured_with_every_declared_property(
    sim: Sim, folder_store: FolderStore
) -> None:
    state = sim.state()
    async with session_for(sim) as session:
        result = await capture(session, folder_store)
    assert set(result.counts) == set(KIND_OBJECTS)
    links = defaultdict(lambda: defaultdict(list))
    for link in state["links"]:
        links[link["link"]][link["source"]].append(link["target"])
    for kind in ALL_KINDS:
        records = read_kind(folder_store, result.tenant_id, result.snapshot_id, kind.name)
        expected = expected_objects(state, kind.name)
        assert [r["id"] for r in records] == sorted(expected), kind.name
        assert result.counts[kind.name] == len(expected)
        for record in records:
            source = expected[record["id"]]
            differ = [name for name, value in source.items()
                      if name not in NEVER_READ and record["object"].get(name) != value]
            assert not differ, (kind.name, differ)
            assert "secretText" not in orjson.dumps(record).decode()
            for nav, by_source in links.items():  # every link the simulator holds
                assert sorted(record["links"].get(nav, [])) == sorted(
                    by_source.get(record["id"], [])), (kind.name, nav)


async def test_service_principal_assignments_and_grants_are_captured(
    sim: Sim, folder_store: FolderStore
) -> None:
    state = sim.state()
    async with session_for(sim) as session:
        result = await capture(session, folder_store,
                               kinds=[KINDS_BY_NAME["servicePrincipals"]])
    records = {r["id"]: r for r in read_kind(folder_store, result.tenant_id,
                                             result.snapshot_id, "servicePrincipals")}
    assigned = defaultdict(set)
    for assignment in state["objects"]["appRoleAssignments"]:
        assigned[assignment["resourceId"]].add(assignment["id"])
    grants = defaultdict(set)
    for grant in state["objects"]["oauth2PermissionGrants"]:
        grants[grant["clientId"]].add(grant["id"])
    assert any(assigned.values()) and any(grants.values())
    for sp_id, record in records.items():
        got = {a["id"] for a in record["links"].get("appRoleAssignedTo", [])}
        assert got == assigned.get(sp_id, set())
        got_grants = {g["id"] for g in record["links"].get("oauth2PermissionGrants", [])}
        assert got_grants == grants.get(sp_id, set())


async def test_group_membership_is_complete_for_groups_with_thousands_of_members(
    sim: Sim, folder_store: FolderStore
) -> None:
    sim.reset(synthetic=25_000, random_seed=11)
    state = sim.state()
    members = defaultdict(set)
    for link in state["links"]:
        if link["link"] == "members":
            members[link["source"]].add(link["target"])
    biggest = max(members, key=lambda g: len(members[g]))
    assert len(members[biggest]) >= 2_000
    async with session_for(sim) as session:
        result = await capture(session, folder_store, kinds=[KINDS_BY_NAME["groups"]],
                               spill_limit=500)
    records = read_kind(folder_store, result.tenant_id, result.snapshot_id, "groups")
    for record in records:
        assert set(record["links"].get("members", [])) == members.get(record["id"], set())


async def test_capture_survives_throttling_faults_and_loses_nothing(
    sim: Sim, tmp_path: Path
) -> None:
    clean_store = FolderStore(tmp_path / "clean")
    async with session_for(sim) as session:
        clean = await capture(session, clean_store)
    sim.configure(throttle="graph", time_scale=50, spurious_429_rate=0.15, fail_rate=0.1,
                  drop_rate=0.03, ca_rate_per_second=2)
    rough_store = FolderStore(tmp_path / "rough")
    async with session_for(sim) as session:
        rough = await capture(session, rough_store)
    stats = sim.stats()
    assert stats["throttled"] > 0 and stats["faults"].get("failed", 0) > 0
    for name, entry in clean.manifest["kinds"].items():
        assert rough.manifest["kinds"][name]["sha256"] == entry["sha256"], name
        assert rough.manifest["kinds"][name]["count"] == entry["count"], name


async def test_same_tenant_twice_gives_identical_files_and_a_chain(
    sim: Sim, blob_store: SnapshotStore
) -> None:
    async with session_for(sim) as session:
        first = await capture(session, blob_store)
        second = await capture(session, blob_store)
    assert first.snapshot_id < second.snapshot_id
    for name, entry in first.manifest["kinds"].items():
        assert second.manifest["kinds"][name]["sha256"] == entry["sha256"]
    assert second.manifest["previousSnapshotId"] == first.snapshot_id
    import hashlib

    raw = blob_store.read_bytes(first.tenant_id, first.snapshot_id, MANIFEST)
    assert second.manifest["previousManifestSha256"] == hashlib.sha256(raw).hexdigest()
    assert blob_store.list_snapshots(first.tenant_id)[:2] == [second.snapshot_id,
                                                               first.snapshot_id]


async def test_capture_for_the_wrong_tenant_is_refused(sim: Sim, folder_store: FolderStore) -> None:
    from entra_backup.errors import EntraBackupError

    async with session_for(sim) as session:
        with pytest.raises(EntraBackupError, match="reaches tenant"):
            await capture(session, folder_store, tenant_id=str(uuid.uuid4()))
    assert folder_store.list_tenants() == []


async def test_folder_store_enforces_retention_at_capture(sim: Sim, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from entra_backup.store.verify import verify_snapshot

    store = FolderStore(tmp_path / "kept")
    kinds = [KINDS_BY_NAME["organization"]]
    now = datetime.now(UTC)
    taken = []
    async with session_for(sim) as session:
        for days_ago in (9, 7, 2, 0):
            result = await capture(session, store, kinds=kinds,
                                   now=now - timedelta(days=days_ago), retention_days=5)
            taken.append(result.snapshot_id)
    assert store.list_snapshots(result.tenant_id) == [taken[3], taken[2]]
    # the chain tolerates predecessors that aged out of retention, and only those
    assert verify_snapshot(store, result.tenant_id, taken[2], retention_days=5).ok


async def test_capture_survives_a_token_that_expires_mid_run(sim: Sim, tmp_path: Path) -> None:
    """Tokens live 0.25 s on the simulator's clock; the capture refreshes, loses nothing."""
    import time

    from azure.core.credentials import AccessToken

    from entra_backup.graph.session import CredentialTokenProvider

    class ShortLived:
        issued = 0

        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            self.issued += 1
            expires = time.time() + 0.25
            # the credential claims an hour, as a cached token would: only Graph's 401 tells
            return AccessToken(f"{TOKEN};exp={expires:.3f}", int(expires) + 3600)

        async def close(self) -> None:
            return None

    credential = ShortLived()
    clean = FolderStore(tmp_path / "clean")
    async with session_for(sim) as session:
        expected = await capture(session, clean)
    sim.configure(latency_ms=60)  # long enough that the run outlives one token
    store = FolderStore(tmp_path / "refreshed")
    provider = CredentialTokenProvider(credential)
    started = time.monotonic()
    async with GraphSession(base_url=sim.url, tokens=provider, backoff_base=0.01,
                            backoff_max=0.5) as session:
        result = await capture(session, store)
    elapsed = time.monotonic() - started
    assert credential.issued > 1, (session.stats.as_dict(), elapsed)
    for name, entry in expected.manifest["kinds"].items():
        assert result.manifest["kinds"][name]["sha256"] == entry["sha256"], name
