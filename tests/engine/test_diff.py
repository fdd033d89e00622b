"""Difference reports against graphsim: every change class, both live paths, and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from entra_backup.capture.snapshot import capture
from entra_backup.diff.report_schema import validate_entry, validate_header
from entra_backup.diff.reports import iter_entries, list_reports
from entra_backup.diff.run import DiffRequest, run_diff
from entra_backup.errors import SnapshotIntegrityError, SnapshotNotFoundError
from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.test_capture import session_for

Entries = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "store")


async def snap(sim: Sim, store: FolderStore) -> tuple[str, str]:
    async with session_for(sim) as session:
        result = await capture(session, store)
    return result.tenant_id, result.snapshot_id


async def diff(sim: Sim, store: FolderStore, tenant: str, snapshot: str,
               **options: Any) -> tuple[dict[str, Any], Entries]:
    request = DiffRequest(tenant_id=tenant, snapshot_id=snapshot, **options)
    async with session_for(sim) as session:
        result = await run_diff(store, request, session=session)
    entries = list(iter_entries(store, tenant, result.report_id))
    validate_header(result.header)
    for entry in entries:
        validate_entry(entry)
    assert result.header["summary"]["total"] == len(entries)
    return result.header, {(e["kind"], e["id"]): e for e in entries}


def first(sim: Sim, path: str, predicate: Any = lambda o: True) -> dict[str, Any]:
    state = sim.state()
    return next(o for o in state["objects"][path] if predicate(o))


def cloud_user(sim: Sim) -> dict[str, Any]:
    return first(sim, "users", lambda u: not u.get("onPremisesSyncEnabled")
                 and "@odata.type" not in u and u.get("userType") == "Member")


async def test_unchanged_tenant_gives_an_empty_report_on_both_paths(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    header, entries = await diff(sim, store, tenant, snapshot)
    assert entries == {}
    assert header["summary"]["livePath"]["users"] == "delta"
    assert header["summary"]["livePath"]["conditionalAccessPolicies"] == "full"
    _, full = await diff(sim, store, tenant, snapshot, use_delta=False)
    assert full == {}
    _, second = await snap(sim, store)
    _, between = await diff(sim, store, tenant, snapshot, against=second)
    assert between == {}


async def test_property_link_create_and_delete_changes_with_attribution(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    user = cloud_user(sim)
    client = sim.client
    assert client.patch(f"/users/{user['id']}", json={"jobTitle": "Incident"}).status_code == 204
    group = first(sim, "groups", lambda g: not g.get("onPremisesSyncEnabled")
                  and "DynamicMembership" not in g.get("groupTypes", [])
                  and not g.get("mailEnabled"))
    members = client.get(f"/groups/{group['id']}/members?$select=id").json()["value"]
    removed_member = members[0]["id"]
    assert client.delete(f"/groups/{group['id']}/members/{removed_member}/$ref"
                         ).status_code == 204
    created = client.post("/users", json={
        "accountEnabled": True, "displayName": "New Hire", "mailNickname": "newhire",
        "userPrincipalName": "newhire@" + user["userPrincipalName"].split("@")[1],
        "passwordProfile": {"password": "Xy!12345678"}}).json()
    victim = next(u for u in sim.state()["objects"]["users"]
                  if u["id"] not in (user["id"], created["id"])
                  and not u.get("onPremisesSyncEnabled") and "@odata.type" not in u)
    assert client.delete(f"/users/{victim['id']}").status_code == 204
    app = first(sim, "applications", lambda a: "@odata.type" not in a)
    owner = cloud_user(sim)
    client.post(f"/applications/{app['id']}/owners/$ref",
                json={"@odata.id": f"{sim.graph}/directoryObjects/{owner['id']}"})
    header, entries = await diff(sim, store, tenant, snapshot)

    updated = entries[("users", user["id"])]
    assert updated["change"] == "updated" and updated["recoverable"] is True
    assert {"path": "jobTitle", "before": user.get("jobTitle"), "after": "Incident"} in \
        updated["properties"]
    assert updated["changedBy"][0]["activity"] == "Update user"
    assert updated["changedBy"][0]["by"]["displayName"] == "entra-backup-tests"
    membership = entries[("groups", group["id"])]
    assert {"link": "members", "targetKind": None, "added": [],
            "removed": [removed_member]} in membership["links"]
    assert entries[("users", created["id"])]["change"] == "created"
    gone = entries[("users", victim["id"])]
    assert (gone["change"], gone["deletion"], gone["recoverable"]) == ("deleted", "soft", True)
    owners = entries[("applications", app["id"])]["links"]
    assert any(link["link"] == "owners" and owner["id"] in link["added"] for link in owners)
    assert header["summary"]["byChange"]["created"] == 1
    assert header["summary"]["byChange"]["deleted"] == 1
    only_consequences(entries, {("users", user["id"]), ("groups", group["id"]),
                                ("applications", app["id"]), ("users", created["id"]),
                                ("users", victim["id"])}, victim["id"])
    # the same answers without the delta path
    _, full = await diff(sim, store, tenant, snapshot, use_delta=False)
    assert _without_audit(full) == _without_audit(entries)


def only_consequences(entries: Entries, explained: set[tuple[str, str]], deleted: str) -> None:
    """A soft-deleted object's vanishing from groups, manager and owner lists is not repeated
    on each of them (restoring it brings them back): only the explained entries remain."""
    assert set(entries) == explained
    for key, entry in entries.items():
        if key[1] != deleted:
            assert all(deleted not in link["removed"] for link in entry["links"]), entry


def _without_audit(entries: Entries) -> Entries:
    return {key: {k: v for k, v in e.items() if k != "changedBy"} for key, e in entries.items()}


async def test_deep_conditional_access_edit_and_added_exclusion(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    policy = first(sim, "conditionalAccessPolicies")
    user = cloud_user(sim)
    conditions = policy["conditions"]
    excluded = list(conditions["users"].get("excludeUsers") or [])
    conditions["users"]["excludeUsers"] = [*excluded, user["id"]]
    conditions["clientAppTypes"] = ["browser"]
    answer = sim.client.patch(f"/identity/conditionalAccess/policies/{policy['id']}",
                              json={"conditions": conditions})
    assert answer.status_code == 204, answer.text
    _, entries = await diff(sim, store, tenant, snapshot)
    entry = entries[("conditionalAccessPolicies", policy["id"])]
    paths = {p["path"]: p for p in entry["properties"]}
    assert paths["conditions.users.excludeUsers"]["after"] == [*excluded, user["id"]]
    assert "conditions.clientAppTypes" in paths
    assert "modifiedDateTime" not in paths  # volatile
    assert {"link": "conditions.users.excludeUsers", "targetKind": "users", "reference": True,
            "added": [user["id"]], "removed": []} in entry["links"]


async def test_hard_deletes_secrets_and_named_location_bin(sim: Sim, store: FolderStore) -> None:
    tenant, snapshot = await snap(sim, store)
    doomed = cloud_user(sim)
    assert sim.client.delete(f"/users/{doomed['id']}").status_code == 204
    assert sim.client.delete(f"/directory/deletedItems/{doomed['id']}").status_code == 204
    app = first(sim, "applications", lambda a: "@odata.type" not in a)
    secret = sim.client.post(f"/applications/{app['id']}/addPassword",
                             json={"passwordCredential": {"displayName": "backdoor"}})
    assert secret.status_code == 200
    # Graph refuses to delete a trusted location or one a policy still names: pick an unused
    # one and untrust it first.
    policies = sim.state()["objects"]["conditionalAccessPolicies"]
    named = {i for p in policies for key in ("includeLocations", "excludeLocations")
             for i in ((p.get("conditions") or {}).get("locations") or {}).get(key) or []}
    location = first(sim, "namedLocations", lambda n: n["id"] not in named)
    if location.get("isTrusted"):
        sim.client.patch(f"/identity/conditionalAccess/namedLocations/{location['id']}", json={
            "@odata.type": location["@odata.type"], "isTrusted": False}).raise_for_status()
    assert sim.client.delete(
        f"/identity/conditionalAccess/namedLocations/{location['id']}").status_code == 204
    _, entries = await diff(sim, store, tenant, snapshot)
    hard = entries[("users", doomed["id"])]
    assert (hard["deletion"], hard["recoverable"]) == ("hard", False)
    assert "hard_deleted" in hard["reasons"]
    credential = entries[("applications", app["id"])]
    assert credential["properties"][0]["path"] == "passwordCredentials"
    assert "secret_cannot_be_restored" in credential["reasons"]
    assert credential["recoverable"] is False
    assert "secretText" not in str(credential)
    soft = entries[("namedLocations", location["id"])]
    assert (soft["change"], soft["deletion"]) == ("deleted", "soft")


async def test_synced_objects_are_shown_not_recoverable_and_soa_conversion(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    synced_user = first(sim, "users", lambda u: u.get("onPremisesSyncEnabled"))
    synced_group = first(sim, "groups", lambda g: g.get("onPremisesSyncEnabled"))
    sim.control.post("/sync", json={"id": synced_user["id"], "set": {"department": "Moved"}}
                     ).raise_for_status()
    converted = sim.client.patch(f"{sim.beta}/groups/{synced_group['id']}/onPremisesSyncBehavior",
                                 json={"isCloudManaged": True})
    assert converted.status_code == 204, converted.text
    _, entries = await diff(sim, store, tenant, snapshot)
    user_entry = entries[("users", synced_user["id"])]
    assert user_entry["recoverable"] is False
    assert user_entry["reasons"] == ["synced_from_on_premises"]
    assert user_entry["sourceOfAuthority"] == "onPremises"
    soa = entries[("groups", synced_group["id"])]
    assert soa["sourceOfAuthority"] == "cloud"
    assert "source_of_authority_changed" in soa["reasons"]
    assert {"path": "onPremisesSyncEnabled", "before": True, "after": False} in soa["properties"]


async def test_expired_delta_link_falls_back_to_a_full_read_with_the_same_result(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"officeLocation": "Moon"})
    _, fresh = await diff(sim, store, tenant, snapshot)
    sim.advance(8 * 24 * 3600)
    header, expired = await diff(sim, store, tenant, snapshot)
    assert header["summary"]["livePath"]["users"] == "full"
    assert _without_audit(expired) == _without_audit(fresh)
    assert set(fresh) == {("users", user["id"])}


async def test_snapshot_against_snapshot_and_filters(sim: Sim, store: FolderStore) -> None:
    tenant, first_id = await snap(sim, store)
    user = cloud_user(sim)
    other = next(u for u in sim.state()["objects"]["users"]
                 if u["id"] != user["id"] and not u.get("onPremisesSyncEnabled")
                 and "@odata.type" not in u)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "A"})
    sim.client.patch(f"/users/{other['id']}", json={"jobTitle": "B"})
    sim.client.delete(f"/users/{other['id']}")
    _, second_id = await snap(sim, store)
    _, between = await diff(sim, store, tenant, first_id, against=second_id)
    assert between[("users", user["id"])]["properties"][0]["after"] == "A"
    assert between[("users", other["id"])]["change"] == "deleted"
    only_consequences(between, {("users", user["id"]), ("users", other["id"])}, other["id"])
    _, only_deleted = await diff(sim, store, tenant, first_id, changes=["deleted"])
    assert [e["change"] for e in only_deleted.values()] == ["deleted"]
    _, only_one = await diff(sim, store, tenant, first_id, object_ids=[user["id"]],
                             kinds=["users"])
    assert set(only_one) == {("users", user["id"])}


async def test_bad_input_writes_nothing(sim: Sim, store: FolderStore) -> None:
    tenant, snapshot = await snap(sim, store)
    async with session_for(sim) as session:
        for bad, error in [
            ({"snapshot_id": "20200101T000000.000Z"}, SnapshotNotFoundError),
            ({"snapshot_id": snapshot, "kinds": ["robots"]}, ValueError),
            ({"snapshot_id": snapshot, "object_ids": ["../etc"]}, ValueError),
            ({"snapshot_id": snapshot, "changes": ["moved"]}, ValueError),
            ({"snapshot_id": "nope"}, ValueError),
        ]:
            with pytest.raises(error):
                await run_diff(store, DiffRequest(tenant_id=tenant, **bad), session=session)
        target = store.root / tenant / snapshot / "users.ndjson.gz"
        target.chmod(0o644)
        target.write_bytes(target.read_bytes()[:-10])
        with pytest.raises(SnapshotIntegrityError, match=r"users\.ndjson\.gz"):
            await run_diff(store, DiffRequest(tenant_id=tenant, snapshot_id=snapshot),
                           session=session)
    assert list_reports(store, tenant) == []


async def test_deleting_an_assigned_user_does_not_echo_on_the_resource(
    sim: Sim, store: FolderStore
) -> None:
    """The user's app role assignment vanishes with it and returns on restore: one entry."""
    tenant, snapshot = await snap(sim, store)
    state = sim.state()
    synced = {u["id"] for u in state["objects"]["users"] if u.get("onPremisesSyncEnabled")}
    assignment = next(a for a in state["objects"]["appRoleAssignments"]
                      if a["principalType"] == "User" and a["principalId"] not in synced)
    user_id = assignment["principalId"]
    assert sim.client.delete(f"/users/{user_id}").status_code == 204
    for use_delta in (True, False):
        _, entries = await diff(sim, store, tenant, snapshot, use_delta=use_delta)
        assert ("servicePrincipals", assignment["resourceId"]) not in entries
        assert entries[("users", user_id)]["deletion"] == "soft"


