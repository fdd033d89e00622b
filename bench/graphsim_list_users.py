"""Benchmark: how fast graphsim lists every user of a large synthetic tenant.

Starts `graphsim serve` as its own process, follows @odata.nextLink from `/v1.0/users?$top=999`
with one keep-alive httpx client (22-property `$select`, then the default projection), samples
the server's RSS every 50 ms, and adds a client-side JSON-decode baseline over the same pages.
Asserts nothing. Usage: python bench/graphsim_list_users.py [--users N] [--random-seed S]
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import psutil

from graphsim import launch
from graphsim.synthetic import plan_counts  # the repo is installed editable by `make setup`

ROOT = Path(__file__).resolve().parents[1]

SELECT = ("id,displayName,givenName,surname,userPrincipalName,mail,mailNickname,accountEnabled,"
          "userType,jobTitle,department,companyName,employeeId,employeeType,officeLocation,city,"
          "country,usageLocation,businessPhones,mobilePhone,createdDateTime,onPremisesSyncEnabled")


class RssSampler(threading.Thread):
    """Peak RSS of one process per named phase, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc, self.phase, self.peaks = psutil.Process(pid), "load", {"load": 0}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.05):
            try:
                rss = self.proc.memory_info().rss
            except psutil.Error:
                return
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)


def tenant_total(users: int) -> int:
    """Smallest synthetic total whose plan holds at least `users` users."""
    lo, hi = max(100, users), max(200, users * 2)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if plan_counts(mid)["users"] < users else (lo, mid)
    return lo


def list_all(client: httpx.Client, url: str) -> tuple[int, int, float, float, list[bytes]]:
    """Follow nextLinks from `url`: (users, pages, wall s, in-loop decode s, raw pages)."""
    users = pages = 0
    decode = 0.0
    raw: list[bytes] = []
    start = time.perf_counter()
    next_url: str | None = url
    while next_url:
        answer = client.get(next_url)
        answer.raise_for_status()
        raw.append(answer.content)
        t0 = time.perf_counter()
        body = orjson.loads(answer.content)
        decode += time.perf_counter() - t0
        users += len(body["value"])
        pages += 1
        next_url = body.get("@odata.nextLink")
    return users, pages, time.perf_counter() - start, decode, raw


def decode_all(raw: list[bytes], loads: Callable[[bytes], object]) -> float:
    start = time.perf_counter()
    for page in raw:
        loads(page)
    return time.perf_counter() - start


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description="List every graphsim user; print figures.")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--random-seed", type=int, default=0)
    args = parser.parse_args()
    total = tenant_total(args.users)
    serve = ("--synthetic", str(total), "--random-seed", str(args.random_seed))
    print("bench:  ", shlex.join([Path(sys.executable).name, *sys.argv]))
    print("server: ", shlex.join(["python", *launch.command(*serve)[1:]]),
          f"(plan: {plan_counts(total)['users']:,} users)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    samplers: list[RssSampler] = []

    def sample(pid: int) -> None:  # from the spawn on, so the load phase has its peak
        samplers.append(RssSampler(pid))
        samplers[0].start()

    try:
        with launch.running(*serve, cwd=ROOT, on_spawn=sample) as sim, httpx.Client(
                headers={"Authorization": "Bearer bench"}, timeout=120) as client:
            base, listen_s = sim.url, time.perf_counter() - started
            sampler = samplers[0]
            objects = client.get(f"{base}/_sim/stats").json()["objects"]
            ready_s = time.perf_counter() - started
            server = psutil.Process(sim.proc.pid)
            rss_loaded = server.memory_info().rss
            rows = []
            for label, query in (("$select (22 props)", f"&$select={SELECT}"),
                                 ("default projection", "")):
                sampler.phase = label
                cpu0, client0 = server.cpu_times(), time.process_time()
                n, pages, wall, dec, raw = list_all(client, f"{base}/v1.0/users?$top=999{query}")
                cpu1, client_cpu = server.cpu_times(), time.process_time() - client0
                server_cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
                rows.append((label, n, pages, wall, dec, server_cpu, client_cpu, raw))
    finally:
        for running_sampler in samplers:
            running_sampler.stop_event.set()
    print(f"\ntenant: {sum(objects.values()):,} objects, {objects['users']:,} users; "
          f"server startup+load {listen_s:.1f} s (first answer after {ready_s:.1f} s)")
    print(f"server RSS after load {mib(rss_loaded)}, peak during load {mib(sampler.peaks['load'])}")
    print(f"\n{'listing':<20}{'users':>9}{'pages':>7}{'wall s':>8}{'users/s':>10}{'pages/s':>9}"
          f"{'MiB':>7}{'srv CPU s':>10}{'cli CPU s':>10}{'peak RSS':>10}")
    for label, n, pages, wall, _dec, srv, cli, raw in rows:
        size = sum(map(len, raw)) / 2**20
        print(f"{label:<20}{n:>9,}{pages:>7}{wall:>8.2f}{n / wall:>10,.0f}{pages / wall:>9.1f}"
              f"{size:>7.0f}{srv:>10.2f}{cli:>10.2f}{mib(sampler.peaks[label]):>10}")
    print("\nclient-side JSON decode of the same pages (baseline, no HTTP):")
    print(f"{'listing':<20}{'in-loop orjson s':>17}{'orjson s':>10}{'users/s':>12}"
          f"{'json (stdlib) s':>17}{'users/s':>12}")
    for label, n, _pages, _wall, dec, _srv, _cli, raw in rows:
        fast, slow = decode_all(raw, orjson.loads), decode_all(raw, json.loads)
        print(f"{label:<20}{dec:>17.3f}{fast:>10.3f}{n / fast:>12,.0f}{slow:>17.3f}"
              f"{n / slow:>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
