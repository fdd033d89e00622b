"""Read one object as a record - the same shape capture writes - straight from Graph.

Used after a restore, when the object's state is whatever it was at deletion time and only a
fresh read says what still differs from the snapshot.
"""

from __future__ import annotations

from urllib.parse import quote

from entra_backup.capture.records import normalized
from entra_backup.capture.snapshot import to_record
from entra_backup.errors import NotFoundError
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import Kind, Link
from entra_backup.types import Json


async def read_record(session: GraphSession, kind: Kind, object_id: str) -> Json | None:
    """The object with its links, or None when it does not exist (any more)."""
    path = kind.object_path(quote(object_id, safe=""))
    params = {"$select": ",".join(kind.select)} if kind.select else None
    try:
        item = await session.get_json(path, api_version=kind.api_version, params=params)
    except NotFoundError:
        return None
    record = to_record(kind, item)
    if record is None:
        return None
    for link in kind.links:
        record["links"][link.name] = await _link_values(session, kind, link, object_id)
    return normalized(record)


async def _link_values(session: GraphSession, kind: Kind, link: Link,
                       object_id: str) -> list[object]:
    escaped = quote(object_id, safe="")
    if link.read == "tenant_list":
        url = link.path.split("?")[0]
        rows = session.list_objects(url, filter=f"{link.group_by} eq '{object_id}'")
        return [{k: row.get(k) for k in link.fields} async for row in rows]
    url = link.path.format(id=escaped) if link.path else \
        f"{kind.collection_path}/{escaped}/{link.name}"
    if link.single:
        try:
            body = await session.get_json(url.split("?")[0], api_version=kind.api_version,
                                          params={"$select": "id"})
        except NotFoundError:
            return []
        return [body["id"]] if body.get("id") else []
    path = url.partition("?")[0]
    select = None if link.fields else ["id"]
    values: list[object] = []
    async for row in session.list_objects(path, api_version=kind.api_version, select=select,
                                          top=999):
        values.append({k: row.get(k) for k in link.fields} if link.fields else row["id"])
    return values
