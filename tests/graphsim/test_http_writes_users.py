"""graphsim over HTTP, user writes and PATCH semantics a recovery engine meets.

Each test names the Graph reference page its rule comes from.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    DOMAIN,
    assert_graph_error,
    audits_for,
    cloud_users,
    create,
    group_body,
    new_id,
    user_body,
)

Json = dict[str, Any]
BIN = "directory/deletedItems"


def test_the_helper_domain_is_a_verified_domain_of_the_fixture_tenant(sim: Sim) -> None:
    org = sim.client.get("organization").json()["value"][0]
    assert DOMAIN in [d["name"] for d in org["verifiedDomains"]]


def test_user_principal_name_must_be_in_a_verified_domain(sim: Sim) -> None:
    """user-update, userPrincipalName: "domain must be present in the tenant's collection of
    verified domains" (https://learn.microsoft.com/graph/api/user-update)."""
    org = sim.client.get("organization").json()["value"][0]
    other_verified = next(d["name"] for d in org["verifiedDomains"] if d["name"] != DOMAIN)
    before = sim.stats()["objects"]["users"]
    error = assert_graph_error(sim.client.post("users", json={
        **user_body("outsider"), "userPrincipalName": "outsider@fabrikam.example"}), 400,
        "Request_BadRequest")
    assert "verified domain" in error["message"]
    assert sim.stats()["objects"]["users"] == before
    user = create(sim.client, "users", {**user_body("insider"),
                                        "userPrincipalName": f"insider@{other_verified}"})
    assert_graph_error(sim.client.patch(f"users/{user['id']}", json={
        "userPrincipalName": "insider@unverified.example"}), 400)
    got = sim.client.get(f"users/{user['id']}").json()
    assert got["userPrincipalName"] == f"insider@{other_verified}"


def test_restore_under_a_new_upn_needs_a_verified_domain(sim: Sim) -> None:
    """directory-deleteditems-restore, newUserPrincipalName: a UPN like any other
    (https://learn.microsoft.com/graph/api/directory-deleteditems-restore)."""
    user = create(sim.client, "users", user_body("reborn"))
    assert sim.client.delete(f"users/{user['id']}").status_code == 204
    assert_graph_error(sim.client.post(f"{BIN}/{user['id']}/restore", json={
        "newUserPrincipalName": "reborn@unverified.example"}), 400)
    assert sim.client.post(f"{BIN}/{user['id']}/restore", json={
        "newUserPrincipalName": f"reborn2@{DOMAIN}"}).status_code == 200


@pytest.mark.parametrize("password", ["short1!", "alllowercaseletters", "ALLUPPER123",
                                      "x" * 257 + "A1!"])
def test_a_weak_password_is_refused_on_create_and_update(sim: Sim, password: str) -> None:
    """passwordProfile: "By default, a strong password is required." Entra's default policy is
    8-256 characters with three of lower case, upper case, digits and symbols
    (https://learn.microsoft.com/graph/api/resources/passwordprofile)."""
    body = {**user_body("weakling"), "passwordProfile": {"password": password}}
    error = assert_graph_error(sim.client.post("users", json=body), 400, "Request_BadRequest")
    assert "password complexity" in error["message"]
    user = create(sim.client, "users", user_body("strong"))
    assert_graph_error(sim.client.patch(f"users/{user['id']}", json={
        "passwordProfile": {"password": password}}), 400)


def test_disable_strong_password_allows_a_weaker_one(sim: Sim) -> None:
    """passwordPolicies "DisableStrongPassword ... allows weaker passwords than the default
    policy to be specified" (https://learn.microsoft.com/graph/api/user-update)."""
    body = {**user_body("lenient"), "passwordPolicies": "DisableStrongPassword",
            "passwordProfile": {"password": "alllowercaseletters"}}
    created = create(sim.client, "users", body)
    assert created["id"]


def test_writing_mail_adds_it_to_proxy_addresses_as_primary_smtp(sim: Sim) -> None:
    """user resource, mail: "Changes to this property also update the user's proxyAddresses
    collection to include the value as an SMTP address."
    (https://learn.microsoft.com/graph/api/resources/user)."""
    user = create(sim.client, "users", {**user_body("mailer"), "mail": f"first@{DOMAIN}"})
    path = f"users/{user['id']}?$select=mail,proxyAddresses"
    assert sim.client.get(path).json()["proxyAddresses"] == [f"SMTP:first@{DOMAIN}"]
    sim.client.patch(f"users/{user['id']}", json={"mail": f"second@{DOMAIN}"}
                     ).raise_for_status()
    got = sim.client.get(path).json()
    assert got["mail"] == f"second@{DOMAIN}"
    assert got["proxyAddresses"] == [f"SMTP:second@{DOMAIN}", f"smtp:first@{DOMAIN}"]
    assert_graph_error(sim.client.patch(f"users/{user['id']}", json={
        "proxyAddresses": [f"SMTP:x@{DOMAIN}"]}), 400)  # computed: read-only
    update = audits_for(sim.client, user["id"])[0]
    changed = {p["displayName"] for p in update["targetResources"][0]["modifiedProperties"]}
    assert {"mail", "proxyAddresses"} <= changed


