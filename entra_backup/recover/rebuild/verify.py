"""Verification: the snapshot diffed against the new tenant through the id map.

Each source record is moved (domains, old tenant id) and its ids mapped, then compared with
the rebuilt object (marker removed) on what a rebuild writes: writable and create-only
properties, and links to carried objects. A difference is explained when an exception of
the plan covers it (a property or link it names, or `*`); the rest are `unexplained`, and a
correct rebuild has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from entra_backup.capture.snapshot import kind_file
from entra_backup.diff.compare import compare
from entra_backup.diff.live import snapshot_records
from entra_backup.kinds import KINDS_BY_NAME, Kind
from entra_backup.recover.apply import embedded_ids
from entra_backup.recover.ops import create_body
from entra_backup.recover.plan import iter_steps
from entra_backup.recover.rebuild.carry import EMBEDDED
from entra_backup.recover.rebuild.rewrite import DomainMap, Move, unmarked
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json


@dataclass
class MappedDiff:
    entries: list[Json] = field(default_factory=list)  # every difference found
    unexplained: list[Json] = field(default_factory=list)
    exceptions: dict[str, int] = field(default_factory=dict)  # reason -> objects


def mapped_diff(store: SnapshotStore, plan: Json, target_snapshot: str,
                ids: dict[str, str]) -> MappedDiff:
    """Diff the plan's source snapshot against a snapshot of the target tenant."""
    covers: dict[tuple[str, str], set[str]] = {}
    kinds: list[str] = []
    for step in iter_steps(store.recoveries(), plan):
        if step["kind"] not in kinds:
            kinds.append(step["kind"])
        key = (step["kind"], step["id"])
        for found in step.get("exceptions") or []:
            covers.setdefault(key, set()).update(found["covers"])
    move = Move(plan["sourceTenantId"], plan["tenantId"],
                DomainMap(plan["options"]["domainMap"]))
    result = MappedDiff()
    for reason in plan.get("exceptions") or {}:
        result.exceptions[reason] = plan["exceptions"][reason]
    for name in kinds:
        kind = KINDS_BY_NAME[name]
        for entry in _kind_entries(store, plan, target_snapshot, kind, ids, move):
            result.entries.append(entry)
            if not _explained(entry, covers.get((name, entry["id"]), set())):
                result.unexplained.append(entry)
    return result


def _kind_entries(store: SnapshotStore, plan: Json, target_snapshot: str, kind: Kind,
                  ids: dict[str, str], move: Move) -> Iterator[Json]:
    target = plan["tenantId"]
    rebuilt: dict[str, Json] = {}
    if store.exists(target, target_snapshot, kind_file(kind.name)):
        rebuilt = {r["id"]: r for r in snapshot_records(store, target, target_snapshot, kind)}
    for record in snapshot_records(store, plan["sourceTenantId"], plan["snapshotId"], kind):
        new_id = ids.get(record["id"])
        if kind.singleton:
            new_id = next(iter(rebuilt), None)
        actual = rebuilt.get(new_id) if new_id else None
        expected = _expected(kind, record, ids, move)
        entry = compare(kind, expected, _projected(kind, actual) if actual else None)
        if entry is not None:
            entry["id"] = record["id"]  # reported by the snapshot's id
            yield entry


def _expected(kind: Kind, record: Json, ids: dict[str, str], move: Move) -> Json:
    obj = create_body(kind, move.moved(kind, record.get("object") or {}), ids)
    for name in EMBEDDED.get(kind.name, ()):
        if name in obj:
            obj[name] = embedded_ids(obj[name], ids)
    links: Json = {}
    for link in kind.links:
        values = [_mapped(v, ids) for v in (record.get("links") or {}).get(link.name) or []]
        links[link.name] = [v for v in values if v is not None]
    return {"id": record["id"], "kind": kind.name, "object": _written(kind, obj),
            "links": links}


def _projected(kind: Kind, record: Json) -> Json:
    obj = unmarked(kind, record.get("object") or {})
    links = {k: [_plain(v) for v in values] for k, values in (record.get("links") or {}).items()}
    return {"id": record["id"], "kind": kind.name, "object": _written(kind, obj),
            "links": links}


def _written(kind: Kind, obj: Json) -> Json:
    from entra_backup.recover.ops import writable

    return {k: v for k, v in obj.items()
            if (writable(kind, k) or k in kind.create_only) and k != "@odata.type"}


def _mapped(value: Any, ids: dict[str, str]) -> Any:
    """A link value with its ids mapped; None when it points at something not carried."""
    if isinstance(value, str):
        return ids.get(value)
    if not isinstance(value, dict):
        return None
    out = {}
    for key, item in value.items():
        if key in ("principalId", "clientId", "resourceId") and isinstance(item, str):
            if item not in ids:
                return None
            out[key] = ids[item]
        elif key != "id":
            out[key] = item
    return out


def _plain(value: Any) -> Any:
    return {k: v for k, v in value.items() if k != "id"} if isinstance(value, dict) else value


def _explained(entry: Json, covered: set[str]) -> bool:
    if "*" in covered:
        return True
    roots = {change["path"].split(".")[0] for change in entry.get("properties") or []}
    links = {change["link"].split(".")[0] for change in entry.get("links") or []}
    if entry["change"] != "updated":
        return False
    return (roots | links) <= covered
