"""The route table: which handler answers (method, path), shared by `/v1.0` and `/beta`.

Paths are matched segment by segment after the version. A collection prefix (e.g.
`identity/conditionalAccess/policies`) names a collection; what follows picks the handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from graphsim import delta_handler, handlers
from graphsim.context import Ctx
from graphsim.errors import BadRequest, MethodNotAllowed, resource_not_found
from graphsim.model.deletion import CA_BIN
from graphsim.model.tenant import Tenant
from graphsim.render import Result
from graphsim.rules import RULES

COLLECTION_PATHS: dict[tuple[str, ...], str] = {
    ("users",): "users",
    ("groups",): "groups",
    ("applications",): "applications",
    ("servicePrincipals",): "servicePrincipals",
    ("oauth2PermissionGrants",): "oauth2PermissionGrants",
    ("identity", "conditionalAccess", "policies"): "conditionalAccessPolicies",
    ("identity", "conditionalAccess", "namedLocations"): "namedLocations",
}
DELTA = frozenset({"users", "groups", "applications", "servicePrincipals"})
LINK_NAVS = frozenset({"members", "owners", "manager", "sponsors", "memberOf", "directReports"})
WRITABLE_NAVS = frozenset({"members", "owners", "manager", "sponsors"})
ASSIGNMENT_NAVS = frozenset({"appRoleAssignedTo", "appRoleAssignments"})
_ALT_KEY = re.compile(r"^(\w+)\((appId|uniqueName)='([^']+)'\)$")

Handler = Callable[[], Result]


def not_found_segment(segment: str) -> BadRequest:
    return BadRequest(f"Resource not found for the segment '{segment}'.", code="BadRequest")


def _allow(ctx: Ctx, table: dict[str, Handler]) -> Result:
    handler = table.get(ctx.method)
    if handler is None:
        raise MethodNotAllowed("Specified HTTP method is not allowed for the request target.")
    return handler()


def _full_namespace(segment: str) -> str:
    """`graph.user` is the schema's alias for `microsoft.graph.user`; Graph accepts both, and
    msgraph-sdk's cast builders (e.g. `deleted_items.graph_user`) send the alias."""
    return "microsoft." + segment if segment.startswith("graph.") else segment


def dispatch(tenant: Tenant, ctx: Ctx, *, delta: delta_handler.DeltaPolicy) -> Result:
    segs = [_full_namespace(segment) for segment in ctx.segments]
    if not segs:
        raise not_found_segment("")
    head = segs[0]
    match = _ALT_KEY.match(head)
    if match and match.group(1) in ("applications", "servicePrincipals"):
        segs = [match.group(1), _alt_key(tenant, match.group(1), match.group(2),
                                         match.group(3)), *segs[1:]]
    for prefix, collection in COLLECTION_PATHS.items():
        if tuple(segs[:len(prefix)]) == prefix:
            return _collection(tenant, ctx, collection, segs[len(prefix):], delta)
    if segs[:2] == ["directory", "deletedItems"]:
        return _deleted_items(tenant, ctx, segs[2:])
    if segs[:3] == ["identity", "conditionalAccess", "deletedItems"]:
        if ctx.version != "beta":
            raise not_found_segment("deletedItems")
        return _ca_deleted(tenant, ctx, segs[3:])
    if segs == ["policies", "authorizationPolicy"] or (
        ctx.version == "beta" and segs == ["policies", "authorizationPolicy",
                                           "authorizationPolicy"]):
        return _allow(ctx, {m: lambda: handlers.singleton(tenant, ctx, "authorizationPolicy")
                            for m in ("GET", "PATCH")})
    if segs[:2] == ["policies", "authenticationMethodsPolicy"]:
        rest = segs[2:]
        if not rest:
            return _allow(ctx, {m: lambda: handlers.singleton(
                tenant, ctx, "authenticationMethodsPolicy") for m in ("GET", "PATCH")})
        if rest[0] == "authenticationMethodConfigurations" and len(rest) <= 2:
            config = rest[1] if len(rest) == 2 else None
            methods = ("GET", "PATCH") if config else ("GET",)
            return _allow(ctx, {m: lambda: handlers.method_configurations(tenant, ctx, config)
                                for m in methods})
        raise not_found_segment(rest[0])
    if head == "organization" and len(segs) <= 2:
        org_id = segs[1] if len(segs) == 2 else None
        methods = ("GET", "PATCH") if org_id else ("GET",)
        return _allow(ctx, {m: lambda: handlers.organization(tenant, ctx, org_id)
                            for m in methods})
    if segs[:2] == ["auditLogs", "directoryAudits"] and len(segs) <= 3:
        audit_id = segs[2] if len(segs) == 3 else None
        return _allow(ctx, {"GET": lambda: handlers.audits(tenant, ctx, audit_id)})
    if head == "directoryObjects" and len(segs) == 2:
        if segs[1] == "getByIds":
            return _allow(ctx, {"POST": lambda: handlers.get_by_ids(tenant, ctx)})
        return _allow(ctx, {"GET": lambda: handlers.object_by_id(tenant, ctx, segs[1])})
    raise not_found_segment(head)


