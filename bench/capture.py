"""Benchmark: `capture.snapshot.capture` against graphsim, beside a naive msgraph-sdk export.

Starts `graphsim serve --synthetic N` and runs each exporter in its own child process, so each
peak RSS (the child's VmHWM) is its own: (a) our capture of every kind into a temporary
FolderStore; (b) the export users write today - GraphServiceClient typed request builders,
msgraph_core.PageIterator, one sequential request per relationship, kiota's JSON writer per
object, everything held in memory and `json.dump`ed into one file. Asserts nothing.
With `--orchestration` the capture runs as the Functions app runs it instead of through
`capture()`: the real `snapshot` orchestrator and its activities (function_app.app) driven by
the replay harness, with up to host.json's maxConcurrentActivityFunctions activities side by
side in one process (tests/support/durable_workers.py), each with its own GraphSession and the
process-wide learned rate, as one Functions worker runs them. The time is the orchestration's
from start to output (begin, every wave, merges, manifest, drift check).
Usage: python bench/capture.py [--objects N] [--ours-only] [--throttle graph --time-scale X]
       [--orchestration]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import inspect
import json
import logging
import os
import pstats
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from measure import peak_rss  # bench/ is sys.path[0] when run as a script

from graphsim import launch
from graphsim.synthetic import plan_counts

ROOT = Path(__file__).resolve().parents[1]
RU_PER_S, RU_BURST, CA_PER_S = 800.0, 8000, 1.0  # Graph's budget, large tenant (graph.md §1)
PAGE = 999
Row = dict[str, Any]


async def run_ours(url: str, out: Path, concurrency: int, backoff: float) -> Row:
    from entra_backup.capture.snapshot import capture
    from entra_backup.graph.session import GraphSession, StaticTokenProvider
    from entra_backup.store.snapshots import FolderStore

    store = FolderStore(out)
    async with GraphSession(base_url=url, tokens=StaticTokenProvider("app:bench"),
                            max_concurrency=concurrency, backoff_base=backoff) as session:
        start = time.perf_counter()
        result = await capture(session, store)
        wall, rss, stats = time.perf_counter() - start, peak_rss(), session.stats.as_dict()
    links: Counter[str] = Counter()
    for entry in result.manifest["kinds"].values():
        with gzip.open(store.open(result.tenant_id, result.snapshot_id, entry["file"])) as fh:
            for line in fh:
                links.update({k: len(v) for k, v in orjson.loads(line)["links"].items()})
    return {"objects": sum(result.counts.values()), "links": sum(links.values()), "wall": wall,
            "rss": rss, "bytes": sum(e["bytes"] for e in result.manifest["kinds"].values()),
            "client": stats, "by_link": links}


async def run_naive(url: str, out: Path, fraction: float) -> Row:
    from azure.core.credentials import AccessToken
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_serialization_json.json_serialization_writer_factory import (
        JsonSerializationWriterFactory,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph_core import GraphClientFactory, PageIterator

    from entra_backup.kinds import KINDS_BY_NAME  # same $select as ours: the same data

    class Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("app:naive", 4_102_444_800)

    def cfg(builder: Any, **params: Any) -> RequestConfiguration[Any]:
        """RequestConfiguration(query_parameters=XRequestBuilderGetQueryParameters(...))."""
        cls = next(v for k, v in vars(type(builder)).items() if k.endswith("GetQueryParameters"))
        return RequestConfiguration(query_parameters=cls(**params))

    async def walk(builder: Any, pages: int = 0, **params: Any) -> list[Any]:
        """Every item via PageIterator; with `pages`, stop after that many whole pages."""
        items: list[Any] = []

        def keep(item: Any) -> bool:
            items.append(item)
            return not pages or len(items) < pages * PAGE or len(items) % PAGE != 0

        first = await builder.get(cfg(builder, **params))
        if first is not None and first.value:
            await PageIterator(first, adapter).iterate(keep)
        return items

    writers = JsonSerializationWriterFactory()

    def to_json(model: Any) -> Any:
        writer = writers.get_serialization_writer("application/json")
        writer.write_object_value(None, model)
        return json.loads(writer.get_serialized_content())

    auth = AzureIdentityAuthenticationProvider(Credential(), allowed_hosts=["127.0.0.1"])
    transport = httpx.AsyncHTTPTransport()
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(transport=transport, timeout=120))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{url}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    totals = sim_stats(url)["objects"]  # only to size the stratified subset
    ca, policies = client.identity.conditional_access, client.policies
    big = {  # collection: (request builder, item builder, relationships read per object)
        "users": (client.users, client.users.by_user_id, ()),
        "groups": (client.groups, client.groups.by_group_id, ("members", "owners")),
        "applications": (client.applications, client.applications.by_application_id,
                         ("owners",)),
        "servicePrincipals": (client.service_principals,
                              client.service_principals.by_service_principal_id,
                              ("owners", "app_role_assigned_to")),
    }
    export: dict[str, list[Any]] = {}
    parts: dict[str, list[float]] = {}  # collection: [objects listed, seconds without links]
    calls: list[tuple[int, float]] = []  # one relationship read: (items, seconds)
    start = time.perf_counter()
    try:
        for coll, (builder, by_id, relations) in big.items():
            began, export[coll], related = time.perf_counter(), [], 0.0
            pages = 0 if fraction >= 1 else max(1, round(fraction * totals[coll] / PAGE))
            for obj in await walk(builder, pages, select=KINDS_BY_NAME[coll].select, top=PAGE):
                record = to_json(obj)
                for rel in relations:
                    t0, objects = time.perf_counter(), rel == "app_role_assigned_to"
                    found = await walk(getattr(by_id(obj.id), rel), top=PAGE,
                                       **({} if objects else {"select": ["id"]}))
                    record[rel] = [to_json(x) if objects else x.id for x in found]
                    calls.append((len(found), time.perf_counter() - t0))
                    related += calls[-1][1]
                export[coll].append(record)
            parts[coll] = [len(export[coll]), time.perf_counter() - began - related]
        began = time.perf_counter()
        export["conditionalAccessPolicies"] = [to_json(p) for p in await walk(ca.policies)]
        export["namedLocations"] = [to_json(p) for p in await walk(ca.named_locations)]
        export["organization"] = [to_json(o) for o in await walk(client.organization)]
        for name in ("authorization_policy", "authentication_methods_policy"):
            export[name] = [to_json(await getattr(policies, name).get())]
        parts["small"] = [0, time.perf_counter() - began]
        began, path = time.perf_counter(), out / "export.json"
        with path.open("w") as fh:
            json.dump(export, fh)
        parts["dump"] = [0, time.perf_counter() - began]
        wall, rss = time.perf_counter() - start, peak_rss()
    finally:
        await http.aclose()
        await transport.aclose()
    return {"objects": sum(map(len, export.values())), "links": sum(n for n, _ in calls),
            "wall": wall, "rss": rss, "bytes": path.stat().st_size, "parts": parts,
            "calls": calls}


def run_orchestration(url: str, out: Path) -> Row:
    """The `snapshot` orchestration with the app's own activities, activities side by side."""
    os.environ.update(ENTRA_BACKUP_STORE=str(out), ENTRA_BACKUP_GRAPH_URL=url)
    sys.path.insert(0, str(ROOT))
    from function_app import app
    from tests.support.durable_harness import Harness
    from tests.support.durable_workers import run_concurrently

    host = json.loads((ROOT / "host.json").read_text())
    slots = int(host["extensions"]["durableTask"]["maxConcurrentActivityFunctions"])
    harness = Harness(app)
    spans: list[tuple[str, str, float, float]] = []  # activity, kind, start, end
    for name, (function, parameter) in list(harness.activities.items()):
        if inspect.iscoroutinefunction(function):
            harness.activities[name] = (timed(function, name, spans), parameter)
    tenant = httpx.get(f"{url}/v1.0/organization", headers={"Authorization": "Bearer bench"},
                       timeout=60).raise_for_status().json()["value"][0]["id"]
    start = time.perf_counter()
    harness.start("snapshot", "bench", {"tenantId": tenant, "trigger": "http",
                                        "operationId": "bench"})
    run_concurrently(harness, slots)
    wall, rss = time.perf_counter() - start, peak_rss()
    status = harness.status("bench") or {}
    if status.get("runtimeStatus") != "Completed":
        raise RuntimeError(f"snapshot orchestration ended {status}")
    manifest = json.loads(next(out.rglob("manifest.json")).read_text())
    return {"objects": sum(status["output"]["counts"].values()), "links": 0, "wall": wall,
            "rss": rss, "bytes": sum(e["bytes"] for e in manifest["kinds"].values()),
            "client": {"slots": slots, "activities": dict(harness.activity_runs)},
            "spans": [(n, k, round(a - start, 2), round(b - start, 2)) for n, k, a, b in spans]}


