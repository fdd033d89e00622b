"""Handlers: read the request's options, call one model operation, return a `Result`.

No Graph rule lives here; the rules are in `rules.py` and the model. What is here is the
OData plumbing every list shares: filtering, `$top` clamping, opaque page tokens, `$count`
and `$expand` (capped at 20, as Graph caps it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from graphsim import tokens
from graphsim.context import Ctx
from graphsim.errors import BadRequest, UnsupportedQuery, resource_not_found
from graphsim.model import actions, deletion, policies, reads, writes
from graphsim.model.reads import directory_view, link_targets, odata_type_name
from graphsim.model.tenant import Json, Tenant
from graphsim.odata import compile_filter
from graphsim.render import Result, context_url, link, page
from graphsim.rules import (
    AUDIT_FILTERABLE,
    AUDIT_MAX_TOP,
    BIN_ORDERABLE,
    GET_BY_IDS_MAX,
    LIST_MAX_TOP,
    REF_BODY,
    RESTORE_BODY,
    RULES,
    SINGLE_VALUED_NAVS,
    Rule,
)

Source = Callable[[int], Iterator[tuple[int, Json]]]


def _path_key(ctx: Ctx) -> str:
    material = ctx.path + "|" + (ctx.query.filter or "") + "|" + (ctx.query.search or "")
    return hashlib.blake2s(material.encode(), digest_size=6).hexdigest()


def paged(
    ctx: Ctx, source: Source, render: Callable[[Json], Json], *, max_top: int,
    match: Callable[[Json], bool] | None = None, context: str,
    orderable: frozenset[str] = frozenset(),
) -> Result:
    """One page of a list, with a nextLink whose token holds the position to resume at.

    With `$orderby` the matching objects are sorted on every page (a simulator may be slow
    where Graph has an index) and the token holds the position in that order.
    """
    query = ctx.query
    if query.orderby:
        source = _ordered(ctx, source, match, orderable)
        match = None
    start = 0
    if query.skiptoken is not None:
        state = tokens.decode(query.skiptoken, kind="page")
        if state.get("h") != _path_key(ctx):
            raise BadRequest("The specified page token does not belong to this request.",
                             code="Directory_ExpiredPageToken")
        start = int(state["p"])
    if query.count and not ctx.advanced:
        raise UnsupportedQuery("$count is not currently supported without the "
                               "ConsistencyLevel: eventual request header.")
    size = min(query.top or 100, max_top)
    items: list[Json] = []
    next_pos: int | None = None
    for pos, obj in source(start):
        if match is not None and not match(obj):
            continue
        if len(items) == size:
            next_pos = pos
            break
        items.append(render(obj))
    next_link = None
    if next_pos is not None:
        params = [(k, v) for k, v in ctx.params if k != "$skiptoken"]
        params.append(("$skiptoken", tokens.encode({"k": "page", "p": next_pos,
                                                    "h": _path_key(ctx)})))
        next_link = link(ctx.base, ctx.version, ctx.path, params)
    count = None
    if query.count and query.skiptoken is None:
        count = sum(1 for _, obj in source(0) if match is None or match(obj))
    return Result(200, page(items, context=context_url(ctx.base, ctx.version, context),
                            next_link=next_link, count=count))


def _ordered(ctx: Ctx, source: Source, match: Callable[[Json], bool] | None,
             orderable: frozenset[str]) -> Source:
    """`$orderby=prop [asc|desc]` on one orderable property, case-insensitive, nulls first."""
    assert ctx.query.orderby is not None
    parts = ctx.query.orderby.split()
    prop = parts[0] if parts else ""
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if (len(parts) not in (1, 2) or "," in ctx.query.orderby or prop not in orderable
            or direction not in ("asc", "desc")):
        raise UnsupportedQuery("Sorting not supported for current query.")
    if (ctx.query.filter or ctx.query.search) and not ctx.advanced:
        raise UnsupportedQuery("Sorting not supported for current query.")
    rows = [obj for _, obj in source(0) if match is None or match(obj)]
    rows.sort(key=lambda o: (o.get(prop) is not None, str(o.get(prop) or "").lower(), o["id"]),
              reverse=direction == "desc")

    def ordered(start: int) -> Iterator[tuple[int, Json]]:
        yield from ((i, rows[i]) for i in range(start, len(rows)))

    return ordered


def _replicated(tenant: Tenant, match: Callable[[Json], bool] | None) -> Callable[[Json], bool]:
    """Objects still replicating are not listed yet."""
    return lambda o: not tenant.replicating(o["id"]) and (match is None or match(o))


def _matcher(ctx: Ctx, rule: Rule, type_filter: str | None) -> Callable[[Json], bool] | None:
    predicates: list[Callable[[Json], bool]] = []
    if ctx.query.filter:
        predicates.append(compile_filter(ctx.query.filter, rule.filterable,
                                         advanced=ctx.advanced))
    if ctx.query.search:
        if not ctx.advanced:
            raise BadRequest("Request with $search query parameter only works through MSGraph "
                             "with a special request header: 'ConsistencyLevel: eventual'",
                             code="Request_UnsupportedQuery")
        predicates.append(_search(ctx.query.search))
    if type_filter is not None:
        predicates.append(lambda o: o.get("@odata.type") == type_filter)
    if not predicates:
        return None
    return lambda o: all(p(o) for p in predicates)


def _search(text: str) -> Callable[[Json], bool]:
    term = text.strip('"')
    prop, _, needle = term.partition(":")
    needle = needle.lower()
    return lambda o: needle in str(o.get(prop) or "").lower()


# ----- collections -----------------------------------------------------------------------

def list_collection(tenant: Tenant, ctx: Ctx, collection: str, cast: str | None) -> Result:
    rule = RULES[collection]
    tenant.purge_expired()
    tenant.check_select(rule, cast, ctx.query.select)
    type_filter = f"#{cast}" if cast else None
    store = tenant.stores[collection]
    match = _matcher(ctx, rule, type_filter)
    if tenant.fresh:
        match = _replicated(tenant, match)

    def render(obj: Json) -> Json:
        return with_expand(tenant, ctx, collection, obj, tenant.view(rule, obj, ctx.query.select))

    return paged(ctx, store.scan, render, max_top=tenant.max_top(rule, cast), match=match,
                 context=collection, orderable=rule.orderable)


def count_collection(tenant: Tenant, ctx: Ctx, collection: str) -> Result:
    if not ctx.advanced:
        raise BadRequest("Count is not currently supported without the ConsistencyLevel: "
                         "eventual request header.", code="Request_UnsupportedQuery")
    match = _matcher(ctx, RULES[collection], None)
    total = sum(1 for _, obj in tenant.stores[collection].scan() if match is None or match(obj))
    return Result(200, str(total), {"content-type": "text/plain"})


def get_object(tenant: Tenant, ctx: Ctx, collection: str, object_id: str,
               cast: str | None = None) -> Result:
    rule = RULES[collection]
    obj = tenant.find(collection, object_id)
    if cast and obj.get("@odata.type") != f"#{cast}":
        raise resource_not_found(object_id)
    tenant.check_select(rule, cast, ctx.query.select)
    body = with_expand(tenant, ctx, collection, obj,
                       tenant.view(rule, obj, ctx.query.select, single=True))
    body = {"@odata.context": context_url(ctx.base, ctx.version, f"{collection}/$entity"), **body}
    return Result(200, body)


def with_expand(tenant: Tenant, ctx: Ctx, collection: str, obj: Json, view: Json) -> Json:
    return reads.expand(tenant, collection, obj, view, ctx.query.expand)


def list_links(tenant: Tenant, ctx: Ctx, collection: str, object_id: str, nav: str,
               cast: str | None, refs: bool = False) -> Result:
    tenant.find(collection, object_id)
    if nav in SINGLE_VALUED_NAVS:
        target = reads.single_target(tenant, collection, object_id, nav)
        if refs:  # manager/$ref names the manager; it does not return the object
            return Result(200, {
                "@odata.context": context_url(ctx.base, ctx.version, "directoryObjects/$ref"),
                "@odata.id": f"{ctx.base}/{ctx.version}/directoryObjects/{target}"})
        body = directory_view(tenant, target, ctx.query.select)
        return Result(200, {"@odata.context": context_url(ctx.base, ctx.version,
                                                           "directoryObjects/$entity"), **body})
    type_filter = f"#{cast}" if cast else None
    targets = link_targets(tenant, collection, object_id, nav)

    def source(start: int) -> Iterator[tuple[int, Json]]:
        for index in range(start, len(targets)):
            yield index, {"id": targets[index]}

    def render(stub: Json) -> Json:
        if refs:
            return {"@odata.id": f"{ctx.base}/{ctx.version}/directoryObjects/{stub['id']}"}
        return directory_view(tenant, stub["id"], ctx.query.select)

    def match(stub: Json) -> bool:
        return type_filter is None or directory_view(tenant, stub["id"], ["id"]).get(
            "@odata.type") == type_filter

    return paged(ctx, source, render, max_top=LIST_MAX_TOP, match=match if cast else None,
                 context="directoryObjects")


def create(tenant: Tenant, ctx: Ctx, collection: str, cast: str | None) -> Result:
    obj = writes.create_object(tenant, ctx.caller, collection, ctx.json_body(), cast=cast,
                               odata_v4=ctx.odata_v4)
    body = {"@odata.context": context_url(ctx.base, ctx.version, f"{collection}/$entity"),
            **reads.created_view(tenant, RULES[collection], obj)}
    return Result(201, body, {"location": f"{ctx.base}/{ctx.version}/{collection}/{obj['id']}"})


def update(tenant: Tenant, ctx: Ctx, collection: str, object_id: str) -> Result:
    writes.update_object(tenant, ctx.caller, collection, object_id, ctx.json_body())
    return Result(204)


def delete(tenant: Tenant, ctx: Ctx, collection: str, object_id: str) -> Result:
    deletion.delete_object(tenant, ctx.caller, collection, object_id)
    return Result(204)


def add_ref(tenant: Tenant, ctx: Ctx, collection: str, object_id: str, nav: str) -> Result:
    body = _only(ctx.json_body(), REF_BODY)
    writes.add_link(tenant, ctx.caller, collection, object_id, nav, body.get("@odata.id"))
    return Result(204)


def remove_ref(tenant: Tenant, ctx: Ctx, collection: str, object_id: str, nav: str,
               target: str | None) -> Result:
    writes.remove_link(tenant, ctx.caller, collection, object_id, nav, target)
    return Result(204)


# ----- recycle bins ----------------------------------------------------------------------

def list_bin(tenant: Tenant, ctx: Ctx, collections: tuple[str, ...], type_name: str | None,
             context: str) -> Result:
    items = deletion.bin_items(tenant, collections, type_name)
    rule = RULES[collections[0]]
    match = _matcher(ctx, rule, None)

    def source(start: int) -> Iterator[tuple[int, Json]]:
        yield from ((i, items[i]) for i in range(start, len(items)))

    def render(obj: Json) -> Json:
        located_rule = RULES[tenant.bin[obj["id"]].collection]
        view = deletion.as_deleted(located_rule.name, obj,
                                   tenant.view(located_rule, obj, ctx.query.select))
        if type_name is None or "@odata.type" not in view:
            view = {"@odata.type": odata_type_name(located_rule.name, obj), **view}
        return view

    return paged(ctx, source, render, max_top=LIST_MAX_TOP, match=match, context=context,
                 orderable=BIN_ORDERABLE)


def get_bin_item(tenant: Tenant, ctx: Ctx, object_id: str, *, ca: bool,
                 collection: str | None = None) -> Result:
    entry = deletion.bin_entry(tenant, object_id, ca=ca, collection=collection)
    view = deletion.as_deleted(entry.collection, entry.obj,
                               tenant.view(RULES[entry.collection], entry.obj, ctx.query.select))
    return Result(200, {"@odata.type": odata_type_name(entry.collection, entry.obj), **view})


def restore(tenant: Tenant, ctx: Ctx, object_id: str, *, ca: bool,
            collection: str | None = None) -> Result:
    body = _only(ctx.body if isinstance(ctx.body, dict) else {}, RESTORE_BODY)
    name, obj = deletion.restore(tenant, ctx.caller, object_id, ca=ca, collection=collection,
                                 new_upn=body.get("newUserPrincipalName"))
    view = tenant.view(RULES[name], obj, None)
    return Result(200, {"@odata.type": odata_type_name(name, obj), **view})


def purge(tenant: Tenant, ctx: Ctx, object_id: str, *, ca: bool) -> Result:
    deletion.permanently_delete(tenant, ctx.caller, object_id, ca=ca)
    return Result(204)


# ----- actions ---------------------------------------------------------------------------

def add_password(tenant: Tenant, ctx: Ctx, collection: str, object_id: str) -> Result:
    credential = actions.add_password(tenant, ctx.caller, collection, object_id,
                                      ctx.json_body())
    return Result(200, {"@odata.context": context_url(ctx.base, ctx.version,
                                                      "microsoft.graph.passwordCredential"),
                        **credential})


def remove_password(tenant: Tenant, ctx: Ctx, collection: str, object_id: str) -> Result:
    actions.remove_password(tenant, ctx.caller, collection, object_id, ctx.json_body())
    return Result(204)


def list_assignments(tenant: Tenant, ctx: Ctx, collection: str, object_id: str,
                     nav: str) -> Result:
    tenant.find(collection, object_id)
    if nav == "appRoleAssignedTo":
        items = tenant.assignments(resource=object_id)
    else:
        items = tenant.assignments(principal=object_id)
    rule = RULES["appRoleAssignments"]
    match = _matcher(ctx, rule, None)

    def source(start: int) -> Iterator[tuple[int, Json]]:
        yield from ((i, items[i]) for i in range(start, len(items)))

    return paged(ctx, source, lambda o: tenant.view(rule, o, ctx.query.select),
                 max_top=LIST_MAX_TOP, match=match, context="appRoleAssignments")


def create_assignment(tenant: Tenant, ctx: Ctx, collection: str, object_id: str,
                      nav: str) -> Result:
    tenant.find(collection, object_id)
    via = "resource" if nav == "appRoleAssignedTo" else "principal"
    assignment = actions.create_assignment(tenant, ctx.caller, ctx.json_body(), via=via,
                                           via_id=object_id)
    return Result(201, {"@odata.context": context_url(ctx.base, ctx.version,
                                                      "appRoleAssignments/$entity"),
                        **assignment})


def delete_assignment(tenant: Tenant, ctx: Ctx, collection: str, object_id: str,
                      assignment_id: str) -> Result:
    tenant.find(collection, object_id)
    actions.delete_assignment(tenant, ctx.caller, assignment_id, owner=object_id)
    return Result(204)


def get_assignment(tenant: Tenant, ctx: Ctx, collection: str, object_id: str,
                   assignment_id: str) -> Result:
    tenant.find(collection, object_id)
    return Result(200, reads.assignment(tenant, object_id, assignment_id))


def sync_behavior(tenant: Tenant, ctx: Ctx, collection: str, object_id: str) -> Result:
    if ctx.method == "GET":
        return Result(200, actions.get_sync_behavior(tenant, collection, object_id))
    actions.set_sync_behavior(tenant, ctx.caller, collection, object_id, ctx.json_body())
    return Result(204)


# ----- singletons ------------------------------------------------------------------------

def singleton(tenant: Tenant, ctx: Ctx, collection: str) -> Result:
    obj = tenant.singleton(collection)
    rule = RULES[collection]
    if ctx.method == "PATCH":
        writes.update_object(tenant, ctx.caller, collection, obj["id"], ctx.json_body())
        return Result(204)
    body = tenant.view(rule, obj, ctx.query.select)
    return Result(200, {"@odata.context": context_url(ctx.base, ctx.version,
                                                      f"policies/{collection}/$entity"), **body})


def method_configurations(tenant: Tenant, ctx: Ctx, config_id: str | None) -> Result:
    if config_id is None:
        return Result(200, page(policies.method_configurations(tenant), context=context_url(
            ctx.base, ctx.version, "authenticationMethodConfigurations")))
    config = policies.method_configuration(tenant, config_id)
    if ctx.method == "GET":
        return Result(200, config)
    policies.update_method_configuration(tenant, ctx.caller, config_id, ctx.json_body())
    return Result(204)


def organization(tenant: Tenant, ctx: Ctx, object_id: str | None) -> Result:
    rule = RULES["organization"]
    if object_id is None:
        items = [tenant.view(rule, o, ctx.query.select)
                 for _, o in tenant.stores["organization"].scan()]
        return Result(200, page(items, context=context_url(ctx.base, ctx.version,
                                                           "organization")))
    if ctx.method == "PATCH":
        writes.update_object(tenant, ctx.caller, "organization", object_id, ctx.json_body())
        return Result(204)
    return get_object(tenant, ctx, "organization", object_id)


def audits(tenant: Tenant, ctx: Ctx, audit_id: str | None) -> Result:
    if audit_id is not None:
        return Result(200, reads.audit_event(tenant, audit_id))
    match = compile_filter(ctx.query.filter, AUDIT_FILTERABLE) if ctx.query.filter else None
    newest_first = reads.audit_events(tenant)

    def source(start: int) -> Iterator[tuple[int, Json]]:
        yield from ((i, newest_first[i]) for i in range(start, len(newest_first)))

    def render(event: Json) -> Json:
        return event

    return paged(ctx, source, render, max_top=AUDIT_MAX_TOP, match=match,
                 context="auditLogs/directoryAudits")


def object_by_id(tenant: Tenant, ctx: Ctx, object_id: str) -> Result:
    return Result(200, reads.directory_object(tenant, object_id, ctx.query.select))


def get_by_ids(tenant: Tenant, ctx: Ctx) -> Result:
    body = ctx.json_body()
    ids: Any = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadRequest("Property 'ids' must be an array of strings.")
    if len(ids) > GET_BY_IDS_MAX:
        raise BadRequest(f"The number of ids must not exceed {GET_BY_IDS_MAX}.")
    found = reads.live_directory_objects(tenant, ids, ctx.query.select)
    return Result(200, page(found, context=context_url(ctx.base, ctx.version,
                                                       "directoryObjects")))


def _only(body: Json, allowed: frozenset[str]) -> Json:
    """Refuse a request body carrying a property outside `allowed`, as Graph does."""
    extra = set(body) - allowed
    if extra:
        raise BadRequest(f"Invalid property '{sorted(extra)[0]}'.")
    return body
