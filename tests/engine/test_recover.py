"""Point-in-time recovery against graphsim: each rule of the plan and the executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from entra_backup.store import FolderStore
from tests.conftest import Sim
from tests.engine.recover_helpers import plan_and_apply, report, snap
from tests.engine.test_diff import cloud_user, first


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "store")


async def test_updated_user_is_reverted_and_verification_is_empty(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    user = cloud_user(sim)
    assert sim.client.patch(f"/users/{user['id']}",
                            json={"jobTitle": "Attacker", "department": None}).status_code == 204
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    assert [(r["kind"], r["id"], r["action"], r["outcome"]) for r in results] == [
        ("users", user["id"], "update", "applied")]
    now = sim.client.get(f"/users/{user['id']}?$select=jobTitle,department").json()
    assert now["jobTitle"] == user.get("jobTitle")
    assert now["department"] == user.get("department")
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []


def _member_ids(sim: Sim, group_id: str) -> list[str]:
    body = sim.client.get(f"/groups/{group_id}/members?$select=id&$top=999").json()
    return sorted(m["id"] for m in body["value"])


async def test_soft_deleted_user_comes_back_with_its_id_and_snapshot_values(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Leaver"}).raise_for_status()
    assert sim.client.delete(f"/users/{user['id']}").status_code == 204
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    assert [(r["id"], r["action"], r["outcome"]) for r in results] == [
        (user["id"], "restore", "applied")]
    now = sim.client.get(f"/users/{user['id']}?$select=id,jobTitle")
    assert now.status_code == 200
    assert now.json()["jobTitle"] == user.get("jobTitle")  # reverted after the restore
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []


async def test_created_objects_are_soft_deleted_or_disabled_never_purged(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    group = sim.client.post("/groups", json={"displayName": "Rogue", "mailEnabled": False,
                                             "mailNickname": "rogue", "securityEnabled": True})
    policy = sim.client.post("/identity/conditionalAccess/policies", json={
        "displayName": "Rogue CA", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]},
                       "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    assert group.status_code == 201 and policy.status_code == 201
    purged = sim.stats()["permanentDeletes"]
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    outcome = {r["id"]: (r["action"], r["outcome"]) for r in results}
    assert outcome[group.json()["id"]] == ("softDelete", "applied")
    assert outcome[policy.json()["id"]] == ("update", "applied")
    binned = sim.client.get(f"/directory/deletedItems/{group.json()['id']}")
    assert binned.status_code == 200  # in the recycle bin, restorable
    state = sim.client.get(f"/identity/conditionalAccess/policies/{policy.json()['id']}")
    assert state.json()["state"] == "disabled"
    assert sim.stats()["permanentDeletes"] == purged


async def test_membership_owner_and_grant_changes_are_undone(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    group = first(sim, "groups", lambda g: g.get("groupTypes") == []
                  and not g.get("onPremisesSyncEnabled") and not g.get("mailEnabled"))
    before = _member_ids(sim, group["id"])
    user = cloud_user(sim)
    extra = next(u["id"] for u in sim.state()["objects"]["users"]
                 if u["id"] not in before and not u.get("onPremisesSyncEnabled")
                 and "@odata.type" not in u)
    ref = {"@odata.id": f"{sim.graph}/directoryObjects/{extra}"}
    assert sim.client.post(f"/groups/{group['id']}/members/$ref", json=ref).status_code == 204
    if before:
        gone = before[0]
        assert sim.client.delete(f"/groups/{group['id']}/members/{gone}/$ref").status_code == 204
    grant = sim.state()["objects"]["oauth2PermissionGrants"][0]
    assert sim.client.patch(f"/oauth2PermissionGrants/{grant['id']}",
                            json={"scope": "Directory.ReadWrite.All"}).status_code == 204
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    assert all(r["outcome"] == "applied" for r in results), results
    assert _member_ids(sim, group["id"]) == before
    assert sim.client.get(f"/oauth2PermissionGrants/{grant['id']}").json()["scope"] == \
        grant["scope"]
    assert user  # the tenant had cloud users to pick from


async def test_new_client_secret_is_removed_and_a_deleted_one_is_reported(
    sim: Sim, store: FolderStore
) -> None:
    app = first(sim, "applications", lambda a: "@odata.type" not in a
                and a.get("passwordCredentials"))
    tenant, snapshot = await snap(sim, store)
    old = app["passwordCredentials"][0]["keyId"]
    added = sim.client.post(f"/applications/{app['id']}/addPassword",
                            json={"passwordCredential": {"displayName": "backdoor"}})
    assert added.status_code == 200
    assert sim.client.post(f"/applications/{app['id']}/removePassword",
                           json={"keyId": old}).status_code == 204
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    [result] = [r for r in results if r["id"] == app["id"]]
    assert "cannot be restored" in (result["detail"] or "")
    creds = sim.client.get(f"/applications/{app['id']}?$select=passwordCredentials").json()
    key_ids = {c["keyId"] for c in creds["passwordCredentials"]}
    assert added.json()["keyId"] not in key_ids
    assert old not in key_ids  # a deleted secret cannot come back: reported, not faked