def timed(function: Any, name: str, spans: list[tuple[str, str, float, float]]) -> Any:
    """`function` (an async activity) recording when each run starts and ends."""
    async def run(**kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await function(**kwargs)
        finally:
            request = next(iter(kwargs.values()))
            spans.append((name, str(request.get("kind", "")), began, time.perf_counter()))
    return run


def child(args: argparse.Namespace) -> int:
    profiler = cProfile.Profile() if args.profile else None
    if args.trace:  # the pacer's 429 waves and learned rates, timestamped, on stderr
        logging.basicConfig(format="%(relativeCreated)8.0f ms %(message)s", stream=sys.stderr)
        logging.getLogger("entra_backup.graph.pacing").setLevel(logging.DEBUG)
    if args.child == "orch":
        row = run_orchestration(args.url, Path(args.out))
        print("RESULT " + json.dumps(row), flush=True)
        return 0
    job = (run_ours(args.url, Path(args.out), args.concurrency, args.backoff_base)
           if args.child == "ours" else run_naive(args.url, Path(args.out), args.naive_fraction))
    row = asyncio.run(job) if profiler is None else profiler.runcall(asyncio.run, job)
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    print("RESULT " + json.dumps(row), flush=True)
    return 0


def sim_stats(base: str) -> Row:
    answer = httpx.get(f"{base}/_sim/stats", headers={"Authorization": "Bearer bench"},
                       timeout=60)
    return dict(answer.raise_for_status().json())


def measure(which: str, base: str, args: argparse.Namespace) -> Row:
    """Run one exporter in a child process; add the server-side request/RU deltas."""
    before = sim_stats(base)
    with tempfile.TemporaryDirectory(prefix=f"bench-{which}-") as out:
        cmd = [sys.executable, __file__, "--child", which, "--url", base, "--out", out,
               "--concurrency", str(args.concurrency), "--backoff-base", str(args.backoff_base),
               "--naive-fraction", str(args.naive_fraction)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
            "PYTHONPATH", "")]).rstrip(os.pathsep)}
        started = time.perf_counter()
        done = subprocess.run(cmd + ["--profile"] * args.profile + ["--trace"] * args.trace,
                              cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, text=True, check=False)
        total = time.perf_counter() - started
    result = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not result:
        raise RuntimeError(f"{which} child failed (exit {done.returncode})")
    row: Row = json.loads(result[-1][7:]) | {"process": total}
    after = sim_stats(base)
    gets = [after["requests"].get("GET", {}), before["requests"].get("GET", {})]
    row["ca_requests"] = sum(gets[0].get(k, 0) - gets[1].get(k, 0)
                             for k in ("policies", "namedLocations"))
    for key in ("requests", "resource_units", "throttled", "throttled.conditionalAccess"):
        row[key] = after["throttle"].get(key, 0) - before["throttle"].get(key, 0)
    return row


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report(rows: dict[str, Row], args: argparse.Namespace,
           totals: dict[str, int]) -> None:
    print(f"\n{'exporter':<22}{'objects':>10}{'links':>10}{'wall s':>9}{'objects/s':>11}"
          f"{'peak RSS':>10}{'process s':>10}{'requests':>10}{'RU':>9}{'out MiB':>9}")
    for name, r in rows.items():
        print(f"{name:<22}{r['objects']:>10,}{r['links']:>10,}{r['wall']:>9.1f}"
              f"{r['objects'] / r['wall']:>11,.0f}{mib(r['rss']):>10}{r['process']:>10.1f}"
              f"{r['requests']:>10,}{r['resource_units']:>9,}{r['bytes'] / 2**20:>9.1f}")
    if "naive" in rows:
        naive, parts, calls = rows["naive"], rows["naive"]["parts"], rows["naive"]["calls"]
        big = [c for c in parts if parts[c][0]]
        full = sum(totals[c] for c in big) + naive["objects"] - sum(parts[c][0] for c in big)
        print(f"\nnaive, listing: {'listed':>8}{'of':>9}{'s':>8}{'objects/s':>11}")
        for c in big:
            print(f"  {c:<14}{parts[c][0]:>8,}{totals[c]:>9,}{parts[c][1]:>8.1f}"
                  f"{parts[c][0] / parts[c][1]:>11,.0f}")
        # relationship reads: least squares seconds = a + b * items over the calls made,
        # applied to the tenant's call and link totals (heavy-tailed group sizes)
        n, sx, sy = len(calls), sum(x for x, _ in calls), sum(y for _, y in calls)
        sxx, sxy = sum(x * x for x, _ in calls), sum(x * y for x, y in calls)
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        icpt = (sy - slope * sx) / n
        ncalls = 2 * totals["groups"] + totals["applications"] + 2 * totals["servicePrincipals"]
        items = sum(rows["ours"]["by_link"].get(k, 0)
                    for k in ("members", "owners", "appRoleAssignedTo"))
        print(f"  relationships: {n:,} reads, {sx:,} items, {sy:.1f} s; fit {1e3 * icpt:.2f} ms"
              f" per read + {1e3 * slope:.3f} ms per item; tenant: {ncalls:,} reads, {items:,}"
              f" items (ours' link counts)\n  small kinds {parts['small'][1]:.1f} s, "
              f"json.dump {parts['dump'][1]:.1f} s")
        est = naive["wall"]
        if naive["objects"] < full:
            est = sum(parts[c][1] * totals[c] / parts[c][0] for c in big) + parts["small"][1] \
                + parts["dump"][1] * full / naive["objects"] + icpt * ncalls + slope * items
            print(f"naive export extrapolated to the whole tenant: {full:,} objects in "
                  f"~{est:,.0f} s = {full / est:,.1f} objects/s (its peak RSS above is the "
                  "subset's; it holds the whole export in memory, so it grows with the tenant)")
        ratio = (rows["ours"]["objects"] / rows["ours"]["wall"]) / (full / est)
        print(f"ours / naive objects/s: {ratio:,.0f}x (target >= 3x)")
    ours = rows["ours"]
    print(f"ours client stats: {json.dumps(ours['client'])}")
    if "spans" in ours:
        print("activities (name kind start-end s): " + "; ".join(
            f"{n} {k} {a:.1f}-{b:.1f}" for n, k, a, b in ours["spans"]))
    if args.throttle == "graph":
        rate, ca = RU_PER_S * args.time_scale, ours["ca_requests"] - ours[
            "throttled.conditionalAccess"]
        ru = ours["resource_units"]
        bound = max((ru - RU_BURST) / rate, (ca - 1) / (CA_PER_S * args.time_scale), 0.0)
        print(f"\nbudget ({args.time_scale:g} x Graph): {ru:,} RU charged, {ca} CA requests, "
              f"{ours['throttled']:,} throttled (429)\n"
              f"minimum time = max((RU - {RU_BURST} burst) / {rate:g} RU/s, CA / "
              f"{CA_PER_S * args.time_scale:g} rps) = {bound:.1f} s "
              f"(without the burst: RU / rate = {ru / rate:.1f} s)\n"
              f"actual {ours['wall']:.1f} s = {100 * (ours['wall'] / bound - 1):+.1f} % over the "
              f"minimum (target <= +10 %); {100 * (ours['wall'] / (ru / rate) - 1):+.1f} % vs "
              "RU / rate")


