"""Delete, restore and permanent delete, following Graph's recycle-bin rules (§2 of the reference).

Users, Microsoft 365 and cloud security groups, applications, service principals and the
Agent ID types go to `directory/deletedItems`; CA policies and named locations to the beta
`identity/conditionalAccess/deletedItems`; synced groups, mail-enabled security groups and
distribution lists, grants and assignments are gone at once. Links stay with a soft-deleted
object and return with it.
"""

from __future__ import annotations

from datetime import datetime

from graphsim.errors import BadRequest, resource_not_found
from graphsim.model import kind_rules
from graphsim.model.audit import Caller
from graphsim.model.tenant import Deleted, Json, Tenant
from graphsim.model.writes import ON_PREM_MASTERED, _category, _noun
from graphsim.rules import RULES

CA_BIN = ("conditionalAccessPolicies", "namedLocations")
# Entra's audit names for deletes that are not "Delete ..." (directoryAudits activity list).
_DELETE_VERB = {"oauth2PermissionGrants": "Remove"}


def goes_to_bin(collection: str, obj: Json) -> bool:
    """Whether Graph soft-deletes this object rather than destroying it."""
    if not RULES[collection].soft_delete:
        return False
    if collection == "groups":
        unified = "Unified" in (obj.get("groupTypes") or [])
        if obj.get("onPremisesSyncEnabled"):
            return False
        if obj.get("mailEnabled") and not unified:  # mail-enabled security / distribution list
            return False
    return True


def delete_object(tenant: Tenant, caller: Caller, collection: str, object_id: str) -> None:
    obj = tenant.find(collection, object_id)
    if tenant.is_synced(obj):
        raise BadRequest(ON_PREM_MASTERED)
    if collection == "namedLocations" and obj.get("isTrusted"):
        raise BadRequest("A trusted named location cannot be deleted; mark it untrusted first.")
    if collection == "namedLocations":
        kind_rules.check_location_unused(tenant, object_id)
    _remove(tenant, caller, collection, obj, cascade=True)


def remove_object(tenant: Tenant, caller: Caller, collection: str, obj: Json) -> None:
    """Delete without the cloud-side checks: what the on-premises sync engine does."""
    _remove(tenant, caller, collection, obj, cascade=True)


def _remove(tenant: Tenant, caller: Caller, collection: str, obj: Json, *, cascade: bool) -> None:
    store = tenant.stores[collection]
    store.pop(obj["id"])
    tenant.unindex(collection, obj)
    rule = RULES[collection]
    soft = goes_to_bin(collection, obj)
    if soft:
        now = tenant.clock.now()
        obj["deletedDateTime"] = tenant.now_iso()
        tenant.bin[obj["id"]] = Deleted(collection, obj, now)
        tenant.changes.record(collection, obj["id"], removed=True)
        _membership_changed(tenant, obj["id"], present=False)
    else:
        tenant.forget(collection, obj["id"])
    tenant.stats["softDeletes" if soft else "hardDeletes"] += 1
    tenant.audit.record(
        caller, f"{_DELETE_VERB.get(collection, 'Delete')} {_noun(collection)}",
        category=_category(collection),
        operation="Delete", target_id=obj["id"], target_type=rule.audit_type,
        display_name=obj.get("displayName"), upn=obj.get("userPrincipalName"),
    )
    if cascade:
        _cascade(tenant, caller, collection, obj)


def _cascade(tenant: Tenant, caller: Caller, collection: str, obj: Json) -> None:
    """Deleting an app deletes its service principal; a blueprint, its agent identities."""
    if collection == "applications":
        sp_id = tenant.sp_by_app.get(obj.get("appId", ""))
        if sp_id is not None:
            sp = tenant.stores["servicePrincipals"].objects[sp_id]
            _remove(tenant, caller, "servicePrincipals", sp, cascade=True)
    if obj.get("@odata.type") == "#microsoft.graph.agentIdentityBlueprintPrincipal":
        if tenant.agent_cascade_delay.total_seconds() <= 0:
            _remove_agent_identities(tenant, caller, obj)
        else:
            tenant.pending_cascades.append(
                (tenant.clock.now() + tenant.agent_cascade_delay, obj["id"], caller))
    if obj.get("@odata.type") == "#microsoft.graph.agentIdentity":
        for _, user in list(tenant.stores["users"].scan()):
            if user.get("identityParentId") == obj["id"]:
                _remove(tenant, caller, "users", user, cascade=False)


def run_due_cascades(tenant: Tenant) -> None:
    """Graph's background cleanup: the agent identities of blueprint principals deleted a
    while ago go to the bin - unless the principal was restored first (children untouched)
    or purged (they are orphaned, not deleted)."""
    if not tenant.pending_cascades:
        return
    now = tenant.clock.now()
    due = [p for p in tenant.pending_cascades if p[0] <= now]
    tenant.pending_cascades = [p for p in tenant.pending_cascades if p[0] > now]
    for _, principal_id, caller in due:
        entry = tenant.bin.get(principal_id)
        if entry is not None:
            _remove_agent_identities(tenant, caller, entry.obj)


