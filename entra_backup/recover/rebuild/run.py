"""A whole rebuild: check the target, plan, find what an earlier run already made, run the
waves through the recovery engine (`recover.run.run_waves`), keep the id map as it grows.

Resumable without trusting any one record: the map is stored after every wave (a file per
wave in the plan's folder, since a 100,000-object map does not fit a job record), and every
run first reads the new tenant for objects carrying an old id - by the unique user name,
appId, named-location name or the marker (`rewrite.py`) - so a crash between a create and
the map's next write still creates nothing twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from entra_backup.capture.snapshot import tenant_id_of
from entra_backup.errors import EntraBackupError
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import KINDS_BY_NAME
from entra_backup.recover.plan import iter_steps, load_plan
from entra_backup.recover.rebuild.carry import Target
from entra_backup.recover.rebuild.plan import RebuildRequest, build_rebuild_plan
from entra_backup.recover.rebuild.rewrite import UNIQUE_KEYS, marker_of, marker_property
from entra_backup.recover.run import run_waves
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json

if TYPE_CHECKING:
    from entra_backup.recover.jobs import JobStore
    from entra_backup.recover.rebuild.verify import MappedDiff

WAVE_SIZE = 200
_IDS_PREFIX = "ids-"
# kinds whose rebuilt objects are found again, in the order their keys depend on each other
# (a service principal's key is its app's new appId)
DISCOVERED = ("namedLocations", "applications", "servicePrincipals", "users", "groups",
              "conditionalAccessPolicies")


class RebuildRefusedError(EntraBackupError):
    """The target cannot take this rebuild (it is the source tenant)."""


async def read_target(session: GraphSession, source_tenant: str,
                      expected: str | None = None) -> Target:
    """The target's tenant id, verified domains and service principals (by appId)."""
    tenant = await tenant_id_of(session)
    if expected and expected.lower() != tenant.lower():
        raise RebuildRefusedError(f"the target Graph credential reaches tenant {tenant}, "
                                  f"not {expected}")
    if tenant.lower() == source_tenant.lower():
        raise RebuildRefusedError(f"the target tenant {tenant} is the snapshot's own tenant: "
                                  "rebuild goes into another tenant (use recover instead)")
    org = await session.get_json("organization", params={"$select": "id,verifiedDomains"})
    domains = {str(d.get("name")).lower() for o in org.get("value") or []
               for d in o.get("verifiedDomains") or [] if isinstance(d, dict)}
    sps = {str(sp["appId"]): str(sp["id"]) async for sp in session.list_objects(
        "servicePrincipals", select=("id", "appId"), top=999) if sp.get("appId")}
    return Target(tenant, domains, sps)


class StoredIdMap:
    """The id map as files beside the plan (`ids-{wave}-{token}.json`), one per wave that
    mapped something; write-once stores never overwrite, so a repeated wave adds a file."""

    def __init__(self, area: SnapshotStore, tenant_id: str, rebuild_id: str) -> None:
        self.area, self.tenant_id, self.rebuild_id = area, tenant_id, rebuild_id

    def load(self) -> dict[str, str]:
        ids: dict[str, str] = {}
        for name in sorted(self.area.list_files(self.tenant_id, self.rebuild_id)):
            if name.startswith(_IDS_PREFIX):
                ids.update(orjson.loads(self.area.read_bytes(self.tenant_id, self.rebuild_id,
                                                             name)))
        return ids

    def add(self, wave: int, entries: dict[str, str]) -> None:
        if entries:
            name = f"{_IDS_PREFIX}{wave:06d}-{secrets.token_hex(4)}.json"
            self.area.write(self.tenant_id, self.rebuild_id, name, orjson.dumps(entries))


