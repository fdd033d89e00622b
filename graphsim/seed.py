"""Loading a tenant from seed items: a documented seed file or the synthetic generator.

A seed item is `{"collection": C, "object": {...}}` or `{"link": L, "source": id, "target": id}`
(docs/graphsim.md). Items are loaded in one pass without Graph's write validation - a seed
describes a tenant as it already is, including states Graph would not let a client create
(synced objects, mail-enabled security groups) - but every reference must resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from graphsim.model.tenant import Json, Tenant
from graphsim.rules import LINK_SOURCES, RULES


class SeedError(ValueError):
    """A seed file or item that does not describe a consistent tenant."""


def load(tenant: Tenant, items: Iterable[Json]) -> int:
    """Load seed items into an empty tenant; return how many objects were added."""
    count = 0
    for number, item in enumerate(items, 1):
        if "collection" in item:
            _load_object(tenant, item["collection"], item.get("object"), number)
            count += 1
        elif "link" in item:
            _load_link(tenant, item, number)
        else:
            raise SeedError(f"seed item {number}: neither 'collection' nor 'link'")
    org = tenant.stores["organization"]
    for _, obj in org.scan():
        tenant.tenant_id = obj["id"]
    return count


def _load_object(tenant: Tenant, collection: Any, obj: Any, number: int) -> None:
    if collection not in RULES:
        raise SeedError(f"seed item {number}: unknown collection {collection!r}")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise SeedError(f"seed item {number}: an object with a string 'id' is required")
    obj = dict(obj)
    if collection == "appRoleAssignments":
        tenant.add_assignment(obj)
        return
    tenant.stores[collection].put(obj)
    tenant.index(collection, obj)


def _load_link(tenant: Tenant, item: Json, number: int) -> None:
    nav, source, target = item.get("link"), item.get("source"), item.get("target")
    if nav not in LINK_SOURCES:
        raise SeedError(f"seed item {number}: unknown link {nav!r}")
    if not isinstance(source, str) or not isinstance(target, str):
        raise SeedError(f"seed item {number}: a link needs string 'source' and 'target'")
    if tenant.locate(source) is None or tenant.locate(target) is None:
        raise SeedError(f"seed item {number}: link {nav} {source} -> {target} is dangling")
    tenant.links.add(nav, source, target)


def read_file(path: Path) -> Iterator[Json]:
    """Items from a seed file: a JSON document (`objects` + `links`) or NDJSON items."""
    if path.suffix == ".ndjson":
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield orjson.loads(line)
        return
    document = orjson.loads(path.read_bytes())
    if not isinstance(document, dict):
        raise SeedError("a seed document must be a JSON object")
    yield from document_items(document)


def document_items(document: Json) -> Iterator[Json]:
    for collection, objects in (document.get("objects") or {}).items():
        if isinstance(objects, dict):  # a singleton written as one object
            objects = [objects]
        for obj in objects:
            yield {"collection": collection, "object": obj}
    yield from document.get("links") or []


def dump(tenant: Tenant) -> Json:
    """The live tenant as a seed document (the `/_sim/state` answer); bins are listed apart."""
    objects = {name: [obj for _, obj in store.scan()] for name, store in tenant.stores.items()}
    links = [
        {"link": nav, "source": source, "target": target}
        for nav in tenant.links.navs()
        for source, targets in tenant.links.items(nav)
        for target in targets
    ]
    deleted = [
        {"collection": entry.collection, "object": entry.obj} for entry in tenant.bin.values()
    ]
    return {"tenantId": tenant.tenant_id, "objects": objects, "links": links,
            "deletedItems": deleted}