def _remove_agent_identities(tenant: Tenant, caller: Caller, principal: Json) -> None:
    blueprint_app = principal.get("appId")
    children = [
        sp for _, sp in tenant.stores["servicePrincipals"].scan()
        if sp.get("agentIdentityBlueprintId") == blueprint_app
        and sp.get("@odata.type") == "#microsoft.graph.agentIdentity"
    ]
    for child in children:
        _remove(tenant, caller, "servicePrincipals", child, cascade=True)


def as_deleted(collection: str, obj: Json, view: Json) -> Json:
    """How a bin item reads: with `deletedDateTime`, and Graph's group quirk applied.

    Soft-deleted groups report `securityEnabled: false` in the bin (reference §2.1), so kinds
    must be told apart by `groupTypes`; the stored object keeps its value for the restore.
    """
    view["deletedDateTime"] = obj.get("deletedDateTime")
    if collection == "groups" and "securityEnabled" in view:
        view["securityEnabled"] = False
    return view


def _membership_changed(tenant: Tenant, object_id: str, *, present: bool) -> None:
    """A binned object vanishes from its groups' member lists and its reports' manager (and
    returns on restore), so groups/delta and users/delta report it in `members@delta` /
    `manager@delta` as a GET of those relationships would show it."""
    for nav, collection in (("members", "groups"), ("manager", "users")):
        for source in tenant.links.sources(nav, object_id):
            if source in tenant.stores[collection]:
                tenant.changes.record(collection, source, props=frozenset(),
                                      links=((nav, object_id, present),))


def bin_entry(
    tenant: Tenant, object_id: str, *, ca: bool, collection: str | None = None
) -> Deleted:
    tenant.purge_expired()
    entry = tenant.bin.get(object_id)
    if entry is None or (entry.collection in CA_BIN) != ca or (
        collection is not None and entry.collection != collection
    ):
        raise resource_not_found(object_id)
    return entry


def restore(
    tenant: Tenant, caller: Caller, object_id: str, *, ca: bool = False,
    collection: str | None = None, new_upn: str | None = None,
) -> tuple[str, Json]:
    """Bring an object back from a bin with its id and links; answer its collection and body."""
    entry = bin_entry(tenant, object_id, ca=ca, collection=collection)
    obj = entry.obj
    if entry.collection == "users":
        upn = new_upn or obj.get("userPrincipalName", "")
        if upn.lower() in tenant.upn_index:
            raise BadRequest(
                "Another object with the same value for property userPrincipalName already "
                "exists.",
                details=[{"code": "ObjectConflict", "target": "userPrincipalName",
                          "message": "The userPrincipalName is in use by another object."}],
            )
        if new_upn:
            kind_rules.check_upn_domain(tenant, new_upn)
        obj["userPrincipalName"] = upn
    if entry.collection == "applications":  # a restored app re-occupies its identifierUris
        kind_rules.check_identifier_uris(tenant, obj.get("identifierUris"), object_id)
    if entry.collection == "servicePrincipals" and obj.get("appId") in tenant.sp_by_app:
        raise BadRequest("Another service principal with the same appId already exists.")
    if entry.collection == "namedLocations" and "isTrusted" in obj:
        obj["isTrusted"] = False  # restored locations come back untrusted
    del tenant.bin[object_id]
    obj["deletedDateTime"] = None
    if entry.collection not in CA_BIN:
        obj.pop("deletedDateTime")
    tenant.stores[entry.collection].put(obj)
    tenant.index(entry.collection, obj)
    tenant.changes.record(entry.collection, object_id)
    _membership_changed(tenant, object_id, present=True)
    tenant.stats["restores"] += 1
    tenant.audit.record(
        caller, f"Restore {_noun(entry.collection)}", category=_category(entry.collection),
        operation="Restore", target_id=object_id, target_type=RULES[entry.collection].audit_type,
        display_name=obj.get("displayName"), upn=obj.get("userPrincipalName"),
    )
    return entry.collection, obj


def permanently_delete(tenant: Tenant, caller: Caller, object_id: str, *, ca: bool) -> None:
    """DELETE on a bin entry: the only way anything is destroyed for good. Counted."""
    entry = bin_entry(tenant, object_id, ca=ca)
    del tenant.bin[object_id]
    tenant.forget(entry.collection, object_id)
    tenant.stats["permanentDeletes"] += 1
    tenant.audit.record(
        caller, f"Hard delete {_noun(entry.collection)}",
        category=_category(entry.collection), operation="Delete", target_id=object_id,
        target_type=RULES[entry.collection].audit_type,
        display_name=entry.obj.get("displayName"), upn=entry.obj.get("userPrincipalName"),
    )


def bin_items(tenant: Tenant, collections: tuple[str, ...], type_name: str | None) -> list[Json]:
    """Bin contents of some collections (optionally one derived type), oldest first."""
    tenant.purge_expired()
    out = []
    for entry in tenant.bin.values():
        if entry.collection not in collections:
            continue
        obj_type = tenant.type_of(RULES[entry.collection], entry.obj)
        if type_name is not None and type_name not in (
            obj_type, RULES[entry.collection].base_type
        ):
            continue
        out.append(entry.obj)
    return out


def deleted_time(entry: Deleted) -> datetime:
    return entry.deleted_at
