"""`entra-backup`: the command line over the engine (a contract other work relies on).

    entra-backup [--graph-url URL] [--store ADDR] [--tenant ID] snapshot [--json] [--kind K]...
    entra-backup ... backups list [--json]
    entra-backup ... verify SNAPSHOT_ID [--json]
    entra-backup ... diff SNAPSHOT_ID [...]
    entra-backup ... recover SNAPSHOT_ID [...]     (cli_recover.py)
    entra-backup ... history [--json]
    entra-backup ... rebuild SNAPSHOT_ID --target-graph-url URL --target-tenant ID [...]
                                                    (cli_rebuild.py)

Global options may come before or after the command. Errors are one line on stderr and a
non-zero exit, never a traceback: 2 for usage and bad input, 1 when the work failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NoReturn

import orjson

from entra_backup.cli import rebuild as cli_rebuild
from entra_backup.cli import recover as cli_recover
from entra_backup.connect import Connection, connect
from entra_backup.errors import EntraBackupError, GraphRequestError, SnapshotNotFoundError
from entra_backup.kinds import ALL_KINDS, get_kind
from entra_backup.settings import Settings, graph_base_url
from entra_backup.types import Json

EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"entra-backup: error: {message}\n")


def _globals(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--graph-url", default=default(None),
                        help="Graph root URL (env ENTRA_BACKUP_GRAPH_URL; default public Graph)")
    parser.add_argument("--store", default=default(None),
                        help="folder path, blob container URL or storage connection string "
                             "(env ENTRA_BACKUP_STORE)")
    parser.add_argument("--tenant", default=default(None),
                        help="tenant id (default: the tenant of the credential in use)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="entra-backup", description="Backup and point-in-time recovery for "
                     "Microsoft Entra ID tenant configuration.")
    _globals(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    snap = commands.add_parser("snapshot", help="capture the tenant into a new snapshot")
    _globals(snap, defaults=False)
    snap.add_argument("--json", action="store_true", help="print the result as JSON")
    snap.add_argument("--kind", action="append", default=None,
                      help="capture only this kind (repeatable)")
    backups = commands.add_parser("backups", help="work with stored snapshots")
    _globals(backups, defaults=False)
    backup_commands = backups.add_subparsers(dest="backups_command", required=True,
                                             parser_class=_Parser)
    listing = backup_commands.add_parser("list", help="list snapshots, newest first")
    _globals(listing, defaults=False)
    listing.add_argument("--json", action="store_true")
    diff = commands.add_parser("diff", help="difference report: a snapshot against the live "
                               "tenant or another snapshot")
    _globals(diff, defaults=False)
    diff.add_argument("snapshot_id")
    diff.add_argument("--against", default="live", help="'live' (default) or a snapshot id")
    diff.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    diff.add_argument("--object-id", action="append", default=[], dest="object_ids",
                      help="only this object (repeatable)")
    diff.add_argument("--change", action="append", default=[], dest="changes",
                      choices=("created", "updated", "deleted"),
                      help="only this change type (repeatable)")
    diff.add_argument("--format", default="json", choices=("json", "ndjson", "csv", "html"))
    diff.add_argument("--out", help="write the export to this file (default: standard output)")
    diff.add_argument("--no-delta", action="store_true",
                      help="read the live tenant in full even where a delta link is valid")
    verify = commands.add_parser("verify", help="check a snapshot's files and hash chain")
    _globals(verify, defaults=False)
    verify.add_argument("snapshot_id")
    verify.add_argument("--json", action="store_true")
    cli_recover.add_parsers(commands, lambda sub: _globals(sub, defaults=False))
    cli_rebuild.add_parser(commands, lambda sub: _globals(sub, defaults=False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.conn = _connection(args)
        if args.command == "snapshot":
            return asyncio.run(_snapshot(args))
        if args.command == "backups":
            return _backups_list(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "diff":
            return asyncio.run(_diff(args))
        if args.command == "recover":
            return asyncio.run(cli_recover.recover(
                args, conn=args.conn, tenant=_resolve_tenant(args, args.conn.store),
                usage_error=UsageError))
        if args.command == "rebuild":
            target = connect(replace(args.conn.settings, graph_url=graph_base_url(
                args.target_graph_url, "--target-graph-url")))
            return asyncio.run(cli_rebuild.rebuild(
                args, conn=args.conn, target=target,
                tenant=_resolve_tenant(args, args.conn.store), usage_error=UsageError))
        if args.command == "history":
            return cli_recover.history(args, conn=args.conn,
                                       tenant=_resolve_tenant(args, args.conn.store))
    except UsageError as exc:
        _fail(str(exc))
        return EXIT_USAGE
    except ValueError as exc:
        _fail(str(exc))
        return EXIT_USAGE
    except GraphRequestError as exc:
        _fail(f"cannot reach Microsoft Graph: {exc}")
        return EXIT_FAILED
    except EntraBackupError as exc:
        _fail(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    return EXIT_USAGE


def _fail(message: str) -> None:
    print(f"entra-backup: error: {message.splitlines()[0] if message else 'failed'}",
          file=sys.stderr)


def _connection(args: argparse.Namespace) -> Connection:
    """The app settings, with this command line's flags in place of their variables."""
    settings = Settings.from_env()
    if args.store:
        settings = replace(settings, store=args.store)
    if args.graph_url:
        settings = replace(settings, graph_url=graph_base_url(args.graph_url))
    if args.tenant:
        settings = replace(settings, tenants=(args.tenant,))
    return connect(settings)


