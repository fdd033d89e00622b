"""The route table: which handler answers (method, path), shared by `/v1.0` and `/beta`.

`ROUTES` is the whole URL surface as rows of (methods, path pattern) -> handler, as moto's
`urls.py` is; a `beta=True` row exists only under `/beta`. A pattern segment is a literal,
`a|b` (either literal), `{name}` expanded from the rules when the table is built (`{collection}`,
`{cast}`, `{link}`, ...) or `{name:kind}` matched per request (`id`: any segment but a type
cast, `type`: a `microsoft.graph.*` cast, `key`: anything, `bin_key`: anything but a bin's
type cast).

A request is matched segment by segment, literals before wildcards, backing up when a branch
leads nowhere (`users/delta` is the delta function, `users/delta/manager` a user's manager).
The deepest segment no branch could match is named in Graph's 400 "Resource not found for the
segment '…'": Graph names the first segment its URI parser cannot resolve, not the first of
the path (`me/extensions` names 'extensions':
https://github.com/microsoftgraph/python-sample-auth/issues/20). A known path with a method it
lacks answers 405.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from graphsim import delta_handler, handlers
from graphsim.context import Ctx
from graphsim.errors import BadRequest, MethodNotAllowed, resource_not_found
from graphsim.model.tenant import Tenant
from graphsim.render import Result
from graphsim.rules import LINK_NAVS, RULES, SINGLE_VALUED_NAVS

COLLECTION_PATHS: dict[str, str] = {
    "users": "users",
    "groups": "groups",
    "applications": "applications",
    "servicePrincipals": "servicePrincipals",
    "oauth2PermissionGrants": "oauth2PermissionGrants",
    "identity/conditionalAccess/policies": "conditionalAccessPolicies",
    "identity/conditionalAccess/namedLocations": "namedLocations",
}
MULTI_REF_NAVS = frozenset({"members", "owners", "sponsors"})  # POST $ref, DELETE {id}/$ref
ASSIGNMENT_NAVS = frozenset({"appRoleAssignedTo", "appRoleAssignments"})
CA_BINS = {"policies": "conditionalAccessPolicies", "namedLocations": "namedLocations"}
# directory/deletedItems/{cast}: every directory type's cast -> (collection, type name)
DELETED_CASTS: dict[str, tuple[str, str]] = {
    f"microsoft.graph.{type_name}": (rule.name, type_name)
    for rule in RULES.values() if rule.deleted_cast
    for type_name in (rule.base_type, *rule.casts.values())
}
DELTA = "delta|delta()"
RESTORE = "restore|microsoft.graph.restore"
ANY = ("GET", "POST", "PATCH", "PUT", "DELETE")
_ALT_KEY = re.compile(r"^(\w+)\((appId|uniqueName)='([^']+)'\)$")


@dataclass(frozen=True)
class Call:
    """One matched request: the tenant, the parsed request and the path's named values."""

    tenant: Tenant
    ctx: Ctx
    delta: delta_handler.DeltaPolicy
    params: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.params[name]

    @property
    def collection(self) -> str:
        return self.params["collection"]

    @property
    def object_id(self) -> str:
        """Graph addresses a user by id or userPrincipalName (users/{id | userPrincipalName})."""
        return _object_key(self.tenant, self.collection, self.params["id"])


Handler = Callable[[Call], Result]


@dataclass(frozen=True)
class Route:
    """One row: these methods on this path pattern call this handler."""

    methods: str  # space-separated
    pattern: str
    handler: Handler
    beta: bool = False  # only under /beta
    collections: frozenset[str] | None = None  # {collection} limited to these


def _links(c: str) -> set[str]:
    return set(LINK_NAVS & (RULES[c].navigations | {"sponsors"}))


