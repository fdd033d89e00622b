"""graphsim over HTTP, application and service principal writes: unique URIs, entitlements,
certificates, delegated grants.

Each test names the Graph reference page its rule comes from.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    assert_graph_error,
    audits_for,
    cloud_users,
    create,
    items,
    new_id,
)

Json = dict[str, Any]
BIN = "directory/deletedItems"


def _role(value: str, *, enabled: bool = True) -> Json:
    return {"id": str(uuid.uuid4()), "allowedMemberTypes": ["User"], "description": value,
            "displayName": value, "isEnabled": enabled, "value": value}


def _scope(value: str, *, enabled: bool = True) -> Json:
    return {"id": str(uuid.uuid4()), "adminConsentDescription": value,
            "adminConsentDisplayName": value, "isEnabled": enabled, "type": "Admin",
            "value": value}


def _sp_pair(sim: Sim) -> tuple[str, str]:
    """Two application service principals: a client and a resource for a grant."""
    sps = items(sim.client, "servicePrincipals?$top=999&$select=id,servicePrincipalType")
    plain = [s["id"] for s in sps
             if s["servicePrincipalType"] == "Application" and "@odata.type" not in s]
    return plain[0], plain[1]


def test_identifier_uris_are_unique_across_applications(sim: Sim) -> None:
    """application resource, identifierUris: the URIs that identify the application in its
    tenant; a value another application holds is a conflict
    (https://learn.microsoft.com/graph/api/resources/application)."""
    uri = f"api://unique-{uuid.uuid4().hex[:8]}"
    first_app = create(sim.client, "applications", {"displayName": "One",
                                                    "identifierUris": [uri]})
    error = assert_graph_error(sim.client.post("applications", json={
        "displayName": "Two", "identifierUris": [uri.upper()]}), 400, "Request_BadRequest")
    assert error["details"][0] == {"code": "ObjectConflict", "target": "identifierUris",
                                   "message": error["details"][0]["message"]}
    second = create(sim.client, "applications", {"displayName": "Two"})
    assert_graph_error(sim.client.patch(f"applications/{second['id']}", json={
        "identifierUris": [uri]}), 400)
    # the holder may rewrite its own list
    assert sim.client.patch(f"applications/{first_app['id']}", json={
        "identifierUris": [uri, f"{uri}/more"]}).status_code == 204


def test_restored_application_re_occupies_its_identifier_uris(sim: Sim) -> None:
    """graph.md 2.2: a restored app re-occupies its unique values, so a URI taken while it was
    deleted blocks the restore (https://learn.microsoft.com/graph/api/directory-deleteditems-restore)."""
    uri = f"api://phoenix-{uuid.uuid4().hex[:8]}"
    app = create(sim.client, "applications", {"displayName": "Phoenix", "identifierUris": [uri]})
    assert sim.client.delete(f"applications/{app['id']}").status_code == 204
    usurper = create(sim.client, "applications", {"displayName": "Usurper",
                                                  "identifierUris": [uri]})
    error = assert_graph_error(sim.client.post(f"{BIN}/{app['id']}/restore"), 400)
    assert error["details"][0]["target"] == "identifierUris"
    sim.client.patch(f"applications/{usurper['id']}", json={"identifierUris": []}
                     ).raise_for_status()
    assert sim.client.post(f"{BIN}/{app['id']}/restore").status_code == 200


def test_an_enabled_app_role_must_be_disabled_before_a_later_patch_removes_it(sim: Sim) -> None:
    """appRole, isEnabled: "To delete a role, this must first be set to false. At that point,
    in a subsequent call, this role may be removed."
    (https://learn.microsoft.com/graph/api/resources/approle)."""
    keep, drop = _role("Keep"), _role("Drop")
    app = create(sim.client, "applications", {"displayName": "Roles", "appRoles": [keep, drop]})
    path = f"applications/{app['id']}"
    assert_graph_error(sim.client.patch(path, json={"appRoles": [keep]}), 400,
                       "CannotDeleteOrUpdateEnabledEntitlement")
    sim.client.patch(path, json={"appRoles": [keep, {**drop, "isEnabled": False}]}
                     ).raise_for_status()
    assert sim.client.patch(path, json={"appRoles": [keep]}).status_code == 204
    got = sim.client.get(f"{path}?$select=appRoles").json()["appRoles"]
    assert [r["id"] for r in got] == [keep["id"]]


def test_an_enabled_permission_scope_must_be_disabled_first(sim: Sim) -> None:
    """permissionScope, isEnabled: "To delete a scope, this must first be set to false."
    (https://learn.microsoft.com/graph/api/resources/permissionscope)."""
    scope = _scope("Files.Read")
    app = create(sim.client, "applications", {"displayName": "Scopes",
                                              "api": {"oauth2PermissionScopes": [scope]}})
    path = f"applications/{app['id']}"
    assert_graph_error(sim.client.patch(path, json={"api": {"oauth2PermissionScopes": []}}),
                       400, "CannotDeleteOrUpdateEnabledEntitlement")
    sim.client.patch(path, json={"api": {"oauth2PermissionScopes": [
        {**scope, "isEnabled": False}]}}).raise_for_status()
    assert sim.client.patch(path, json={"api": {"oauth2PermissionScopes": []}}
                            ).status_code == 204


def test_key_credential_key_is_returned_only_on_a_single_object_select(sim: Sim) -> None:
    """keyCredential, key: "Returned only on $select for a single object, that is, GET
    applications/{applicationId}?$select=keyCredentials ...; otherwise, it's always null."
    (https://learn.microsoft.com/graph/api/resources/keycredential)."""
    key = {"keyId": str(uuid.uuid4()), "type": "AsymmetricX509Cert", "usage": "Verify",
           "displayName": "CN=restore", "key": "TUlJQ2VydGlmaWNhdGU="}
    app = create(sim.client, "applications", {"displayName": "Certs"})
    sim.client.patch(f"applications/{app['id']}", json={"keyCredentials": [key]}
                     ).raise_for_status()
    one = sim.client.get(f"applications/{app['id']}?$select=keyCredentials").json()
    assert one["keyCredentials"][0]["key"] == key["key"]
    listed = items(sim.client, "applications?$top=999&$select=id,keyCredentials")
    mine = next(a for a in listed if a["id"] == app["id"])
    assert mine["keyCredentials"][0]["keyId"] == key["keyId"]
    assert mine["keyCredentials"][0].get("key") is None


def test_remove_password_of_an_unknown_key_id_is_400(sim: Sim) -> None:
    """application-removepassword: the body names the keyId of an existing secret; Graph's
    page documents no error for an unknown one, graphsim answers 400 (docs/graphsim.md)
    (https://learn.microsoft.com/graph/api/application-removepassword)."""
    app = create(sim.client, "applications", {"displayName": "Unknown key"})
    assert_graph_error(sim.client.post(f"applications/{app['id']}/removePassword",
                                       json={"keyId": new_id("nokey")}), 400)


def test_principal_grant_needs_a_principal_and_all_principals_must_not_have_one(
    sim: Sim,
) -> None:
    """oAuth2PermissionGrant, principalId: "Required when consentType is Principal. If
    consentType is AllPrincipals this value is null."
    (https://learn.microsoft.com/graph/api/resources/oauth2permissiongrant)."""
    client, resource = _sp_pair(sim)
    user = cloud_users(sim.client, 1)[0]
    base = {"clientId": client, "resourceId": resource, "scope": "User.Read"}
    before = sim.stats()["objects"]["oauth2PermissionGrants"]
    for body in ({**base, "consentType": "Principal"},
                 {**base, "consentType": "Principal", "principalId": new_id("nobody")},
                 {**base, "consentType": "AllPrincipals", "principalId": user},
                 {**base, "consentType": "Everyone"},
                 {**base, "consentType": "AllPrincipals", "clientId": new_id("noclient")}):
        assert_graph_error(sim.client.post("oauth2PermissionGrants", json=body), 400)
    assert sim.stats()["objects"]["oauth2PermissionGrants"] == before
    principal = create(sim.client, "oauth2PermissionGrants",
                       {**base, "consentType": "Principal", "principalId": user})
    tenant_wide = create(sim.client, "oauth2PermissionGrants",
                         {**base, "consentType": "AllPrincipals"})
    assert principal["principalId"] == user and tenant_wide.get("principalId") is None


def test_grant_patch_changes_only_scope_and_delete_is_final(sim: Sim) -> None:
    """oauth2permissiongrant-update: scope is the updatable property; oauth2permissiongrant-
    delete removes the grant for good (https://learn.microsoft.com/graph/api/oauth2permissiongrant-update,
    https://learn.microsoft.com/graph/api/oauth2permissiongrant-delete)."""
    client, resource = _sp_pair(sim)
    grant = create(sim.client, "oauth2PermissionGrants", {
        "clientId": client, "resourceId": resource, "consentType": "AllPrincipals",
        "scope": "User.Read"})
    path = f"oauth2PermissionGrants/{grant['id']}"
    assert sim.client.patch(path, json={"scope": "User.Read Mail.Read"}).status_code == 204
    assert sim.client.get(path).json()["scope"] == "User.Read Mail.Read"
    assert_graph_error(sim.client.patch(path, json={"resourceId": client}), 400)
    assert sim.client.delete(path).status_code == 204
    assert_graph_error(sim.client.get(path), 404)
    events = [e["activityDisplayName"] for e in audits_for(sim.client, grant["id"])]
    assert events == ["Remove delegated permission grant", "Update delegated permission grant",
                      "Add delegated permission grant"]


def test_app_role_assignment_must_name_a_role_of_the_resource(sim: Sim) -> None:
    """serviceprincipal-post-approleassignedto: principalId, resourceId and appRoleId; the role
    must be one the resource defines (or the default access id)
    (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto)."""
    sps = items(sim.client, "servicePrincipals?$top=999&$select=id,appRoles")
    resource = next(s for s in sps if s["appRoles"] and "@odata.type" not in s)
    other = next(s for s in sps if s["id"] != resource["id"] and "@odata.type" not in s
                 and {r["id"] for r in s["appRoles"] or []} - {r["id"] for r in
                                                               resource["appRoles"]})
    foreign_role = next(r["id"] for r in other["appRoles"]
                        if r["id"] not in {x["id"] for x in resource["appRoles"]})
    user = cloud_users(sim.client, 1)[0]
    path = f"servicePrincipals/{resource['id']}/appRoleAssignedTo"
    body = {"principalId": user, "resourceId": resource["id"], "appRoleId": foreign_role}
    assert_graph_error(sim.client.post(path, json=body), 400)
    assert_graph_error(sim.client.post(path, json={**body, "principalId": new_id("ghost"),
                                                   "appRoleId": resource["appRoles"][0]["id"]}),
                       404)
    created = create(sim.client, path, {**body, "appRoleId": resource["appRoles"][0]["id"]})
    assert sim.client.delete(f"{path}/{created['id']}").status_code == 204
    events = [e["activityDisplayName"] for e in audits_for(sim.client, resource["id"])]
    assert events[:2] == ["Remove app role assignment", "Add app role assignment to user"]
