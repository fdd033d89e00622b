"""The rebuild plan: a snapshot turned into ordered create and link steps for the recovery
engine's executor (`recover/apply.py`), stored in chunks like a recovery plan.

Order (dependencies first): named locations; the authorization, authentication-methods and
organization settings; applications; service principals (Microsoft's first-party apps exist
in every tenant and are mapped by appId, never created); users; groups; then the links -
memberships, owners, managers, app role assignments, delegated grants, and the method
targets that name groups; Conditional Access policies last, report-only. Objects that cannot
be carried become `none` steps, so the history names every one of them.

Two passes over the snapshot: the first decides what is carried (links and references to
anything else are dropped and reported) and refuses a domain map that leaves user names in
a domain the new tenant has not verified - before anything is written.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from entra_backup.diff.live import snapshot_records
from entra_backup.kinds import ALL_KINDS, KINDS_BY_NAME, Kind, get_kind
from entra_backup.recover import ops as build
from entra_backup.recover.plan import CHUNK, PLAN, mentions, write_chunks
from entra_backup.recover.rebuild import carry
from entra_backup.recover.rebuild.carry import Target
from entra_backup.recover.rebuild.rewrite import Move, marked
from entra_backup.store.snapshots import SnapshotStore, new_snapshot_id
from entra_backup.types import Json

PHASES = ("locations", "settings", "applications", "servicePrincipals", "users", "groups",
          "links", "policies", "notCarried")
CREATED_IN = {"namedLocations": "locations", "applications": "applications",
              "servicePrincipals": "servicePrincipals", "users": "users", "groups": "groups",
              "conditionalAccessPolicies": "policies"}
SETTINGS = ("authorizationPolicy", "authenticationMethodsPolicy", "organization")
REBUILD_KINDS = tuple(k.name for k in ALL_KINDS if k.name not in carry.NOT_REBUILT)


@dataclass
class RebuildRequest:
    source_tenant: str
    snapshot_id: str
    move: Move
    kinds: list[str] = field(default_factory=list)

    def wants(self, kind: Kind) -> bool:
        return not self.kinds or kind.name in self.kinds

    def validated(self) -> RebuildRequest:
        for name in self.kinds:
            if get_kind(name).name not in REBUILD_KINDS:
                raise ValueError(f"{name} is not rebuilt (rebuilt kinds: "
                                 f"{', '.join(REBUILD_KINDS)})")
        return self


@dataclass
class _Survey:
    carried: set[str] = field(default_factory=set)
    verdicts: dict[str, carry.Verdict] = field(default_factory=dict)
    app_ids: set[str] = field(default_factory=set)
    unified: set[str] = field(default_factory=set)  # Microsoft 365 groups: never members


def build_rebuild_plan(store: SnapshotStore, request: RebuildRequest, target: Target, *,
                       out: SnapshotStore, now: datetime | None = None,
                       rebuild_id: str | None = None) -> Json:
    """Plan a rebuild into `target` and store it in `out`; return the plan's header.
    ValueError (before anything is written) for user names in an unmapped domain."""
    created = now or datetime.now(UTC)
    rebuild_id = rebuild_id or new_snapshot_id(created)
    survey = _survey(store, request, target)
    counts = dict.fromkeys(PHASES, 0)
    reasons: dict[str, int] = {}
    with contextlib.ExitStack() as files:
        spills = {phase: files.enter_context(tempfile.TemporaryFile()) for phase in PHASES}
        for phase, step in _steps(store, request, target, survey):
            spills[phase].write(orjson.dumps(step) + b"\n")
            counts[phase] += 1
            for found in step.get("exceptions") or []:
                reasons[found["reason"]] = reasons.get(found["reason"], 0) + 1
        total = sum(counts.values())
        chunks = write_chunks(out, target.tenant_id, rebuild_id,
                              [spills[phase] for phase in PHASES])
    header: Json = {
        "recoveryId": rebuild_id, "mode": "rebuild", "tenantId": target.tenant_id,
        "sourceTenantId": request.source_tenant, "snapshotId": request.snapshot_id,
        "reportId": None, "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "selection": {"kinds": request.kinds, "objectIds": []},
        "options": {"domainMap": request.move.domains.pairs},
        "steps": total, "chunks": chunks, "chunkSize": CHUNK, "byPhase": counts,
        "exceptions": dict(sorted(reasons.items())),
    }
    out.write(target.tenant_id, rebuild_id, PLAN, orjson.dumps(header, option=orjson.OPT_INDENT_2))
    return header


def _records(store: SnapshotStore, request: RebuildRequest, kind: Kind) -> Iterator[Json]:
    if store.exists(request.source_tenant, request.snapshot_id, f"{kind.name}.ndjson.gz"):
        yield from snapshot_records(store, request.source_tenant, request.snapshot_id, kind)


def _survey(store: SnapshotStore, request: RebuildRequest, target: Target) -> _Survey:
    survey = _Survey()
    for record in _records(store, request, KINDS_BY_NAME["applications"]):
        survey.app_ids.add(str(record["object"].get("appId")))
    unmapped: set[str] = set()
    for kind in ALL_KINDS:
        if kind.singleton or kind.name == "organization":
            continue
        for record in _records(store, request, kind):
            found = carry.verdict(kind, record["object"], request.move, target, survey.app_ids,
                                  unmapped)
            if found.carried:
                survey.carried.add(record["id"])
            if "Unified" in (record["object"].get("groupTypes") or []):
                survey.unified.add(record["id"])
            if found.exceptions or found.maps_to or not found.carried:
                survey.verdicts[record["id"]] = found
    if unmapped:
        names = ", ".join(sorted(unmapped))
        raise ValueError(f"user names in {names} are neither mapped by --domain-map nor "
                         f"verified in the target tenant {target.tenant_id}: nothing written")
    return survey


def _steps(store: SnapshotStore, request: RebuildRequest, target: Target,
           survey: _Survey) -> Iterator[tuple[str, Json]]:
    first_party = set(target.sp_by_app_id)
    for kind in ALL_KINDS:
        if not request.wants(kind):
            continue
        for record in _records(store, request, kind):
            if kind.name in SETTINGS:
                yield from _settings(kind, record, request.move, survey)
                continue
            found = survey.verdicts.get(record["id"]) or carry.Verdict(True)
            step = _step(kind, record, "none", found.exceptions)
            if not found.carried:
                yield "notCarried", step
                continue
            if found.maps_to is not None:
                step.update(mapsTo=found.maps_to, notes=["already in the new tenant "
                                                         f"(mapped by appId to {found.maps_to})"])
                yield CREATED_IN[kind.name], step
            else:
                yield CREATED_IN[kind.name], _create(kind, record, step, request.move, survey,
                                                     first_party)
            links = _links(kind, record, survey)
            if links is not None:
                yield "links", links


def _step(kind: Kind, record: Json, action: str, exceptions: list[Json]) -> Json:
    obj = record.get("object") or {}
    name = obj.get("displayName") or obj.get("userPrincipalName")
    return {"kind": kind.name, "id": record["id"], "displayName": name, "change": "deleted",
            "reasons": [], "action": action, "ops": [], "exceptions": list(exceptions),
            "notes": [e["detail"] for e in exceptions]}


def _create(kind: Kind, record: Json, step: Json, move: Move, survey: _Survey,
            first_party: set[str]) -> Json:
    obj = move.moved(kind, record["object"])
    ops: list[Json] = [{"op": "create"}]
    if kind.name == "users":
        obj["accountEnabled"] = False
    if kind.name == "conditionalAccessPolicies":
        obj, found = carry.ca_policy(obj, survey.carried, survey.app_ids, first_party)
        step["exceptions"] += found
        step["notes"] += [e["detail"] for e in found]
    later = {name: obj.pop(name) for name in carry.EMBEDDED.get(kind.name, ()) if obj.get(name)}
    if later:
        ops.append({"op": "patch", "body": later, "embedded": True})
    step.update(action="create", ops=ops,
                target={"id": record["id"], "object": marked(kind, obj, record["id"]),
                        "links": {}})
    return step


def _links(kind: Kind, record: Json, survey: _Survey) -> Json | None:
    """The step writing an object's links to other carried objects, or None."""
    ops: list[Json] = []
    dropped = 0
    found: list[Json] = []
    obj = record.get("object") or {}
    dynamic = "DynamicMembership" in (obj.get("groupTypes") or [])
    for link in kind.links:
        values = (record.get("links") or {}).get(link.name) or []
        if link.name == "members" and dynamic:
            continue
        if link.name == "members" and set(values) & survey.unified:
            nested = set(values) & survey.unified
            values = [v for v in values if v not in nested]
            found.append(carry.exception(
                "unified_group_member", f"{len(nested)} Microsoft 365 group(s) among the "
                "members: Graph refuses a Microsoft 365 group as a member", "members"))
        keep = [v for v in values if _linkable(v, survey.carried)]
        dropped += len(values) - len(keep)
        if link.fields:
            ops += [{"op": "addObjectLink", "link": link.name, "value": v} for v in keep]
        elif link.single and keep:
            ops.append({"op": "setRef", "link": link.name, "target": keep[0]})
        else:
            for start in range(0, len(keep), link.per_request):
                ops.append({"op": "addRefs", "link": link.name,
                            "targets": keep[start:start + link.per_request]})
    if kind.name == "applications":
        refs = {k: obj[k] for k in ("requiredResourceAccess", "api") if obj.get(k)}
        if mentions(refs, survey.app_ids - {str(obj.get("appId"))}):
            ops.append({"op": "patch", "body": refs})  # other rebuilt apps' new appIds
    if not ops and not dropped and not found:
        return None
    if dropped:
        found.append(carry.exception("dropped_links", f"{dropped} link(s) to objects not "
                                     "carried were not written"))
    step = _step(kind, record, "update", found)
    step["ops"] = ops
    return step


