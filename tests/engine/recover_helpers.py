"""Shared steps of the recovery tests: snapshot, report, plan and waves, in process."""

from __future__ import annotations

from typing import Any

from entra_backup.capture.snapshot import capture
from entra_backup.diff.reports import iter_entries
from entra_backup.diff.run import DiffRequest, run_diff
from entra_backup.recover.apply import apply_wave
from entra_backup.recover.plan import PlanOptions, Selection, build_plan, iter_steps
from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.test_capture import session_for

Json = dict[str, Any]


async def snap(sim: Sim, store: FolderStore) -> tuple[str, str]:
    async with session_for(sim) as session:
        result = await capture(session, store)
    return result.tenant_id, result.snapshot_id


async def report(sim: Sim, store: FolderStore, tenant: str, snapshot: str,
                 **filters: Any) -> tuple[str, list[Json]]:
    async with session_for(sim) as session:
        result = await run_diff(store, DiffRequest(tenant_id=tenant, snapshot_id=snapshot,
                                                   **filters), session=session)
    return result.report_id, list(iter_entries(store, tenant, result.report_id))


async def plan_and_apply(sim: Sim, store: FolderStore, tenant: str, snapshot: str, *,
                         selection: Selection | None = None,
                         options: PlanOptions | None = None,
                         wave_size: int = 50) -> tuple[Json, list[Json]]:
    """Fresh report -> plan -> every wave; returns (plan header, results)."""
    report_id, _ = await report(sim, store, tenant, snapshot)
    plan = build_plan(store, tenant, report_id, selection or Selection(),
                      options or PlanOptions())
    results: list[Json] = []
    cursor, ids = 0, {}
    async with session_for(sim) as session:
        while cursor < plan["steps"]:
            wave = await apply_wave(session, store.recoveries(), plan, cursor, wave_size,
                                    id_map=ids)
            results += wave.results
            cursor, ids = wave.next_cursor, wave.id_map
    return plan, results


def steps(store: FolderStore, plan: Json) -> list[Json]:
    return list(iter_steps(store.recoveries(), plan))