def main() -> int:
    parser = argparse.ArgumentParser(description="Capture vs naive msgraph-sdk export.")
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--throttle", choices=("off", "graph"), default="off")
    parser.add_argument("--time-scale", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backoff-base", type=float, default=1.0)
    parser.add_argument("--naive-fraction", type=float, default=0.1,
                        help="naive export: read this share of each big collection (whole "
                        "999-object pages) and extrapolate per collection; 1 = everything")
    parser.add_argument("--profile", action="store_true", help="cProfile each child (stderr)")
    parser.add_argument("--trace", action="store_true",
                        help="log the pacer's 429 waves and learned rates (stderr)")
    parser.add_argument("--orchestration", action="store_true",
                        help="ours = the snapshot orchestration through the replay harness")
    parser.add_argument("--child", choices=("ours", "naive", "orch"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    serve = ["--synthetic", str(args.objects), "--random-seed", str(args.random_seed)]
    if args.throttle == "graph":
        serve += ["--throttle", "graph", "--time-scale", str(args.time_scale)]
    print("bench:  ", shlex.join([Path(sys.executable).name, *sys.argv]))
    print("server: ", shlex.join(["python", *launch.command(*serve)[1:]]))
    print(f"machine: nproc {os.cpu_count()}, python {sys.version.split()[0]}, load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    rows: dict[str, Row] = {}
    with launch.running(*serve, cwd=ROOT) as sim:
        base = sim.url
        objects = sim_stats(base)["objects"]
        server = psutil.Process(sim.proc.pid)
        print(f"tenant: {sum(objects.values()):,} objects in graphsim (plan: "
              f"{sum(plan_counts(args.objects).values()):,}); ready after "
              f"{time.perf_counter() - started:.1f} s; graphsim RSS "
              f"{mib(server.memory_info().rss)} (the simulator, not us)")
        rows["ours"] = measure("orch" if args.orchestration else "ours", base, args)
        if not args.ours_only and args.throttle == "off":
            rows["naive"] = measure("naive", base, args)
        print(f"graphsim RSS at the end {mib(server.memory_info().rss)}; load average "
              + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    report(rows, args, objects)
    return 0


if __name__ == "__main__":
    sys.exit(main())
