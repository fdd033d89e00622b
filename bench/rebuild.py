"""Benchmark: rebuild a synthetic tenant of N objects (default 10,000) into a bare one under
Graph's budgets.

Starts two graphsim servers: the source (synthetic, budgets off) and a bare target with
`--throttle graph` (windows `--time-scale` times shorter) and the Graph latency model. Captures
the source, plans the rebuild, applies it and verifies it by the mapped diff. Prints the write
requests, 429s, the apply time in Graph's time, the achieved writes per second against the
20 writes/s per-app ceiling, and the projection for 100,000 objects. Asserts nothing.
Usage: python bench/rebuild.py [--objects N] [--time-scale X] [--wave-size W]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
from measure import WriteBudget, writes_of  # bench/ is sys.path[0] when run as a script

from graphsim import launch

TOKEN = "app:bench-rebuild"
SOURCE = "5a0c0e2e-1111-4000-8000-00000000a001"
TARGET = "7b1d1f3f-2222-4000-8000-00000000b002"


async def run(source_url: str, target_url: str, args: argparse.Namespace,
              folder: Path) -> None:
    from entra_backup.capture.snapshot import capture
    from entra_backup.graph.session import GraphSession, StaticTokenProvider
    from entra_backup.recover.jobs import FolderJobStore
    from entra_backup.recover.rebuild.plan import RebuildRequest
    from entra_backup.recover.rebuild.rewrite import DomainMap, Move
    from entra_backup.recover.rebuild.run import apply_rebuild, plan_rebuild, verify_rebuild
    from entra_backup.store.snapshots import FolderStore

    store, jobs = FolderStore(folder), FolderJobStore(folder / "jobs")
    control = httpx.Client(base_url=f"{target_url}/_sim", timeout=60)
    async with GraphSession(base_url=source_url, tokens=StaticTokenProvider(TOKEN)) as session:
        snap = await capture(session, store)
    objects = sum(snap.counts.values())
    domains = DomainMap.parse(["contoso3.onmicrosoft.com=contoso4.onmicrosoft.com",
                               "contoso3.com=contoso4.com"])
    request = RebuildRequest(snap.tenant_id, snap.snapshot_id, Move(SOURCE, TARGET, domains))
    async with GraphSession(base_url=target_url, tokens=StaticTokenProvider(TOKEN)) as session:
        started = time.perf_counter()
        plan = await plan_rebuild(store, session, request, target_tenant=TARGET)
        planned = time.perf_counter()
        before = control.get("/stats").json()
        job = await apply_rebuild(session, store, jobs, plan, wave_size=args.wave_size)
        applied = time.perf_counter()
        after = control.get("/stats").json()
        job, diff = await verify_rebuild(session, store, jobs, plan)
        verified = time.perf_counter()
    graph_seconds = (applied - planned) * args.time_scale
    budget = WriteBudget(writes_of(after) - writes_of(before),
                         after["throttled"] - before["throttled"], graph_seconds)
    writes = budget.accepted
    per_object = graph_seconds / max(objects, 1)
    print(f"{objects:,} objects captured; plan {planned - started:.1f} s ({plan['steps']:,} "
          f"steps {plan['byPhase']}); exceptions {plan['exceptions']}")
    print(f"apply {applied - planned:.1f} s at {args.time_scale:g}x = {graph_seconds:,.0f} s "
          f"({graph_seconds / 60:.1f} min) in Graph's time; counters {job['counters']}")
    print(budget.line())
    print(f"verification {verified - applied:.1f} s: {len(diff.entries):,} differences, "
          f"{len(diff.unexplained)} unexplained")
    print(f"projected 100,000 objects: {per_object * 100_000 / 3600:.1f} h "
          f"({writes / max(objects, 1):.2f} writes per object)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--time-scale", type=float, default=2.0)
    parser.add_argument("--wave-size", type=int, default=500)
    args = parser.parse_args()
    target_args = ("--random-seed", "4", "--tenant-id", TARGET, "--throttle", "graph",
                   "--time-scale", str(args.time_scale), "--latency-model", "graph")
    with launch.running("--synthetic", str(args.objects), "--random-seed", "3", "--tenant-id",
                        SOURCE, quiet=True) as source, \
            launch.running(*target_args, quiet=True) as target, \
            tempfile.TemporaryDirectory(prefix="bench-rebuild-") as folder:
        asyncio.run(run(source.url, target.url, args, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
