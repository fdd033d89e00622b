"""`/delta` for users, groups, applications and service principals.

A round starts with a full enumeration (nextLinks carry a position; a group with many members
is returned several times with successive chunks of `members@delta`, as Graph does) and ends
with a deltaLink. A deltaLink replays the change log from its position; it expires after the
token lifetime (7 days by default) with 410 `syncStateNotFound`.

Two inconvenient parts of Graph are knobs (`DeltaPolicy`, set by `/_sim/config` or flags):
a share of deltaLink calls answered with a forced reset (410 `resyncRequired` and a Location
header naming a fresh round), and replays - a deltaLink round that also re-sends changes from
before its token, which clients must absorb without seeing false changes (graph.md 3.2-3.3).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from graphsim import tokens
from graphsim.context import Ctx
from graphsim.errors import BadRequest, ResyncRequired, SyncStateNotFound, UnsupportedQuery
from graphsim.model.reads import odata_type_name
from graphsim.model.tenant import Json, Tenant
from graphsim.render import Result, context_url, link, page
from graphsim.rules import DELTA_TOKEN_TTL_SECONDS, RULES

DEFAULT_PAGE = 100
MAX_PAGE = 999
MEMBERS_PER_ITEM = 100
LINK_NAVS = {"groups": "members", "users": "manager"}
SINGLE_NAVS = frozenset({"manager"})  # a user has at most one manager


@dataclass
class DeltaPolicy:
    """How kind the simulator's delta is: token lifetime, forced resets, replays."""

    ttl_seconds: float = DELTA_TOKEN_TTL_SECONDS
    reset_rate: float = 0.0  # share of deltaLink calls answered 410 resyncRequired + Location
    replay: int = 0  # a deltaLink round also re-sends this many change-log entries before it
    rng: random.Random = field(default_factory=random.Random)


def delta(tenant: Tenant, ctx: Ctx, collection: str, policy: DeltaPolicy) -> Result:
    rule = RULES[collection]
    query = ctx.query
    # Retention runs on Graph's own schedule: an object whose 30 days ran out while nobody
    # looked must surface as `@removed: deleted`, not stay `changed` because no read purged it.
    tenant.purge_expired()
    size = min(ctx.max_page_size() or DEFAULT_PAGE, MAX_PAGE)
    if query.top is not None or query.expand or query.orderby:
        raise BadRequest("$top, $expand and $orderby are not supported with delta.",
                         code="Request_UnsupportedQuery")
    if query.deltatoken == "latest":
        return _finish(ctx, collection, [], tenant.changes.head, tenant, query.select,
                       _id_filter(query.filter))
    if query.skiptoken is not None:
        if query.select:
            raise BadRequest("$select cannot be combined with $skiptoken; the options are "
                             "carried by the token.")
        state = tokens.decode(query.skiptoken, kind="delta")
    elif query.deltatoken is not None:
        state = tokens.decode(query.deltatoken, kind="delta")
        age = tenant.clock.now().timestamp() - float(state["i"])
        if age > policy.ttl_seconds:
            raise SyncStateNotFound("The delta token has expired; start a new sync without "
                                    "a token.")
        if policy.reset_rate and policy.rng.random() < policy.reset_rate:
            select, only = state.get("s"), state.get("f")
            params = [("$select", ",".join(select))] if select else []
            if only:
                params.append(("$filter", " or ".join(f"id eq '{i}'" for i in only)))
            fresh = link(ctx.base, ctx.version, f"{collection}/delta", params)
            raise ResyncRequired("The sync state must be rebuilt; start again from the "
                                 "Location given.", headers={"Location": fresh})
        start = max(0, int(state["q"]) - policy.replay)
        state = {"k": "delta", "ph": "c", "a": start, "u": tenant.changes.head, "o": 0,
                 "s": state["s"], "c": state["c"], "f": state.get("f")}
    else:
        tenant.check_select(rule, None, query.select)
        state = {"k": "delta", "ph": "i", "p": 0, "m": 0, "q": tenant.changes.head,
                 "s": query.select, "c": collection, "f": _id_filter(query.filter)}
    if state.get("c") != collection:
        raise BadRequest("The delta token does not belong to this collection.")
    if state["ph"] == "i":
        return _initial(tenant, ctx, collection, state, size)
    return _changes(tenant, ctx, collection, state, size)


_ID_TERM = re.compile(r"^\s*id\s+eq\s+'([0-9A-Fa-f-]{36})'\s*$")


def _id_filter(text: str | None) -> list[str] | None:
    """Delta filters by object id only: `id eq '…'`, ORed (graph.md 3.1-3.2)."""
    if text is None:
        return None
    ids = []
    for term in re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE):
        match = _ID_TERM.match(term)
        if match is None:
            raise UnsupportedQuery("Delta queries support $filter only on id "
                                   "(id eq '...', optionally ORed).")
        ids.append(match.group(1).lower())
    return sorted(set(ids))


def _tracked(collection: str, select: list[str] | None) -> str | None:
    nav = LINK_NAVS.get(collection)
    return nav if nav and select and nav in select else None


