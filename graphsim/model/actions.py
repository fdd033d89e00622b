"""Graph actions that are not plain CRUD: credentials, app role assignments, SOA conversion.

Secrets are the reason these exist: `addPassword` returns `secretText` once and the simulator
keeps only the hint, as Graph does, so nothing downstream can ever read a secret back.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from graphsim.clock import iso
from graphsim.errors import BadRequest, resource_not_found
from graphsim.model.audit import Caller
from graphsim.model.tenant import Json, Tenant
from graphsim.model.validate import check_value
from graphsim.model.writes import _category

ZERO_ROLE = "00000000-0000-0000-0000-000000000000"


def add_password(
    tenant: Tenant, caller: Caller, collection: str, object_id: str, body: Json
) -> Json:
    obj = tenant.find(collection, object_id)
    if obj.get("@odata.type") == "#microsoft.graph.agentIdentity":
        raise BadRequest("Agent identities cannot hold password credentials.",
                         code="PropertyNotCompatibleWithAgentIdentity")
    requested = body.get("passwordCredential", {})
    if not isinstance(requested, dict):
        raise BadRequest("'passwordCredential' must be an object.")
    check_value("complex:passwordCredential", requested, "passwordCredential")
    for forbidden in ("secretText", "keyId", "hint"):
        if requested.get(forbidden) is not None:
            raise BadRequest(f"Property '{forbidden}' is read-only and cannot be set.")
    secret = secrets.token_urlsafe(30)[:40]
    now = tenant.clock.now()
    credential = {
        "customKeyIdentifier": None,
        "displayName": requested.get("displayName"),
        "endDateTime": requested.get("endDateTime") or iso(now + timedelta(days=730)),
        "hint": secret[:3],
        "keyId": str(uuid.uuid4()),
        "startDateTime": requested.get("startDateTime") or iso(now),
    }
    old = list(obj.get("passwordCredentials") or [])
    obj["passwordCredentials"] = [*old, credential]
    _credential_changed(tenant, caller, collection, obj, "Update application – Certificates "
                        "and secrets management ", old)
    return {**credential, "secretText": secret}


def remove_password(
    tenant: Tenant, caller: Caller, collection: str, object_id: str, body: Json
) -> None:
    obj = tenant.find(collection, object_id)
    key_id = body.get("keyId")
    if not isinstance(key_id, str):
        raise BadRequest("Property 'keyId' is required.")
    old = list(obj.get("passwordCredentials") or [])
    kept = [c for c in old if c.get("keyId") != key_id]
    if len(kept) == len(old):
        raise BadRequest(f"No password credential found with keyId '{key_id}'.")
    obj["passwordCredentials"] = kept
    _credential_changed(tenant, caller, collection, obj, "Update application – Certificates "
                        "and secrets management ", old)


def _credential_changed(
    tenant: Tenant, caller: Caller, collection: str, obj: Json, activity: str, old: list[Any]
) -> None:
    tenant.changes.record(collection, obj["id"], props=frozenset({"passwordCredentials"}))
    tenant.audit.record(
        caller, activity.strip(), category=_category(collection), operation="Update",
        target_id=obj["id"], target_type="Application" if collection == "applications"
        else "ServicePrincipal", display_name=obj.get("displayName"),
        changes=[("KeyDescription", [c.get("keyId") for c in old],
                  [c.get("keyId") for c in obj["passwordCredentials"]])],
    )


def create_assignment(tenant: Tenant, caller: Caller, body: Json, *, via: str, via_id: str) -> Json:
    """POST servicePrincipals/{id}/appRoleAssignedTo or {principal}/appRoleAssignments."""
    for name in ("principalId", "resourceId", "appRoleId"):
        if not isinstance(body.get(name), str):
            raise BadRequest(f"Property '{name}' is required.")
        check_value("guid", body[name], name)
    extra = set(body) - {"principalId", "resourceId", "appRoleId", "@odata.type"}
    if extra:
        raise BadRequest(f"Invalid property '{sorted(extra)[0]}'.")
    expected = body["resourceId"] if via == "resource" else body["principalId"]
    if expected != via_id:
        raise BadRequest("The id in the URL does not match the id in the request body.")
    located = tenant.locate(body["principalId"])
    if located is None or located[0] not in ("users", "groups", "servicePrincipals"):
        raise resource_not_found(body["principalId"])
    resource = tenant.stores["servicePrincipals"].get(body["resourceId"])
    if resource is None:
        raise resource_not_found(body["resourceId"])
    role_ids = {r.get("id") for r in resource.get("appRoles") or []} | {ZERO_ROLE}
    if body["appRoleId"] not in role_ids:
        raise BadRequest("Permission being assigned was not found on application.")
    for existing in tenant.assignments(resource=body["resourceId"]):
        if existing["principalId"] == body["principalId"] and (
            existing["appRoleId"] == body["appRoleId"]
        ):
            raise BadRequest("Permission being assigned already exists on the object.")
    principal_type = {"users": "User", "groups": "Group",
                      "servicePrincipals": "ServicePrincipal"}[located[0]]
    assignment = {
        "id": str(uuid.uuid4()),
        "appRoleId": body["appRoleId"],
        "createdDateTime": tenant.now_iso(),
        "deletedDateTime": None,
        "principalDisplayName": located[1].get("displayName"),
        "principalId": body["principalId"],
        "principalType": principal_type,
        "resourceDisplayName": resource.get("displayName"),
        "resourceId": body["resourceId"],
    }
    tenant.add_assignment(assignment)
    tenant.stats["creates"] += 1
    tenant.audit.record(caller, "Add app role assignment to " + principal_type.lower(),
                        category="ApplicationManagement", operation="Assign",
                        target_id=body["resourceId"], target_type="ServicePrincipal",
                        display_name=resource.get("displayName"),
                        changes=[("AppRole.Id", None, body["appRoleId"])])
    return assignment


def delete_assignment(tenant: Tenant, caller: Caller, assignment_id: str, *, owner: str) -> None:
    assignment = tenant.stores["appRoleAssignments"].get(assignment_id)
    if assignment is None or owner not in (assignment["resourceId"], assignment["principalId"]):
        raise resource_not_found(assignment_id)
    tenant.drop_assignment(assignment_id)
    tenant.stats["hardDeletes"] += 1
    tenant.audit.record(caller, "Remove app role assignment", category="ApplicationManagement",
                        operation="Unassign", target_id=assignment["resourceId"],
                        target_type="ServicePrincipal",
                        display_name=assignment.get("resourceDisplayName"),
                        changes=[("AppRole.Id", assignment["appRoleId"], None)])


def get_sync_behavior(tenant: Tenant, collection: str, object_id: str) -> Json:
    tenant.find(collection, object_id)
    return {"isCloudManaged": tenant.cloud_managed.get(object_id, False)}


def set_sync_behavior(
    tenant: Tenant, caller: Caller, collection: str, object_id: str, body: Json
) -> None:
    """Source-of-authority conversion (beta onPremisesSyncBehavior)."""
    obj = tenant.find(collection, object_id)
    extra = set(body) - {"isCloudManaged", "@odata.type"}
    if extra:
        raise BadRequest(f"Invalid property '{sorted(extra)[0]}'.")
    value = body.get("isCloudManaged")
    if not isinstance(value, bool):
        raise BadRequest("Property 'isCloudManaged' must be a boolean.")
    old = tenant.cloud_managed.get(object_id, False)
    if old == value:
        return
    if value and not obj.get("onPremisesSyncEnabled"):
        raise BadRequest("The object is not synchronized from on-premises; its source of "
                         "authority is already the cloud.")
    tenant.cloud_managed[object_id] = value
    # A cloud-managed object no longer reads as synced; handing it back marks it synced again.
    obj["onPremisesSyncEnabled"] = not value
    tenant.changes.record(collection, object_id, props=frozenset({"onPremisesSyncEnabled"}))
    tenant.audit.record(caller, "Update onPremisesSyncBehavior", category=_category(collection),
                        operation="Update", target_id=object_id,
                        target_type="Group" if collection == "groups" else "User",
                        display_name=obj.get("displayName"),
                        changes=[("isCloudManaged", old, value)])
