"""The live side of a diff when a delta link is still valid: only what changed since capture.

`read_delta` follows the snapshot's delta link and folds every change per object (Graph may
return an object several times and with only the properties that changed). `apply_change`
turns the snapshot's record plus that change into the object's current record. The cost is
proportional to the changes, not the tenant.
"""

from __future__ import annotations

import copy
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from entra_backup.capture.snapshot import kind_file, to_record
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import Kind
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json

_ID_PREFIX = b'{"id":"'


@dataclass
class Change:
    """Everything delta said about one object since the snapshot."""

    object_id: str
    props: Json = field(default_factory=dict)
    links: dict[str, dict[str, bool]] = field(default_factory=dict)
    removed: str | None = None  # "changed" (soft) or "deleted" (hard)
    odata_type: str | None = None
    # single-valued links (manager) that delta set outright: `links[name]` is then the whole
    # new value (its one added target, or none), not a change to the snapshot's
    replaced: set[str] = field(default_factory=set)


async def read_delta(session: GraphSession, kind: Kind, delta_link: str) -> dict[str, Change]:
    """Fold a delta round into one Change per object id. DeltaExpiredError propagates."""
    changes: dict[str, Change] = {}
    single = {link.name for link in kind.links if link.single}
    async for page in session.list_delta(kind.path, api_version=kind.api_version,
                                         delta_link=delta_link):
        for item in page.items:
            object_id = item.get("id")
            if not isinstance(object_id, str):
                continue
            change = changes.setdefault(object_id, Change(object_id))
            removed = item.get("@removed")
            if isinstance(removed, dict):
                change.removed = str(removed.get("reason") or "deleted")
                continue
            change.removed = None
            for key, value in item.items():
                if key.endswith("@delta") and isinstance(value, list):
                    _fold_link(change, key[:-6], value, key[:-6] in single)
                elif key == "@odata.type":
                    change.odata_type = value
                elif not key.startswith("@"):
                    change.props[key] = value
    return changes


def _fold_link(change: Change, name: str, refs: list[Any], single: bool) -> None:
    """Fold one `<name>@delta` array into the change.

    A multi-valued link (members) lists targets added or `@removed`. A single-valued one
    (manager) names the current target: naming someone replaces whoever was there, so
    earlier entries for the link are dropped and the link is marked replaced; a removal
    alone takes away only the target it names.
    """
    targets = change.links.setdefault(name, {})
    for ref in refs:
        if not (isinstance(ref, dict) and isinstance(ref.get("id"), str)):
            continue
        added = "@removed" not in ref
        if single and added:
            targets.clear()
            change.replaced.add(name)
        targets[ref["id"]] = added


def belongs(kind: Kind, change: Change, in_snapshot: bool) -> bool:
    """Whether a delta entry is about this kind (agent users ride in users/delta)."""
    if change.odata_type in kind.exclude_types:
        return False
    if kind.odata_type is not None and change.odata_type not in (None, kind.odata_type):
        return False
    return in_snapshot or change.removed is None


def apply_change(kind: Kind, before: Json | None, change: Change) -> Json | None:
    """The current record: the snapshot's record with the change applied; None if removed."""
    if change.removed is not None:
        return None
    if before is None:
        item: Json = {"id": change.object_id, **change.props}
        if change.odata_type:
            item["@odata.type"] = change.odata_type
        record = to_record(kind, item)
        if record is None:
            return None
        for name, targets in change.links.items():
            record["links"][name] = sorted(t for t, added in targets.items() if added)
        return record
    after = copy.deepcopy(before)
    after["object"].update(change.props)
    for name, targets in change.links.items():
        if name in change.replaced:
            after["links"][name] = sorted(t for t, added in targets.items() if added)
            continue
        current = dict.fromkeys(after["links"].get(name) or [])
        for target, added in targets.items():
            if added:
                current[target] = None
            else:
                current.pop(target, None)
        after["links"][name] = sorted(current)
    return after


def snapshot_records(store: SnapshotStore, tenant_id: str, snapshot_id: str, kind: Kind,
                     wanted: set[str] | None = None) -> Iterator[Json]:
    """Records of a kind from a snapshot file, in id order; only `wanted` ids when given.

    With `wanted`, lines are skipped without parsing: records are written with sorted keys,
    so every line starts with its id.
    """
    with store.open(tenant_id, snapshot_id, kind_file(kind.name)) as raw, \
            gzip.GzipFile(fileobj=raw) as lines:
        for line in lines:
            if wanted is not None:
                if not line.startswith(_ID_PREFIX):
                    continue
                end = line.index(b'"', len(_ID_PREFIX))
                if line[len(_ID_PREFIX):end].decode() not in wanted:
                    continue
            yield orjson.loads(line)
