"""One kind's report entries: a snapshot against the live tenant or against another snapshot.

Per kind, the live side comes from the snapshot's delta link when Graph still honours it
(cost proportional to the changes), otherwise - or when the audit log shows Microsoft's own
recovery service wrote since, which leaves no delta record (audit.py) - from a full read
merged by id in streaming fashion. Deleted objects are looked up in the recycle bins
(directory and the beta CA bin) to tell soft from hard. Each kind is computed alone, so the
diff's stages (diff/stages.py) can run one kind per activity.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from entra_backup.capture.read import tenant_link_rows, with_object_links
from entra_backup.capture.records import normalized
from entra_backup.diff.compare import compare, mark_deleted, recoverability
from entra_backup.diff.live import Change, apply_change, belongs, read_delta, snapshot_records
from entra_backup.errors import DeltaExpiredError, SnapshotIntegrityError
from entra_backup.graph.session import BatchRequest, GraphSession
from entra_backup.kinds import Kind, Link, get_kind
from entra_backup.store.snapshots import SnapshotStore, validate_snapshot_id
from entra_backup.store.verify import load_manifest, verify_snapshot
from entra_backup.types import Json

log = logging.getLogger(__name__)
CHANGES = ("created", "updated", "deleted")
LINK_BREAKING = frozenset({"Delete", "Restore"})  # audit operationTypes
MEMBERSHIP_REASONS = frozenset({"dynamic_membership", "mail_enabled_group"})
_OBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass
class DiffRequest:
    tenant_id: str
    snapshot_id: str
    against: str = "live"
    kinds: list[str] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    use_delta: bool = True

    def validated(self) -> DiffRequest:
        """Raise ValueError (one line) for any malformed filter, before anything is read."""
        validate_snapshot_id(self.snapshot_id)
        if self.against != "live":
            validate_snapshot_id(self.against)
        for name in self.kinds:
            get_kind(name)
        for object_id in self.object_ids:
            if not _OBJECT_ID.fullmatch(object_id):
                raise ValueError(f"malformed object id {object_id!r}")
        for change in self.changes:
            if change not in CHANGES:
                raise ValueError(f"unknown change type {change!r} (use {', '.join(CHANGES)})")
        return self



async def snapshot_entries(store: SnapshotStore, request: DiffRequest, kind: Kind,
                           wanted: set[str] | None, session: GraphSession | None
                           ) -> AsyncIterator[Json]:
    """Entries of one kind between the snapshot and a later snapshot (`request.against`)."""
    before = snapshot_records(store, request.tenant_id, request.snapshot_id, kind, wanted)
    after = snapshot_records(store, request.tenant_id, request.against, kind, wanted)
    async for entry in _classified(kind, _merge(kind, before, _aiter(after)), session):
        yield entry


async def delta_changes(session: GraphSession, request: DiffRequest, kind: Kind,
                        manifest: Json, *, trusted: bool) -> dict[str, Change] | None:
    """The kind's changes since the snapshot through its delta link; None when a full read
    is needed (no link, expired, not asked for, or a native recovery wrote behind delta)."""
    delta_link = manifest["kinds"][kind.name].get("deltaLink")
    if not (kind.delta and delta_link and request.use_delta and trusted):
        return None
    try:
        return await read_delta(session, kind, delta_link)
    except DeltaExpiredError:
        log.info("%s: delta link expired, reading everything", kind.name)
        return None


async def delta_entries(
    store: SnapshotStore, request: DiffRequest, kind: Kind, changes: dict[str, Change],
    session: GraphSession, wanted: set[str] | None, touched: dict[str, list[Json]],
    spill_limit: int, workdir: Path | None,
) -> AsyncIterator[Json]:
    """Entries of one kind from its delta changes (and the objects the audit log names)."""
    pairs = await _delta_pairs(store, request, kind, changes, session, wanted, touched,
                               spill_limit, workdir)
    async for entry in _classified(kind, _compare_pairs(kind, pairs), session):
        yield entry


async def full_entries(store: SnapshotStore, request: DiffRequest, kind: Kind,
                       live: Iterable[Json], session: GraphSession | None,
                       wanted: set[str] | None) -> AsyncIterator[Json]:
    """Entries of one kind from every live record (id-sorted), merged with the snapshot's."""
    before = snapshot_records(store, request.tenant_id, request.snapshot_id, kind, wanted)
    async for entry in _classified(kind, _merge(kind, before, _filtered(_aiter(live), wanted)),
                                   session):
        yield entry