# {name} segments expanded when the table is built: literal (may hold "/") -> the value.
_EXPAND: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "collection": lambda p: dict(COLLECTION_PATHS),
    "cast": lambda p: {c: c for c in RULES[p["collection"]].casts},
    "link": lambda p: {n: n for n in _links(p["collection"])},
    "multi_ref": lambda p: {n: n for n in _links(p["collection"]) & MULTI_REF_NAVS},
    "single_ref": lambda p: {n: n for n in _links(p["collection"]) & SINGLE_VALUED_NAVS},
    "assignments": lambda p: {n: n for n in ASSIGNMENT_NAVS & RULES[p["collection"]].navigations},
    "deleted": lambda p: {c: c for c in DELETED_CASTS},
    "ca_bin": lambda p: dict(CA_BINS),
}
# {name:kind} segments matched per request.
_WILDCARDS: dict[str, Callable[[str], bool]] = {
    "id": lambda s: not s.startswith("microsoft.graph."),
    "type": lambda s: s.startswith("microsoft.graph."),
    "key": lambda s: True,
    "bin_key": lambda s: s not in DELETED_CASTS,  # a known cast lists the bin instead
}


def _refuse(call: Call) -> Result:
    """Graph has no delta function on this collection."""
    raise not_found_segment("delta")


def _bin_without_cast(call: Call) -> Result:
    raise BadRequest("Listing deleted items requires a type cast segment, e.g. "
                     "directory/deletedItems/microsoft.graph.user.", code="BadRequest")


def _bin_list(call: Call) -> Result:
    collection, type_name = DELETED_CASTS[call["deleted"]]
    base = RULES[collection].base_type == type_name
    return handlers.list_bin(call.tenant, call.ctx, (collection,),
                             None if base else type_name, "directory/deletedItems")


def _ca_bin_list(call: Call) -> Result:
    segment = next(k for k, v in CA_BINS.items() if v == call["ca_bin"])
    return handlers.list_bin(call.tenant, call.ctx, (call["ca_bin"],), None,
                             f"identity/conditionalAccess/deletedItems/{segment}")


