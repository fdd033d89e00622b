"""graphsim over HTTP, write side: validation, links, credentials, synced objects, agents, audit.

Reference: shared/reference/graph.md §4 (per-type restore details), §5 (Agent ID), §7 (errors).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    CALLER_NAME,
    DOMAIN,
    ZERO_ROLE,
    assert_graph_error,
    bind,
    first,
    group_body,
    ids,
    items,
    new_id,
    ref,
    user_body,
)

Json = dict[str, Any]


def _create(sim: Sim, path: str, body: Json) -> Json:
    response = sim.client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _cloud_users(sim: Sim, n: int) -> list[str]:
    listed = items(sim.client, "users?$top=999&$select=id,onPremisesSyncEnabled,userType")
    cloud = [u["id"] for u in listed
             if not u["onPremisesSyncEnabled"] and "@odata.type" not in u]
    assert len(cloud) >= n
    return cloud[:n]


def _members(sim: Sim, group_id: str) -> list[str]:
    return ids(items(sim.client, f"groups/{group_id}/members?$top=999&$select=id"))


def _audits_for(sim: Sim, target_id: str) -> list[Json]:
    clause = f"targetResources/any(t:t/id eq '{target_id}')"
    return items(sim.client, f"auditLogs/directoryAudits?$filter={clause}")


# ----- create and update validation --------------------------------------------------------

def test_create_user_returns_201_with_server_values_and_location(sim: Sim) -> None:
    response = sim.client.post("users", json=user_body("alice"))
    assert response.status_code == 201
    created = response.json()
    assert created["userPrincipalName"] == f"alice@{DOMAIN}"
    assert created["id"] and "passwordProfile" not in created
    assert response.headers["location"].endswith(f"/users/{created['id']}")
    fetched = sim.client.get(f"users/{created['id']}?$select=createdDateTime,accountEnabled")
    assert fetched.json()["accountEnabled"] is True
    assert fetched.json()["createdDateTime"].endswith("Z")


def test_update_returns_204_and_changes_the_object(sim: Sim) -> None:
    user = _create(sim, "users", user_body("bob"))
    response = sim.client.patch(f"users/{user['id']}", json={"jobTitle": "Pilot",
                                                             "department": "Air"})
    assert response.status_code == 204 and response.content == b""
    got = sim.client.get(f"users/{user['id']}?$select=jobTitle,department").json()
    assert (got["jobTitle"], got["department"]) == ("Pilot", "Air")


@pytest.mark.parametrize(("body", "needle"), [
    ({"noSuchProperty": 1}, "Invalid property 'noSuchProperty'"),
    ({"createdDateTime": "2020-01-01T00:00:00Z"}, "read-only"),
    ({"id": "00000000-0000-0000-0000-000000000001"}, "read-only"),
    ({"onPremisesSyncEnabled": True}, "read-only"),
    ({"accountEnabled": "yes"}, "accountEnabled"),
    ({"displayName": 5}, "displayName"),
    ({"businessPhones": "+1 555"}, "businessPhones"),
    ({"employeeHireDate": "yesterday"}, "employeeHireDate"),
    ({"passwordProfile": {"password": "x", "notAField": True}}, "notAField"),
    ({"manager": {"id": "x"}}, "manager"),
])
def test_invalid_user_update_is_400_and_changes_nothing(sim: Sim, body: Json,
                                                        needle: str) -> None:
    user = _create(sim, "users", user_body("carol"))
    before = sim.client.get(f"users/{user['id']}").json()
    error = assert_graph_error(sim.client.patch(f"users/{user['id']}",
                                                json={"jobTitle": "Changed", **body}), 400,
                               "Request_BadRequest")
    assert needle in error["message"]
    assert sim.client.get(f"users/{user['id']}").json() == before


@pytest.mark.parametrize(("path", "body", "needle"), [
    ("users", {**user_body("dave"), "bogus": True}, "Invalid property 'bogus'"),
    ("users", {**user_body("erin"), "securityIdentifier": "S-1"}, "read-only"),
    ("users", {k: v for k, v in user_body("fred").items() if k != "displayName"},
     "displayName"),
    ("groups", {**group_body("g1"), "mail": "g1@contoso.test"}, "read-only"),
    ("groups", {**group_body("g2"), "securityEnabled": "true"}, "securityEnabled"),
    ("groups", {**group_body("g3"), "mailEnabled": True}, "mail-enabled"),
    ("applications", {"displayName": "x", "appId": new_id("app")}, "read-only"),
    ("applications", {"displayName": "x", "passwordCredentials": []}, "passwordCredentials"),
])
def test_invalid_create_is_400_and_creates_nothing(sim: Sim, path: str, body: Json,
                                                   needle: str) -> None:
    before = sim.stats()["objects"]
    error = assert_graph_error(sim.client.post(path, json=body), 400)
    assert needle in error["message"]
    assert sim.stats()["objects"] == before


@pytest.mark.parametrize("content", [b"{not json", b'{"displayName": "x",}', b"\xff\xfe"])
def test_malformed_json_is_400(sim: Sim, content: bytes) -> None:
    user = first(sim.client, "users")
    response = sim.client.patch(f"users/{user['id']}", content=content,
                                headers={"Content-Type": "application/json"})
    assert_graph_error(response, 400, "Request_BadRequest")


@pytest.mark.parametrize("body", [[{"displayName": "x"}], "x", 5, None])
def test_non_object_body_is_400(sim: Sim, body: Any) -> None:
    response = sim.client.post("groups", content=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
    assert_graph_error(response, 400, "Request_BadRequest")


def test_unknown_id_is_404_for_every_write(sim: Sim) -> None:
    missing = new_id("missing")
    group = _create(sim, "groups", group_body("g404"))
    for response in (
        sim.client.patch(f"users/{missing}", json={"jobTitle": "x"}),
        sim.client.delete(f"groups/{missing}"),
        sim.client.post(f"groups/{missing}/members/$ref", json=ref(sim.graph, missing)),
        sim.client.post(f"groups/{group['id']}/members/$ref", json=ref(sim.graph, missing)),
        sim.client.delete(f"groups/{group['id']}/members/{missing}/$ref"),
        sim.client.post(f"applications/{missing}/addPassword", json={}),
    ):
        error = assert_graph_error(response, 404, "Request_ResourceNotFound")
        assert "does not exist" in error["message"]


# ----- unique values ---------------------------------------------------------------------

def test_duplicate_upn_is_400_with_object_conflict_detail(sim: Sim) -> None:
    existing = first(sim.client, "users")
    body = {**user_body("dupe"), "userPrincipalName": existing["userPrincipalName"].upper()}
    error = assert_graph_error(sim.client.post("users", json=body), 400, "Request_BadRequest")
    assert error["details"] == [{"code": "ObjectConflict", "target": "userPrincipalName",
                                 "message": error["details"][0]["message"]}]
    assert "userPrincipalName already exists" in error["message"]
    other = _create(sim, "users", user_body("other"))
    clash = sim.client.patch(f"users/{other['id']}",
                             json={"userPrincipalName": existing["userPrincipalName"]})
    assert assert_graph_error(clash, 400)["details"][0]["code"] == "ObjectConflict"
    # renaming frees the old value
    sim.client.patch(f"users/{other['id']}",
                     json={"userPrincipalName": f"renamed@{DOMAIN}"}).raise_for_status()
    _create(sim, "users", user_body("other"))


def test_second_service_principal_for_an_app_is_409(sim: Sim) -> None:
    sp = first(sim.client, "servicePrincipals?$filter=servicePrincipalType eq 'Application'")
    assert_graph_error(sim.client.post("servicePrincipals", json={"appId": sp["appId"]}), 409,
                       "Request_MultipleObjectsWithSameKeyValue")
    app = _create(sim, "applications", {"displayName": "Fresh app"})
    created = _create(sim, "servicePrincipals", {"appId": app["appId"]})
    assert created["appId"] == app["appId"] and created["displayName"] == "Fresh app"
    assert_graph_error(sim.client.post("servicePrincipals", json={"appId": app["appId"]}), 409)
    assert_graph_error(sim.client.post("servicePrincipals", json={"appId": new_id("x")}), 400)


# ----- links -----------------------------------------------------------------------------

def test_ref_add_remove_and_duplicate_ref_is_400(sim: Sim) -> None:
    group = _create(sim, "groups", group_body("refs"))
    user_id = _cloud_users(sim, 1)[0]
    path = f"groups/{group['id']}/members/$ref"
    assert sim.client.post(path, json=ref(sim.graph, user_id)).status_code == 204
    error = assert_graph_error(sim.client.post(path, json=ref(sim.graph, user_id)), 400,
                               "Request_BadRequest")
    assert "already exist" in error["message"] and "'members'" in error["message"]
    assert _members(sim, group["id"]) == [user_id]
    assert ids(sim.client.get(f"users/{user_id}/memberOf?$top=999").json()["value"]).count(
        group["id"]) == 1
    assert_graph_error(sim.client.post(path, json={**ref(sim.graph, user_id), "x": 1}), 400)
    remove = sim.client.delete(f"groups/{group['id']}/members/{user_id}/$ref")
    assert remove.status_code == 204
    assert _members(sim, group["id"]) == []
    assert_graph_error(sim.client.delete(f"groups/{group['id']}/members/{user_id}/$ref"), 404)


def test_manager_put_replaces_and_delete_removes(sim: Sim) -> None:
    user, boss_a, boss_b = _cloud_users(sim, 3)
    path = f"users/{user}/manager/$ref"
    for boss in (boss_a, boss_b):
        assert sim.client.put(path, json=ref(sim.graph, boss)).status_code == 204
    assert sim.client.get(f"users/{user}/manager").json()["id"] == boss_b
    assert user in ids(items(sim.client, f"users/{boss_b}/directReports?$top=999"))
    assert user not in ids(items(sim.client, f"users/{boss_a}/directReports?$top=999"))
    assert_graph_error(sim.client.put(path, json=ref(sim.graph, user)), 400)
    assert sim.client.delete(path).status_code == 204
    assert_graph_error(sim.client.get(f"users/{user}/manager"), 404)


def test_members_bind_accepts_20_and_rejects_21(sim: Sim) -> None:
    users = _cloud_users(sim, 41)
    group = _create(sim, "groups", group_body("bind"))
    too_many = {"members@odata.bind": bind(sim.graph, users[:21])}
    error = assert_graph_error(sim.client.patch(f"groups/{group['id']}", json=too_many), 400)
    assert "20" in error["message"]
    assert _members(sim, group["id"]) == []
    ok = sim.client.patch(f"groups/{group['id']}",
                          json={"members@odata.bind": bind(sim.graph, users[:20])})
    assert ok.status_code == 204
    assert sorted(_members(sim, group["id"])) == sorted(users[:20])
    created = _create(sim, "groups", {**group_body("bind2"),
                                      "members@odata.bind": bind(sim.graph, users[20:39]),
                                      "owners@odata.bind": bind(sim.graph, users[40:41])})
    assert sorted(_members(sim, created["id"])) == sorted(users[20:39])
    owners = items(sim.client, f"groups/{created['id']}/owners")
    assert ids(owners) == [users[40]]


def test_members_bind_is_atomic(sim: Sim) -> None:
    users = _cloud_users(sim, 5)
    group = _create(sim, "groups", group_body("atomic"))
    bad = bind(sim.graph, [*users[:4], new_id("nobody")])
    error = assert_graph_error(sim.client.patch(
        f"groups/{group['id']}", json={"members@odata.bind": bad, "description": "x"}), 400)
    assert "don't exist" in error["message"]
    assert _members(sim, group["id"]) == []
    got = sim.client.get(f"groups/{group['id']}?$select=description").json()
    assert got["description"] is None
    sim.client.post(f"groups/{group['id']}/members/$ref",
                    json=ref(sim.graph, users[0])).raise_for_status()
    duplicate = bind(sim.graph, users[:3])
    assert_graph_error(sim.client.patch(f"groups/{group['id']}",
                                        json={"members@odata.bind": duplicate}), 400)
    assert _members(sim, group["id"]) == [users[0]]
    create_bad = {**group_body("atomic2"), "members@odata.bind": bad}
    before = sim.stats()["objects"]["groups"]
    assert_graph_error(sim.client.post("groups", json=create_bad), 400)
    assert sim.stats()["objects"]["groups"] == before


def test_dynamic_group_members_cannot_be_written(sim: Sim) -> None:
    groups = items(sim.client, "groups?$top=999&$select=id,groupTypes,onPremisesSyncEnabled")
    dynamic = next(g for g in groups if "DynamicMembership" in g["groupTypes"])
    user = _cloud_users(sim, 1)[0]
    before = _members(sim, dynamic["id"])
    assert_graph_error(sim.client.post(f"groups/{dynamic['id']}/members/$ref",
                                       json=ref(sim.graph, user)), 400)
    assert_graph_error(sim.client.patch(f"groups/{dynamic['id']}", json={
        "members@odata.bind": bind(sim.graph, [user])}), 400)
    assert _members(sim, dynamic["id"]) == before


def test_is_assignable_to_role_is_create_only(sim: Sim) -> None:
    group = _create(sim, "groups", {**group_body("roles"), "isAssignableToRole": True})
    assert_graph_error(sim.client.patch(f"groups/{group['id']}",
                                        json={"isAssignableToRole": False}), 400)


# ----- named locations, CA policies, singletons ----------------------------------------------

def test_named_location_needs_odata_type(sim: Sim) -> None:
    body = {"displayName": "Branch", "isTrusted": False,
            "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange",
                          "cidrAddress": "10.0.0.0/8"}]}
    path = "identity/conditionalAccess/namedLocations"
    assert_graph_error(sim.client.post(path, json=body), 400)
    created = _create(sim, path, {"@odata.type": "#microsoft.graph.ipNamedLocation", **body})
    assert created["@odata.type"] == "#microsoft.graph.ipNamedLocation"
    assert created["createdDateTime"] and created["modifiedDateTime"]
    assert_graph_error(sim.client.patch(f"{path}/{created['id']}",
                                        json={"displayName": "No type"}), 400)
    assert_graph_error(sim.client.patch(f"{path}/{created['id']}", json={
        "@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "x"}), 400)
    ok = sim.client.patch(f"{path}/{created['id']}", json={
        "@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Renamed"})
    assert ok.status_code == 204
    assert sim.client.get(f"{path}/{created['id']}").json()["displayName"] == "Renamed"


def test_ca_policy_create_update_and_modified_time(sim: Sim) -> None:
    path = "identity/conditionalAccess/policies"
    body = {"displayName": "Block legacy", "state": "enabledForReportingButNotEnforced",
            "conditions": {"clientAppTypes": ["other"],
                           "applications": {"includeApplications": ["All"]},
                           "users": {"includeUsers": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}}
    created = _create(sim, path, body)
    assert_graph_error(sim.client.patch(f"{path}/{created['id']}",
                                        json={"modifiedDateTime": "2020-01-01T00:00:00Z"}), 400)
    assert_graph_error(sim.client.patch(f"{path}/{created['id']}", json={"state": "bogus"}), 400)
    sim.advance(60)
    sim.client.patch(f"{path}/{created['id']}", json={"state": "enabled"}).raise_for_status()
    got = sim.client.get(f"{path}/{created['id']}").json()
    assert got["state"] == "enabled" and got["modifiedDateTime"] > created["modifiedDateTime"]


def test_organization_only_accepts_documented_properties(sim: Sim) -> None:
    org = sim.client.get("organization").json()["value"][0]
    assert_graph_error(sim.client.patch(f"organization/{org['id']}",
                                        json={"displayName": "Renamed"}), 400)
    ok = sim.client.patch(f"organization/{org['id']}",
                          json={"technicalNotificationMails": ["ops@contoso.test"]})
    assert ok.status_code == 204
    assert sim.client.get("organization").json()["value"][0]["technicalNotificationMails"] == [
        "ops@contoso.test"]


def test_authentication_method_configuration_needs_matching_type(sim: Sim) -> None:
    path = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Sms"
    assert_graph_error(sim.client.patch(path, json={"state": "disabled"}), 400)
    assert_graph_error(sim.client.patch(path, json={
        "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
        "state": "disabled"}), 400)
    ok = sim.client.patch(path, json={
        "@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration",
        "state": "disabled"})
    assert ok.status_code == 204
    assert sim.client.get(path).json()["state"] == "disabled"


# ----- credentials -------------------------------------------------------------------------

def test_password_credentials_cannot_be_patched(sim: Sim) -> None:
    app = first(sim.client, "applications")
    sp = first(sim.client, "servicePrincipals")
    for path in (f"applications/{app['id']}", f"servicePrincipals/{sp['id']}"):
        error = assert_graph_error(sim.client.patch(path, json={"passwordCredentials": []}),
                                   400)
        assert "passwordCredentials" in error["message"]


def test_add_password_returns_the_secret_once_and_never_again(sim: Sim) -> None:
    app = _create(sim, "applications", {"displayName": "Secret keeper"})
    response = sim.client.post(f"applications/{app['id']}/addPassword",
                               json={"passwordCredential": {"displayName": "ci"}})
    assert response.status_code == 200
    credential = response.json()
    secret = credential["secretText"]
    assert isinstance(secret, str) and len(secret) >= 16
    assert credential["hint"] == secret[:3] and credential["displayName"] == "ci"
    assert credential["keyId"] and credential["endDateTime"] > credential["startDateTime"]
    for url in (f"applications/{app['id']}", f"applications/{app['id']}?$select=id,"
                "passwordCredentials", "applications?$top=999&$select=passwordCredentials"):
        text = sim.client.get(url).text
        assert secret not in text and credential["keyId"] in text
    stored = sim.client.get(f"applications/{app['id']}").json()["passwordCredentials"]
    assert [c["keyId"] for c in stored] == [credential["keyId"]]
    assert stored[0].get("secretText") is None
    assert secret not in sim.control.get("/state").text
    assert secret not in sim.client.get("auditLogs/directoryAudits?$top=999").text
    second = sim.client.post(f"applications/{app['id']}/addPassword", json={}).json()
    assert second["secretText"] != secret and second["keyId"] != credential["keyId"]
    assert_graph_error(sim.client.post(f"applications/{app['id']}/addPassword", json={
        "passwordCredential": {"secretText": "my-own-secret"}}), 400)


def test_remove_password_by_key_id(sim: Sim) -> None:
    app = _create(sim, "applications", {"displayName": "Rotator"})
    keep = sim.client.post(f"applications/{app['id']}/addPassword", json={}).json()["keyId"]
    drop = sim.client.post(f"applications/{app['id']}/addPassword", json={}).json()["keyId"]
    removed = sim.client.post(f"applications/{app['id']}/removePassword", json={"keyId": drop})
    assert removed.status_code == 204
    stored = sim.client.get(f"applications/{app['id']}").json()["passwordCredentials"]
    assert [c["keyId"] for c in stored] == [keep]
    assert_graph_error(sim.client.post(f"applications/{app['id']}/removePassword",
                                       json={"keyId": drop}), 400)
    assert_graph_error(sim.client.post(f"applications/{app['id']}/removePassword",
                                       json={}), 400)


def test_service_principal_add_password(sim: Sim) -> None:
    sp = first(sim.client, "servicePrincipals?$filter=servicePrincipalType eq 'Application'")
    credential = sim.client.post(f"servicePrincipals/{sp['id']}/addPassword", json={}).json()
    stored = sim.client.get(f"servicePrincipals/{sp['id']}?$select=passwordCredentials").json()
    assert credential["keyId"] in [c["keyId"] for c in stored["passwordCredentials"]]


# ----- synced objects and SOA ---------------------------------------------------------------

def test_synced_users_and_groups_reject_directory_mastered_writes(sim: Sim) -> None:
    user = first(sim.client, "users?$filter=onPremisesSyncEnabled eq true")
    group = first(sim.client, "groups?$filter=onPremisesSyncEnabled eq true")
    check = sim.client.get(f"users/{user['id']}?$select=onPremisesSyncEnabled").json()
    assert check["onPremisesSyncEnabled"] is True
    error = assert_graph_error(sim.client.patch(f"users/{user['id']}",
                                                json={"displayName": "Cloud name"}), 400)
    assert "on-premises mastered" in error["message"]
    assert sim.client.patch(f"users/{user['id']}", json={"usageLocation": "NO"}).status_code == 204
    assert_graph_error(sim.client.patch(f"groups/{group['id']}",
                                        json={"description": "cloud"}), 400)
    cloud_user = _cloud_users(sim, 1)[0]
    assert_graph_error(sim.client.post(f"groups/{group['id']}/members/$ref",
                                       json=ref(sim.graph, cloud_user)), 400)
    assert_graph_error(sim.client.put(f"users/{user['id']}/manager/$ref",
                                      json=ref(sim.graph, cloud_user)), 400)


def test_soa_conversion_makes_a_synced_group_writable(sim: Sim) -> None:
    group = first(sim.client, "groups?$filter=onPremisesSyncEnabled eq true")
    sync_path = f"{sim.beta}/groups/{group['id']}/onPremisesSyncBehavior"
    assert sim.client.get(sync_path).json()["isCloudManaged"] is False
    assert_graph_error(sim.client.patch(f"groups/{group['id']}/onPremisesSyncBehavior",
                                        json={"isCloudManaged": True}), 400)
    assert_graph_error(sim.client.patch(sync_path, json={"isCloudManaged": "yes"}), 400)
    assert_graph_error(sim.client.patch(f"groups/{group['id']}",
                                        json={"description": "cloud"}), 400)
    assert sim.client.patch(sync_path, json={"isCloudManaged": True}).status_code == 204
    assert sim.client.get(sync_path).json()["isCloudManaged"] is True
    ok = sim.client.patch(f"groups/{group['id']}", json={"description": "cloud"})
    assert ok.status_code == 204
    got = sim.client.get(f"groups/{group['id']}?$select=description").json()
    assert got["description"] == "cloud"
    cloud_user = _cloud_users(sim, 1)[0]
    assert sim.client.post(f"groups/{group['id']}/members/$ref",
                           json=ref(sim.graph, cloud_user)).status_code == 204
    # back to AD authority: writes are refused again
    assert sim.client.patch(sync_path, json={"isCloudManaged": False}).status_code == 204
    assert_graph_error(sim.client.patch(f"groups/{group['id']}",
                                        json={"description": "again"}), 400)


def test_soa_conversion_of_a_cloud_object_is_400(sim: Sim) -> None:
    group = _create(sim, "groups", group_body("cloudsoa"))
    assert_graph_error(sim.client.patch(
        f"{sim.beta}/groups/{group['id']}/onPremisesSyncBehavior",
        json={"isCloudManaged": True}), 400)


# ----- agents ------------------------------------------------------------------------------

def test_agent_identity_cannot_add_password(sim: Sim) -> None:
    agent = first(sim.client, "servicePrincipals/microsoft.graph.agentIdentity")
    assert_graph_error(sim.client.post(f"servicePrincipals/{agent['id']}/addPassword",
                                       json={}), 400, "PropertyNotCompatibleWithAgentIdentity")
    stored = sim.client.get(f"servicePrincipals/{agent['id']}?$select=passwordCredentials")
    assert not stored.json()["passwordCredentials"]


def test_agent_chain_needs_blueprint_principal_and_sponsors(sim: Sim) -> None:
    sponsor = _cloud_users(sim, 1)[0]
    sponsors = {"sponsors@odata.bind": [f"{sim.graph}/users/{sponsor}"]}
    blueprints = "applications/microsoft.graph.agentIdentityBlueprint"
    assert_graph_error(sim.client.post(blueprints, json={"displayName": "BP"}), 400)
    blueprint = _create(sim, blueprints, {"displayName": "BP", **sponsors})
    assert blueprint["@odata.type"] == "#microsoft.graph.agentIdentityBlueprint"
    agents = "servicePrincipals/microsoft.graph.agentIdentity"
    agent_body = {"displayName": "Agent", "agentIdentityBlueprintId": blueprint["appId"],
                  **sponsors}
    before = sim.stats()["objects"]["servicePrincipals"]
    error = assert_graph_error(sim.client.post(agents, json=agent_body), 400)
    assert "Blueprint Principal" in error["message"]
    assert sim.stats()["objects"]["servicePrincipals"] == before
    principal = _create(sim, "servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal",
                        {"appId": blueprint["appId"]})
    assert principal["@odata.type"] == "#microsoft.graph.agentIdentityBlueprintPrincipal"
    no_sponsor = {k: v for k, v in agent_body.items() if k != "sponsors@odata.bind"}
    assert_graph_error(sim.client.post(agents, json=no_sponsor), 400)
    agent = _create(sim, agents, agent_body)
    assert agent["servicePrincipalType"] == "ServiceIdentity"
    assert agent["@odata.type"] == "#microsoft.graph.agentIdentity"
    listed = ids(items(sim.client, f"{agents}?$top=100"))
    assert agent["id"] in listed
    agent_user = _create(sim, "users/microsoft.graph.agentUser", {
        "displayName": "Agent user", "accountEnabled": True, "identityParentId": agent["id"],
        "userPrincipalName": f"agent-user@{DOMAIN}", "mailNickname": "agentuser"})
    assert agent_user["@odata.type"] == "#microsoft.graph.agentUser"
    assert_graph_error(sim.client.patch(f"users/{agent_user['id']}",
                                        json={"identityParentId": principal["id"]}), 400)


def test_odata_type_on_base_collection_needs_odata_version_4(sim: Sim) -> None:
    sponsor = _cloud_users(sim, 1)[0]
    body = {"@odata.type": "#microsoft.graph.agentIdentityBlueprint", "displayName": "BP",
            "sponsors@odata.bind": [f"{sim.graph}/users/{sponsor}"]}
    plain = _create(sim, "applications", body)
    assert "@odata.type" not in plain  # annotation ignored: a plain application
    typed = sim.client.post("applications", json=body, headers={"OData-Version": "4.0"})
    assert typed.status_code == 201
    assert typed.json()["@odata.type"] == "#microsoft.graph.agentIdentityBlueprint"


# ----- app role assignments ----------------------------------------------------------------

def test_app_role_assignment_create_list_delete(sim: Sim) -> None:
    sps = items(sim.client, "servicePrincipals?$top=999&$select=id,appRoles,"
                            "servicePrincipalType")
    resource = next(s for s in sps if s["appRoles"] and "@odata.type" not in s)
    role = resource["appRoles"][0]["id"]
    user = _create(sim, "users", user_body("assignee"))
    path = f"servicePrincipals/{resource['id']}/appRoleAssignedTo"
    body = {"principalId": user["id"], "resourceId": resource["id"], "appRoleId": role}
    created = _create(sim, path, body)
    assert created["principalType"] == "User" and created["appRoleId"] == role
    assert created["principalDisplayName"] == user["displayName"]
    assert created["id"] in ids(items(sim.client, f"{path}?$top=999"))
    mine = items(sim.client, f"users/{user['id']}/appRoleAssignments")
    assert ids(mine) == [created["id"]]
    assert_graph_error(sim.client.post(path, json=body), 400)
    assert_graph_error(sim.client.post(path, json={**body, "appRoleId": new_id("role")}), 400)
    assert_graph_error(sim.client.post(path, json={**body, "resourceId": user["id"]}), 400)
    assert_graph_error(sim.client.patch(f"{path}/{created['id']}", json={}), 405)
    default = _create(sim, f"users/{user['id']}/appRoleAssignments",
                      {**body, "appRoleId": ZERO_ROLE})
    assert default["resourceId"] == resource["id"]
    assert sim.client.delete(f"{path}/{created['id']}").status_code == 204
    assert ids(items(sim.client, f"users/{user['id']}/appRoleAssignments")) == [default["id"]]
    assert_graph_error(sim.client.delete(f"{path}/{created['id']}"), 404)


# ----- audit -------------------------------------------------------------------------------

def test_every_write_is_audited_with_actor_target_and_changes(sim: Sim) -> None:
    user = _create(sim, "users", {**user_body("audited"), "jobTitle": "Cook"})
    uid = user["id"]
    sim.client.patch(f"users/{uid}", json={"jobTitle": "Chef"}).raise_for_status()
    group = _create(sim, "groups", group_body("auditgroup"))
    sim.client.post(f"groups/{group['id']}/members/$ref",
                    json=ref(sim.graph, uid)).raise_for_status()
    app = _create(sim, "applications", {"displayName": "Audited app"})
    sim.client.post(f"applications/{app['id']}/addPassword", json={}).raise_for_status()
    sim.client.delete(f"users/{uid}").raise_for_status()
    sim.client.post(f"directory/deletedItems/{uid}/restore").raise_for_status()

    user_events = _audits_for(sim, uid)
    activities = [e["activityDisplayName"] for e in user_events]
    assert activities == ["Restore user", "Delete user", "Update user", "Add user"]  # newest 1st
    for event in user_events + _audits_for(sim, group["id"]) + _audits_for(sim, app["id"]):
        assert event["initiatedBy"]["app"]["displayName"] == CALLER_NAME
        assert event["initiatedBy"]["user"] is None
        assert event["result"] == "success" and event["activityDateTime"].endswith("Z")
        assert event["id"] and event["category"] and event["operationType"]
    update = user_events[2]
    assert update["targetResources"][0]["id"] == uid
    assert update["targetResources"][0]["userPrincipalName"] == user["userPrincipalName"]
    changed = {p["displayName"]: p for p in update["targetResources"][0]["modifiedProperties"]}
    assert json.loads(changed["jobTitle"]["oldValue"]) == ["Cook"]
    assert json.loads(changed["jobTitle"]["newValue"]) == ["Chef"]
    created = {p["displayName"] for p in user_events[3]["targetResources"][0]
               ["modifiedProperties"]}
    assert "passwordProfile" not in created and "userPrincipalName" in created
    member = _audits_for(sim, group["id"])[0]
    assert member["activityDisplayName"] == "Add member to group"
    props = member["targetResources"][0]["modifiedProperties"]
    assert json.loads(props[0]["newValue"]) == [uid]
    secret = _audits_for(sim, app["id"])[0]
    assert "secret" in secret["activityDisplayName"].lower()
    one = sim.client.get(f"auditLogs/directoryAudits/{update['id']}").json()
    assert one == update


def test_audit_list_filters_by_activity_and_pages(sim: Sim) -> None:
    for n in range(5):
        _create(sim, "groups", group_body(f"pg{n}"))
    events = items(sim.client, "auditLogs/directoryAudits?$top=2&"
                               "$filter=activityDisplayName eq 'Add group'")
    assert len(events) == 5
    assert all(e["activityDisplayName"] == "Add group" for e in events)
    assert_graph_error(sim.client.get("auditLogs/directoryAudits?$filter=id eq 'x'"), 400,
                       "Request_UnsupportedQuery")


def test_failed_writes_are_not_audited(sim: Sim) -> None:
    before = len(items(sim.client, "auditLogs/directoryAudits?$top=999"))
    assert_graph_error(sim.client.post("users", json={**user_body("nope"), "bogus": 1}), 400)
    assert_graph_error(sim.client.patch(f"users/{new_id('x')}", json={"jobTitle": "x"}), 404)
    assert len(items(sim.client, "auditLogs/directoryAudits?$top=999")) == before


def test_replication_delay_hides_a_new_object_from_reads_and_references(sim: Sim) -> None:
    group = _create(sim, "groups", group_body("replicas"))
    sim.configure(replication_delay_ms=5000)
    user = _create(sim, "users", user_body("fresh"))  # the write itself answers at once
    path = f"groups/{group['id']}/members/$ref"
    unknown = sim.client.post(path, json=ref(sim.graph, new_id("ghost")))
    assert_graph_error(sim.client.get(f"users/{user['id']}"), 404, "Request_ResourceNotFound")
    assert user["id"] not in ids(items(sim.client, "users?$top=999&$select=id"))
    early = sim.client.post(path, json=ref(sim.graph, user["id"]))
    assert (early.status_code, early.json()["error"]["code"]) == (
        unknown.status_code, unknown.json()["error"]["code"])  # as if it did not exist
    sim.advance(5.1)
    assert sim.client.get(f"users/{user['id']}").status_code == 200
    assert user["id"] in ids(items(sim.client, "users?$top=999&$select=id"))
    assert sim.client.post(path, json=ref(sim.graph, user["id"])).status_code == 204