def _tenants(args: argparse.Namespace) -> list[str | None]:
    return list(args.conn.settings.tenants) or [None]


async def _snapshot(args: argparse.Namespace) -> int:
    from entra_backup.capture.snapshot import capture

    kinds = [get_kind(name) for name in args.kind] if args.kind else list(ALL_KINDS)
    conn: Connection = args.conn
    store = conn.store
    results: list[Json] = []
    reporter = _Progress(enabled=sys.stderr.isatty() and not args.json)
    for tenant in _tenants(args):
        with reporter:
            async with conn.graph(tenant) as session:
                result = await capture(session, store, tenant_id=tenant, kinds=kinds,
                                       progress=reporter.update,
                                       retention_days=conn.settings.retention_days)
        results.append({"snapshotId": result.snapshot_id, "tenantId": result.tenant_id,
                        "counts": result.counts})
    if args.json:
        _print_json(results[0] if len(results) == 1 else results)
    else:
        for item in results:
            total = sum(item["counts"].values())
            print(f"snapshot {item['snapshotId']} of tenant {item['tenantId']}: "
                  f"{total} objects in {len(item['counts'])} kinds")
            for name, count in item["counts"].items():
                print(f"  {name:<36} {count:>10}")
    return 0


class _Progress:
    """Objects per kind and rate, on one rewritten terminal line."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.counts: dict[str, int] = {}
        self.started = time.monotonic()

    def __enter__(self) -> _Progress:
        self.counts, self.started = {}, time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        """End the progress line, also when the run failed, so an error starts its own."""
        self.done()

    def update(self, kind: str, count: int) -> None:
        if not self.enabled:
            return
        self.counts[kind] = count
        total = sum(self.counts.values())
        rate = total / max(time.monotonic() - self.started, 1e-6)
        parts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        print(f"\r{total} objects ({rate:,.0f}/s) {parts}"[:200], end="", file=sys.stderr,
              flush=True)

    def done(self) -> None:
        if self.enabled and self.counts:
            print(file=sys.stderr)
        self.counts = {}


def _resolve_tenant(args: argparse.Namespace, store: Any) -> str:
    tenants = _tenants(args)
    if len(tenants) == 1 and tenants[0] is not None:
        return tenants[0]
    if len(tenants) > 1:
        raise UsageError("several tenants are configured: pass --tenant")
    stored = store.list_tenants()
    if len(stored) == 1:
        return str(stored[0])
    if not stored:
        raise SnapshotNotFoundError(f"the store {store.location} holds no snapshots")
    raise UsageError(f"the store holds several tenants ({', '.join(stored)}): pass --tenant")


def _backups_list(args: argparse.Namespace) -> int:
    from entra_backup.store.snapshots import snapshot_time
    from entra_backup.store.verify import load_manifest

    store = args.conn.store
    try:
        tenant = _resolve_tenant(args, store)
    except SnapshotNotFoundError:
        tenant = ""
    rows = []
    for snapshot_id in store.list_snapshots(tenant) if tenant else []:
        manifest, _ = load_manifest(store, tenant, snapshot_id)
        counts = {name: entry.get("count", 0) for name, entry in manifest["kinds"].items()}
        taken = manifest.get("takenAt") or snapshot_time(snapshot_id).isoformat()
        rows.append({"snapshotId": snapshot_id, "takenAt": taken, "counts": counts})
    if args.json:
        _print_json(rows)
    elif not rows:
        print("no snapshots")
    else:
        for row in rows:
            print(f"{row['snapshotId']}  {row['takenAt']}  {sum(row['counts'].values())} objects")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from entra_backup.store.snapshots import validate_snapshot_id
    from entra_backup.store.verify import verify_snapshot

    snapshot_id = validate_snapshot_id(args.snapshot_id)
    store = args.conn.store
    tenant = _resolve_tenant(args, store)
    result = verify_snapshot(store, tenant, snapshot_id,
                             retention_days=args.conn.settings.retention_days)
    if args.json:
        _print_json({"snapshotId": snapshot_id, "tenantId": tenant, "ok": result.ok,
                     "problems": result.problems, "files": result.files_checked,
                     "records": result.records_checked})
    elif result.ok:
        print(f"snapshot {snapshot_id} verified: {result.files_checked} files, "
              f"{result.records_checked} records, chain intact")
    if not result.ok:
        more = len(result.problems) - 1
        suffix = f" (and {more} more; --json lists all)" if more else ""
        _fail(f"snapshot {snapshot_id} failed verification: {result.problems[0]}{suffix}")
        return EXIT_FAILED
    return 0


async def _diff(args: argparse.Namespace) -> int:
    from entra_backup.diff.export import EXPORTERS
    from entra_backup.diff.reports import iter_entries
    from entra_backup.diff.run import DiffRequest, run_diff

    request = DiffRequest(tenant_id="", snapshot_id=args.snapshot_id, against=args.against,
                          kinds=args.kind, object_ids=args.object_ids, changes=args.changes,
                          use_delta=not args.no_delta)
    request.validated()
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UsageError(f"cannot write {args.out}: its folder does not exist")
    store = args.conn.store
    request.tenant_id = _resolve_tenant(args, store)
    if request.against == "live":
        with _Progress(enabled=sys.stderr.isatty()) as reporter:
            async with args.conn.graph(request.tenant_id) as session:
                result = await run_diff(store, request, session=session,
                                        progress=reporter.update)
    else:
        result = await run_diff(store, request)
    header = result.header
    entries = iter_entries(store, request.tenant_id, result.report_id)
    exporter = EXPORTERS[args.format]
    if not args.out:
        exporter(header, entries, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    folder = os.path.dirname(os.path.abspath(args.out))
    fd, temp = tempfile.mkstemp(prefix=".entra-backup-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            exporter(header, entries, out)
        os.replace(temp, args.out)  # nothing half-written under the name the user gave
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    summary = header["summary"]
    print(f"report {result.report_id}: {summary['total']} changes "
          f"({summary['byChange']}) written to {args.out}", file=sys.stderr)
    return 0


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    sys.exit(main())