_H = handlers
ROUTES: tuple[Route, ...] = (
    # collections
    Route("GET", "{collection}", lambda c: _H.list_collection(c.tenant, c.ctx, c.collection, None)),
    Route("POST", "{collection}", lambda c: _H.create(c.tenant, c.ctx, c.collection, None)),
    Route("GET", "{collection}/{cast}",
          lambda c: _H.list_collection(c.tenant, c.ctx, c.collection, c["cast"])),
    Route("POST", "{collection}/{cast}", lambda c: _H.create(c.tenant, c.ctx, c.collection,
                                                              c["cast"])),
    Route("GET", f"{{collection}}/{DELTA}",
          lambda c: delta_handler.delta(c.tenant, c.ctx, c.collection, c.delta),
          collections=frozenset(r.name for r in RULES.values() if r.delta)),
    Route(" ".join(ANY), f"{{collection}}/{DELTA}", _refuse,
          collections=frozenset(r.name for r in RULES.values() if not r.delta)),
    Route("GET", "{collection}/$count",
          lambda c: _H.count_collection(c.tenant, c.ctx, c.collection)),
    # one object
    Route("GET", "{collection}/{id:id}",
          lambda c: _H.get_object(c.tenant, c.ctx, c.collection, c.object_id)),
    Route("PATCH", "{collection}/{id:id}",
          lambda c: _H.update(c.tenant, c.ctx, c.collection, c.object_id)),
    Route("DELETE", "{collection}/{id:id}",
          lambda c: _H.delete(c.tenant, c.ctx, c.collection, c.object_id)),
    Route("GET", "{collection}/{id:id}/{cast}",
          lambda c: _H.get_object(c.tenant, c.ctx, c.collection, c.object_id, c["cast"])),
    # relationships
    Route("GET", "{collection}/{id:id}/{link}",
          lambda c: _H.list_links(c.tenant, c.ctx, c.collection, c.object_id, c["link"], None)),
    Route("GET", "{collection}/{id:id}/{link}/{type:type}",
          lambda c: _H.list_links(c.tenant, c.ctx, c.collection, c.object_id, c["link"],
                                  c["type"])),
    Route("GET", "{collection}/{id:id}/{link}/$ref",
          lambda c: _H.list_links(c.tenant, c.ctx, c.collection, c.object_id, c["link"], None,
                                  True)),
    Route("POST", "{collection}/{id:id}/{multi_ref}/$ref",
          lambda c: _H.add_ref(c.tenant, c.ctx, c.collection, c.object_id, c["multi_ref"])),
    Route("DELETE", "{collection}/{id:id}/{multi_ref}/{target:key}/$ref",
          lambda c: _H.remove_ref(c.tenant, c.ctx, c.collection, c.object_id, c["multi_ref"],
                                  c["target"])),
    Route("PUT", "{collection}/{id:id}/{single_ref}/$ref",
          lambda c: _H.add_ref(c.tenant, c.ctx, c.collection, c.object_id, c["single_ref"])),
    Route("DELETE", "{collection}/{id:id}/{single_ref}/$ref",
          lambda c: _H.remove_ref(c.tenant, c.ctx, c.collection, c.object_id, c["single_ref"],
                                  None)),
    Route("GET", "{collection}/{id:id}/{assignments}",
          lambda c: _H.list_assignments(c.tenant, c.ctx, c.collection, c.object_id,
                                        c["assignments"])),
    Route("POST", "{collection}/{id:id}/{assignments}",
          lambda c: _H.create_assignment(c.tenant, c.ctx, c.collection, c.object_id,
                                         c["assignments"])),
    Route("GET", "{collection}/{id:id}/{assignments}/{assignment:key}",
          lambda c: _H.get_assignment(c.tenant, c.ctx, c.collection, c.object_id,
                                      c["assignment"])),
    Route("DELETE", "{collection}/{id:id}/{assignments}/{assignment:key}",
          lambda c: _H.delete_assignment(c.tenant, c.ctx, c.collection, c.object_id,
                                         c["assignment"])),
    # actions
    Route("POST", "{collection}/{id:id}/addPassword",
          lambda c: _H.add_password(c.tenant, c.ctx, c.collection, c.object_id),
          collections=frozenset({"applications", "servicePrincipals"})),
    Route("POST", "{collection}/{id:id}/removePassword",
          lambda c: _H.remove_password(c.tenant, c.ctx, c.collection, c.object_id),
          collections=frozenset({"applications", "servicePrincipals"})),
    Route("GET PATCH", "{collection}/{id:id}/onPremisesSyncBehavior",
          lambda c: _H.sync_behavior(c.tenant, c.ctx, c.collection, c.object_id), beta=True,
          collections=frozenset({"users", "groups"})),
    # recycle bins
    Route(" ".join(ANY), "directory/deletedItems", _bin_without_cast),
    Route("GET", "directory/deletedItems/{deleted}", _bin_list),
    Route("GET", "directory/deletedItems/{bin_id:bin_key}",
          lambda c: _H.get_bin_item(c.tenant, c.ctx, c["bin_id"], ca=False)),
    Route("DELETE", "directory/deletedItems/{bin_id:bin_key}",
          lambda c: _H.purge(c.tenant, c.ctx, c["bin_id"], ca=False)),
    Route("POST", f"directory/deletedItems/{{bin_id:bin_key}}/{RESTORE}",
          lambda c: _H.restore(c.tenant, c.ctx, c["bin_id"], ca=False)),
    Route("GET", "identity/conditionalAccess/deletedItems/{ca_bin}", _ca_bin_list, beta=True),
    Route("GET", "identity/conditionalAccess/deletedItems/{ca_bin}/{bin_id:key}",
          lambda c: _H.get_bin_item(c.tenant, c.ctx, c["bin_id"], ca=True,
                                    collection=c["ca_bin"]), beta=True),
    Route("DELETE", "identity/conditionalAccess/deletedItems/{ca_bin}/{bin_id:key}",
          lambda c: _H.purge(c.tenant, c.ctx, c["bin_id"], ca=True), beta=True),
    Route("POST", f"identity/conditionalAccess/deletedItems/{{ca_bin}}/{{bin_id:key}}/{RESTORE}",
          lambda c: _H.restore(c.tenant, c.ctx, c["bin_id"], ca=True, collection=c["ca_bin"]),
          beta=True),
    # singletons and tenant-wide reads
    Route("GET PATCH", "policies/authorizationPolicy",
          lambda c: _H.singleton(c.tenant, c.ctx, "authorizationPolicy")),
    Route("GET PATCH", "policies/authorizationPolicy/authorizationPolicy",
          lambda c: _H.singleton(c.tenant, c.ctx, "authorizationPolicy"), beta=True),
    Route("GET PATCH", "policies/authenticationMethodsPolicy",
          lambda c: _H.singleton(c.tenant, c.ctx, "authenticationMethodsPolicy")),
    Route("GET", "policies/authenticationMethodsPolicy/authenticationMethodConfigurations",
          lambda c: _H.method_configurations(c.tenant, c.ctx, None)),
    Route("GET PATCH",
          "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{config:key}",
          lambda c: _H.method_configurations(c.tenant, c.ctx, c["config"])),
    Route("GET", "organization", lambda c: _H.organization(c.tenant, c.ctx, None)),
    Route("GET PATCH", "organization/{org:key}",
          lambda c: _H.organization(c.tenant, c.ctx, c["org"])),
    Route("GET", "auditLogs/directoryAudits", lambda c: _H.audits(c.tenant, c.ctx, None)),
    Route("GET", "auditLogs/directoryAudits/{audit:key}",
          lambda c: _H.audits(c.tenant, c.ctx, c["audit"])),
    Route("POST", "directoryObjects/getByIds", lambda c: _H.get_by_ids(c.tenant, c.ctx)),
    Route("GET", "directoryObjects/{object:key}",
          lambda c: _H.object_by_id(c.tenant, c.ctx, c["object"])),
)


