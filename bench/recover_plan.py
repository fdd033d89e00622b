"""Benchmark: build a recovery plan for N changes (default 500,000) and print time and peak RSS.

Writes a synthetic snapshot (users, groups) and a difference report of N entries - property
edits, soft deletes, creations and membership changes in the proportions an incident has -
into a temporary FolderStore, then runs `build_plan` in a child process so its peak RSS
(VmHWM) is its own. Asserts nothing.
Usage: python bench/recover_plan.py [--changes N]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from measure import peak_rss  # bench/ is sys.path[0] when run as a script

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench-tenant"
SNAPSHOT = "20261201T000000.000Z"
REPORT = "20261201T010000.000Z"


def oid(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{kind}/{n}"))


def write_inputs(root: Path, changes: int) -> None:
    from entra_backup.store.snapshots import FolderStore

    store = FolderStore(root)
    users = changes * 9 // 10
    groups = max(1, changes // 10)
    user_ids = sorted(oid("users", n) for n in range(users))
    group_ids = sorted(oid("groups", n) for n in range(groups))

    def gz(lines: list[bytes]) -> bytes:
        return gzip.compress(b"".join(lines), compresslevel=1)

    store.write(TENANT, SNAPSHOT, "users.ndjson.gz", gz([orjson.dumps(
        {"id": i, "kind": "users", "links": {"manager": []},
         "object": {"id": i, "displayName": f"User {i[:8]}", "jobTitle": "Engineer",
                    "department": "R&D", "accountEnabled": True}},
        option=orjson.OPT_SORT_KEYS) + b"\n" for i in user_ids]))
    store.write(TENANT, SNAPSHOT, "groups.ndjson.gz", gz([orjson.dumps(
        {"id": g, "kind": "groups", "links": {"members": user_ids[:20], "owners": []},
         "object": {"id": g, "displayName": f"Group {g[:8]}", "groupTypes": [],
                    "securityEnabled": True, "mailEnabled": False}},
        option=orjson.OPT_SORT_KEYS) + b"\n" for g in group_ids]))
    entries = []
    for n, user in enumerate(user_ids):
        base = {"kind": "users", "id": user, "displayName": f"User {user[:8]}",
                "deletion": None, "properties": [], "links": [], "recoverable": True,
                "reasons": [], "sourceOfAuthority": "cloud", "changedBy": []}
        if n % 10 == 0:
            base.update(change="deleted", deletion="soft")
        else:
            base.update(change="updated", properties=[
                {"path": "jobTitle", "before": "Engineer", "after": "Owned"}])
        entries.append(orjson.dumps(base) + b"\n")
    for group in group_ids:
        entries.append(orjson.dumps({
            "kind": "groups", "id": group, "displayName": None, "change": "updated",
            "deletion": None, "properties": [], "recoverable": True, "reasons": [],
            "links": [{"link": "members", "targetKind": None, "added": [oid("x", 1)],
                       "removed": user_ids[:3]}],
            "sourceOfAuthority": "cloud", "changedBy": []}) + b"\n")
    reports = store.reports()
    reports.write(TENANT, REPORT, "entries.ndjson.gz", gz(entries))
    reports.write(TENANT, REPORT, "summary.json", orjson.dumps({
        "reportId": REPORT, "snapshotId": SNAPSHOT, "tenantId": TENANT, "against": "live",
        "summary": {"total": len(entries)}}))


def child(root: Path) -> None:
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan
    from entra_backup.store.snapshots import FolderStore

    start = time.perf_counter()
    plan = build_plan(FolderStore(root), TENANT, REPORT, Selection(), PlanOptions())
    elapsed = time.perf_counter() - start
    print(orjson.dumps({"seconds": elapsed, "steps": plan["steps"], "chunks": plan["chunks"],
                        "byPhase": plan["byPhase"], "peakRss": peak_rss()}).decode())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=500_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
        started = time.perf_counter()
        write_inputs(Path(folder), args.changes)
        print(f"inputs: {args.changes:,} changes written in {time.perf_counter() - started:.1f} s")
        out = subprocess.run([sys.executable, __file__, "--child", folder], check=True,
                             capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        row = orjson.loads(out.stdout.strip().splitlines()[-1])
    print(f"plan of {row['steps']:,} steps ({row['chunks']} chunks, {row['byPhase']}) built in "
          f"{row['seconds']:.1f} s = {row['steps'] / row['seconds']:,.0f} steps/s, "
          f"peak RSS {row['peakRss'] / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
