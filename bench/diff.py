"""Benchmark: difference report time for a large tenant, delta path vs full path vs capture.

Starts graphsim with a synthetic tenant (default 1,000,000 objects), captures it, makes N
changes through Graph ($batch: property edits, membership removals, deletions, app renames),
then times `run_diff` through the delta path and with the delta path disabled, each in its
own child process so peak RSS (VmHWM) is its own. Asserts nothing; prints a table.
Usage: python bench/diff.py [--objects N] [--changes N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from measure import peak_rss  # bench/ is sys.path[0] when run as a script

from graphsim import launch

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "app:bench-incident"


async def child(mode: str, url: str, store_path: str, snapshot: str) -> dict[str, Any]:
    from entra_backup.capture.snapshot import capture
    from entra_backup.diff.run import DiffRequest, run_diff
    from entra_backup.graph.session import GraphSession, StaticTokenProvider
    from entra_backup.store.snapshots import FolderStore

    store = FolderStore(store_path)
    async with GraphSession(base_url=url, tokens=StaticTokenProvider("app:bench")) as session:
        started = time.perf_counter()
        if mode == "capture":
            result = await capture(session, store)
            extra = {"snapshot": result.snapshot_id, "tenant": result.tenant_id,
                     "objects": sum(result.counts.values())}
        else:
            tenant = store.list_tenants()[0]
            request = DiffRequest(tenant_id=tenant, snapshot_id=snapshot,
                                  use_delta=mode == "delta")
            diffed = await run_diff(store, request, session=session)
            summary = diffed.header["summary"]
            extra = {"entries": summary["total"], "byChange": summary["byChange"],
                     "livePath": sorted(set(summary["livePath"].values()))}
        return {"mode": mode, "seconds": round(time.perf_counter() - started, 2),
                "peakRssMiB": round(peak_rss() / 2**20, 1), "requests": session.stats.requests,
                **extra}


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def make_changes(url: str, count: int) -> dict[str, int]:
    """`count` writes shaped like an incident, sent as $batch requests of 20."""
    made = {"userEdits": 0, "memberRemovals": 0, "userDeletes": 0, "appRenames": 0}
    with httpx.Client(base_url=f"{url}/v1.0", timeout=120,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as graph:
        users = graph.get("/users?$top=999&$select=id,onPremisesSyncEnabled").json()["value"]
        cloud = [u["id"] for u in users if not u.get("onPremisesSyncEnabled")]
        groups = graph.get("/groups?$top=400&$select=id,groupTypes,mailEnabled,"
                           "onPremisesSyncEnabled").json()["value"]
        assigned = [g["id"] for g in groups if not g.get("onPremisesSyncEnabled")
                    and not g["groupTypes"] and not g.get("mailEnabled")]
        apps = [a["id"] for a in graph.get("/applications?$top=200&$select=id").json()["value"]]
        requests: list[dict[str, Any]] = []
        body_headers = {"Content-Type": "application/json"}
        for index in range(int(count * 0.6)):
            requests.append({"method": "PATCH", "url": f"/users/{cloud[index]}",
                             "headers": body_headers, "body": {"jobTitle": f"Changed {index}"}})
            made["userEdits"] += 1
        for group in assigned:
            if made["memberRemovals"] >= int(count * 0.2):
                break
            members = graph.get(f"/groups/{group}/members?$select=id&$top=5").json()["value"]
            for member in members[:2]:
                requests.append({"method": "DELETE",
                                 "url": f"/groups/{group}/members/{member['id']}/$ref"})
                made["memberRemovals"] += 1
        for user in cloud[int(count * 0.6):int(count * 0.6) + int(count * 0.1)]:
            requests.append({"method": "DELETE", "url": f"/users/{user}"})
            made["userDeletes"] += 1
        for app in apps[:count - sum(made.values())]:
            requests.append({"method": "PATCH", "url": f"/applications/{app}",
                             "headers": body_headers, "body": {"notes": "renamed"}})
            made["appRenames"] += 1
        for start in range(0, len(requests), 20):
            chunk = [{"id": str(i), **r} for i, r in enumerate(requests[start:start + 20])]
            answer = graph.post("/$batch", json={"requests": chunk}).json()
            failed = [r for r in answer["responses"] if r["status"] >= 400]
            if failed:
                raise SystemExit(f"change failed: {failed[0]}")
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "URL", "STORE", "SNAPSHOT"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(*args.child))))
        return 0
    print(f"$ {' '.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    with launch.running("--synthetic", str(args.objects), "--random-seed", "1",
                        cwd=ROOT) as server:
        url = server.url
        print(f"graphsim: {args.objects:,} objects loaded in "
              f"{time.perf_counter() - started:.1f} s")
        with tempfile.TemporaryDirectory(prefix="bench-diff-") as folder:
            captured = run_child("capture", url, folder, "-")
            print(f"capture: {captured}")
            made = make_changes(url, args.changes)
            print(f"changes made through Graph: {sum(made.values())} {made}")
            delta = run_child("delta", url, folder, captured["snapshot"])
            full = run_child("full", url, folder, captured["snapshot"])
        rows = [("capture (all kinds)", captured), ("diff, delta path", delta),
                ("diff, delta path disabled", full)]
        print(f"\n{'run':<28}{'seconds':>10}{'peak RSS MiB':>14}{'requests':>10}  entries")
        for name, row in rows:
            print(f"{name:<28}{row['seconds']:>10}{row['peakRssMiB']:>14}{row['requests']:>10}"
                  f"  {row.get('entries', row.get('objects'))}")
        print(f"\nfull path / capture = {full['seconds'] / captured['seconds']:.2f} "
              f"(target <= 1.3); delta path {delta['seconds']} s (target < 60 s); "
              f"entries delta={delta['entries']} full={full['entries']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