def _alt_key(tenant: Tenant, collection: str, key: str, value: str) -> str:
    for _, obj in tenant.stores[collection].scan():
        if obj.get(key) == value:
            return str(obj["id"])
    raise resource_not_found(value)


def _cast(rule_name: str, segment: str) -> str | None:
    if segment in RULES[rule_name].casts:
        return segment
    return None


def _collection(
    tenant: Tenant, ctx: Ctx, name: str, rest: list[str], delta: delta_handler.DeltaPolicy
) -> Result:
    if not rest:
        return _allow(ctx, {"GET": lambda: handlers.list_collection(tenant, ctx, name, None),
                            "POST": lambda: handlers.create(tenant, ctx, name, None)})
    first = rest[0]
    if first.startswith("microsoft.graph."):
        cast = _cast(name, first)
        if cast is None or len(rest) > 1:
            raise not_found_segment(first)
        return _allow(ctx, {"GET": lambda: handlers.list_collection(tenant, ctx, name, cast),
                            "POST": lambda: handlers.create(tenant, ctx, name, cast)})
    if first in ("delta", "microsoft.graph.delta()", "delta()") and len(rest) == 1:
        if name not in DELTA:
            raise not_found_segment("delta")
        return _allow(ctx, {"GET": lambda: delta_handler.delta(tenant, ctx, name, delta)})
    if first == "$count" and len(rest) == 1:
        return _allow(ctx, {"GET": lambda: handlers.count_collection(tenant, ctx, name)})
    # Graph addresses a user by id or userPrincipalName (users/{id | userPrincipalName}).
    object_id = tenant.upn_index.get(first.lower(), first) if name == "users" else first
    if len(rest) == 1:
        return _allow(ctx, {
            "GET": lambda: handlers.get_object(tenant, ctx, name, object_id),
            "PATCH": lambda: handlers.update(tenant, ctx, name, object_id),
            "DELETE": lambda: handlers.delete(tenant, ctx, name, object_id),
        })
    return _object_path(tenant, ctx, name, object_id, rest[1:])


def _object_path(tenant: Tenant, ctx: Ctx, name: str, object_id: str,
                 rest: list[str]) -> Result:
    nav = rest[0]
    if nav.startswith("microsoft.graph.") and _cast(name, nav):
        if len(rest) == 1:
            return _allow(ctx, {"GET": lambda: handlers.get_object(tenant, ctx, name,
                                                                   object_id, nav)})
        # /{id}/microsoft.graph.agentIdentity/sponsors: the cast must match the object
        if tenant.find(name, object_id).get("@odata.type") != f"#{nav}":
            raise resource_not_found(object_id)
        rest = rest[1:]
        nav = rest[0]
    if nav in LINK_NAVS and nav in RULES[name].navigations | {"sponsors"}:
        return _links(tenant, ctx, name, object_id, nav, rest[1:])
    if nav in ASSIGNMENT_NAVS and nav in RULES[name].navigations:
        if len(rest) == 1:
            return _allow(ctx, {
                "GET": lambda: handlers.list_assignments(tenant, ctx, name, object_id, nav),
                "POST": lambda: handlers.create_assignment(tenant, ctx, name, object_id, nav)})
        if len(rest) == 2:
            return _allow(ctx, {
                "GET": lambda: handlers.get_assignment(tenant, ctx, name, object_id, rest[1]),
                "DELETE": lambda: handlers.delete_assignment(tenant, ctx, name, object_id,
                                                             rest[1])})
    if nav in ("addPassword", "removePassword") and len(rest) == 1 and name in (
            "applications", "servicePrincipals"):
        action = handlers.add_password if nav == "addPassword" else handlers.remove_password
        return _allow(ctx, {"POST": lambda: action(tenant, ctx, name, object_id)})
    if nav == "onPremisesSyncBehavior" and len(rest) == 1 and name in ("users", "groups"):
        if ctx.version != "beta":
            raise not_found_segment(nav)
        return _allow(ctx, {m: lambda: handlers.sync_behavior(tenant, ctx, name, object_id)
                            for m in ("GET", "PATCH")})
    raise not_found_segment(nav)


