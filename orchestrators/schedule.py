"""The app's timers: the daily snapshot of every protected tenant, retention, the archive.

Schedules are app settings (`%SNAPSHOT_SCHEDULE%`, `%RETENTION_SCHEDULE%`; NCRONTAB, UTC on
Flex), so an operator changes them without a deployment. `use_monitor` keeps the schedule
status in storage, so a missed occurrence fires once as past-due after a restart.

Snapshot dedup: one `snapshot` orchestration per tenant per scheduled occurrence, with the
instance id `snapshot-<tenant>-<occurrence>`. The occurrence is the timer's
ScheduleStatus.Next, which at invocation time is the occurrence being fired (the scheduler's
view, see https://learn.microsoft.com/en-us/answers/questions/1459140), so a repeated,
past-due or overlapping firing for the same occurrence derives the same id; an instance with
that id that is Pending, Running, ContinuedAsNew, Suspended or Completed means "already
taken" and nothing is started. A Failed or Terminated one is started again (the extension
replaces non-running instances).

Retention is the second line behind the blob lifecycle rule: the engine's apply_retention
never deletes a tenant's newest snapshot; a delete refused by immutability (or anything else
the store refuses) is logged and the other tenants still run.

Archive (`%ARCHIVE_SCHEDULE%`, weekly): the newest verified snapshot of each tenant is copied
into the long-term archive (ENTRA_BACKUP_ARCHIVE) when the archive's newest is a week old; with
no archive configured the timer does nothing. A copy is idempotent, so a repeated firing is
harmless.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any, Final

import azure.durable_functions as df
import azure.functions as func

log = logging.getLogger(__name__)
bp = df.Blueprint()

ORCHESTRATOR: Final = "snapshot"
SKIP: Final = frozenset({df.OrchestrationRuntimeStatus.Pending,
                         df.OrchestrationRuntimeStatus.Running,
                         df.OrchestrationRuntimeStatus.ContinuedAsNew,
                         df.OrchestrationRuntimeStatus.Suspended,
                         df.OrchestrationRuntimeStatus.Completed})
_MAX_INSTANCE_ID: Final = 100  # the Durable Task Scheduler's limit (functions-2.md §1)


def scheduled_occurrence(timer: func.TimerRequest, now: datetime) -> datetime:
    """The occurrence this firing stands for (UTC, whole seconds): ScheduleStatus.Next, or -
    without schedule monitoring - `now` to the minute."""
    status = getattr(timer, "schedule_status", None) or {}
    text = status.get("Next") or status.get("next")
    when = None
    if isinstance(text, str):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            log.warning("snapshot timer: unreadable ScheduleStatus.Next %r", text[:40])
    if when is None:
        when = now.replace(second=0)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # Flex runs in UTC only
    return when.astimezone(UTC).replace(microsecond=0)


def snapshot_instance_id(tenant_id: str, occurrence: datetime) -> str:
    """`snapshot-<tenant>-<YYYYMMDDTHHMMSSZ>`; an over-long tenant id becomes its hash."""
    tenant = tenant_id.strip().lower()
    stamp = occurrence.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    instance_id = f"snapshot-{tenant}-{stamp}"
    if len(instance_id) > _MAX_INSTANCE_ID:
        instance_id = f"snapshot-{hashlib.sha256(tenant.encode()).hexdigest()[:40]}-{stamp}"
    return instance_id


async def start_snapshot(client: df.DurableOrchestrationClient, tenant_id: str,
                         occurrence: datetime) -> str | None:
    """Start the occurrence's snapshot of one tenant unless it exists; its id, or None."""
    instance_id = snapshot_instance_id(tenant_id, occurrence)
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status in SKIP:
        log.info("snapshot %s already %s: not started again", instance_id,
                 status.runtime_status.value)
        return None
    await client.start_new(ORCHESTRATOR, instance_id, {
        "tenantId": tenant_id, "trigger": "timer",
        "scheduledFor": occurrence.strftime("%Y-%m-%dT%H:%M:%SZ")})
    log.info("snapshot %s started", instance_id)
    return instance_id


@bp.timer_trigger(schedule="%SNAPSHOT_SCHEDULE%", arg_name="timer", run_on_startup=False,
                  use_monitor=True)
