"""A whole recovery, for the CLI and (wave by wave) for the Durable orchestration:
report -> plan -> waves -> verification, every step recorded in the job store.

The stages meet in the store: the plan is stored under `recoveries/`, the job and its
per-object results in the job store, the cursor in the job, so `run_waves` can stop after any
wave (cancelled, crashed, or an activity's time up) and continue from the job alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from entra_backup.diff.reports import iter_entries, load_header
from entra_backup.diff.run import DiffRequest, run_diff
from entra_backup.errors import RecoveryRefusedError
from entra_backup.graph.session import GraphSession
from entra_backup.recover.apply import APPLIED, FAILED, apply_wave
from entra_backup.recover.plan import iter_steps, load_plan
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json

if TYPE_CHECKING:
    from entra_backup.recover.jobs import JobStore

WAVE_SIZE = 200
_IGNORED = ("changedBy",)


@dataclass
class WaveProgress:
    wave: int
    cursor: int
    steps: int
    counters: dict[str, int] = field(default_factory=dict)


class IdMapKeeper(Protocol):
    """Where a long job keeps its old->new id map when it outgrows the job record (a
    rebuild maps every object): loaded once, then each wave's new entries are added."""

    def load(self) -> dict[str, str]: ...

    def add(self, wave: int, entries: dict[str, str]) -> None: ...


async def fresh_report(store: SnapshotStore, session: GraphSession, tenant_id: str,
                       snapshot_id: str, kinds: list[str], object_ids: list[str]) -> str:
    """A new report of the selection against the live tenant (the native service's first
    step of every recovery)."""
    result = await run_diff(store, DiffRequest(tenant_id=tenant_id, snapshot_id=snapshot_id,
                                               kinds=kinds, object_ids=object_ids),
                            session=session)
    return result.report_id


async def check_not_stale(store: SnapshotStore, session: GraphSession, tenant_id: str,
                          report_id: str) -> None:
    """Refuse a stored report whose objects changed since it was made: a plan from it could
    undo a fix someone made in between."""
    header = load_header(store, tenant_id, report_id)
    stored = {(e["kind"], e["id"]): _comparable(e)
              for e in iter_entries(store, tenant_id, report_id)}
    if not stored:
        return
    kinds = sorted({kind for kind, _ in stored})
    ids = sorted({object_id for _, object_id in stored})
    again = await fresh_report(store, session, tenant_id, header["snapshotId"], kinds, ids)
    now = {(e["kind"], e["id"]): _comparable(e) for e in iter_entries(store, tenant_id, again)}
    changed = sorted(key for key in stored.keys() | now.keys()
                     if stored.get(key) != now.get(key))
    if changed:
        kind, object_id = changed[0]
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise RecoveryRefusedError(
            f"report {report_id} is stale: {kind} {object_id} changed since it was made{more}; "
            "run recover without --report for a fresh one")


def _comparable(entry: Json) -> bytes:
    return orjson.dumps({k: v for k, v in entry.items() if k not in _IGNORED},
                        option=orjson.OPT_SORT_KEYS)


def new_job(plan: Json, *, dry_run: bool = False) -> Json:
    now = _now()
    return {"jobId": plan["recoveryId"], "tenantId": plan["tenantId"], "jobType": "recovery",
            "status": "running", "snapshotId": plan["snapshotId"],
            "reportId": plan["reportId"], "createdAt": now, "updatedAt": now,
            "dryRun": dry_run, "selection": plan["selection"], "options": plan["options"],
            "cursor": 0, "wave": 0, "steps": plan["steps"],
            "counters": {"applied": 0, "skipped": 0, "failed": 0},
            "totalObjectsModified": 0, "totalFailedChanges": 0, "idMap": {}, "error": None}