def _linkable(value: Any, carried: set[str]) -> bool:
    if isinstance(value, str):
        return value in carried
    if not isinstance(value, dict):
        return False
    names = ("principalId", "clientId", "resourceId")
    return all(value.get(n) in carried for n in names if isinstance(value.get(n), str))



def _settings(kind: Kind, record: Json, move: Move,
              survey: _Survey) -> Iterator[tuple[str, Json]]:
    """Tenant-wide settings, PATCHed early; method configurations that target groups wait
    for the groups (in the links phase)."""
    obj = move.moved(kind, record["object"])
    body = build.patch_body(kind, obj, set(obj), report_only_ca=False)
    early: list[Json] = []
    late: list[Json] = []
    found: list[Json] = []
    if body:
        early.append({"op": "patch", "body": body})
    for prop, path in kind.item_collections:
        for config in obj.get(prop) or []:
            if not isinstance(config, dict) or "id" not in config:
                continue
            config, names_groups, dropped = carry.method_targets(config, survey.carried)
            op = {"op": "patchItem", "path": f"{path}/{config['id']}",
                  "body": {k: v for k, v in config.items() if k != "id"}}
            (late if names_groups else early).append(op)
            if dropped:
                found.append(carry.exception(
                    "dropped_targets", f"{config['id']}: {dropped} target group(s) not carried",
                    prop))
    step = _step(kind, record, "update", found)
    step["ops"] = early
    yield "settings", step
    if late:
        links = _step(kind, record, "update", [])
        links["ops"] = late
        yield "links", links
