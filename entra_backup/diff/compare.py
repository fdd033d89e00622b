"""Compare two records of one object: property changes with JSON paths, link changes, and
what can be recovered. Pure functions over records; no I/O.

Lists of plain values compare as sets (Graph does not promise their order, and reordering is
not drift); lists of objects compare as canonical JSON multisets. Volatile properties
(server clocks) never count, so capturing an unchanged tenant twice reports nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from entra_backup.kinds import Kind, Link
from entra_backup.types import Json

CREDENTIAL_PROPERTIES = frozenset({"passwordCredentials", "keyCredentials"})
# Reasons that make an entry unrecoverable on their own.
BLOCKING = frozenset({"synced_from_on_premises", "hard_deleted", "read_only_property"})


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def same(before: Any, after: Any) -> bool:
    """Equal for Graph's purposes: null and absent alike, unordered plain lists alike."""
    if before is None or after is None:
        return before == after or (before in (None, [], {}) and after in (None, [], {}))
    if isinstance(before, list) and isinstance(after, list):
        return sorted(map(_canonical, before)) == sorted(map(_canonical, after))
    return bool(_canonical(before) == _canonical(after))


def property_changes(kind: Kind, before: Json, after: Json) -> list[Json]:
    """Changed leaves with dotted paths; nested objects (CA conditions) are walked."""
    return list(_walk("", before, after, kind.volatile))


def _walk(prefix: str, before: Json, after: Json, volatile: frozenset[str]) -> Iterator[Json]:
    for key in sorted(set(before) | set(after)):
        if not prefix and (key in volatile or key == "id"):
            continue
        path = f"{prefix}.{key}" if prefix else key
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            yield from _walk(path, old, new, frozenset())
        elif not same(old, new):
            yield {"path": path, "before": old, "after": new}


def _key(value: Any) -> str:
    return value if isinstance(value, str) else str(value.get("id"))


def _link_key(link: Link, value: Any) -> str:
    """A link item's identity: its id, or for links keyed by content (an app role assignment
    is who holds which role, whatever id Graph gave it) the named fields."""
    if link.key == "id" or isinstance(value, str):
        return _key(value)
    return "|".join(str(value.get(name)) for name in link.key.split(","))


def _content(link: Link, value: Any) -> Any:
    if link.key == "id" or not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if k != "id"}


def link_changes(kind: Kind, before: Json, after: Json) -> list[Json]:
    """Added and removed targets per link; object-shaped links compare by their key."""
    out = []
    for link in kind.links:
        old = {_link_key(link, v): v for v in before.get(link.name) or []}
        new = {_link_key(link, v): v for v in after.get(link.name) or []}
        added = [new[k] for k in sorted(new.keys() - old.keys())]
        removed = [old[k] for k in sorted(old.keys() - new.keys())]
        changed = [k for k in sorted(new.keys() & old.keys())
                   if not same(_content(link, old[k]), _content(link, new[k]))]
        added += [new[k] for k in changed]
        removed += [old[k] for k in changed]
        if added or removed:
            target = link.targets[0] if len(link.targets) == 1 and not link.fields else None
            out.append({"link": link.name, "targetKind": target, "added": added,
                        "removed": removed})
    return out


def reference_changes(kind: Kind, before: Json, after: Json) -> list[Json]:
    """Ids added to or removed from reference paths inside the object (CA conditions)."""
    out = []
    for path, target in kind.references:
        old, new = set(_at(before, path)), set(_at(after, path))
        if old != new:
            out.append({"link": path, "targetKind": target.split(".")[0], "reference": True,
                        "added": sorted(new - old), "removed": sorted(old - new)})
    return out


def _at(obj: Json, path: str) -> list[str]:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return [v for v in value or [] if isinstance(v, str)] if isinstance(value, list) else []