async def run_waves(session: GraphSession, store: SnapshotStore, jobs: JobStore,
                    tenant_id: str, recovery_id: str, *, wave_size: int = WAVE_SIZE,
                    max_waves: int | None = None,
                    cancelled: Callable[[], bool] = lambda: False,
                    progress: Callable[[WaveProgress], None] | None = None,
                    keeper: IdMapKeeper | None = None) -> Json:
    """Apply waves from the job's cursor until the plan ends, `max_waves` ran, or a cancel
    is seen between two waves (status `abandoned`; applied changes stay). Returns the job.
    The id map lives in the job, or with `keeper` when it would not fit there."""
    area = store.recoveries()
    plan = load_plan(area, tenant_id, recovery_id)
    job = jobs.get_job(tenant_id, recovery_id)
    ids: dict[str, str] = keeper.load() if keeper is not None else job["idMap"]
    for _ in itertools.count() if max_waves is None else range(max_waves):
        if job["cursor"] >= plan["steps"]:
            break
        if cancelled():
            return jobs.update_job(tenant_id, recovery_id, {"status": "abandoned"})
        wave = job["wave"] + 1
        result = await apply_wave(session, area, plan, job["cursor"], wave_size, wave=wave,
                                  id_map=ids)
        if keeper is not None:
            keeper.add(wave, {k: v for k, v in result.id_map.items() if ids.get(k) != v})
        ids = result.id_map
        jobs.record_results(tenant_id, recovery_id, result.results)
        counters = dict(job["counters"])
        for row in result.results:
            counters[row["outcome"]] = counters.get(row["outcome"], 0) + 1
        job = jobs.update_job(tenant_id, recovery_id, {
            "cursor": result.next_cursor, "wave": wave, "counters": counters,
            **({} if keeper is not None else {"idMap": result.id_map}),
            "totalObjectsModified": counters.get(APPLIED, 0),
            "totalFailedChanges": counters.get(FAILED, 0)})
        if progress is not None:
            progress(WaveProgress(wave, result.next_cursor, plan["steps"], counters))
    return job


async def verify_recovery(store: SnapshotStore, session: GraphSession, jobs: JobStore,
                          tenant_id: str, recovery_id: str) -> Json:
    """Re-diff the recovered scope; what still differs should be only what was reported as
    not recoverable. Sets the job's final status."""
    area = store.recoveries()
    plan = load_plan(area, tenant_id, recovery_id)
    kinds: set[str] = set()
    ids: set[str] = set()
    for step in iter_steps(area, plan):
        kinds.add(step["kind"])
        ids.add(step["id"])
    entries: list[Json] = []
    report_id = None
    if ids:
        report_id = await fresh_report(store, session, tenant_id, plan["snapshotId"],
                                       sorted(kinds), sorted(ids))
        entries = list(iter_entries(store, tenant_id, report_id))
    job = jobs.get_job(tenant_id, recovery_id)
    verification = {"reportId": report_id, "remaining": len(entries),
                    "recoverableRemaining": sum(1 for e in entries if e["recoverable"])}
    failed = job["counters"].get(FAILED, 0) > 0
    status = "failed" if failed else "successful"
    job = jobs.update_job(tenant_id, recovery_id, {
        "status": status, "verification": verification, "completedAt": _now()})
    job["verificationEntries"] = entries
    return job


def summary_of(job: Json, results: list[Json], entries: list[Json]) -> Json:
    """The CLI's `--json` document (the contract in the issue)."""
    return {"recoveryId": job["jobId"], "status": job["status"],
            "results": [{k: r.get(k) for k in ("kind", "id", "action", "outcome", "detail")}
                        for r in results],
            "verification": {"remaining": len(entries), "entries": entries}}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_plan_document(plan: Json, steps: list[Any]) -> Json:
    """A dry run's `--json` document: the plan, and each step as a `planned` result."""
    return {"recoveryId": None, "status": "planned", "dryRun": True,
            "snapshotId": plan["snapshotId"], "reportId": plan["reportId"],
            "byPhase": plan["byPhase"],
            "results": [{"kind": s["kind"], "id": s["id"], "action": s["action"],
                         "outcome": "planned", "detail": "; ".join(s.get("notes") or [])
                         or None} for s in steps],
            "plan": [{k: v for k, v in s.items() if k != "target"} for s in steps]}