async def discover(session: GraphSession, area: SnapshotStore, plan: Json) -> dict[str, str]:
    """Old id -> new id for everything the plan maps or an earlier run already created."""
    ids: dict[str, str] = {plan["sourceTenantId"]: plan["tenantId"]}
    wanted: dict[str, dict[str, str]] = {name: {} for name in DISCOVERED}
    app_ids: dict[str, str] = {}  # old appId -> old application id
    for step in iter_steps(area, plan):
        if step.get("mapsTo"):
            ids[step["id"]] = step["mapsTo"]
        if step["action"] != "create":
            continue
        obj = step["target"]["object"]
        kind = KINDS_BY_NAME[step["kind"]]
        key = obj.get(UNIQUE_KEYS.get(kind.name, "")) if kind.name in UNIQUE_KEYS \
            else step["id"]
        if isinstance(key, str):
            wanted[kind.name][key.lower()] = step["id"]
        if kind.name == "applications" and obj.get("appId"):
            app_ids[obj["appId"]] = step["id"]
    for name in DISCOVERED:
        if not wanted[name]:
            continue
        kind = KINDS_BY_NAME[name]
        prop = UNIQUE_KEYS.get(name) or marker_property(kind) or "id"
        fields = ("id", prop, "appId") if name == "applications" else ("id", prop)
        keys = wanted[name]
        if name == "servicePrincipals":  # by the new appId of the rebuilt app
            keys = {ids[app].lower(): old for app, old in keys.items() if app in ids}
        async for item in session.list_objects(kind.path, api_version=kind.api_version,
                                               select=fields):
            key = item.get(prop) if name in UNIQUE_KEYS else marker_of(kind, item)
            old = keys.get(key.lower()) if isinstance(key, str) else None
            if old is not None:
                ids[old] = str(item["id"])
                if name == "applications" and item.get("appId"):
                    old_app = next((a for a, o in app_ids.items() if o == old), None)
                    if old_app:
                        ids[old_app] = str(item["appId"])
    return ids


@dataclass
class RebuildOutcome:
    plan: Json
    job: Json


async def plan_rebuild(store: SnapshotStore, session: GraphSession, request: RebuildRequest,
                       *, target_tenant: str | None = None,
                       out: SnapshotStore | None = None) -> Json:
    """Check the target and store the plan (in `out`, default the recoveries area)."""
    request.validated()
    target = await read_target(session, request.source_tenant, target_tenant)
    if target.tenant_id != request.move.target_tenant:
        request.move = type(request.move)(request.move.source_tenant, target.tenant_id,
                                          request.move.domains)
    return build_rebuild_plan(store, request, target,
                              out=out if out is not None else store.recoveries())


def new_rebuild_job(plan: Json) -> Json:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"jobId": plan["recoveryId"], "tenantId": plan["tenantId"], "jobType": "recovery",
            "mode": "rebuild", "status": "running", "snapshotId": plan["snapshotId"],
            "sourceTenantId": plan["sourceTenantId"], "reportId": None, "createdAt": now,
            "updatedAt": now, "dryRun": False, "selection": plan["selection"],
            "options": plan["options"], "cursor": 0, "wave": 0, "steps": plan["steps"],
            "counters": {"applied": 0, "skipped": 0, "failed": 0}, "totalObjectsModified": 0,
            "totalFailedChanges": 0, "error": None}


async def apply_rebuild(session: GraphSession, store: SnapshotStore, jobs: JobStore,
                        plan: Json, *, wave_size: int = WAVE_SIZE) -> Json:
    """Discover, then run every wave of a stored plan; returns the job."""
    area = store.recoveries()
    plan = load_plan(area, plan["tenantId"], plan["recoveryId"])
    keeper = StoredIdMap(area, plan["tenantId"], plan["recoveryId"])
    found = await discover(session, area, plan)
    known = keeper.load()
    keeper.add(0, {k: v for k, v in found.items() if known.get(k) != v})
    try:
        jobs.get_job(plan["tenantId"], plan["recoveryId"])
    except EntraBackupError:
        jobs.create_job(new_rebuild_job(plan))
    return await run_waves(session, store, jobs, plan["tenantId"], plan["recoveryId"],
                           wave_size=wave_size, keeper=keeper)


async def verify_rebuild(session: GraphSession, store: SnapshotStore, jobs: JobStore,
                         plan: Json) -> tuple[Json, MappedDiff]:
    """Snapshot the new tenant, diff the source snapshot against it through the id map, and
    set the job's final status: failed if a step failed or a difference is unexplained."""
    from entra_backup.capture.snapshot import capture
    from entra_backup.recover.rebuild.verify import mapped_diff

    kinds = sorted({s["kind"] for s in iter_steps(store.recoveries(), plan)},
                   key=list(KINDS_BY_NAME).index)
    snap = await capture(session, store, tenant_id=plan["tenantId"],
                         kinds=[KINDS_BY_NAME[k] for k in kinds])
    ids = StoredIdMap(store.recoveries(), plan["tenantId"], plan["recoveryId"]).load()
    diff = mapped_diff(store, plan, snap.snapshot_id, ids)
    job = jobs.get_job(plan["tenantId"], plan["recoveryId"])
    failed = job["counters"].get("failed", 0) > 0 or bool(diff.unexplained)
    job = jobs.update_job(plan["tenantId"], plan["recoveryId"], {
        "status": "failed" if failed else "successful",
        "completedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verification": {"targetSnapshotId": snap.snapshot_id, "idMapEntries": len(ids),
                         "differences": len(diff.entries),
                         "unexplained": len(diff.unexplained)}})
    return job, diff
