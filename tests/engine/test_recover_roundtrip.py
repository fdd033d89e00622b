"""The seeded round trip: random tenant -> snapshot -> random incident -> recover -> check.

After recovery every recoverable object equals its snapshot state (a fresh diff shows only
what the plan reported as not recoverable), every non-recoverable change is reported, no step
failed, and graphsim counts no permanent delete made by the recovery.

`ROUNDTRIP_CASES` sets how many seeds run (default 200); `ROUNDTRIP_SEED=N` runs one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.incidents import Incident
from tests.engine.recover_helpers import plan_and_apply, report, snap

CASES = int(os.environ.get("ROUNDTRIP_CASES", "200"))
ONE = os.environ.get("ROUNDTRIP_SEED")
SEEDS = [int(ONE)] if ONE else list(range(CASES))


@pytest.mark.parametrize("seed", [pytest.param(s, marks=pytest.mark.tenant(100, s))
                                  for s in SEEDS])
async def test_recovery_round_trip(seed: int, sim: Sim, tmp_path: Path) -> None:
    replay = (f"replay: ROUNDTRIP_SEED={seed} .venv/bin/pytest "
              "tests/engine/test_recover_roundtrip.py")
    store = FolderStore(tmp_path / "store")
    tenant, snapshot = await snap(sim, store)
    incident = Incident(sim, seed).run(3 + seed % 8)
    _, damage = await report(sim, store, tenant, snapshot)
    purged = sim.stats()["permanentDeletes"]
    _, results = await plan_and_apply(sim, store, tenant, snapshot)
    context = f"{replay}\nincident: {incident}"
    failed = [r for r in results if r["outcome"] == "failed"]
    assert not failed, f"{context}\nfailed steps: {failed}"
    assert sim.stats()["permanentDeletes"] == purged, context
    by_object = {(r["kind"], r["id"]): r for r in results}
    for entry in damage:
        if not entry["recoverable"]:
            reported = by_object.get((entry["kind"], entry["id"]))
            assert reported is not None, f"{context}\nnot reported: {entry}"
    explained = {key for key, r in by_object.items() if r["action"] == "none" or r["detail"]}
    _, left = await report(sim, store, tenant, snapshot, use_delta=False)
    unexplained = [e for e in left if (e["kind"], e["id"]) not in explained]
    assert not unexplained, f"{context}\nstill different after recovery: {unexplained}"
