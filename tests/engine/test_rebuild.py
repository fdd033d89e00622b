"""Rebuild into a new tenant: two graphsim tenants side by side, a synthetic source captured
and rebuilt into a bare target (its own tenant id and verified domains, and - as in every
real tenant - Microsoft's first-party service principals), checked through the target's Graph
and by the mapped diff.

Graph facts relied on: a service principal is unique per appId in a tenant and first-party
apps (Microsoft Graph, 00000003-0000-0000-c000-000000000000) already have one
(https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals); a user is
created with a passwordProfile and a userPrincipalName in a verified domain
(https://learn.microsoft.com/graph/api/user-post-users); a CA policy can be created
report-only, `enabledForReportingButNotEnforced`
(https://learn.microsoft.com/graph/api/conditionalaccessroot-post-policies).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entra_backup.capture.snapshot import capture
from entra_backup.recover.jobs import FolderJobStore
from entra_backup.recover.plan import iter_steps
from entra_backup.recover.rebuild.plan import RebuildRequest
from entra_backup.recover.rebuild.rewrite import DomainMap, Move
from entra_backup.recover.rebuild.run import (
    StoredIdMap,
    apply_rebuild,
    plan_rebuild,
    verify_rebuild,
)
from entra_backup.store.snapshots import FolderStore
from graphsim import launch
from tests.conftest import TOKEN, Sim
from tests.engine.conftest import run
from tests.engine.test_capture import session_for

SOURCE = "5a0c0e2e-1111-4000-8000-00000000a001"
TARGET = "7b1d1f3f-2222-4000-8000-00000000b002"
DOMAINS = ["contoso7.onmicrosoft.com=contoso1.onmicrosoft.com", "contoso7.com=contoso1.com"]
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
REPORT_ONLY = "enabledForReportingButNotEnforced"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[launch.Server, launch.Server]]:
    with launch.running("--synthetic", "400", "--random-seed", "7", "--tenant-id", SOURCE,
                        quiet=True) as source, \
            launch.running("--random-seed", "1", "--tenant-id", TARGET, quiet=True) as target:
        yield source, target


class Pair:
    def __init__(self, servers: tuple[launch.Server, launch.Server], folder: Path) -> None:
        self.source, self.target = Sim(servers[0]), Sim(servers[1])
        self.source.reset(synthetic=400, random_seed=7)
        self.target.control.post("/reset", json={}).raise_for_status()
        self.store = FolderStore(folder / "store")
        self.jobs = FolderJobStore(folder / "store" / "jobs")
        self.folder = folder

    def writes(self) -> int:
        requests = self.target.stats()["requests"]
        return sum(sum(k.values()) for method, k in requests.items() if method != "GET")

    def env(self) -> dict[str, str]:
        return {"ENTRA_BACKUP_GRAPH_URL": self.source.graph, "ENTRA_BACKUP_GRAPH_TOKEN": TOKEN,
                "ENTRA_BACKUP_STORE": str(self.folder / "store")}

    def all(self, path: str) -> list[dict[str, Any]]:
        items, url = [], f"{path}{'&' if '?' in path else '?'}$top=999"
        while url:
            page = self.target.client.get(url).json()
            items += page["value"]
            url = page.get("@odata.nextLink")
        return items


@pytest.fixture
def pair(servers: tuple[launch.Server, launch.Server], tmp_path: Path) -> Iterator[Pair]:
    handle = Pair(servers, tmp_path)
    yield handle
    for sim in (handle.source, handle.target):
        sim.client.close()
        sim.control.close()


async def _snapshot(pair: Pair) -> str:
    async with session_for(pair.source) as session:
        return (await capture(session, pair.store)).snapshot_id


async def _plan(pair: Pair, snapshot: str) -> dict[str, Any]:
    request = RebuildRequest(SOURCE, snapshot, Move(SOURCE, TARGET, DomainMap.parse(DOMAINS)))
    async with session_for(pair.target) as session:
        return await plan_rebuild(pair.store, session, request, target_tenant=TARGET)


async def _rebuild(pair: Pair, snapshot: str, *, crash_after: float | None = None
                   ) -> tuple[dict[str, Any], Any]:
    plan = await _plan(pair, snapshot)
    async with session_for(pair.target) as session:
        work = apply_rebuild(session, pair.store, pair.jobs, plan, wave_size=25)
        if crash_after is not None:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(work, crash_after)
            return plan, None
        await work
        job, diff = await verify_rebuild(session, pair.store, pair.jobs, plan)
    return plan, (job, diff)


def _census(pair: Pair) -> Counter[str]:
    """Objects in the target by kind and key: a duplicate shows as a count above one."""
    keys: Counter[str] = Counter()
    for user in pair.all("users?$select=userPrincipalName"):
        keys[f"user {user['userPrincipalName'].lower()}"] += 1
    for path in ("groups?$select=description", "applications?$select=tags",
                 "servicePrincipals?$select=appId",
                 "identity/conditionalAccess/policies?$select=description",
                 "identity/conditionalAccess/namedLocations?$select=displayName"):
        for item in pair.all(path):
            keys[f"{path.split('?')[0]} {json.dumps(item, sort_keys=True)}"] += 1
    return keys


def test_rebuild_maps_every_id_and_the_diff_shows_only_exceptions(pair: Pair) -> None:
    snapshot = asyncio.run(_snapshot(pair))
    plan, (job, diff) = asyncio.run(_rebuild(pair, snapshot))
    failed = [r for r in pair.jobs.iter_results(TARGET, plan["recoveryId"])
              if r["outcome"] == "failed"]
    assert job["status"] == "successful", json.dumps([failed[:3], diff.unexplained[:4]])
    assert job["counters"]["failed"] == 0
    assert diff.unexplained == []
    assert diff.entries, "the exceptions show in the diff (disabled users, report-only CA)"
    reasons = plan["exceptions"]
    for reason in ("password", "guest", "synced_from_on_premises", "secrets", "report_only",
                   "agent_id", "dynamic_membership"):
        assert reasons.get(reason), (reason, reasons)
    ids = StoredIdMap(pair.store.recoveries(), TARGET, plan["recoveryId"]).load()
    source = pair.source.state()["objects"]
    # Microsoft Graph's SP is mapped by appId, never created: one in the target
    graph_sps = pair.all(f"servicePrincipals?$filter=appId eq '{GRAPH_APP_ID}'")
    assert len(graph_sps) == 1
    [old_graph] = [s["id"] for s in source["servicePrincipals"] if s.get("appId") == GRAPH_APP_ID]
    assert ids[old_graph] == graph_sps[0]["id"] != old_graph
    # users: new ids, mapped domain, created disabled
    member = next(u for u in source["users"] if u.get("userType") == "Member"
                  and not u.get("onPremisesSyncEnabled"))
    new_user = pair.target.client.get(f"users/{ids[member['id']]}?$select=userPrincipalName,"
                                      "accountEnabled,mail").json()
    assert new_user["userPrincipalName"] == member["userPrincipalName"].replace(
        "contoso7.onmicrosoft.com", "contoso1.onmicrosoft.com")
    assert new_user["accountEnabled"] is False and ids[member["id"]] != member["id"]
    # apps: identifier URIs name the new appId; their SPs hold their app role assignments
    api = next(a for a in source["applications"] if any(
        u.startswith("api://") for u in a.get("identifierUris") or []))
    new_app = pair.target.client.get(f"applications/{ids[api['id']]}").json()
    assert new_app["identifierUris"] == [f"api://{new_app['appId']}"]
    assert ids[api["appId"]] == new_app["appId"] != api["appId"]
    # CA policies: report-only, references rewritten to the new ids
    enabled = next(p for p in source["conditionalAccessPolicies"] if p["state"] == "enabled")
    policy = pair.target.client.get(
        f"identity/conditionalAccess/policies/{ids[enabled['id']]}").json()
    assert policy["state"] == REPORT_ONLY
    excluded = policy["conditions"]["users"]["excludeUsers"]
    assert excluded and set(excluded) <= {ids[u] for u in ids.values() if u in ids} | set(
        ids.values())
    # nothing twice
    assert max(_census(pair).values()) == 1


def test_crashes_at_random_points_then_a_rerun_converges(pair: Pair) -> None:
    snapshot = asyncio.run(_snapshot(pair))
    rng = random.Random(11)
    for _ in range(2):
        asyncio.run(_rebuild(pair, snapshot, crash_after=rng.uniform(0.5, 3.0)))
    crashed = _census(pair)
    plan, (job, diff) = asyncio.run(_rebuild(pair, snapshot))
    assert job["counters"]["failed"] == 0 and diff.unexplained == []
    census = _census(pair)
    assert max(census.values()) == 1, [k for k, v in census.items() if v > 1][:3]
    assert set(crashed) <= set(census)
    creates = Counter(s["kind"] for s in iter_steps(pair.store.recoveries(), plan)
                      if s["action"] == "create")
    assert sum(1 for k in census if k.startswith("user ")) == creates["users"]
    # one more run finds everything and creates nothing
    _, (job2, diff2) = asyncio.run(_rebuild(pair, snapshot))
    assert _census(pair) == census and diff2.unexplained == []
    assert job2["counters"]["failed"] == 0


def test_dry_run_writes_nothing(pair: Pair) -> None:
    snapshot = asyncio.run(_snapshot(pair))
    before = pair.writes()
    done = run("rebuild", snapshot, "--target-graph-url", pair.target.url, "--target-tenant",
               TARGET, *[f"--domain-map={d}" for d in DOMAINS], "--dry-run", "--json",
               env=pair.env())
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "planned"
    actions = Counter(s["action"] for s in document["plan"])
    assert actions["create"] > 300 and actions["update"] > 100
    assert pair.writes() == before
    assert not (pair.folder / "store" / "recoveries").exists()


def _one_line_error(done: Any, *words: str) -> None:
    assert done.returncode != 0, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("entra-backup: error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_input_is_refused_before_any_write(pair: Pair) -> None:
    snapshot = asyncio.run(_snapshot(pair))
    before = pair.writes()
    common = ("--target-tenant", TARGET, "--yes", "--json")
    maps = [f"--domain-map={d}" for d in DOMAINS]
    done = run("rebuild", "20990101T000000.000Z", "--target-graph-url", pair.target.url,
               *common, *maps, env=pair.env())
    _one_line_error(done, "no snapshot")
    done = run("rebuild", snapshot, "--target-graph-url", pair.source.url,
               "--target-tenant", SOURCE, "--yes", *maps, env=pair.env())
    _one_line_error(done, "snapshot's own tenant")
    done = run("rebuild", snapshot, "--target-graph-url", pair.target.url, *common,
               "--domain-map=contoso7.com=contoso1.com", env=pair.env())
    _one_line_error(done, "contoso7.onmicrosoft.com", "nothing written")
    done = run("rebuild", snapshot, "--target-graph-url", pair.target.url, *common,
               "--domain-map=contoso7.onmicrosoft.com", env=pair.env())
    _one_line_error(done, "--domain-map")
    assert pair.writes() == before


def test_cli_rebuild_reports_users_for_a_reset(pair: Pair) -> None:
    snapshot = asyncio.run(_snapshot(pair))
    done = run("rebuild", snapshot, "--target-graph-url", pair.target.url, "--target-tenant",
               TARGET, *[f"--domain-map={d}" for d in DOMAINS], "--yes", "--json",
               env=pair.env(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["status"] == "successful"
    assert document["verification"]["unexplained"] == 0
    resets = [e for e in document["exceptions"] if e["reason"] == "password"]
    created_users = pair.all("users?$select=id")
    assert len(resets) == len(created_users) > 0
    # the generated passwords are never kept: not in the output, the history or the plan
    files = [p for p in (pair.folder / "store").rglob("*") if p.is_file()]
    kept = [done.stdout] + [(gzip.decompress(p.read_bytes()) if p.suffix == ".gz"
                             else p.read_bytes()).decode("utf-8") for p in files]
    assert not any("passwordProfile" in text for text in kept)