def without_cascade(entry: Json, restorable: set[str]) -> Json | None:
    """Drop link removals that only mirror a soft deletion listed in the same report.

    A soft-deleted user vanishes from every group, manager and owner list it was in; restoring
    it brings those links back (Graph restores them with the object), so repeating them on
    each group would bury the incident under noise. An entry left empty is dropped.
    """
    if entry["change"] != "updated" or not restorable:
        return entry
    links = []
    for link in entry["links"]:
        # an item changed in place (in both lists, same id) is a change, not a cascade
        still = {t.get("id") for t in link["added"] if isinstance(t, dict)}
        removed = [t for t in link["removed"] if not _cascades(t, restorable)
                   or (isinstance(t, dict) and t.get("id") in still)]
        if link["added"] or removed:
            links.append({**link, "removed": removed})
    if not links and not entry["properties"]:
        return None
    if len(links) == len(entry["links"]) and links == entry["links"]:
        return entry
    members_left = any(link["link"] == "members" for link in links)
    reasons = [r for r in entry["reasons"] if members_left or r not in MEMBERSHIP_REASONS]
    recoverable = recoverability(get_kind(entry["kind"]), reasons, entry["properties"], links)
    return {**entry, "links": links, "recoverable": recoverable, "reasons": reasons}


def _cascades(target: Any, restorable: set[str]) -> bool:
    """A removed link target that is, or is held by, an object soft-deleted in this report
    (an id, or an app role assignment / grant whose principal it is)."""
    return _target_id(target) in restorable


def verified_manifest(store: SnapshotStore, tenant_id: str, snapshot_id: str) -> Json:
    result = verify_snapshot(store, tenant_id, snapshot_id)
    if not result.ok:
        raise SnapshotIntegrityError(
            f"snapshot {snapshot_id} failed verification: {result.problems[0]}",
            snapshot_id=snapshot_id)
    manifest, _ = load_manifest(store, tenant_id, snapshot_id)
    return manifest


async def _aiter(records: Iterable[Json]) -> AsyncIterator[Json]:
    for record in records:
        yield record


async def _filtered(records: AsyncIterator[Json], wanted: set[str] | None
                    ) -> AsyncIterator[Json]:
    async for record in records:
        if wanted is None or record["id"] in wanted:
            yield record


async def _merge(kind: Kind, before: Iterator[Json], after: AsyncIterator[Json]
                 ) -> AsyncIterator[tuple[Json | None, Json | None, Json | None]]:
    """Merge two id-sorted streams; yield (entry, before, after) for every difference."""
    old = next(before, None)
    async for new in after:
        while old is not None and old["id"] < new["id"]:
            yield compare(kind, old, None), old, None
            old = next(before, None)
        if old is not None and old["id"] == new["id"]:
            entry = compare(kind, old, new)
            if entry is not None:
                yield entry, old, new
            old = next(before, None)
        else:
            yield compare(kind, None, new), None, new
    while old is not None:
        yield compare(kind, old, None), old, None
        old = next(before, None)


async def _compare_pairs(kind: Kind, pairs: list[tuple[Json | None, Json | None]]
                         ) -> AsyncIterator[tuple[Json | None, Json | None, Json | None]]:
    for old, new in pairs:
        entry = compare(kind, old, new)
        if entry is not None:
            yield entry, old, new