def _links(tenant: Tenant, ctx: Ctx, name: str, object_id: str, nav: str,
           rest: list[str]) -> Result:
    if not rest:
        return _allow(ctx, {"GET": lambda: handlers.list_links(tenant, ctx, name, object_id,
                                                               nav, None)})
    if rest == ["$ref"]:
        table: dict[str, Handler] = {
            "GET": lambda: handlers.list_links(tenant, ctx, name, object_id, nav, None, True)}
        if nav in WRITABLE_NAVS:
            verb = "PUT" if nav == "manager" else "POST"
            table[verb] = lambda: handlers.add_ref(tenant, ctx, name, object_id, nav)
            if nav == "manager":
                table["DELETE"] = lambda: handlers.remove_ref(tenant, ctx, name, object_id,
                                                              nav, None)
        return _allow(ctx, table)
    if len(rest) == 1 and rest[0].startswith("microsoft.graph."):
        cast = rest[0]
        return _allow(ctx, {"GET": lambda: handlers.list_links(tenant, ctx, name, object_id,
                                                               nav, cast)})
    if len(rest) == 2 and rest[1] == "$ref" and nav in WRITABLE_NAVS - {"manager"}:
        return _allow(ctx, {"DELETE": lambda: handlers.remove_ref(tenant, ctx, name, object_id,
                                                                  nav, rest[0])})
    raise not_found_segment(rest[0])


DELETED_CASTS = {
    "microsoft.graph.user": (("users",), "user"),
    "microsoft.graph.agentUser": (("users",), "agentUser"),
    "microsoft.graph.group": (("groups",), "group"),
    "microsoft.graph.application": (("applications",), "application"),
    "microsoft.graph.agentIdentityBlueprint": (("applications",), "agentIdentityBlueprint"),
    "microsoft.graph.servicePrincipal": (("servicePrincipals",), "servicePrincipal"),
    "microsoft.graph.agentIdentity": (("servicePrincipals",), "agentIdentity"),
    "microsoft.graph.agentIdentityBlueprintPrincipal": (
        ("servicePrincipals",), "agentIdentityBlueprintPrincipal"),
}


def _deleted_items(tenant: Tenant, ctx: Ctx, rest: list[str]) -> Result:
    if not rest:
        raise BadRequest("Listing deleted items requires a type cast segment, e.g. "
                         "directory/deletedItems/microsoft.graph.user.", code="BadRequest")
    first = rest[0]
    if first in DELETED_CASTS:
        if len(rest) != 1:
            raise not_found_segment(rest[1])
        collections, type_name = DELETED_CASTS[first]
        base = RULES[collections[0]].base_type == type_name
        return _allow(ctx, {"GET": lambda: handlers.list_bin(
            tenant, ctx, collections, None if base else type_name, "directory/deletedItems")})
    if len(rest) == 1:
        return _allow(ctx, {
            "GET": lambda: handlers.get_bin_item(tenant, ctx, first, ca=False),
            "DELETE": lambda: handlers.purge(tenant, ctx, first, ca=False)})
    if len(rest) == 2 and rest[1] in ("restore", "microsoft.graph.restore"):
        return _allow(ctx, {"POST": lambda: handlers.restore(tenant, ctx, first, ca=False)})
    raise not_found_segment(rest[1])


def _ca_deleted(tenant: Tenant, ctx: Ctx, rest: list[str]) -> Result:
    kinds = {"policies": "conditionalAccessPolicies", "namedLocations": "namedLocations"}
    if not rest or rest[0] not in kinds:
        raise not_found_segment(rest[0] if rest else "deletedItems")
    collection = kinds[rest[0]]
    assert collection in CA_BIN
    if len(rest) == 1:
        context = f"identity/conditionalAccess/deletedItems/{rest[0]}"
        return _allow(ctx, {"GET": lambda: handlers.list_bin(
            tenant, ctx, (collection,), None, context)})
    object_id = rest[1]
    if len(rest) == 2:
        return _allow(ctx, {
            "GET": lambda: handlers.get_bin_item(tenant, ctx, object_id, ca=True,
                                                 collection=collection),
            "DELETE": lambda: handlers.purge(tenant, ctx, object_id, ca=True)})
    if len(rest) == 3 and rest[2] in ("restore", "microsoft.graph.restore"):
        return _allow(ctx, {"POST": lambda: handlers.restore(tenant, ctx, object_id, ca=True,
                                                             collection=collection)})
    raise not_found_segment(rest[2])