# ----- the table as a tree of segments ----------------------------------------------------

@dataclass(frozen=True)
class _Endpoint:
    handler: Handler
    fixed: dict[str, str]  # values of the expanded {name} segments
    names: tuple[str, ...]  # names of the {name:kind} segments, in path order


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    wildcards: dict[str, _Node] = field(default_factory=dict)  # kind -> node, in insertion order
    methods: dict[str, _Endpoint] = field(default_factory=dict)


def _expand(pattern: list[str], fixed: dict[str, str], route: Route
            ) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Every concrete pattern of a row: `{name}` and `a|b` segments become literals."""
    for index, segment in enumerate(pattern):
        name = segment[1:-1] if segment.startswith("{") and ":" not in segment else None
        if name is not None:
            for literal, value in _EXPAND[name](fixed).items():
                if name == "collection" and route.collections is not None \
                        and value not in route.collections:
                    continue
                yield from _expand([*pattern[:index], *literal.split("/"),
                                    *pattern[index + 1:]], {**fixed, name: value}, route)
            return
        if "|" in segment:
            for literal in segment.split("|"):
                yield from _expand([*pattern[:index], literal, *pattern[index + 1:]], fixed,
                                   route)
            return
    yield pattern, fixed


def _build(*, beta: bool) -> _Node:
    root = _Node()
    for route in ROUTES:
        if route.beta and not beta:
            continue
        for pattern, fixed in _expand(route.pattern.split("/"), {}, route):
            node, names = root, []
            for segment in pattern:
                if segment.startswith("{"):
                    name, kind = segment[1:-1].split(":")
                    names.append(name)
                    node = node.wildcards.setdefault(kind, _Node())
                else:
                    node = node.literals.setdefault(segment, _Node())
            for method in route.methods.split():
                assert method not in node.methods, f"two rows for {method} {pattern}"
                node.methods[method] = _Endpoint(route.handler, fixed, tuple(names))
    return root


_TREES = {"v1.0": _build(beta=False), "beta": _build(beta=True)}


def not_found_segment(segment: str) -> BadRequest:
    return BadRequest(f"Resource not found for the segment '{segment}'.", code="BadRequest")


def dispatch(tenant: Tenant, ctx: Ctx, *, delta: delta_handler.DeltaPolicy) -> Result:
    """Match the request's path against the table and call the row's handler."""
    segs = _object_cast(tenant, _alt_key(tenant, [_full_namespace(s) for s in ctx.segments]))
    found = _match(_TREES[ctx.version], segs, 0, [])
    if isinstance(found, int):
        raise not_found_segment(segs[found] if found < len(segs) else segs[-1] if segs else "")
    node, values = found
    endpoint = node.methods.get(ctx.method)
    if endpoint is None:
        raise MethodNotAllowed("Specified HTTP method is not allowed for the request target.")
    params = {**endpoint.fixed, **dict(zip(endpoint.names, values, strict=True))}
    return endpoint.handler(Call(tenant, ctx, delta, params))


def _match(node: _Node, segs: list[str], depth: int, values: list[str]
           ) -> tuple[_Node, list[str]] | int:
    """The first path (literals before wildcards) that reaches a row, or how deep any got."""
    if depth == len(segs):
        return (node, values) if node.methods else depth
    segment, deepest = segs[depth], depth
    child = node.literals.get(segment)
    tries = [(child, values)] if child is not None else []
    tries += [(sub, [*values, segment]) for kind, sub in node.wildcards.items()
              if _WILDCARDS[kind](segment)]
    for sub, captured in tries:
        found = _match(sub, segs, depth + 1, captured)
        if not isinstance(found, int):
            return found
        deepest = max(deepest, found)
    return deepest


# ----- addressing forms rewritten before matching -----------------------------------------

def _full_namespace(segment: str) -> str:
    """`graph.user` is the schema's alias for `microsoft.graph.user`; Graph accepts both, and
    msgraph-sdk's cast builders (e.g. `deleted_items.graph_user`) send the alias."""
    return "microsoft." + segment if segment.startswith("graph.") else segment


