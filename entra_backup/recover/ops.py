"""The writes that put one object back: pure functions from a report entry and the snapshot's
record to a list of operations the executor runs (`apply.py`). No I/O here.

An operation is small JSON (`{"op": "patch", "body": {...}}`), so a plan can be stored,
printed in a dry run and resumed elsewhere. Every operation is idempotent by construction or
tolerated when its target state already holds (the executor treats "already a member",
"already removed" and "not deleted" as done), so a plan run twice changes nothing more.
"""

from __future__ import annotations

from typing import Any

from entra_backup.diff.compare import CREDENTIAL_PROPERTIES
from entra_backup.kinds import Kind
from entra_backup.types import Json

REPORT_ONLY = "enabledForReportingButNotEnforced"
_NEVER_WRITTEN = frozenset({"id", "@odata.type", "@odata.context"})


def writable(kind: Kind, name: str) -> bool:
    """Whether recovery may send this top-level property in a PATCH."""
    if name in _NEVER_WRITTEN or name in kind.read_only or name in kind.create_only:
        return False
    if name in kind.secret or name in kind.volatile or name in CREDENTIAL_PROPERTIES:
        return False
    if any(name == prop for prop, _ in kind.item_collections):
        return False
    return kind.writable is None or name in kind.writable


def patch_body(kind: Kind, target: Json, roots: set[str], *, report_only_ca: bool) -> Json:
    """The PATCH that puts `roots` back to the snapshot's values (null clears).

    Kinds that `write_whole` (CA policies, named locations) get every writable property, so
    the result is the same whether Graph merges or replaces nested objects.
    """
    names = {k for k in target if writable(kind, k)} if kind.write_whole else roots
    body: Json = {name: target.get(name) for name in sorted(names) if writable(kind, name)}
    if kind.write_whole and "@odata.type" in target:
        body["@odata.type"] = target["@odata.type"]
    if report_only_ca and body.get("state") == "enabled" and kind.on_created == "disable":
        body["state"] = REPORT_ONLY
    return body


def update_ops(kind: Kind, entry: Json, target: Json, *, report_only_ca: bool = False,
               skip_targets: frozenset[str] = frozenset(),
               skip_links: frozenset[str] = frozenset()) -> tuple[list[Json], list[str]]:
    """Operations reverting an `updated` entry to `target` (the snapshot record), and notes
    on what cannot be reverted. `skip_targets`: ids that cannot be linked (hard-deleted);
    `skip_links`: links Graph computes or Exchange owns (dynamic and mail-enabled members)."""
    obj = target.get("object") or {}
    ops: list[Json] = []
    notes: list[str] = []
    roots = {change["path"].split(".")[0] for change in entry.get("properties") or []}
    body = patch_body(kind, obj, roots, report_only_ca=report_only_ca)
    wanted = {r for r in roots if writable(kind, r)}
    if body and ((kind.write_whole and roots - CREDENTIAL_PROPERTIES) or wanted):
        ops.append({"op": "patch", "body": body})
    for prop, path in kind.item_collections:
        if prop in roots:
            ops.extend(_item_ops(obj.get(prop) or [], entry, prop, path))
    ops.extend(_credential_ops(entry, obj, target.get("keys") or {}, notes))
    for change in entry.get("links") or []:
        if change.get("reference") or change["link"] in skip_links:
            continue  # references are written inside the object by the PATCH above
        ops.extend(link_ops(kind, change, skip_targets, notes))
    return ops, notes


def _item_ops(items: list[Json], entry: Json, prop: str, path: str) -> list[Json]:
    """Per-item PATCHes (authentication method configurations) for the items that differ."""
    before = {c["path"] for c in entry.get("properties") or [] if c["path"].startswith(prop)}
    if not before:
        return []
    ops = []
    for item in items:
        if not isinstance(item, dict) or "id" not in item:
            continue
        body = {k: v for k, v in item.items() if k != "id"}
        ops.append({"op": "patchItem", "path": f"{path}/{item['id']}", "body": body})
    return ops