@pytest.mark.parametrize(("path", "body"), [
    ("users", user_body("named")), ("groups", group_body("named")),
])
@pytest.mark.parametrize("cleared", [None, "", "   "])
def test_display_name_cannot_be_cleared(sim: Sim, path: str, body: Json,
                                        cleared: str | None) -> None:
    """user-update and group-update: displayName "is required when a user [group] is created
    and it cannot be cleared during updates" (https://learn.microsoft.com/graph/api/user-update,
    https://learn.microsoft.com/graph/api/group-update)."""
    obj = create(sim.client, path, body)
    error = assert_graph_error(sim.client.patch(f"{path}/{obj['id']}",
                                                json={"displayName": cleared}), 400)
    assert "displayName" in error["message"]
    assert sim.client.get(f"{path}/{obj['id']}").json()["displayName"] == body["displayName"]
    assert_graph_error(sim.client.post(path, json={**body, "displayName": cleared}), 400)


def test_null_clears_a_property_and_a_collection_is_replaced_whole(sim: Sim) -> None:
    """user-update: "supply the values for relevant fields that should be updated"; a null
    value clears the property, and otherMails "replace[s] the whole collection"
    (https://learn.microsoft.com/graph/api/user-update)."""
    user = create(sim.client, "users", {**user_body("patchy"), "jobTitle": "Pilot",
                                        "department": "Air",
                                        "otherMails": ["a@example.com", "b@example.com"]})
    path = f"users/{user['id']}?$select=jobTitle,department,otherMails"
    sim.client.patch(f"users/{user['id']}", json={"jobTitle": None,
                                                  "otherMails": ["c@example.com"]}
                     ).raise_for_status()
    got = sim.client.get(path).json()
    assert got["jobTitle"] is None and got["department"] == "Air"  # untouched stays
    assert got["otherMails"] == ["c@example.com"]


def test_synced_user_keeps_only_cloud_attributes_writable(sim: Sim) -> None:
    """graph.md 4.10: for synced users the AD-mastered attributes are not writable in the
    cloud (user resource: onPremisesSyncEnabled "true if this user object is currently being
    synced from an on-premises Active Directory"); usageLocation stays a cloud attribute."""
    synced = sim.client.get("users?$filter=onPremisesSyncEnabled eq true&$top=1"
                            ).json()["value"][0]
    for body in ({"jobTitle": "x"}, {"mail": f"x@{DOMAIN}"}, {"accountEnabled": False}):
        error = assert_graph_error(sim.client.patch(f"users/{synced['id']}", json=body), 400)
        assert "on-premises mastered" in error["message"]
    ok = sim.client.patch(f"users/{synced['id']}", json={"usageLocation": "SE",
                                                         "passwordPolicies": "None"})
    assert ok.status_code == 204


def test_batch_is_not_atomic_each_write_succeeds_or_fails_alone(sim: Sim) -> None:
    """json-batching: "Individual requests can succeed or fail" - the batch is not a
    transaction, so one bad write leaves the others applied
    (https://learn.microsoft.com/graph/json-batching)."""
    good, other = cloud_users(sim.client, 2)
    headers = {"Content-Type": "application/json"}
    requests = [
        {"id": "1", "method": "PATCH", "url": f"/users/{good}", "headers": headers,
         "body": {"jobTitle": "Batched"}},
        {"id": "2", "method": "PATCH", "url": f"/users/{new_id('ghost')}", "headers": headers,
         "body": {"jobTitle": "Nobody"}},
        {"id": "3", "method": "POST", "url": "/users", "headers": headers,
         "body": {**user_body("batchweak"), "passwordProfile": {"password": "weak"}}},
        {"id": "4", "method": "PATCH", "url": f"/users/{other}", "headers": headers,
         "body": {"department": "Batched too"}},
    ]
    answer = sim.client.post(f"{sim.graph}/$batch", json={"requests": requests})
    assert answer.status_code == 200
    statuses = {r["id"]: r["status"] for r in answer.json()["responses"]}
    assert statuses == {"1": 204, "2": 404, "3": 400, "4": 204}
    assert sim.client.get(f"users/{good}?$select=jobTitle").json()["jobTitle"] == "Batched"
    assert sim.client.get(f"users/{other}?$select=department").json()["department"] == (
        "Batched too")
    failed = next(r for r in answer.json()["responses"] if r["id"] == "3")
    assert failed["body"]["error"]["code"] == "Request_BadRequest"
    assert {"date", "request-id", "client-request-id"} <= set(
        failed["body"]["error"]["innerError"])


def test_user_writes_and_restore_are_audited_with_activity_and_target(sim: Sim) -> None:
    """directoryAudit: each write is an event naming the activity and target resource
    (https://learn.microsoft.com/graph/api/resources/directoryaudit)."""
    user = create(sim.client, "users", user_body("trail"))
    uid = user["id"]
    sim.client.patch(f"users/{uid}", json={"mail": f"trail@{DOMAIN}"}).raise_for_status()
    sim.client.delete(f"users/{uid}").raise_for_status()
    sim.client.post(f"{BIN}/{uid}/restore").raise_for_status()
    events = audits_for(sim.client, uid)
    assert [e["activityDisplayName"] for e in events] == [
        "Restore user", "Delete user", "Update user", "Add user"]
    for event in events:
        target = event["targetResources"][0]
        assert (target["id"], target["type"]) == (uid, "User")
        assert event["category"] == "UserManagement" and event["result"] == "success"
    props = events[2]["targetResources"][0]["modifiedProperties"]
    mail = next(p for p in props if p["displayName"] == "mail")
    assert json.loads(mail["newValue"]) == [f"trail@{DOMAIN}"]
