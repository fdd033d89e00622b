"""Build a recovery plan from a difference report and a selection, streamed to the store.

Order (the native service's, made explicit): restores first (original ids; a restored object
is then reconciled with its snapshot record), re-creations of hard-deleted objects (only when
asked), updates - property reverts and link adds/removes, dependencies before dependants by
kind rank - and soft-deletes of objects created since, last and in reverse rank. Entries that
cannot be recovered become `none` steps, so the recovery record reports every one of them.

The report is read twice (hard-deleted ids first, then steps) and joined with the snapshot's
id-sorted kind files; steps go to one spill file per (phase, rank) and are then cut into
chunks of `CHUNK` steps, so a 500,000-change plan never sits in memory and the executor can
seek to any cursor by opening one chunk.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

import orjson

from entra_backup.diff.live import snapshot_records
from entra_backup.diff.reports import iter_entries, load_header
from entra_backup.errors import SnapshotNotFoundError
from entra_backup.kinds import ALL_KINDS, KINDS_BY_NAME, Kind, get_kind
from entra_backup.recover import ops as build
from entra_backup.recover.safety import BreakGlassCheck
from entra_backup.store.snapshots import SnapshotStore, new_snapshot_id
from entra_backup.types import Json

CHUNK = 1000
PLAN = "plan.json"
MEMBERSHIP_REASONS = frozenset({"dynamic_membership", "mail_enabled_group"})
PHASES = ("restore", "create", "update", "softDelete", "none")


def chunk_name(index: int) -> str:
    return f"steps-{index:05d}.ndjson.gz"


@dataclass
class Selection:
    kinds: list[str] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)

    def validated(self) -> Selection:
        for name in self.kinds:
            get_kind(name)
        return self

    def wants(self, entry: Json) -> bool:
        return ((not self.kinds or entry["kind"] in self.kinds)
                and (not self.object_ids or entry["id"] in self.object_ids))


@dataclass
class PlanOptions:
    recreate_hard_deleted: bool = False
    report_only_ca: bool = False
    break_glass: list[str] = field(default_factory=list)

    def as_json(self) -> Json:
        return {"recreateHardDeleted": self.recreate_hard_deleted,
                "reportOnlyCa": self.report_only_ca, "breakGlass": self.break_glass}


def build_plan(store: SnapshotStore, tenant_id: str, report_id: str, selection: Selection,
               options: PlanOptions, *, target: SnapshotStore | None = None,
               now: datetime | None = None, recovery_id: str | None = None) -> Json:
    """Plan a recovery and store it under `recoveries/`; return the plan's header.

    `target` is where the plan goes (default: the store's recoveries area; a dry run passes
    a scratch store). Raises ValueError for a selection the report cannot satisfy and
    RecoveryRefusedError when the result would lock out a break-glass account.
    """
    selection.validated()
    report = load_header(store, tenant_id, report_id)
    if report.get("against", "live") != "live":
        raise ValueError(f"report {report_id} compares two snapshots; recovery needs a "
                         "report against the live tenant")
    snapshot_id = report["snapshotId"]
    hard, wanted_ids, found = _survey(store, tenant_id, report_id, selection)
    unknown = sorted(set(selection.object_ids) - found)
    if unknown:
        raise ValueError(f"object id {unknown[0]} is not in report {report_id}"
                         + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    if (selection.kinds or selection.object_ids) and not found:
        raise ValueError(f"the selection matches no change in report {report_id}")
    created = now or datetime.now(UTC)
    recovery_id = recovery_id or new_snapshot_id(created)
    out = target if target is not None else store.recoveries()
    guard = BreakGlassCheck(options.break_glass, store, tenant_id, snapshot_id)
    counts: dict[str, int] = dict.fromkeys(PHASES, 0)
    with contextlib.ExitStack() as files:
        spills: dict[tuple[int, int], IO[bytes]] = {}

        def spill(phase: str, kind: Kind, step: Json) -> None:
            index = PHASES.index(phase)
            rank = -kind.rank if phase == "softDelete" else kind.rank
            handle = spills.get((index, rank))
            if handle is None:
                handle = spills[(index, rank)] = files.enter_context(tempfile.TemporaryFile())
            handle.write(orjson.dumps(step) + b"\n")
            counts[phase] += 1

        planned: set[str] = set()
        old_keys = set(hard)  # ids, and appIds of re-created apps (CA names apps by appId)
        for kind, entry, record in _joined(store, tenant_id, report_id, snapshot_id,
                                           selection, wanted_ids):
            planned.add(entry["id"])
            for phase, step in _steps(kind, entry, record, options, hard):
                if kind.references and phase != "none":
                    guard.consider(step)
                app_id = (step.get("target") or {}).get("object", {}).get("appId")
                if step["action"] == "create" and app_id:
                    old_keys.add(str(app_id))
                spill(phase, kind, step)
        if options.recreate_hard_deleted and hard:
            for kind, step in _repointed(store, tenant_id, snapshot_id, old_keys, planned,
                                         options):
                guard.consider(step)
                spill("update", kind, step)
        guard.verdict()
        total = sum(counts.values())
        chunks = _write_chunks(out, tenant_id, recovery_id,
                               [spills[key] for key in sorted(spills)])
    header: Json = {
        "recoveryId": recovery_id, "tenantId": tenant_id, "snapshotId": snapshot_id,
        "reportId": report_id, "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "selection": {"kinds": selection.kinds, "objectIds": selection.object_ids},
        "options": options.as_json(), "steps": total, "chunks": chunks, "chunkSize": CHUNK,
        "byPhase": counts,
    }
    out.write(tenant_id, recovery_id, PLAN, orjson.dumps(header, option=orjson.OPT_INDENT_2))
    return header


def load_plan(area: SnapshotStore, tenant_id: str, recovery_id: str) -> Json:
    if not area.exists(tenant_id, recovery_id, PLAN):
        raise SnapshotNotFoundError(f"no recovery plan {recovery_id} for tenant {tenant_id}")
    plan: Json = orjson.loads(area.read_bytes(tenant_id, recovery_id, PLAN))
    return plan


def iter_steps(area: SnapshotStore, plan: Json, start: int = 0,
               stop: int | None = None) -> Iterator[Json]:
    """Steps [start, stop) of a stored plan, opening only the chunks they live in."""
    stop = plan["steps"] if stop is None else min(stop, plan["steps"])
    size = plan["chunkSize"]
    for chunk in range(start // size, (stop + size - 1) // size if stop else 0):
        first = chunk * size
        with area.open(plan["tenantId"], plan["recoveryId"], chunk_name(chunk)) as raw, \
                gzip.GzipFile(fileobj=raw) as lines:
            for offset, line in enumerate(lines):
                if start <= first + offset < stop:
                    yield orjson.loads(line)


def _survey(store: SnapshotStore, tenant_id: str, report_id: str, selection: Selection
            ) -> tuple[dict[str, str], dict[str, set[str]], set[str]]:
    """First pass: hard-deleted ids (all of them: links to them cannot be written), the
    snapshot records each kind needs, and which selected ids the report holds."""
    hard: dict[str, str] = {}
    wanted: dict[str, set[str]] = {}
    found: set[str] = set()
    for entry in iter_entries(store, tenant_id, report_id):
        if entry.get("deletion") == "hard":
            hard[entry["id"]] = entry["kind"]
        if not selection.wants(entry):
            continue
        found.add(entry["id"])
        if entry["change"] != "created":
            wanted.setdefault(entry["kind"], set()).add(entry["id"])
    return hard, wanted, found


def _joined(store: SnapshotStore, tenant_id: str, report_id: str, snapshot_id: str,
            selection: Selection, wanted: dict[str, set[str]]
            ) -> Iterator[tuple[Kind, Json, Json | None]]:
    """Selected entries with their snapshot record (None for created objects)."""
    current: str | None = None
    records: Iterator[Json] = iter(())
    record: Json | None = None
    for entry in iter_entries(store, tenant_id, report_id):
        if not selection.wants(entry):
            continue
        kind = KINDS_BY_NAME[entry["kind"]]
        if kind.name != current:
            current = kind.name
            ids = wanted.get(kind.name)
            records = snapshot_records(store, tenant_id, snapshot_id, kind, ids) if ids \
                else iter(())
            record = next(records, None)
        if entry["change"] == "created":
            yield kind, entry, None
            continue
        while record is not None and record["id"] < entry["id"]:
            record = next(records, None)
        yield kind, entry, record if record is not None and record["id"] == entry["id"] \
            else None


def _steps(kind: Kind, entry: Json, record: Json | None, options: PlanOptions,
           hard: dict[str, str]) -> Iterator[tuple[str, Json]]:
    step: Json = {"kind": kind.name, "id": entry["id"], "displayName": entry["displayName"],
                  "change": entry["change"], "reasons": entry["reasons"], "notes": []}
    skip = frozenset() if options.recreate_hard_deleted else frozenset(hard)
    if _blocked(kind, entry, record, options):
        step.update(action="none", ops=[], notes=[_why_not(entry)])
        yield "none", step
        return
    if entry["change"] == "created":
        action, undo, note = build.created_ops(kind)
        step.update(action=action, ops=undo, notes=[note] if note else [])
        yield ("none" if action == "none" else "softDelete" if action == "softDelete"
               else "update"), step
        return
    if record is None:
        step.update(action="none", ops=[], notes=["the snapshot holds no record of it"])
        yield "none", step
        return
    if entry["change"] == "deleted" and entry.get("deletion") == "soft":
        restore: list[Json] = [{"op": "restore"}, {"op": "reconcile"}]
        state = (record.get("object") or {}).get("state")
        if options.report_only_ca and kind.on_created == "disable" and state == "enabled":
            restore.append({"op": "patch", "body": {"state": build.REPORT_ONLY}})
        step.update(action="restore", ops=restore, target=record,
                    after=_shown(record, kind, options))
        yield "restore", step
        return
    if entry["change"] == "deleted":  # hard, and re-creation was asked for
        step.update(action="create", ops=[{"op": "create"}], target=record,
                    after=_shown(record, kind, options),
                    notes=["re-created with a new id; references are rewritten"])
        yield "create", step
        return
    computed = MEMBERSHIP_REASONS & set(entry["reasons"])
    reverts, notes = build.update_ops(kind, entry, record,
                                      report_only_ca=options.report_only_ca, skip_targets=skip,
                                      skip_links=frozenset({"members"}) if computed else
                                      frozenset())
    if computed:
        notes.append(f"members not written: {', '.join(sorted(computed))}")
    if not reverts:
        notes.append(_why_not(entry))
    step.update(action="update" if reverts else "none", ops=reverts, notes=notes,
                before={c["path"]: c["after"] for c in entry["properties"]},
                after={c["path"]: c["before"] for c in entry["properties"]})
    if kind.write_whole:
        step["target"] = record
    yield ("update" if reverts else "none"), step


def _repointed(store: SnapshotStore, tenant_id: str, snapshot_id: str, hard: set[str],
               planned: set[str], options: PlanOptions) -> Iterator[tuple[Kind, Json]]:
    """Objects the report does not name that still point at re-created objects by their old
    id (a CA policy keeps a deleted user's id in its conditions): rewritten whole."""
    for kind in ALL_KINDS:
        if not kind.references:
            continue
        for record in snapshot_records(store, tenant_id, snapshot_id, kind):
            obj = record.get("object") or {}
            if record["id"] in planned or not mentions(obj, hard):
                continue
            body = build.patch_body(kind, obj, set(), report_only_ca=options.report_only_ca)
            yield kind, {"kind": kind.name, "id": record["id"],
                         "displayName": obj.get("displayName"), "change": "updated",
                         "reasons": [], "action": "update", "target": record,
                         "ops": [{"op": "patch", "body": body}],
                         "notes": ["references to re-created objects rewritten"]}


def mentions(value: object, ids: set[str]) -> bool:
    if isinstance(value, str):
        return value in ids
    if isinstance(value, dict):
        return any(mentions(v, ids) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, ids) for v in value)
    return False