def _alt_key(tenant: Tenant, segs: list[str]) -> list[str]:
    """`applications(appId='…')` and `(uniqueName='…')` address the object they name."""
    match = _ALT_KEY.match(segs[0]) if segs else None
    if match is None or match.group(1) not in ("applications", "servicePrincipals"):
        return segs
    collection, key, value = match.groups()
    for _, obj in tenant.stores[collection].scan():
        if obj.get(key) == value:
            return [collection, str(obj["id"]), *segs[1:]]
    raise resource_not_found(value)


def _object_cast(tenant: Tenant, segs: list[str]) -> list[str]:
    """`{collection}/{id}/{cast}/{nav}…` reaches the object's navigations only if the object
    is of that type (404 otherwise); then the cast segment adds nothing and is dropped."""
    for path, collection in COLLECTION_PATHS.items():
        size = path.count("/") + 1
        if "/".join(segs[:size]) != path or len(segs) < size + 3:
            continue
        object_id, cast = segs[size], segs[size + 1]
        if not _WILDCARDS["id"](object_id) or cast not in RULES[collection].casts:
            return segs
        object_id = _object_key(tenant, collection, object_id)
        if tenant.find(collection, object_id).get("@odata.type") != f"#{cast}":
            raise resource_not_found(object_id)
        if _WILDCARDS["type"](segs[size + 2]):  # one cast, not two
            raise not_found_segment(segs[size + 2])
        return [*segs[:size + 1], *segs[size + 2:]]
    return segs


def _object_key(tenant: Tenant, collection: str, key: str) -> str:
    return tenant.upn_index.get(key.lower(), key) if collection == "users" else key
