"""Microsoft Entra Backup and Recovery's recovery job, as far as a tenant can see it.

The native service updates objects back to a backup's values, soft-deletes objects added
since, restores soft-deleted ones, and puts links back - and it "doesn't generate change
notifications through subscriptions or delta records for change tracking", while "all
operations ... are logged in the Microsoft Entra audit logs with the category 'Backup and
Recovery'" (https://learn.microsoft.com/graph/api/resources/
entrarecoveryservices-backup-recovery-overview; graph.md 2.6). So this changes state without
a single change-log entry and writes one audit event per recovered object. The activity
name and service are not documented; the category is, and it is what a client can rely on.
"""

from __future__ import annotations

from typing import Any

from graphsim.model.audit import Caller
from graphsim.model.tenant import Deleted, Json, Tenant
from graphsim.rules import LINK_SOURCES, RULES

CATEGORY = "Backup and Recovery"
SERVICE = "Microsoft Entra Backup and Recovery"  # [A] not documented
CALLER = Caller("app:Microsoft Entra Backup and Recovery")
ACTIONS = ("update", "softDelete", "restore")  # entraRecoveryServices.recoveryAction


def native_recovery(tenant: Tenant, body: Json) -> Json:
    """Apply a recovery job: {"objects": [{"id", "action", "set"?}], "links": [{"link",
    "source", "target", "added"}]}. Everything is checked before anything changes; a bad
    body raises ValueError."""
    objects = body.get("objects") or []
    links = body.get("links") or []
    if not isinstance(objects, list) or not isinstance(links, list) or not (objects or links):
        raise ValueError("give 'objects' and/or 'links' (lists)")
    plan = [_planned(tenant, item) for item in objects]
    link_plan = [_planned_link(tenant, item) for item in links]
    for action, collection, obj, values in plan:
        _apply(tenant, action, collection, obj, values)
        _audit(tenant, action, collection, obj)
    for nav, source, target, added in link_plan:
        if added:
            tenant.links.add(nav, source, target)
        else:
            tenant.links.remove(nav, source, target)
        collection, obj = _anywhere(tenant, source)
        _audit(tenant, "update", collection, obj)
    return {"recovered": [obj["id"] for _, _, obj, _ in plan],
            "links": len(link_plan)}


def _planned(tenant: Tenant, item: Any) -> tuple[str, str, Json, Json]:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ValueError("each object needs a string 'id'")
    action = item.get("action", "update")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    if action == "restore":
        entry = tenant.bin.get(item["id"])
        if entry is None:
            raise ValueError(f"{item['id']} is not in a recycle bin")
        return action, entry.collection, entry.obj, {}
    located = tenant.locate(item["id"])
    if located is None:
        raise ValueError(f"no live object {item['id']}")
    collection, obj = located
    values = item.get("set") or {}
    if not isinstance(values, dict) or (action == "update" and not values):
        raise ValueError("an update needs 'set': an object of properties")
    if action == "softDelete" and not RULES[collection].soft_delete:
        raise ValueError(f"{collection} are not soft-deleted")
    return action, collection, obj, values


def _planned_link(tenant: Tenant, item: Any) -> tuple[str, str, str, bool]:
    if not isinstance(item, dict):
        raise ValueError("each link is an object")
    nav, source, target = item.get("link"), item.get("source"), item.get("target")
    if nav not in LINK_SOURCES or not isinstance(source, str) or not isinstance(target, str):
        raise ValueError("a link needs a known 'link', and string 'source' and 'target'")
    if tenant.locate(source) is None or tenant.locate(target) is None:
        raise ValueError(f"link {nav} {source} -> {target} names no live object")
    return nav, source, target, item.get("added", True) is not False


def _apply(tenant: Tenant, action: str, collection: str, obj: Json, values: Json) -> None:
    """Change state the way the job does - and record nothing in the change log."""
    if action == "update":
        tenant.unindex(collection, obj)
        obj.update(values)
        tenant.index(collection, obj)
    elif action == "softDelete":
        tenant.stores[collection].pop(obj["id"])
        tenant.unindex(collection, obj)
        obj["deletedDateTime"] = tenant.now_iso()
        tenant.bin[obj["id"]] = Deleted(collection, obj, tenant.clock.now())
    else:
        del tenant.bin[obj["id"]]
        obj.pop("deletedDateTime", None)
        tenant.stores[collection].put(obj)
        tenant.index(collection, obj)
    tenant.stats["nativeRecoveries"] += 1


def _anywhere(tenant: Tenant, object_id: str) -> tuple[str, Json]:
    located = tenant.locate(object_id)
    assert located is not None  # checked when planned
    return located


def _audit(tenant: Tenant, action: str, collection: str, obj: Json) -> None:
    tenant.audit.record(
        CALLER, f"Recover object ({action})", category=CATEGORY, operation="Update",
        target_id=obj["id"], target_type=RULES[collection].audit_type,
        display_name=obj.get("displayName"), upn=obj.get("userPrincipalName"),
        service=SERVICE,
    )