async def _delta_pairs(
    store: SnapshotStore, request: DiffRequest, kind: Kind, changes: dict[str, Change],
    session: GraphSession, wanted: set[str] | None, touched: dict[str, list[Json]],
    spill_limit: int, workdir: Path | None,
) -> list[tuple[Json | None, Json | None]]:
    """(snapshot record, current record) for every object delta or the audit log touched.

    Delta carries properties and `members@delta` / `manager@delta`; links it does not carry
    are read again for those objects only: per-object links (owners, assignments, sponsors)
    for objects that changed, that an audit event names, or whose links named an object an
    audit event names (a deleted owner or assignee leaves the holder's list, and nothing
    tells the holder's delta), and tenant-wide lists (grants) compared in one pass.
    """
    tenant_links = [link for link in kind.links if link.read == "tenant_list"]
    per_object = [link for link in kind.links if link.read == "per_object"]
    rows: dict[str, Json] = {}
    rechecked: set[str] = set()
    if tenant_links:
        rows = {r["id"]: r["links"] for r in await tenant_link_rows(
            session, kind, tenant_links, spill_limit, workdir)}
    # only a delete or a restore changes other objects' lists without telling their delta
    gone = {target for target, events in touched.items()
            if any(e["operationType"] in LINK_BREAKING for e in events)}
    if tenant_links or (per_object and gone):
        for record in snapshot_records(store, request.tenant_id, request.snapshot_id, kind):
            if _names_any(record, per_object, gone) or _regrouped(record, tenant_links,
                                                                      rows):
                rechecked.add(record["id"])
    ids = set(changes) | set(touched) | rechecked
    if wanted is not None:
        ids &= wanted
    old = {r["id"]: r for r in snapshot_records(store, request.tenant_id, request.snapshot_id,
                                                kind, ids)}
    pairs: list[tuple[Json | None, Json | None]] = []
    refresh: list[Json] = []
    for object_id in sorted(ids):
        before = old.get(object_id)
        change = changes.get(object_id)
        if change is None:
            if before is None:
                continue  # an audit target or grant owner of another kind
            change = Change(object_id)
        if not belongs(kind, change, before is not None):
            continue
        after = apply_change(kind, before, change)
        if after is not None:
            for link in tenant_links:
                after["links"][link.name] = rows.get(object_id, {}).get(link.name, [])
            refresh.append(after)
        pairs.append((before, after))
    if per_object and refresh:
        async for _ in with_object_links(session, kind, per_object, iter(refresh)):
            pass
    for _before, after in pairs:
        if after is not None:
            normalized(after)
    return pairs


def _regrouped(record: Json, tenant_links: list[Link], rows: dict[str, Json]) -> bool:
    """Whether the tenant-wide lists (grants) of a snapshot record differ from Graph's now."""
    if not tenant_links:
        return False
    now = {link.name: rows.get(record["id"], {}).get(link.name, []) for link in tenant_links}
    then = {link.name: record["links"].get(link.name, []) for link in tenant_links}
    return bool(normalized({"links": now})["links"] != normalized({"links": then})["links"])


def _names_any(record: Json, links: list[Link], ids: set[str]) -> bool:
    """Whether a snapshot record's per-object links name any of `ids`."""
    return any(_target_id(value) in ids
               for link in links for value in record["links"].get(link.name) or [])


def _target_id(value: Any) -> str | None:
    """The object a link entry names: the id itself, or an assignment's or grant's principal."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("principalId"), str):
        return str(value["principalId"])
    return None


async def _classified(
    kind: Kind, diffs: AsyncIterator[tuple[Json | None, Json | None, Json | None]],
    session: GraphSession | None,
) -> AsyncIterator[Json]:
    """Entries in id order; deleted ones get soft/hard from the recycle bins in batches."""
    pending: list[tuple[Json, Json]] = []
    async for entry, before, _after in diffs:
        if entry is None:
            continue
        if entry["change"] != "deleted":
            for ready in await _flush(kind, pending, session):
                yield ready
            pending = []
            yield entry
            continue
        assert before is not None
        pending.append((entry, before))
        if len(pending) >= 20:
            for ready in await _flush(kind, pending, session):
                yield ready
            pending = []
    for ready in await _flush(kind, pending, session):
        yield ready


async def _flush(kind: Kind, pending: list[tuple[Json, Json]],
                 session: GraphSession | None) -> list[Json]:
    if not pending:
        return []
    if session is None or kind.deleted_path is None:
        return [mark_deleted(kind, entry, "hard" if kind.deleted_path is None else "soft",
                             before) for entry, before in pending]
    requests = [BatchRequest(id=str(i), method="GET", url="/" + _bin_path(kind, entry["id"]))
                for i, (entry, _) in enumerate(pending)]
    answers = await session.batch(requests, api_version=kind.deleted_api_version)
    out = []
    for (entry, before), answer in zip(pending, answers, strict=True):
        deletion = "soft" if answer.status == 200 else "hard"
        if answer.status not in (200, 404):
            raise _bin_error(kind, answer)
        out.append(mark_deleted(kind, entry, deletion, before))
    return out


def _bin_path(kind: Kind, object_id: str) -> str:
    assert kind.deleted_path is not None
    if kind.deleted_path.startswith("directory/deletedItems"):
        return f"directory/deletedItems/{object_id}?$select=id"
    return f"{kind.deleted_path}/{object_id}"


def _bin_error(kind: Kind, answer: Any) -> Exception:
    from entra_backup.errors import EntraBackupError

    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error") or {}
    return EntraBackupError(f"looking up deleted {kind.name} failed: {answer.status} "
                            f"{error.get('code', '')} {error.get('message', '')}".strip())