def assess(
    kind: Kind, change: str, deletion: str | None, before: Json | None, after: Json | None,
    properties: list[Json], links: list[Json],
) -> tuple[bool, list[str], str]:
    """Whether a change can be recovered, why not, and who is the source of authority."""
    now = (after or before or {}).get("object", {})
    then = (before or after or {}).get("object", {})
    flag = kind.synced_flag
    synced_now = bool(flag and now.get(flag))
    reasons: list[str] = []
    if synced_now or (change == "deleted" and flag and then.get(flag)):
        reasons.append("synced_from_on_premises")
    if flag and bool(then.get(flag)) != synced_now and change == "updated":
        reasons.append("source_of_authority_changed")
    if deletion == "hard":
        reasons.append("hard_deleted")
    roots = {p["path"].split(".")[0] for p in properties}
    if roots & CREDENTIAL_PROPERTIES:
        reasons.append("secret_cannot_be_restored")
    if change == "updated" and roots and not links and roots <= kind.read_only | {
            "@odata.type"}:
        reasons.append("read_only_property")
    member_change = any(link["link"] == "members" for link in links)
    if member_change and "DynamicMembership" in (now.get("groupTypes") or []):
        reasons.append("dynamic_membership")
    if member_change and now.get("mailEnabled") and "Unified" not in (now.get("groupTypes")
                                                                      or []):
        reasons.append("mail_enabled_group")
    return recoverability(kind, reasons, properties, links), reasons, (
        "onPremises" if synced_now else "cloud")


def recoverability(kind: Kind, reasons: list[str], properties: list[Json],
                   links: list[Json]) -> bool:
    """Whether anything in the change can be put back, given the reasons found."""
    roots = {p["path"].split(".")[0] for p in properties}
    if set(reasons) & BLOCKING:
        return False
    only_members = bool(links) and all(link["link"] == "members" for link in links) and not roots
    if only_members and {"dynamic_membership", "mail_enabled_group"} & set(reasons):
        return False
    if roots and roots <= CREDENTIAL_PROPERTIES and not links:
        return False
    # SOA is never flipped back silently (as in Microsoft's own recovery)
    return not ("source_of_authority_changed" in reasons and roots == {kind.synced_flag})


def compare(kind: Kind, before: Json | None, after: Json | None) -> Json | None:
    """The entry for one object, or None when nothing that counts differs."""
    if before is None and after is None:
        return None
    if before is None or after is None:
        change = "created" if before is None else "deleted"
        record = after if before is None else before
        assert record is not None
        recoverable, reasons, soa = assess(kind, change, None, before, after, [], [])
        return _entry(kind, record, change, [], [], recoverable, reasons, soa)
    if before == after:  # the common case by far, decided in C
        return None
    properties = property_changes(kind, before["object"], after["object"])
    links = link_changes(kind, before.get("links") or {}, after.get("links") or {})
    links += reference_changes(kind, before["object"], after["object"])
    if not properties and not links:
        return None
    recoverable, reasons, soa = assess(kind, "updated", None, before, after, properties, links)
    return _entry(kind, after, "updated", properties, links, recoverable, reasons, soa)


def _entry(kind: Kind, record: Json, change: str, properties: list[Json], links: list[Json],
           recoverable: bool, reasons: list[str], soa: str) -> Json:
    obj = record.get("object", {})
    name = obj.get("displayName") or obj.get("userPrincipalName")
    return {"kind": kind.name, "id": record["id"],
            "displayName": name if isinstance(name, str) else None, "change": change,
            "deletion": None, "properties": properties, "links": links,
            "recoverable": recoverable, "reasons": reasons, "sourceOfAuthority": soa,
            "changedBy": []}


def mark_deleted(kind: Kind, entry: Json, deletion: str, before: Json) -> Json:
    """Fill in how a deleted object went: soft (in a recycle bin) or hard (gone)."""
    recoverable, reasons, soa = assess(kind, "deleted", deletion, before, None, [], [])
    entry.update(deletion=deletion, recoverable=recoverable, reasons=reasons,
                 sourceOfAuthority=soa)
    return entry