async def test_forced_delta_reset_falls_back_to_a_full_read_with_the_same_result(
    sim: Sim, store: FolderStore
) -> None:
    tenant, snapshot = await snap(sim, store)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Reset"}).raise_for_status()
    _, fresh = await diff(sim, store, tenant, snapshot)
    sim.configure(delta_reset_rate=1)  # every deltaLink: 410 resyncRequired + Location
    header, reset = await diff(sim, store, tenant, snapshot)
    assert header["summary"]["livePath"]["users"] == "full"
    assert _without_audit(reset) == _without_audit(fresh)
    assert set(fresh) == {("users", user["id"])}


async def test_replayed_delta_changes_are_not_false_drift(sim: Sim, store: FolderStore) -> None:
    before, after = [u for u in sim.state()["objects"]["users"]
                     if not u.get("onPremisesSyncEnabled") and "@odata.type" not in u][:2]
    group = first(sim, "groups", lambda g: not g.get("onPremisesSyncEnabled")
                  and not g.get("membershipRule"))
    sim.client.patch(f"/users/{before['id']}", json={"jobTitle": "Old news"}).raise_for_status()
    added = sim.client.post(f"/groups/{group['id']}/members/$ref",
                            json={"@odata.id": f"{sim.graph}/directoryObjects/{before['id']}"})
    assert added.status_code == 204, added.text
    tenant, snapshot = await snap(sim, store)
    sim.configure(delta_replay=10_000)  # every round re-sends the whole change log
    header, unchanged = await diff(sim, store, tenant, snapshot)
    assert header["summary"]["livePath"]["users"] == "delta"
    assert unchanged == {}
    sim.client.patch(f"/users/{after['id']}", json={"jobTitle": "New"}).raise_for_status()
    _, changed = await diff(sim, store, tenant, snapshot)
    assert set(changed) == {("users", after["id"])}
