"""`entra-backup recover` and `entra-backup history`: the recovery commands (a contract).

    recover SNAPSHOT_ID [--report REPORT_ID] [--kind K]... [--object-id ID]... [--dry-run]
            [--recreate-hard-deleted] [--report-only-ca] [--yes] [--json]
    history [--json]

Without `--yes` and `--dry-run` the plan is shown and confirmed on the terminal; with no
terminal it is refused. Bad input is refused before anything is written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from entra_backup.types import Json

if TYPE_CHECKING:
    from entra_backup.connect import Connection

Globals = Callable[[argparse.ArgumentParser], None]


def add_parsers(commands: Any, with_globals: Globals) -> None:
    recover = commands.add_parser("recover", help="point-in-time recovery from a snapshot")
    with_globals(recover)
    recover.add_argument("snapshot_id")
    recover.add_argument("--report", dest="report_id",
                         help="use this stored difference report (re-checked against live)")
    recover.add_argument("--kind", action="append", default=[], help="only this kind")
    recover.add_argument("--object-id", action="append", default=[], dest="object_ids",
                         help="only this object (repeatable)")
    recover.add_argument("--dry-run", action="store_true",
                         help="show the ordered plan; write nothing")
    recover.add_argument("--recreate-hard-deleted", action="store_true",
                         help="re-create hard-deleted objects (new ids, references rewritten)")
    recover.add_argument("--report-only-ca", action="store_true",
                         help="bring recovered Conditional Access policies back report-only")
    recover.add_argument("--yes", action="store_true", help="apply without asking")
    recover.add_argument("--json", action="store_true")
    recover.add_argument("--wave-size", type=int, default=200, help=argparse.SUPPRESS)
    history = commands.add_parser("history", help="past recoveries and their results")
    with_globals(history)
    history.add_argument("--json", action="store_true")


async def recover(args: argparse.Namespace, *, conn: Connection, tenant: str,
                  usage_error: type[Exception]) -> int:
    from entra_backup.diff.reports import load_header
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan, iter_steps
    from entra_backup.recover.run import (
        as_plan_document,
        check_not_stale,
        fresh_report,
        new_job,
        run_waves,
        summary_of,
        verify_recovery,
    )
    from entra_backup.store.snapshots import FolderStore, validate_snapshot_id
    from entra_backup.store.verify import verify_snapshot

    validate_snapshot_id(args.snapshot_id)
    store = conn.store
    keep_days = conn.settings.history_days
    if args.wave_size < 1:
        raise usage_error("--wave-size must be at least 1")
    selection = Selection(kinds=args.kind, object_ids=args.object_ids).validated()
    options = PlanOptions(recreate_hard_deleted=args.recreate_hard_deleted,
                          report_only_ca=args.report_only_ca,
                          break_glass=list(conn.settings.break_glass))
    if not (args.yes or args.dry_run or sys.stdin.isatty()):
        raise usage_error("refusing to write without confirmation: pass --yes (or --dry-run) "
                          "when there is no terminal")
    checked = verify_snapshot(store, tenant, args.snapshot_id)
    if not checked.ok:
        from entra_backup.errors import SnapshotIntegrityError
        raise SnapshotIntegrityError(f"snapshot {args.snapshot_id} failed verification: "
                                     f"{checked.problems[0]}")
    if args.report_id:
        header = load_header(store, tenant, args.report_id)
        if header["snapshotId"] != args.snapshot_id:
            raise usage_error(f"report {args.report_id} is of snapshot {header['snapshotId']}, "
                              f"not {args.snapshot_id}")
    async with conn.graph(tenant) as session:
        if args.report_id:
            await check_not_stale(store, session, tenant, args.report_id)
            report_id = args.report_id
        else:
            report_id = await fresh_report(store, session, tenant, args.snapshot_id,
                                           args.kind, args.object_ids)
        if args.dry_run:
            with tempfile.TemporaryDirectory(prefix="entra-backup-plan-") as scratch:
                area = FolderStore(scratch)
                plan = build_plan(store, tenant, report_id, selection, options, target=area)
                steps = list(iter_steps(area, plan))
            _show(as_plan_document(plan, steps), args.json, plan_text=True)
            return 0
        plan = build_plan(store, tenant, report_id, selection, options)
        steps_shown = list(iter_steps(store.recoveries(), plan)) if not args.yes else []
        if not args.yes and not _confirm(plan, steps_shown, tenant):
            print("recovery not started", file=sys.stderr)
            return 1
        jobs = conn.jobs
        jobs.create_job(new_job(plan))
        await run_waves(session, store, jobs, tenant, plan["recoveryId"],
                        wave_size=args.wave_size, progress=_progress(args.json))
        job = await verify_recovery(store, session, jobs, tenant, plan["recoveryId"])
    jobs.purge(now=datetime.now(UTC), keep_days=keep_days)  # history ages out, never sooner
    entries = job.pop("verificationEntries")
    results = list(jobs.iter_results(tenant, plan["recoveryId"]))
    document = summary_of(job, results, entries)
    _show(document, args.json, plan_text=False)
    return 0 if job["status"] == "successful" else 1


def history(args: argparse.Namespace, *, conn: Connection, tenant: str) -> int:
    jobs = conn.jobs
    rows = []
    for job in jobs.list_jobs(tenant, job_type="recovery"):
        results = [{k: r.get(k) for k in ("step", "kind", "id", "action", "outcome", "detail")}
                   for r in jobs.iter_results(tenant, job["jobId"])]
        rows.append({**{k: v for k, v in job.items() if k != "idMap"}, "results": results})
    if args.json:
        _print(rows)
    elif not rows:
        print("no recoveries")
    else:
        for row in rows:
            counters = row.get("counters") or {}
            print(f"{row['jobId']}  {row['status']:<11} snapshot {row['snapshotId']}  "
                  f"applied {counters.get('applied', 0)}, skipped {counters.get('skipped', 0)}"
                  f", failed {counters.get('failed', 0)}")
    return 0


def _confirm(plan: Json, steps: list[Json], tenant: str) -> bool:
    for step in steps[:50]:
        print(f"  {step['action']:<10} {step['kind']:<26} {step['id']}  "
              f"{step.get('displayName') or ''}", file=sys.stderr)
    if len(steps) > 50:
        print(f"  ... and {len(steps) - 50} more steps", file=sys.stderr)
    print(f"Apply {plan['steps']} steps to tenant {tenant}? [y/N] ", end="", file=sys.stderr,
          flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _progress(quiet: bool) -> Callable[[Any], None] | None:
    if quiet or not sys.stderr.isatty():
        return None

    def show(wave: Any) -> None:
        print(f"\rwave {wave.wave}: {wave.cursor}/{wave.steps} steps {wave.counters}"[:200],
              end="", file=sys.stderr, flush=True)
    return show


def _show(document: Json, as_json: bool, *, plan_text: bool) -> None:
    if as_json:
        _print(document)
        return
    if plan_text:
        print(f"dry run: {len(document['plan'])} steps from report {document['reportId']}")
        for step in document["plan"]:
            print(f"  {step['step']:>6} {step['action']:<10} {step['kind']:<26} {step['id']}  "
                  f"{step.get('displayName') or ''}")
        return
    print(f"recovery {document['recoveryId']}: {document['status']}")
    counts: dict[str, int] = {}
    for row in document["results"]:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    print(f"  results: {counts}")
    print(f"  verification: {document['verification']['remaining']} differences remain")


def _print(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
