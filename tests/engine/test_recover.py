"""Point-in-time recovery against graphsim: each rule of the plan and the executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.recover_helpers import plan_and_apply, report, snap
from tests.engine.test_capture import session_for
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


async def _incident(sim: Sim) -> dict[str, str]:
    """A small mixed incident: an edit, a soft delete, a creation, a membership change."""
    users = [u for u in sim.state()["objects"]["users"]
             if not u.get("onPremisesSyncEnabled") and "@odata.type" not in u]
    edited, deleted = users[0], users[1]
    group = first(sim, "groups", lambda g: g.get("groupTypes") == []
                  and not g.get("onPremisesSyncEnabled") and not g.get("mailEnabled"))
    sim.client.patch(f"/users/{edited['id']}", json={"jobTitle": "X"}).raise_for_status()
    sim.client.delete(f"/users/{deleted['id']}").raise_for_status()
    created = sim.client.post("/groups", json={"displayName": "New", "mailEnabled": False,
                                               "mailNickname": "newg", "securityEnabled": True})
    created.raise_for_status()
    ref = {"@odata.id": f"{sim.graph}/directoryObjects/{users[2]['id']}"}
    sim.client.post(f"/groups/{group['id']}/members/$ref", json=ref)
    return {"edited": edited["id"], "deleted": deleted["id"], "created": created.json()["id"],
            "group": group["id"]}


def _writes(sim: Sim) -> int:
    requests = sim.stats()["requests"]
    return sum(sum(kinds.values()) for method, kinds in requests.items() if method != "GET")


async def test_dry_run_plans_in_order_and_writes_nothing(sim: Sim, store: FolderStore,
                                                        tmp_path: Path) -> None:
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan, iter_steps

    tenant, snapshot = await snap(sim, store)
    ids = await _incident(sim)
    report_id, _ = await report(sim, store, tenant, snapshot)
    writes = _writes(sim)
    scratch = FolderStore(tmp_path / "scratch")
    plan = build_plan(store, tenant, report_id, Selection(), PlanOptions(), target=scratch)
    planned = list(iter_steps(scratch, plan))
    actions = [(s["action"], s["id"]) for s in planned]
    assert actions.index(("restore", ids["deleted"])) < actions.index(("update", ids["edited"]))
    assert actions[-1] == ("softDelete", ids["created"])  # soft-deletes last
    assert _writes(sim) == writes  # not one write to the tenant
    assert store.recoveries().list_snapshots(tenant, include_incomplete=True) == []


async def test_a_plan_run_twice_changes_nothing_more(sim: Sim, store: FolderStore) -> None:
    from entra_backup.recover.apply import apply_wave

    tenant, snapshot = await snap(sim, store)
    ids = await _incident(sim)
    plan, first_run = await plan_and_apply(sim, store, tenant, snapshot)
    assert {r["outcome"] for r in first_run} == {"applied"}
    members = _member_ids(sim, ids["group"])
    async with session_for(sim) as session:
        again = await apply_wave(session, store.recoveries(), plan, 0, plan["steps"])
    outcomes = {r["id"]: r["outcome"] for r in again.results}
    assert outcomes[ids["deleted"]] == "skipped"  # not deleted any more: nothing to restore
    assert outcomes[ids["created"]] == "skipped"  # already in the recycle bin
    assert outcomes[ids["group"]] == "skipped"  # the member is already gone
    assert "failed" not in outcomes.values()
    assert _member_ids(sim, ids["group"]) == members
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
async def test_resume_after_a_crash_between_waves_has_no_duplicate_effect(
    sim: Sim, store: FolderStore, crash_after: int
) -> None:
    from entra_backup.recover.apply import apply_wave
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan

    tenant, snapshot = await snap(sim, store)
    await _incident(sim)
    report_id, _ = await report(sim, store, tenant, snapshot)
    plan = build_plan(store, tenant, report_id, Selection(), PlanOptions())
    cursor = 0
    async with session_for(sim) as session:  # the first worker: `crash_after` waves, gone
        for _ in range(crash_after):
            cursor = (await apply_wave(session, store.recoveries(), plan, cursor, 1)).next_cursor
    replayed = max(0, cursor - 1)  # the crashed worker's last wave is replayed in full
    async with session_for(sim) as session:
        while replayed < plan["steps"]:
            wave = await apply_wave(session, store.recoveries(), plan, replayed, 1)
            assert all(r["outcome"] != "failed" for r in wave.results), wave.results
            replayed = wave.next_cursor
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []
    assert sim.stats()["permanentDeletes"] == 0


async def test_break_glass_lockout_is_refused_before_any_write(
    sim: Sim, store: FolderStore
) -> None:
    from entra_backup.errors import RecoveryRefusedError
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan

    policy = first(sim, "conditionalAccessPolicies", lambda p: p["state"] == "enabled")
    account = cloud_user(sim)["id"]
    block = {"state": "enabled", "grantControls": {"operator": "OR",
                                                   "builtInControls": ["block"]},
             "conditions": {**policy["conditions"],
                            "users": {"includeUsers": ["All"], "excludeUsers": []}}}
    path = f"/identity/conditionalAccess/policies/{policy['id']}"
    assert sim.client.patch(path, json=block).status_code == 204
    tenant, snapshot = await snap(sim, store)  # the snapshot itself would lock them out
    assert sim.client.patch(path, json={"state": "disabled"}).status_code == 204
    report_id, _ = await report(sim, store, tenant, snapshot)
    writes = _writes(sim)
    with pytest.raises(RecoveryRefusedError, match=account):
        build_plan(store, tenant, report_id, Selection(),
                   PlanOptions(break_glass=[account]))
    assert _writes(sim) == writes
    plan = build_plan(store, tenant, report_id, Selection(),
                      PlanOptions(break_glass=[account], report_only_ca=True))
    assert plan["steps"] == 1  # report-only is not enforced: allowed


async def test_report_only_ca_brings_policies_back_unenforced(
    sim: Sim, store: FolderStore
) -> None:
    from entra_backup.recover.plan import PlanOptions

    policy = first(sim, "conditionalAccessPolicies", lambda p: p["state"] == "enabled")
    tenant, snapshot = await snap(sim, store)
    path = f"/identity/conditionalAccess/policies/{policy['id']}"
    assert sim.client.patch(path, json={"state": "disabled",
                                        "displayName": "tampered"}).status_code == 204
    _, results = await plan_and_apply(sim, store, tenant, snapshot,
                                      options=PlanOptions(report_only_ca=True))
    assert [r["outcome"] for r in results] == ["applied"]
    now = sim.client.get(path).json()
    assert now["state"] == "enabledForReportingButNotEnforced"
    assert now["displayName"] == policy["displayName"]


async def test_storms_of_429_and_5xx_and_an_expiring_token_lose_nothing(
    sim: Sim, store: FolderStore
) -> None:
    """Throttling (with and without Retry-After), 503/504 answers, dropped connections and a
    token that expires every 0.25 s: the recovery ends with nothing failed and nothing
    doubled, the same as a quiet run."""
    import time

    from azure.core.credentials import AccessToken

    from entra_backup.graph.session import CredentialTokenProvider, GraphSession
    from entra_backup.recover.apply import apply_wave
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan
    from tests.conftest import TOKEN

    class ShortLived:
        async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            expires = time.time() + 0.25
            return AccessToken(f"{TOKEN};exp={expires:.3f}", int(expires) + 3600)

        async def close(self) -> None:
            return None

    tenant, snapshot = await snap(sim, store)
    ids = await _incident(sim)
    report_id, _ = await report(sim, store, tenant, snapshot)
    plan = build_plan(store, tenant, report_id, Selection(), PlanOptions())
    sim.configure(throttle="graph", time_scale=50, spurious_429_rate=0.2, fail_rate=0.15,
                  drop_rate=0.05, latency_ms=20)
    results = []
    async with GraphSession(base_url=sim.url, tokens=CredentialTokenProvider(ShortLived()),
                            backoff_base=0.01, backoff_max=0.3) as session:
        cursor = 0
        while cursor < plan["steps"]:
            wave = await apply_wave(session, store.recoveries(), plan, cursor, 2)
            results += wave.results
            cursor = wave.next_cursor
        refused = session.stats.retries
    sim.configure(throttle="off", spurious_429_rate=0, fail_rate=0, drop_rate=0, latency_ms=0)
    assert refused > 0  # the storm really hit the run
    assert [r["outcome"] for r in results if r["outcome"] == "failed"] == [], results
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []
    members = _member_ids(sim, ids["group"])
    assert len(members) == len(set(members))


async def test_recreate_hard_deleted_user_rewrites_every_reference(
    sim: Sim, store: FolderStore
) -> None:
    from entra_backup.recover.plan import PlanOptions

    state = sim.state()
    group = first(sim, "groups", lambda g: g.get("groupTypes") == []
                  and not g.get("onPremisesSyncEnabled") and not g.get("mailEnabled"))
    user = cloud_user(sim)
    report_user = next(u for u in state["objects"]["users"] if u["id"] != user["id"]
                       and not u.get("onPremisesSyncEnabled") and "@odata.type" not in u)
    policy = first(sim, "conditionalAccessPolicies")
    ref = {"@odata.id": f"{sim.graph}/directoryObjects/{user['id']}"}
    sim.client.post(f"/groups/{group['id']}/members/$ref", json=ref)
    sim.client.put(f"/users/{report_user['id']}/manager/$ref", json=ref).raise_for_status()
    users = dict(policy["conditions"]["users"])
    users["excludeUsers"] = [*users.get("excludeUsers", []), user["id"]]
    sim.client.patch(f"/identity/conditionalAccess/policies/{policy['id']}",
                     json={"conditions": {**policy["conditions"], "users": users}}
                     ).raise_for_status()
    tenant, snapshot = await snap(sim, store)
    assert sim.client.delete(f"/users/{user['id']}").status_code == 204
    assert sim.client.delete(f"/directory/deletedItems/{user['id']}").status_code == 204
    _, plain = await plan_and_apply(sim, store, tenant, snapshot)
    assert [r["action"] for r in plain if r["id"] == user["id"]] == ["none"]
    _, results = await plan_and_apply(sim, store, tenant, snapshot,
                                      options=PlanOptions(recreate_hard_deleted=True))
    assert not [r for r in results if r["outcome"] == "failed"], results
    found = sim.client.get(f"/users?$filter=userPrincipalName eq '{user['userPrincipalName']}'"
                           "&$select=id,accountEnabled").json()["value"]
    assert len(found) == 1 and found[0]["id"] != user["id"]
    new_id = found[0]["id"]
    assert new_id in _member_ids(sim, group["id"])
    manager = sim.client.get(f"/users/{report_user['id']}/manager?$select=id").json()
    assert manager["id"] == new_id
    now = sim.client.get(f"/identity/conditionalAccess/policies/{policy['id']}").json()
    assert new_id in now["conditions"]["users"]["excludeUsers"]
    assert user["id"] not in now["conditions"]["users"]["excludeUsers"]
    assert sim.stats()["permanentDeletes"] == 1  # the test's own purge, nothing more


async def test_certificates_come_back_with_their_public_keys_and_new_ones_go(
    sim: Sim, store: FolderStore
) -> None:
    """Capture reads a certificate's public key with a single-object GET (lists never carry
    it), so a certificate deleted since the snapshot can be put back, and one an attacker
    added is removed."""
    import uuid

    app = first(sim, "applications", lambda a: "@odata.type" not in a)
    cert = {"keyId": str(uuid.uuid4()), "type": "AsymmetricX509Cert", "usage": "Verify",
            "displayName": "CN=original", "key": "T1JJR0lOQUwtS0VZ"}
    path = f"/applications/{app['id']}"
    sim.client.patch(path, json={"keyCredentials": [cert]}).raise_for_status()
    tenant, snapshot = await snap(sim, store)
    rogue = {**cert, "keyId": str(uuid.uuid4()), "displayName": "CN=rogue",
             "key": "Uk9HVUUtS0VZ"}
    sim.client.patch(path, json={"keyCredentials": [rogue]}).raise_for_status()
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    assert [(r["id"], r["outcome"]) for r in results] == [(app["id"], "applied")], results
    now = sim.client.get(f"{path}?$select=keyCredentials").json()["keyCredentials"]
    assert [(c["keyId"], c["key"]) for c in now] == [(cert["keyId"], cert["key"])]
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []


async def test_a_re_creation_repeated_after_a_lost_id_map_creates_nothing_twice(
    sim: Sim, store: FolderStore
) -> None:
    """The POST succeeded but the process died before the job kept the new id: the next run
    finds the user by its principal name instead of making a second one."""
    from entra_backup.recover.apply import apply_wave
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan

    user = cloud_user(sim)
    tenant, snapshot = await snap(sim, store)
    sim.client.delete(f"/users/{user['id']}").raise_for_status()
    sim.client.delete(f"/directory/deletedItems/{user['id']}").raise_for_status()
    report_id, _ = await report(sim, store, tenant, snapshot)
    plan = build_plan(store, tenant, report_id, Selection(),
                      PlanOptions(recreate_hard_deleted=True))
    async with session_for(sim) as session:
        first_run = await apply_wave(session, store.recoveries(), plan, 0, plan["steps"])
        again = await apply_wave(session, store.recoveries(), plan, 0, plan["steps"])  # no map
    assert again.id_map == first_run.id_map
    found = sim.client.get(f"/users?$filter=userPrincipalName eq '{user['userPrincipalName']}'"
                           "&$select=id").json()["value"]
    assert [u["id"] for u in found] == [first_run.id_map[user["id"]]]


async def test_deleted_ca_policy_and_service_principal_are_restored(
    sim: Sim, store: FolderStore
) -> None:
    """A CA policy comes back from the CA recycle bin (beta), a service principal from the
    directory bin; neither is re-created with a new id."""
    policy = first(sim, "conditionalAccessPolicies")
    principal = first(sim, "servicePrincipals", lambda p: "@odata.type" not in p
                      and p.get("appOwnerOrganizationId") == sim.state()["tenantId"])
    tenant, snapshot = await snap(sim, store)
    assert sim.client.delete(
        f"/identity/conditionalAccess/policies/{policy['id']}").status_code == 204
    assert sim.client.delete(f"/servicePrincipals/{principal['id']}").status_code == 204
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    assert sorted((r["id"], r["action"], r["outcome"]) for r in results) == sorted([
        (policy["id"], "restore", "applied"), (principal["id"], "restore", "applied")])
    assert sim.client.get(
        f"/identity/conditionalAccess/policies/{policy['id']}").status_code == 200
    assert sim.client.get(f"/servicePrincipals/{principal['id']}").status_code == 200
    _, left = await report(sim, store, tenant, snapshot)
    assert left == []


async def test_a_grant_changed_before_its_user_was_deleted_is_reverted_not_removed(
    sim: Sim, store: FolderStore
) -> None:
    """The user's soft deletion must not hide that its grant was widened first: the report
    keeps both halves of the in-place change, and recovery restores the user and the scope
    (it once read the lone `added` half as a grant to delete)."""
    tenant, snapshot = await snap(sim, store)
    grant = next(g for g in sim.state()["objects"]["oauth2PermissionGrants"]
                 if g["consentType"] == "Principal")
    sim.client.patch(f"/oauth2PermissionGrants/{grant['id']}",
                     json={"scope": "Directory.ReadWrite.All"}).raise_for_status()
    sim.client.delete(f"/users/{grant['principalId']}").raise_for_status()
    _, damage = await report(sim, store, tenant, snapshot)
    [change] = [link for e in damage for link in e["links"]
                if link["link"] == "oauth2PermissionGrants"]
    assert [g["scope"] for g in change["removed"]] == [grant["scope"]]
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    assert {r["outcome"] for r in results} == {"applied"}, results
    assert sim.client.get(f"/oauth2PermissionGrants/{grant['id']}").json()["scope"] == \
        grant["scope"]
    _, left = await report(sim, store, tenant, snapshot, use_delta=False)
    assert left == []
