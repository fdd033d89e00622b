"""Creating and updating objects and links, with Graph's validation rules.

Each function validates everything first and changes state only when the whole request is
acceptable, as Graph's writes are atomic: a bad member in `members@odata.bind` adds nothing.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from graphsim.errors import BadRequest, Conflict, resource_not_found
from graphsim.model.audit import Caller
from graphsim.model.tenant import Json, Tenant
from graphsim.model.validate import check_body, type_properties
from graphsim.rules import (
    LINK_SOURCES,
    LINK_TARGETS,
    MAX_BIND_PER_REQUEST,
    ORGANIZATION_WRITABLE,
    RULES,
    SYNCED_USER_WRITABLE,
    Rule,
)

ON_PREM_MASTERED = (
    "Unable to update the specified properties for on-premises mastered Directory Sync "
    "objects or objects currently undergoing migration."
)
DUPLICATE_REF = (
    "One or more added object references already exist for the following modified "
    "properties: '{nav}'."
)
_VERBS = {"users": "user", "groups": "group", "applications": "application",
          "servicePrincipals": "service principal", "conditionalAccessPolicies":
          "conditional access policy", "namedLocations": "named location",
          "oauth2PermissionGrants": "delegated permission grant"}


def _noun(collection: str) -> str:
    return _VERBS.get(collection, collection)


def _resolve_type(rule: Rule, body: Json, cast: str | None, odata_v4: bool) -> str:
    """Which Graph type a create makes: the cast segment, else `@odata.type` (with OData 4.0)."""
    if cast:
        return rule.casts[cast]
    odata_type = body.get("@odata.type")
    if rule.odata_type_required and not isinstance(odata_type, str):
        raise BadRequest("A type name must be specified: '@odata.type' is required.")
    if isinstance(odata_type, str):
        name = odata_type.removeprefix("#").removeprefix("microsoft.graph.")
        if name == rule.base_type:
            if rule.odata_type_required:  # the base type is abstract (namedLocation)
                raise BadRequest(f"Cannot create an instance of the abstract type "
                                 f"'{odata_type}'; use a derived type.")
            return name
        if "microsoft.graph." + name not in rule.casts:
            raise BadRequest(f"Type '{odata_type}' is not valid for this collection.")
        # Graph ignores the annotation without OData-Version: 4.0 (Agent ID setup pitfall).
        if odata_v4 or rule.odata_type_required:
            return name
    return rule.base_type


def _bind_targets(tenant: Tenant, value: Any, nav: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{nav}@odata.bind' must be an array of object URLs.")
    ids = [url.rstrip("/").rsplit("/", 1)[-1] for url in value]
    for target in ids:
        located = tenant.locate(target)
        if located is None or located[0] not in LINK_TARGETS[nav]:
            raise BadRequest(
                "The source resource object or one of the objects being referenced don't exist."
            )
    return ids


def _binds(tenant: Tenant, collection: str, body: Json) -> dict[str, list[str]]:
    binds: dict[str, list[str]] = {}
    for key, value in body.items():
        if not key.endswith("@odata.bind"):
            continue
        nav = key.removesuffix("@odata.bind")
        if nav not in LINK_SOURCES or collection not in LINK_SOURCES[nav]:
            raise BadRequest(f"Invalid property '{key}'.")
        binds[nav] = _bind_targets(tenant, value, nav)
    if sum(len(v) for v in binds.values()) > MAX_BIND_PER_REQUEST:
        raise BadRequest(
            f"The request exceeds the maximum of {MAX_BIND_PER_REQUEST} object references "
            "that can be added in a single request."
        )
    return binds


def _check_group_shape(body: Json, *, existing: Json | None = None) -> None:
    merged = {**(existing or {}), **body}
    unified = "Unified" in (merged.get("groupTypes") or [])
    if existing is None and merged.get("mailEnabled") and not unified:
        raise BadRequest("Cannot Create a mail-enabled security groups and or distribution list.")
    dynamic = "DynamicMembership" in (merged.get("groupTypes") or [])
    if dynamic and not merged.get("membershipRule"):
        raise BadRequest("A dynamic membership group requires a membershipRule.")


def _check_unique(tenant: Tenant, collection: str, values: Json, own_id: str | None) -> None:
    upn = values.get("userPrincipalName")
    if collection == "users" and isinstance(upn, str):
        holder = tenant.upn_index.get(upn.lower())
        if holder is not None and holder != own_id:
            raise BadRequest(
                "Another object with the same value for property userPrincipalName already "
                "exists.",
                details=[{"code": "ObjectConflict", "target": "userPrincipalName",
                          "message": "Another object with the same value for property "
                                     "userPrincipalName already exists."}],
            )


def _prepare_new(
    tenant: Tenant, collection: str, type_name: str, values: Json, binds: Json
) -> None:
    """Server-assigned values and cross-object rules for a new object."""
    values["id"] = str(uuid.uuid4()) if collection != "oauth2PermissionGrants" else (
        secrets.token_urlsafe(32)
    )
    now = tenant.now_iso()
    if "createdDateTime" in type_properties(type_name):  # v1.0 servicePrincipal has none
        values["createdDateTime"] = now
    if collection in ("conditionalAccessPolicies", "namedLocations"):
        values["modifiedDateTime"] = now
    if collection == "applications":
        values["appId"] = str(uuid.uuid4())
        values.setdefault("passwordCredentials", [])
        values.setdefault("keyCredentials", [])
        if type_name == "agentIdentityBlueprint" and not binds.get("sponsors"):
            raise BadRequest("No sponsor specified. Please provide at least one sponsor.")
    if collection == "users":
        values.setdefault("userType", "Member")
        if type_name == "agentUser":
            parent = values.get("identityParentId")
            parent_obj = tenant.stores["servicePrincipals"].get(parent or "")
            if parent_obj is None or parent_obj.get("@odata.type") != (
                "#microsoft.graph.agentIdentity"
            ):
                raise BadRequest("identityParentId must reference an existing agent identity.")
        elif "passwordProfile" not in values:
            raise BadRequest("Property 'passwordProfile' is required when creating a user.")
    if collection == "servicePrincipals":
        _prepare_service_principal(tenant, type_name, values, binds)
    if collection == "groups":
        values.setdefault("groupTypes", [])


def _prepare_service_principal(tenant: Tenant, type_name: str, values: Json, binds: Json) -> None:
    if type_name == "agentIdentity":
        blueprint_app = values.get("agentIdentityBlueprintId")
        if not blueprint_app or blueprint_app not in tenant.sp_by_app:
            raise BadRequest(
                "The Agent Blueprint Principal for the Agent Blueprint does not exist."
            )
        if not binds.get("sponsors"):
            raise BadRequest("No sponsor specified. Please provide at least one sponsor.")
        values["appId"] = str(uuid.uuid4())
        values["servicePrincipalType"] = "ServiceIdentity"
        values.setdefault("accountEnabled", True)
        return
    app_id = values.get("appId")
    if not isinstance(app_id, str):
        raise BadRequest("Property 'appId' is required when creating a service principal.")
    if app_id in tenant.sp_by_app:
        raise Conflict("Another object with the same value for property appId already exists.")
    app_object_id = tenant.app_by_appid.get(app_id)
    if app_object_id is None:
        raise BadRequest(
            f"The appId '{app_id}' of the service principal does not reference a valid "
            "application object."
        )
    app = tenant.stores["applications"].objects[app_object_id]
    values.setdefault("displayName", app.get("displayName"))
    values["appDisplayName"] = app.get("displayName")
    values["appOwnerOrganizationId"] = tenant.tenant_id
    values["servicePrincipalType"] = "Application"
    values["signInAudience"] = app.get("signInAudience", "AzureADMyOrg")
    values.setdefault("accountEnabled", True)
    values["appRoles"] = app.get("appRoles", [])
    values.setdefault("passwordCredentials", [])
    values.setdefault("keyCredentials", [])


def create_object(
    tenant: Tenant, caller: Caller, collection: str, body: Json, *, cast: str | None = None,
    odata_v4: bool = False,
) -> Json:
    rule = RULES[collection]
    type_name = _resolve_type(rule, body, cast, odata_v4)
    if "passwordCredentials" in body and collection in ("applications", "servicePrincipals"):
        raise BadRequest("Property 'passwordCredentials' cannot be set on create; use addPassword.")
    values = check_body(rule, type_name, body, creating=True)
    missing = [name for name in rule.required_on_create if values.get(name) is None]
    if type_name == "agentUser":
        missing = [m for m in missing if m != "mailNickname"]
    if missing:
        raise BadRequest(f"Property '{missing[0]}' is required when creating the object.")
    binds = _binds(tenant, collection, body)
    if collection == "groups":
        _check_group_shape(values)
    _check_unique(tenant, collection, values, None)
    _prepare_new(tenant, collection, type_name, values, binds)
    if type_name != rule.base_type:
        values = {"@odata.type": f"#microsoft.graph.{type_name}", **values}
    tenant.stores[collection].put(values)
    tenant.index(collection, values)
    for nav, targets in binds.items():
        for target in targets:
            tenant.links.add(nav, values["id"], target)
    tenant.changes.record(collection, values["id"])
    tenant.created(values["id"])
    tenant.stats["creates"] += 1
    tenant.audit.record(
        caller, f"Add {_noun(collection)}", category=_category(collection), operation="Add",
        target_id=values["id"], target_type=rule.audit_type,
        display_name=values.get("displayName"), upn=values.get("userPrincipalName"),
        changes=[(k, None, v) for k, v in values.items() if k not in ("id", "passwordProfile")],
    )
    return values


def _category(collection: str) -> str:
    return {"users": "UserManagement", "groups": "GroupManagement",
            "applications": "ApplicationManagement",
            "servicePrincipals": "ApplicationManagement"}.get(collection, "Policy")


def update_object(
    tenant: Tenant, caller: Caller, collection: str, object_id: str, body: Json
) -> None:
    rule = RULES[collection]
    obj = tenant.find(collection, object_id)
    type_name = tenant.type_of(rule, obj)
    if rule.odata_type_required:
        given = body.get("@odata.type")
        if not isinstance(given, str):
            raise BadRequest("A type name must be specified: '@odata.type' is required.")
        if given.removeprefix("#") != obj["@odata.type"].removeprefix("#"):
            raise BadRequest(f"Type '{given}' does not match the existing object.")
    if "passwordCredentials" in body and collection in ("applications", "servicePrincipals"):
        raise BadRequest(
            "Property 'passwordCredentials' cannot be updated; use addPassword and removePassword."
        )
    if collection == "organization":
        for key in body:
            if key not in ORGANIZATION_WRITABLE and not key.startswith("@"):
                raise BadRequest(f"Property '{key}' is read-only and cannot be set.")
    values = check_body(rule, type_name, body, creating=False)
    binds = _binds(tenant, collection, body)
    # Only directory-synced users and groups are AD-mastered; `organization` also carries
    # onPremisesSyncEnabled, but there it says the tenant syncs, and the object stays writable.
    if collection in ("users", "groups") and tenant.is_synced(obj):
        writable = SYNCED_USER_WRITABLE if collection == "users" else frozenset()
        if binds or any(key not in writable for key in values):
            raise BadRequest(ON_PREM_MASTERED)
    if collection == "groups":
        _check_group_shape(values, existing=obj)
        if "members" in binds and "DynamicMembership" in (obj.get("groupTypes") or []):
            raise BadRequest("Members of a dynamic membership group cannot be changed.")
    if collection == "users" and "identityParentId" in values:
        raise BadRequest("Property 'identityParentId' cannot be changed.")
    _check_unique(tenant, collection, values, object_id)
    for nav, targets in binds.items():
        for target in targets:
            if tenant.links.has(nav, object_id, target):
                raise BadRequest(DUPLICATE_REF.format(nav=nav))
    apply_update(tenant, caller, collection, obj, values, binds)


def apply_update(
    tenant: Tenant, caller: Caller, collection: str, obj: Json, values: Json,
    binds: dict[str, list[str]] | None = None,
) -> None:
    """Apply validated changes; record the change and an audit event."""
    rule = RULES[collection]
    changed = [(k, obj.get(k), v) for k, v in values.items() if obj.get(k) != v]
    if collection == "users" and "userPrincipalName" in values:
        tenant.unindex(collection, obj)
    for key, _old, new in changed:
        obj[key] = new
    tenant.index(collection, obj)
    link_changes: list[tuple[str, str, bool]] = []
    for nav, targets in (binds or {}).items():
        for target in targets:
            tenant.links.add(nav, obj["id"], target)
            link_changes.append((nav, target, True))
    if changed and collection in ("conditionalAccessPolicies", "namedLocations"):
        obj["modifiedDateTime"] = tenant.now_iso()
    if changed and collection == "authenticationMethodsPolicy":
        obj["lastModifiedDateTime"] = tenant.now_iso()
    if not changed and not link_changes:
        return
    tenant.changes.record(collection, obj["id"], props=frozenset(k for k, _, _ in changed),
                          links=tuple(link_changes))
    tenant.stats["updates"] += 1
    tenant.audit.record(
        caller, f"Update {_noun(collection)}", category=_category(collection),
        operation="Update", target_id=obj["id"], target_type=rule.audit_type,
        display_name=obj.get("displayName"), upn=obj.get("userPrincipalName"),
        changes=[(k, old, new) for k, old, new in changed if k != "passwordProfile"],
    )


def add_link(
    tenant: Tenant, caller: Caller, collection: str, object_id: str, nav: str, target_url: Any
) -> None:
    """POST .../{nav}/$ref (or PUT manager/$ref): add one reference."""
    obj = tenant.find(collection, object_id)
    if nav not in LINK_SOURCES or collection not in LINK_SOURCES[nav]:
        raise BadRequest(f"Unsupported reference property '{nav}'.")
    if not isinstance(target_url, str) or not target_url:
        raise BadRequest("The '@odata.id' of the reference is missing or not a string.")
    target = target_url.rstrip("/").rsplit("/", 1)[-1]
    located = tenant.locate(target)
    if located is None or located[0] not in LINK_TARGETS[nav]:
        raise resource_not_found(target)
    if tenant.is_synced(obj) and nav in ("members", "manager"):
        raise BadRequest(ON_PREM_MASTERED)
    if nav == "members" and "DynamicMembership" in (obj.get("groupTypes") or []):
        raise BadRequest("Members of a dynamic membership group cannot be changed.")
    if nav == "manager":
        if target == object_id:
            raise BadRequest("A user cannot be their own manager.")
        for old in tenant.links.targets("manager", object_id):
            tenant.links.remove("manager", object_id, old)
            # the replaced manager leaves the change log too, so delta can say it is gone
            tenant.changes.record(collection, object_id, props=frozenset(),
                                  links=(("manager", old, False),))
    elif tenant.links.has(nav, object_id, target):
        raise BadRequest(DUPLICATE_REF.format(nav=nav))
    tenant.links.add(nav, object_id, target)
    _link_recorded(tenant, caller, collection, obj, nav, target, added=True)


def remove_link(
    tenant: Tenant, caller: Caller, collection: str, object_id: str, nav: str,
    target: str | None,
) -> None:
    """DELETE .../{nav}/{id}/$ref (or manager/$ref)."""
    obj = tenant.find(collection, object_id)
    if nav not in LINK_SOURCES or collection not in LINK_SOURCES[nav]:
        raise BadRequest(f"Unsupported reference property '{nav}'.")
    if tenant.is_synced(obj) and nav in ("members", "manager"):
        raise BadRequest(ON_PREM_MASTERED)
    if nav == "members" and "DynamicMembership" in (obj.get("groupTypes") or []):
        raise BadRequest("Members of a dynamic membership group cannot be changed.")
    if nav == "manager":
        current = tenant.links.targets("manager", object_id)
        if not current:
            raise resource_not_found(object_id)
        target = current[0]
    if target is None or not tenant.links.has(nav, object_id, target):
        raise resource_not_found(target or object_id)
    tenant.links.remove(nav, object_id, target)
    _link_recorded(tenant, caller, collection, obj, nav, target, added=False)


def _link_recorded(
    tenant: Tenant, caller: Caller, collection: str, obj: Json, nav: str, target: str,
    *, added: bool,
) -> None:
    tenant.changes.record(collection, obj["id"], props=frozenset(), links=((nav, target, added),))
    tenant.stats["linkWrites"] += 1
    verb = "Add" if added else "Remove"
    noun = {"members": "member to group", "owners": "owner to " + _noun(collection),
            "manager": "manager to user", "sponsors": "sponsor"}[nav]
    if not added:
        noun = noun.replace(" to ", " from ")
    tenant.audit.record(
        caller, f"{verb} {noun}", category=_category(collection), operation=verb,
        target_id=obj["id"], target_type=RULES[collection].audit_type,
        display_name=obj.get("displayName"), upn=obj.get("userPrincipalName"),
        changes=[(f"{nav}.id", None if added else target, target if added else None)],
    )
