"""`entra-backup rebuild`: restore a snapshot into another (new, empty) tenant (a contract).

    rebuild SNAPSHOT_ID --target-graph-url URL --target-tenant TENANT
            [--domain-map old.example=new.example]... [--kind K]... [--dry-run] [--yes] [--json]

The source tenant is the store's (`--tenant`); the target is reached through its own Graph
URL and credential. Refused before anything is written: an unknown snapshot, a target that is
the snapshot's own tenant, user names left in a domain the target has not verified. Without
`--yes` or `--dry-run` the plan is confirmed on the terminal; with no terminal it is refused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from entra_backup.types import Json

if TYPE_CHECKING:
    from entra_backup.connect import Connection


def add_parser(commands: Any, with_globals: Any) -> None:
    rebuild = commands.add_parser("rebuild", help="restore a snapshot into another tenant, "
                                  "every id mapped")
    with_globals(rebuild)
    rebuild.add_argument("snapshot_id")
    rebuild.add_argument("--target-graph-url", required=True,
                         help="Graph root URL of the target tenant")
    rebuild.add_argument("--target-tenant", required=True, help="the target tenant's id")
    rebuild.add_argument("--domain-map", action="append", default=[], dest="domain_map",
                         metavar="OLD=NEW", help="rewrite user names and addresses in OLD to "
                         "NEW (repeatable)")
    rebuild.add_argument("--kind", action="append", default=[], help="only this kind")
    rebuild.add_argument("--dry-run", action="store_true", help="show the plan; write nothing")
    rebuild.add_argument("--yes", action="store_true", help="apply without asking")
    rebuild.add_argument("--json", action="store_true")
    rebuild.add_argument("--wave-size", type=int, default=200, help=argparse.SUPPRESS)


async def rebuild(args: argparse.Namespace, *, conn: Connection, target: Connection,
                  tenant: str, usage_error: type[Exception]) -> int:
    from entra_backup.errors import SnapshotIntegrityError, SnapshotNotFoundError
    from entra_backup.recover.plan import iter_steps
    from entra_backup.recover.rebuild.plan import RebuildRequest
    from entra_backup.recover.rebuild.rewrite import DomainMap, Move
    from entra_backup.recover.rebuild.run import apply_rebuild, plan_rebuild, verify_rebuild
    from entra_backup.store.snapshots import FolderStore, validate_snapshot_id
    from entra_backup.store.verify import verify_snapshot

    validate_snapshot_id(args.snapshot_id)
    store = conn.store
    if args.wave_size < 1:
        raise usage_error("--wave-size must be at least 1")
    request = RebuildRequest(tenant, args.snapshot_id,
                             Move(tenant, args.target_tenant, DomainMap.parse(args.domain_map)),
                             list(args.kind)).validated()
    if not (args.yes or args.dry_run or sys.stdin.isatty()):
        raise usage_error("refusing to write without confirmation: pass --yes (or --dry-run) "
                          "when there is no terminal")
    if args.snapshot_id not in store.list_snapshots(tenant):
        raise SnapshotNotFoundError(f"no snapshot {args.snapshot_id} of tenant {tenant} in "
                                    f"{store.location}")
    checked = verify_snapshot(store, tenant, args.snapshot_id)
    if not checked.ok:
        raise SnapshotIntegrityError(f"snapshot {args.snapshot_id} failed verification: "
                                     f"{checked.problems[0]}")
    async with target.graph(args.target_tenant) as session:
        if args.dry_run:
            with tempfile.TemporaryDirectory(prefix="entra-backup-rebuild-") as scratch:
                area = FolderStore(scratch)
                plan = await plan_rebuild(store, session, request,
                                          target_tenant=args.target_tenant, out=area)
                steps = list(iter_steps(area, plan))
            _show_plan(plan, steps, args.json)
            return 0
        plan = await plan_rebuild(store, session, request, target_tenant=args.target_tenant)
        if not args.yes and not _confirm(plan):
            print("rebuild not started", file=sys.stderr)
            return 1
        jobs = conn.jobs
        await apply_rebuild(session, store, jobs, plan, wave_size=args.wave_size)
        job, diff = await verify_rebuild(session, store, jobs, plan)
    steps = list(iter_steps(store.recoveries(), plan))
    document = summary(plan, job, steps, diff.unexplained)
    if args.json:
        _print(document)
    else:
        print(f"rebuild {plan['recoveryId']} into tenant {plan['tenantId']}: {job['status']}")
        print(f"  results: {job['counters']}")
        print(f"  exceptions (reported, not carried or not faithful): {plan['exceptions']}")
        print(f"  verification: {len(diff.entries)} differences, "
              f"{len(diff.unexplained)} not explained by an exception")
    return 0 if job["status"] == "successful" else 1


def summary(plan: Json, job: Json, steps: list[Json], unexplained: list[Json]) -> Json:
    """The `--json` document: status, counters, every exception by object, verification."""
    return {
        "rebuildId": plan["recoveryId"], "status": job["status"],
        "sourceTenantId": plan["sourceTenantId"], "targetTenantId": plan["tenantId"],
        "snapshotId": plan["snapshotId"], "counters": job["counters"],
        "exceptionsByReason": plan["exceptions"],
        "exceptions": [{"kind": s["kind"], "id": s["id"], "displayName": s.get("displayName"),
                        "reason": e["reason"], "detail": e["detail"]}
                       for s in steps for e in s.get("exceptions") or []],
        "verification": {**(job.get("verification") or {}), "unexplainedEntries": unexplained},
    }


def _show_plan(plan: Json, steps: list[Json], as_json: bool) -> None:
    if as_json:
        _print({"rebuildId": None, "status": "planned", "dryRun": True,
                "targetTenantId": plan["tenantId"], "byPhase": plan["byPhase"],
                "exceptionsByReason": plan["exceptions"],
                "plan": [{k: v for k, v in s.items() if k != "target"} for s in steps]})
        return
    print(f"dry run: {len(steps)} steps into tenant {plan['tenantId']} ({plan['byPhase']})")
    for step in steps:
        print(f"  {step['step']:>6} {step['action']:<8} {step['kind']:<28} {step['id']}  "
              f"{step.get('displayName') or ''}")


def _confirm(plan: Json) -> bool:
    print(f"Rebuild {plan['steps']} steps ({plan['byPhase']}) into tenant {plan['tenantId']}?"
          " [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _print(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
