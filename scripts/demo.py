"""`make demo`: snapshot -> incident -> difference report -> recovery, end to end locally.

Starts graphsim with a ~2,000-object synthetic tenant, takes a snapshot with the
`entra-backup` CLI into a throwaway folder store, makes three incident-like changes through
Graph as an "attacker" (a user removed from a group, a user added to a Conditional Access
exclusion, a user deleted), then runs `entra-backup diff` and prints the report, and writes
the HTML export beside it; then a dry run of the recovery, the recovery itself and its
verification, which must show nothing left. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from graphsim import launch
from graphsim.demo import SERVE_ARGS

ATTACKER = "user:mallory@contoso.example"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "entra_backup.cli", *args], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"entra-backup {' '.join(args)} failed: {done.stderr.strip()}")
    if done.stderr.strip():
        print(done.stderr.strip())
    return done.stdout


def incident(graph: httpx.Client) -> None:
    groups = graph.get("/groups?$filter=securityEnabled eq true and mailEnabled eq false"
                       "&$top=50&$select=id,displayName,groupTypes,onPremisesSyncEnabled").json()
    group = next(g for g in groups["value"] if not g.get("onPremisesSyncEnabled")
                 and "DynamicMembership" not in g["groupTypes"])
    member = graph.get(f"/groups/{group['id']}/members?$select=id,displayName").json()
    victim = member["value"][0]
    graph.delete(f"/groups/{group['id']}/members/{victim['id']}/$ref").raise_for_status()
    print(f"  removed {victim.get('displayName')} from group {group['displayName']}")
    users = graph.get("/users?$top=20&$select=id,displayName,onPremisesSyncEnabled").json()
    cloud = [u for u in users["value"] if not u.get("onPremisesSyncEnabled")]
    policy = graph.get("/identity/conditionalAccess/policies?$top=1").json()["value"][0]
    conditions = policy["conditions"]
    excluded = list(conditions["users"].get("excludeUsers") or [])
    newly, doomed = [u for u in cloud[1:] if u["id"] not in excluded][:2]
    conditions["users"]["excludeUsers"] = [*excluded, newly["id"]]
    graph.patch(f"/identity/conditionalAccess/policies/{policy['id']}",
                json={"conditions": conditions}).raise_for_status()
    print(f"  excluded {newly['displayName']} from CA policy {policy['displayName']}")
    graph.delete(f"/users/{doomed['id']}").raise_for_status()
    print(f"  deleted user {doomed['displayName']}")


def _change(before: Any, after: Any) -> str:
    """A list shows what entered and left it; anything else before -> after, shortened."""
    if isinstance(before, list) and isinstance(after, list):
        added = [json.dumps(v) for v in after if v not in before]
        removed = [json.dumps(v) for v in before if v not in after]
        return f"added {', '.join(added) or 'nothing'}; removed {', '.join(removed) or 'nothing'}"
    return f"{json.dumps(before)[:60]} -> {json.dumps(after)[:60]}"


def show(report: dict[str, Any]) -> None:
    summary = report["summary"]
    print(f"report {report['reportId']}: {summary['total']} changes {summary['byChange']} in "
          f"{summary['durationSeconds']} s (live path: "
          f"{sorted(set(summary['livePath'].values()))})")
    for entry in report["entries"]:
        who = ", ".join(sorted({e["by"].get("userPrincipalName") or e["by"]["displayName"] or "?"
                                for e in entry["changedBy"]})) or "unknown"
        state = "recoverable" if entry["recoverable"] else f"NOT recoverable {entry['reasons']}"
        deletion = f" ({entry['deletion']})" if entry["deletion"] else ""
        print(f"- {entry['kind']} {entry['displayName']!r}: {entry['change']}{deletion}, "
              f"{state}; by {who}")
        for prop in entry["properties"][:3]:
            print(f"    {prop['path']}: {_change(prop['before'], prop['after'])}")
        for link in entry["links"][:3]:
            print(f"    {link['link']}: +{len(link['added'])} -{len(link['removed'])}")


def recover(env: dict[str, str], snapshot_id: str) -> None:
    plan = json.loads(cli(env, "recover", snapshot_id, "--dry-run", "--json"))
    print(f"== recovery plan (dry run, nothing written): {len(plan['plan'])} steps")
    for step in plan["plan"]:
        print(f"  {step['step']:>3} {step['action']:<10} {step['kind']} "
              f"{step['displayName']!r}")
    done = json.loads(cli(env, "recover", snapshot_id, "--yes", "--json"))
    print(f"== recovery {done['recoveryId']}: {done['status']}")
    for row in done["results"]:
        print(f"  {row['action']:<10} {row['kind']} {row['id']}: {row['outcome']}"
              + (f" ({row['detail']})" if row["detail"] else ""))
    left = done["verification"]["remaining"]
    print(f"== verification: {left} difference(s) left"
          + (" - the tenant is back at its snapshot" if left == 0 else ""))
    if left:
        raise SystemExit("the recovery left differences behind")


def main() -> int:
    with launch.running(*SERVE_ARGS) as server:
        url = server.url
        with tempfile.TemporaryDirectory(prefix="entra-backup-demo-") as folder:
            env = {**os.environ, "ENTRA_BACKUP_GRAPH_URL": url,
                   "ENTRA_BACKUP_GRAPH_TOKEN": "app:entra-backup-demo",
                   "ENTRA_BACKUP_STORE": str(Path(folder) / "store")}
            print(f"== graphsim at {url}; snapshot store {env['ENTRA_BACKUP_STORE']}")
            started = time.monotonic()
            snap = json.loads(cli(env, "snapshot", "--json"))
            print(f"== snapshot {snap['snapshotId']}: {sum(snap['counts'].values())} objects in "
                  f"{time.monotonic() - started:.1f} s")
            print("== incident (as mallory@contoso.example)")
            with httpx.Client(base_url=f"{url}/v1.0",
                              headers={"Authorization": f"Bearer {ATTACKER}"}) as graph:
                incident(graph)
            print("== difference report: snapshot vs live")
            show(json.loads(cli(env, "diff", snap["snapshotId"])))
            html = Path(tempfile.gettempdir()) / f"entra-backup-report-{snap['snapshotId']}.html"
            cli(env, "diff", snap["snapshotId"], "--format", "html", "--out", str(html))
            print(f"== HTML report (open offline): {html}")
            recover(env, snap["snapshotId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