@bp.durable_client_input(client_name="client")
async def snapshot_timer(timer: func.TimerRequest,
                         client: df.DurableOrchestrationClient) -> None:
    """One snapshot orchestration per tenant in ENTRA_BACKUP_TENANTS for this occurrence."""
    from entra_backup.settings import Settings

    tenants = Settings.from_env().tenants
    occurrence = scheduled_occurrence(timer, datetime.now(UTC))
    if timer.past_due:
        log.info("snapshot timer is past due: taking the %s occurrence now", occurrence)
    if not tenants:
        log.warning("snapshot timer: ENTRA_BACKUP_TENANTS is empty, nothing to capture")
    failed = []
    for tenant in tenants:
        try:
            await start_snapshot(client, tenant, occurrence)
        except Exception as exc:  # one tenant's failure must not cost the others their run
            log.error("snapshot of tenant %s could not be started: %s", tenant,
                      type(exc).__name__)
            failed.append(tenant)
    if failed:
        raise RuntimeError(f"snapshots not started for tenants {', '.join(failed)}")


def retention_pass(store: Any, tenants: list[str], *, days: int,
                   now: datetime) -> dict[str, Any]:
    """apply_retention for each tenant; {"deleted": {tenant: [ids]}, "refused": {tenant: why}}."""
    from entra_backup.errors import StoreError
    from entra_backup.store.snapshots import apply_retention

    deleted: dict[str, list[str]] = {}
    refused: dict[str, str] = {}
    for tenant in tenants:
        try:
            deleted[tenant] = apply_retention(store, tenant, days=days, now=now)
        except StoreError as exc:  # e.g. a blob still under immutability: next run retries
            log.warning("retention for tenant %s stopped: %s", tenant, exc)
            refused[tenant] = str(exc)[:300]
    return {"deleted": deleted, "refused": refused}


@bp.timer_trigger(schedule="%RETENTION_SCHEDULE%", arg_name="timer", run_on_startup=False,
                  use_monitor=True)
def retention_timer(timer: func.TimerRequest) -> None:
    """Remove snapshots older than ENTRA_BACKUP_RETENTION_DAYS (never a tenant's newest)."""
    from entra_backup.connect import connect
    from entra_backup.settings import Settings

    del timer
    conn = connect(Settings.from_env())
    tenants = sorted(set(conn.store.list_tenants()) | set(conn.settings.tenants))
    outcome = retention_pass(conn.store, tenants, days=conn.settings.retention_days,
                             now=datetime.now(UTC))
    log.info("retention: deleted %s snapshots, %s tenants refused",
             sum(len(ids) for ids in outcome["deleted"].values()), len(outcome["refused"]))


def archive_pass(store: Any, archive: Any, tenants: list[str], *,
                 now: datetime) -> dict[str, Any]:
    """Archive each tenant's due snapshot; {"archived": {tenant: id}, "failed": {tenant: why}}."""
    from entra_backup.errors import EntraBackupError
    from entra_backup.store.archive import archive_snapshot, due_snapshot

    archived: dict[str, str] = {}
    failed: dict[str, str] = {}
    for tenant in tenants:
        try:
            snapshot = due_snapshot(store, archive, tenant, now=now)
            if snapshot is not None:
                archive_snapshot(store, archive, tenant, snapshot)
                archived[tenant] = snapshot
        except EntraBackupError as exc:  # one tenant's failure must not cost the others theirs
            log.error("archive of tenant %s failed: %s", tenant, exc)
            failed[tenant] = str(exc)[:300]
    return {"archived": archived, "failed": failed}


@bp.timer_trigger(schedule="%ARCHIVE_SCHEDULE%", arg_name="timer", run_on_startup=False,
                  use_monitor=True)
def archive_timer(timer: func.TimerRequest) -> None:
    """Copy each tenant's newest verified snapshot into the long-term archive, weekly."""
    from entra_backup.connect import connect
    from entra_backup.settings import Settings

    del timer
    conn = connect(Settings.from_env())
    if conn.archive is None:
        log.info("archive: ENTRA_BACKUP_ARCHIVE is not set; nothing to do")
        return
    tenants = sorted(set(conn.store.list_tenants()) | set(conn.settings.tenants))
    outcome = archive_pass(conn.store, conn.archive, tenants, now=datetime.now(UTC))
    log.info("archive: %d snapshots archived, %d tenants failed", len(outcome["archived"]),
             len(outcome["failed"]))
    if outcome["failed"]:
        raise RuntimeError(f"archive failed for tenants {', '.join(outcome['failed'])}")
