"""Benchmark: the staged capture against the one-shot capture, and the longest single stage.

Starts `graphsim serve --synthetic N` (optionally `--latency-model graph`, Graph-shaped page
costs) and runs, each in its own child process against the same server, in turn:
(a) `capture()` from `--baseline-root` (default: this checkout's main worktree, i.e. the
engine before stages: one read per kind, no staging); (b) `capture()` from this checkout with
`--chunk-pages` (default the engine's CHUNK_PAGES) - every chunk's run written to and merged
from the store's staging area. For (b) every `read_chunk` and `merge_kind` call is timed: the
longest is what one Functions activity would take. Asserts nothing.
Usage: python bench/capture_stages.py [--objects N] [--latency-model graph] [--chunk-pages P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import peak_rss  # bench/ is sys.path[0] when run as a script

from graphsim import launch

ROOT = Path(__file__).resolve().parents[1]
Row = dict[str, Any]


async def run_child(url: str, out: Path, chunk_pages: int | None, staged: bool) -> Row:
    from entra_backup.capture.snapshot import capture
    from entra_backup.graph.session import GraphSession, StaticTokenProvider
    from entra_backup.store.snapshots import FolderStore

    steps: list[tuple[float, str, str]] = []
    options: dict[str, Any] = {}
    if staged:
        from entra_backup.capture import stages

        def timed(name: str, call: Any) -> Any:
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                result = await call(*args, **kwargs)
                steps.append((time.perf_counter() - began, name, str(args[3 if name ==
                                                                        "chunk" else 2])))
                return result
            return wrapper

        stages.read_chunk = timed("chunk", stages.read_chunk)  # type: ignore[assignment]
        stages.merge_kind = timed("merge", stages.merge_kind)  # type: ignore[assignment]
        options["chunk_pages"] = chunk_pages
    async with GraphSession(base_url=url, tokens=StaticTokenProvider("app:bench")) as session:
        start = time.perf_counter()
        result = await capture(session, FolderStore(out), **options)
        wall = time.perf_counter() - start
    import entra_backup

    row: Row = {"engine": str(Path(entra_backup.__file__).parent.parent),
                "objects": sum(result.counts.values()), "wall": wall, "rss": peak_rss(),
                "sha256": {k: v["sha256"] for k, v in result.manifest["kinds"].items()},
                "requests": session.stats.requests}
    for name in ("chunk", "merge"):
        mine = sorted((s for s in steps if s[1] == name), reverse=True)
        if mine:
            by_kind: dict[str, float] = {}
            for seconds, _, kind in mine:
                by_kind[kind] = max(by_kind.get(kind, 0.0), seconds)
            row[name] = {"calls": len(mine), "longest": mine[0][0], "kind": mine[0][2],
                         "total": sum(s[0] for s in mine), "by_kind": by_kind}
    return row


def measure(which: str, root: Path, url: str, args: argparse.Namespace) -> Row:
    with tempfile.TemporaryDirectory(prefix=f"bench-{which}-") as out:
        cmd = [sys.executable, __file__, "--child", which, "--url", url, "--out", out,
               "--chunk-pages", str(args.chunk_pages)]
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE, text=True,
                              check=False)
    result = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not result:
        raise RuntimeError(f"{which} child failed (exit {done.returncode})")
    row: Row = json.loads(result[-1][7:])
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description="Staged capture vs one-shot capture.")
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--latency-model", choices=("off", "graph"), default="off")
    parser.add_argument("--chunk-pages", type=int, default=0,
                        help="pages per chunk (0: the engine's CHUNK_PAGES)")
    parser.add_argument("--baseline-root", default=str(ROOT.parent.parent / "main"),
                        help="checkout whose capture() is the one-shot baseline")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=("baseline", "staged"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pages = args.chunk_pages or None
        if args.child == "staged" and not args.chunk_pages:
            from entra_backup.capture.stages import CHUNK_PAGES
            pages = CHUNK_PAGES
        row = asyncio.run(run_child(args.url, Path(args.out), pages, args.child == "staged"))
        print("RESULT " + json.dumps(row | {"chunk_pages": pages}), flush=True)
        return 0
    serve = ["--synthetic", str(args.objects), "--random-seed", str(args.random_seed),
             "--latency-model", args.latency_model]
    print("bench:  ", shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: nproc {os.cpu_count()}, load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with launch.running(*serve, cwd=ROOT) as sim:
        for _ in range(args.rounds):
            rows = {"one-shot (baseline)": measure("baseline", Path(args.baseline_root),
                                                   sim.url, args),
                    "staged": measure("staged", ROOT, sim.url, args)}
            for name, r in rows.items():
                print(f"{name:<22}{r['objects']:>9,} objects {r['wall']:>7.1f} s "
                      f"{r['objects'] / r['wall']:>8,.0f}/s  peak RSS {r['rss'] / 2**20:,.0f} "
                      f"MiB  {r['requests']:,} requests")
            staged = rows["staged"]
            same = staged["sha256"] == rows["one-shot (baseline)"]["sha256"]
            print(f"engines: {rows['one-shot (baseline)']['engine']} vs {staged['engine']}; "
                  f"same kind files (sha256): {same}; chunk pages {staged['chunk_pages']}")
            for name in ("chunk", "merge"):
                s = staged[name]
                print(f"  {name}: {s['calls']} calls, longest {s['longest']:.2f} s "
                      f"({s['kind']}), all {s['total']:.1f} s; longest by kind: "
                      + ", ".join(f"{k} {v:.1f}" for k, v in sorted(
                          s["by_kind"].items(), key=lambda item: -item[1])[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