def _blocked(kind: Kind, entry: Json, record: Json | None, options: PlanOptions) -> bool:
    """Whether nothing at all may be written for this entry.

    Credentials-only or membership-only changes are "not recoverable" in the report's sense
    (not everything comes back) but still get their part: added secrets are removed."""
    reasons = set(entry["reasons"])
    if "synced_from_on_premises" in reasons:
        return True
    if "source_of_authority_changed" in reasons and not entry["recoverable"]:
        return True
    if entry.get("deletion") == "hard":
        return not (options.recreate_hard_deleted and not kind.singleton
                    and record is not None)
    return False


def _shown(record: Json, kind: Kind, options: PlanOptions) -> Json:
    obj = dict(record.get("object") or {})
    if options.report_only_ca and kind.on_created == "disable" and obj.get("state") == "enabled":
        obj["state"] = build.REPORT_ONLY
    return obj


def _why_not(entry: Json) -> str:
    reasons = ", ".join(entry["reasons"]) or "no writable change"
    return f"not recoverable: {reasons}"


def _write_chunks(out: SnapshotStore, tenant_id: str, recovery_id: str,
                  spills: list[IO[bytes]]) -> int:
    """Number the steps in phase order and cut them into gzip chunks of CHUNK steps."""
    numbered = _numbered(spills)
    chunk = 0
    while True:
        lines = list(itertools.islice(numbered, CHUNK))
        if not lines:
            return chunk
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as buffer:
            with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=5, mtime=0) as zipped:
                zipped.writelines(lines)
            size = buffer.tell()
            buffer.seek(0)
            out.write(tenant_id, recovery_id, chunk_name(chunk), buffer, length=size)
        chunk += 1


def write_chunks(out: SnapshotStore, tenant_id: str, plan_id: str,
                 spills: list[IO[bytes]]) -> int:
    """Store spilled steps (NDJSON files, in order) as a plan's numbered chunks."""
    return _write_chunks(out, tenant_id, plan_id, spills)


def _numbered(spills: list[IO[bytes]]) -> Iterator[bytes]:
    number = 0
    for spill in spills:
        spill.seek(0)
        for line in spill:
            step = orjson.loads(line)
            step["step"] = number
            number += 1
            yield orjson.dumps(step) + b"\n"