def _credential_ops(entry: Json, obj: Json, keys: dict[str, str],
                    notes: list[str]) -> list[Json]:
    """Secrets added since are removed; deleted ones can only be re-issued (a note says so);
    certificates (public keys) are put back where the snapshot holds them."""
    ops: list[Json] = []
    for change in entry.get("properties") or []:
        if change["path"] == "passwordCredentials":
            before = key_ids(change.get("before"))
            after = key_ids(change.get("after"))
            for key_id in sorted(after - before):
                ops.append({"op": "removePassword", "keyId": key_id})
            if before - after:
                notes.append(f"{len(before - after)} client secret(s) deleted since the "
                             "snapshot cannot be restored: issue new ones (addPassword) and "
                             "hand them to the app's owners")
        elif change["path"] == "keyCredentials":
            keep = sorted(key_ids(obj.get("keyCredentials")))
            ops.append({"op": "keyCredentials", "keep": keep,
                        "restore": [{**c, "key": keys[c["keyId"]]}
                                    for c in obj.get("keyCredentials") or []
                                    if isinstance(c, dict) and c.get("keyId") in keys]})
    return ops


def key_ids(values: Any) -> set[str]:
    return {v["keyId"] for v in values or [] if isinstance(v, dict) and v.get("keyId")}


def link_ops(kind: Kind, change: Json, skip_targets: frozenset[str],
             notes: list[str]) -> list[Json]:
    """Undo one link change: what was added since is removed, what was removed is added."""
    name = change["link"]
    try:
        link = kind.link(name)
    except KeyError:
        return []
    if link.fields:  # object-shaped: app role assignments, delegated grants
        return _object_link_ops(name, change)
    if link.ref is None:
        notes.append(f"{name} cannot be written through Graph: restore it by hand")
        return []
    added = [t for t in change.get("added") or [] if isinstance(t, str)]
    removed = [t for t in change.get("removed") or [] if isinstance(t, str)]
    missing = sorted(set(removed) & skip_targets)
    if missing:
        notes.append(f"{name}: {len(missing)} target(s) were hard-deleted and are not "
                     "re-created")
    removed = [t for t in removed if t not in skip_targets]
    if link.single:
        if removed:
            return [{"op": "setRef", "link": name, "target": removed[0]}]
        return [{"op": "removeRef", "link": name, "target": t} for t in added[:1]]
    ops: list[Json] = [{"op": "removeRef", "link": name, "target": t} for t in added]
    for start in range(0, len(removed), link.per_request):
        ops.append({"op": "addRefs", "link": name,
                    "targets": removed[start:start + link.per_request]})
    return ops


def _object_link_ops(name: str, change: Json) -> list[Json]:
    added = {v.get("id"): v for v in change.get("added") or [] if isinstance(v, dict)}
    removed = {v.get("id"): v for v in change.get("removed") or [] if isinstance(v, dict)}
    ops: list[Json] = []
    for key in sorted(k for k in added if k is not None):
        if key in removed and name == "oauth2PermissionGrants":
            ops.append({"op": "patchGrant", "id": key, "scope": removed[key].get("scope")})
        else:
            ops.append({"op": "removeObjectLink", "link": name, "id": key})
    for key, value in sorted(removed.items(), key=lambda kv: str(kv[0])):
        if key not in added or name != "oauth2PermissionGrants":
            ops.append({"op": "addObjectLink", "link": name, "value": value})
    return ops


def create_body(kind: Kind, obj: Json, ids: dict[str, str]) -> Json:
    """The POST that re-creates a hard-deleted object from its snapshot values, with ids of
    other re-created objects (a CA policy's users, an SP's appId) already rewritten."""
    body: Json = {}
    for name, value in obj.items():
        if name in kind.create_only or writable(kind, name):
            body[name] = _rewrite(value, ids)
    if kind.write_whole and "@odata.type" in obj:
        body["@odata.type"] = obj["@odata.type"]
    return {k: v for k, v in body.items() if v is not None}


def _rewrite(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


def created_ops(kind: Kind) -> tuple[str, list[Json], str | None]:
    """What happens to an object created since the snapshot: (action, ops, note)."""
    if kind.on_created == "softDelete" and kind.soft_delete:
        return "softDelete", [{"op": "softDelete"}], None
    if kind.on_created == "disable":
        return "update", [{"op": "patch", "body": {"state": "disabled"}}], (
            "created since the snapshot: disabled, not deleted (review and delete by hand)")
    return "none", [], "created since the snapshot: left in place (recovery never deletes "\
                       f"{kind.name}); remove it by hand if it is unwanted"