def _initial(tenant: Tenant, ctx: Ctx, collection: str, state: Json, size: int) -> Result:
    rule = RULES[collection]
    select = state["s"]
    nav = _tracked(collection, select)
    items: list[Json] = []
    position, member_offset = int(state["p"]), int(state["m"])
    only = set(state["f"]) if state.get("f") is not None else None
    for pos, obj in tenant.stores[collection].scan(position):
        if only is not None and obj["id"].lower() not in only:
            continue
        if len(items) == size:
            return _next(ctx, collection, {**state, "p": pos, "m": member_offset}, items)
        view = tenant.view(rule, obj, select)
        if nav is not None:
            targets = tenant.links.targets(nav, obj["id"])
            targets = [t for t in targets if tenant.is_live(t)]
            chunk = targets[member_offset:member_offset + MEMBERS_PER_ITEM]
            view[f"{nav}@delta"] = [_ref(tenant, t) for t in chunk]
            if member_offset + MEMBERS_PER_ITEM < len(targets):
                items.append(view)
                member_offset += MEMBERS_PER_ITEM
                # the same group continues on the next item (or page) with the next chunk
                while len(items) < size and member_offset < len(targets):
                    again = {"id": obj["id"], f"{nav}@delta": [
                        _ref(tenant, t)
                        for t in targets[member_offset:member_offset + MEMBERS_PER_ITEM]]}
                    items.append(again)
                    member_offset += MEMBERS_PER_ITEM
                if member_offset < len(targets):
                    return _next(ctx, collection, {**state, "p": pos, "m": member_offset},
                                 items)
                member_offset = 0
                continue
        member_offset = 0
        items.append(view)
    return _finish(ctx, collection, items, int(state["q"]), tenant, select, state.get("f"))


def _ref(tenant: Tenant, object_id: str) -> Json:
    located = tenant.locate(object_id)
    if located is None and object_id in tenant.bin:
        entry = tenant.bin[object_id]
        located = (entry.collection, entry.obj)
    odata_type = odata_type_name(located[0], located[1]) if located else (
        "#microsoft.graph.directoryObject")
    return {"@odata.type": odata_type, "id": object_id}


def _changes(tenant: Tenant, ctx: Ctx, collection: str, state: Json, size: int) -> Result:
    rule = RULES[collection]
    select = state["s"]
    nav = _tracked(collection, select)
    folded = tenant.changes.fold(collection, int(state["a"]), int(state["u"]))
    only = set(state["f"]) if state.get("f") is not None else None
    items: list[Json] = []
    offset = int(state["o"])
    for index in range(offset, len(folded)):
        if len(items) == size:
            return _next(ctx, collection, {**state, "o": index}, items)
        item = folded[index]
        if only is not None and item.object_id.lower() not in only:
            continue
        rendered = _render_change(tenant, rule.name, item, select, nav)
        if rendered is not None:
            items.append(rendered)
    return _finish(ctx, collection, items, int(state["u"]), tenant, select, state.get("f"))


def _render_change(tenant: Tenant, collection: str, item: Any, select: list[str] | None,
                   nav: str | None) -> Json | None:
    rule = RULES[collection]
    obj = tenant.stores[collection].get(item.object_id)
    if obj is None:
        reason = "changed" if item.object_id in tenant.bin else "deleted"
        return {"id": item.object_id, "@removed": {"reason": reason}}
    view = tenant.view(rule, obj, select)
    if item.whole or item.removed:
        if nav is not None:
            current = _current(tenant, nav, obj["id"])
            gone = {t: False for t, added in item.links.get(nav, {}).items()
                    if not added and t not in current}
            view[f"{nav}@delta"] = [_ref(tenant, t) for t in current] + _refs(tenant, gone)
        return view
    out: Json = {"id": obj["id"]}
    if "@odata.type" in view:
        out["@odata.type"] = view["@odata.type"]
    for name in sorted(item.props):
        if name in view:
            out[name] = view[name]
    if nav is not None and nav in item.links:
        folded = item.links[nav]
        if nav in SINGLE_NAVS:
            # Graph names the current manager (user-delta example); only when there is none
            # does the round say which one went away
            current = _current(tenant, nav, obj["id"])
            folded = {current[0]: True} if current else dict.fromkeys(folded, False)
        out[f"{nav}@delta"] = _refs(tenant, folded)
    if len(out) == 1 + ("@odata.type" in out):
        return None
    return out


def _current(tenant: Tenant, nav: str, object_id: str) -> list[str]:
    """Live targets of a link now (soft-deleted ones are hidden, as a GET shows them)."""
    return [t for t in tenant.links.targets(nav, object_id) if tenant.is_live(t)]


def _refs(tenant: Tenant, folded: dict[str, bool]) -> list[Json]:
    """`<nav>@delta` entries: a reference per target, `@removed` for those taken away."""
    refs = []
    for target, added in folded.items():
        ref = _ref(tenant, target)
        if not added:
            ref["@removed"] = {"reason": "deleted"}
        refs.append(ref)
    return refs


def _next(ctx: Ctx, collection: str, state: Json, items: list[Json]) -> Result:
    url = link(ctx.base, ctx.version, f"{collection}/delta",
               [("$skiptoken", tokens.encode(state))])
    return Result(200, page(items, context=context_url(ctx.base, ctx.version, collection),
                            next_link=url))


def _finish(ctx: Ctx, collection: str, items: list[Json], seq: int, tenant: Tenant,
            select: list[str] | None, only: list[str] | None) -> Result:
    state = {"k": "delta", "ph": "t", "q": seq, "i": tenant.clock.now().timestamp(),
             "s": select, "c": collection, "f": only}
    url = link(ctx.base, ctx.version, f"{collection}/delta",
               [("$deltatoken", tokens.encode(state))])
    return Result(200, page(items, context=context_url(ctx.base, ctx.version, collection),
                            delta_link=url))
