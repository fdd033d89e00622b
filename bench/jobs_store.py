"""Benchmark: recording and reading recovery results in the job store, folder and Azurite.

Records N results (default 100,000) for one job in waves of W (default 500, a recovery wave's
order of size), each with small before/after states like a user's changed properties, then
re-records one wave (a retry) and streams everything back. Starts its own Azurite. Asserts
nothing; prints results per second every tenth of the way.

Azurite copies a table partition to validate each transaction (so it can roll back;
Azure/Azurite#1017), so its rate falls as the job's one partition grows and 100,000 results
take hours there; `--budget` stops a backend after that many seconds with the rate so far.
Azure itself targets 2,000 entities/s per partition, far above a recovery's Graph write rate.
Usage: python bench/jobs_store.py [--results N] [--wave W] [--backend B] [--budget S]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from entra_backup.recover.jobs import JobStore, open_job_store  # noqa: E402
from tests.support.servers import start_azurite  # noqa: E402

TENANT = "0f2c5a4e-7d1b-4c39-9a6e-2b8f1d3c4e5a"
AT = "2026-11-26T17:30:00.000Z"


def result(step: int, wave: int) -> dict[str, Any]:
    state = {"displayName": f"User {step}", "jobTitle": "Engineer", "department": "R&D",
             "accountEnabled": True, "usageLocation": "DE"}
    return {"step": step, "kind": "users", "id": str(uuid.UUID(int=step)), "action": "update",
            "outcome": "applied", "detail": None, "at": AT, "wave": wave,
            "before": {**state, "jobTitle": "Intern"}, "after": state}


def run(name: str, jobs: JobStore, total: int, wave: int, budget: float) -> None:
    """Record in waves, printing the rate every tenth; stop early once `budget` s are spent."""
    jobs.create_job({"jobId": "bench", "tenantId": TENANT, "jobType": "recovery",
                     "status": "running", "createdAt": AT})
    started = time.perf_counter()
    done = 0
    while done < total and time.perf_counter() - started < budget:
        jobs.record_results(TENANT, "bench", [result(step, done // wave)
                                              for step in range(done, min(total, done + wave))])
        done = min(total, done + wave)
        if done % max(wave, total // 10) == 0 or done == total:
            took = time.perf_counter() - started
            print(f"{name:<8} recorded {done:>7,} in {took:7.1f} s = {done / took:>7,.0f}/s",
                  flush=True)
    jobs.record_results(TENANT, "bench", [result(step, 999) for step in range(wave)])
    started = time.perf_counter()
    count = sum(1 for _ in jobs.iter_results(TENANT, "bench"))
    read = time.perf_counter() - started
    print(f"{name:<8} read     {count:>7,} in {read:7.1f} s = {count / read:>7,.0f}/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--wave", type=int, default=500)
    parser.add_argument("--backend", choices=("folder", "azurite", "both"), default="both")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per backend")
    args = parser.parse_args()
    if args.backend != "azurite":
        with tempfile.TemporaryDirectory() as folder:
            run("folder", open_job_store(folder), args.results, args.wave, args.budget)
    if args.backend != "folder":
        azurite = start_azurite()
        try:
            run("azurite", open_job_store(azurite.url), args.results, args.wave, args.budget)
        finally:
            azurite.stop()


if __name__ == "__main__":
    main()
