"""Graph's read-side rules: relationship targets, `$expand`, directory views, audit events.

Handlers page and render; what a read returns - which objects a relationship holds, what a
create answers with, when a lookup is a 404 - is decided here.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphsim.errors import BadRequest, resource_not_found
from graphsim.model.tenant import Json, Tenant
from graphsim.odata import Expand
from graphsim.rules import LINK_NAVS, MAX_EXPAND, REVERSE_NAVS, RULES, SINGLE_VALUED_NAVS, Rule


def odata_type_name(collection: str, obj: Json) -> str:
    return obj.get("@odata.type") or f"#microsoft.graph.{RULES[collection].base_type}"


def link_targets(tenant: Tenant, collection: str, object_id: str, nav: str) -> list[str]:
    """Live targets of a link (soft-deleted ones are hidden until restored)."""
    if nav in REVERSE_NAVS:
        ids = tenant.links.sources(REVERSE_NAVS[nav], object_id)
    else:
        ids = tenant.links.targets(nav, object_id)
    return [i for i in ids if tenant.is_live(i)]


def single_target(tenant: Tenant, collection: str, object_id: str, nav: str) -> str:
    """The one object of a single-valued relationship (manager); unset is a 404."""
    targets = link_targets(tenant, collection, object_id, nav)
    if not targets:
        raise resource_not_found(object_id)
    return targets[0]


def directory_view(tenant: Tenant, object_id: str, select: list[str] | None) -> Json:
    located = tenant.locate(object_id)
    if located is None:
        return {"id": object_id}
    collection, obj = located
    view = tenant.view(RULES[collection], obj, select)
    return {"@odata.type": odata_type_name(collection, obj), **view}


def directory_object(tenant: Tenant, object_id: str, select: list[str] | None) -> Json:
    """directoryObjects/{id}: a live directory object of any type, or a 404."""
    if tenant.locate(object_id) is None:
        raise resource_not_found(object_id)
    return directory_view(tenant, object_id, select)


def live_directory_objects(tenant: Tenant, ids: list[str], select: list[str] | None
                           ) -> list[Json]:
    """directoryObjects/getByIds: the ids that name live objects; the rest are left out."""
    return [directory_view(tenant, i, select) for i in ids if tenant.is_live(i)]


def expand(tenant: Tenant, collection: str, obj: Json, view: Json,
           expands: Sequence[Expand]) -> Json:
    """Add `$expand`-ed relationships to a view: at most MAX_EXPAND items each."""
    for item in expands:
        nav = item.nav
        if nav not in LINK_NAVS:
            raise BadRequest(f"Could not find a property named '{nav}' on type "
                             f"'microsoft.graph.{RULES[collection].base_type}'.")
        targets = link_targets(tenant, collection, obj["id"], nav)
        rendered = [directory_view(tenant, t, item.select) for t in targets[:MAX_EXPAND]]
        if nav in SINGLE_VALUED_NAVS:
            if rendered:
                view[nav] = rendered[0]
        else:
            view[nav] = rendered
    return view


def created_view(tenant: Tenant, rule: Rule, obj: Json) -> Json:
    """What a create answers: every property set (not the default projection), but never a
    write-only one such as passwordProfile."""
    return tenant.view(rule, obj, None if rule.default_select is None else
                       sorted(k for k in obj if k not in rule.write_only))


def assignment(tenant: Tenant, object_id: str, assignment_id: str) -> Json:
    """One app role assignment, reached through its principal or its resource."""
    found = tenant.stores["appRoleAssignments"].get(assignment_id)
    if found is None or object_id not in (found["resourceId"], found["principalId"]):
        raise resource_not_found(assignment_id)
    return found


def audit_event(tenant: Tenant, audit_id: str) -> Json:
    for event in tenant.audit.events:
        if event["id"] == audit_id:
            return event
    raise resource_not_found(audit_id)


def audit_events(tenant: Tenant) -> list[Json]:
    """directoryAudits lists newest first."""
    return tenant.audit.events[::-1]
