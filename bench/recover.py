"""Benchmark: recovery of N changes (default 10,000) against graphsim's Graph budgets.

Starts graphsim with a synthetic tenant, snapshots it, changes N users' job titles (budgets off,
so the incident itself is quick), then turns on Graph's throttling (`--throttle graph`, windows
`--time-scale` times shorter) and the Graph latency model and recovers: fresh report, plan,
waves. Prints the write requests, 429s, the apply time, the achieved writes per second in
Graph's time against the 20 writes/s per-app ceiling (after the 3,000-write burst), peak RSS,
and the projection for 500,000 changes beside the native service's 30 hours. Asserts nothing.
Usage: python bench/recover.py [--changes N] [--time-scale X] [--wave-size W]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
from measure import (  # bench/ is sys.path[0] when run as a script
    WRITE_BURST,
    WRITES_PER_S,
    WriteBudget,
    peak_rss,
    writes_of,
)

from graphsim import launch

NATIVE_HOURS_500K = 30.0
TOKEN = "app:bench-recover"


async def damage(url: str, changes: int) -> int:
    """Change the job title of `changes` cloud users, 32 at a time."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"{url}/v1.0", headers=headers, timeout=60) as graph:
        ids: list[str] = []
        next_url: str | None = "users?$select=id,onPremisesSyncEnabled&$top=999"
        while next_url and len(ids) < changes:
            page = (await graph.get(next_url)).json()
            ids += [u["id"] for u in page["value"] if not u.get("onPremisesSyncEnabled")]
            next_url = page.get("@odata.nextLink")
        ids = ids[:changes]
        gate = asyncio.Semaphore(32)

        async def edit(user_id: str) -> None:
            async with gate:
                answer = await graph.patch(f"users/{user_id}", json={"jobTitle": "Owned"})
                answer.raise_for_status()

        await asyncio.gather(*(edit(i) for i in ids))
    return len(ids)


async def run(url: str, args: argparse.Namespace, folder: Path) -> None:
    from entra_backup.capture.snapshot import capture
    from entra_backup.graph.session import GraphSession, StaticTokenProvider
    from entra_backup.recover.apply import apply_wave
    from entra_backup.recover.plan import PlanOptions, Selection, build_plan
    from entra_backup.recover.run import fresh_report
    from entra_backup.store.snapshots import FolderStore

    control = httpx.Client(base_url=f"{url}/_sim", timeout=60)
    store = FolderStore(folder)
    async with GraphSession(base_url=url, tokens=StaticTokenProvider(TOKEN)) as session:
        snap = await capture(session, store)
    changed = await damage(url, args.changes)
    print(f"snapshot {snap.snapshot_id}; {changed:,} users changed")
    control.post("/config", json={"throttle": "graph", "timeScale": args.time_scale,
                                  "latencyModel": "graph"}).raise_for_status()
    async with GraphSession(base_url=url, tokens=StaticTokenProvider(TOKEN)) as session:
        started = time.perf_counter()
        report_id = await fresh_report(store, session, snap.tenant_id, snap.snapshot_id, [], [])
        reported = time.perf_counter()
        plan = build_plan(store, snap.tenant_id, report_id, Selection(), PlanOptions())
        planned = time.perf_counter()
        before = control.get("/stats").json()
        cursor, outcomes = 0, {}
        while cursor < plan["steps"]:
            wave = await apply_wave(session, store.recoveries(), plan, cursor, args.wave_size)
            for row in wave.results:
                outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
            cursor = wave.next_cursor
        applied = time.perf_counter()
        after = control.get("/stats").json()
    elapsed = applied - planned
    budget = WriteBudget(writes_of(after) - writes_of(before),
                         after["throttled"] - before["throttled"],
                         elapsed * args.time_scale)  # the same run on Graph's real windows
    graph_seconds = budget.graph_seconds
    sustained = max(budget.accepted - WRITE_BURST, 0) / max(graph_seconds, 1e-9)
    rate = WRITES_PER_S * budget.share
    hours = (500_000 - WRITE_BURST) / rate / 3600 if rate else float("inf")
    print(f"report {reported - started:.1f} s, plan {planned - reported:.1f} s "
          f"({plan['steps']:,} steps), apply {elapsed:.1f} s at {args.time_scale:g}x "
          f"= {graph_seconds:,.0f} s in Graph's time; outcomes {outcomes}")
    print(f"{budget.line()} ({sustained:.1f} writes/s sustained after the burst)")
    print(f"peak RSS {peak_rss() / 2**20:.0f} MiB; projected 500,000 changes: {hours:.1f} h "
          f"(native service: {NATIVE_HOURS_500K:g} h)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--time-scale", type=float, default=2.0)
    parser.add_argument("--wave-size", type=int, default=500)
    args = parser.parse_args()
    import tempfile

    objects = max(200, int(args.changes * 1.6))
    with launch.running("--synthetic", str(objects), "--random-seed", "3") as server, \
            tempfile.TemporaryDirectory(prefix="bench-recover-") as folder:
        asyncio.run(run(server.url, args, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
