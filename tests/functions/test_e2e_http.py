"""The whole story through the HTTP API, as a Logic App drives it: real `func.HttpRequest`s
to the registered functions, the SDK's own durable client talking to the loopback management
API (tests/support/durable_http.py), and behind it the replay harness running the real
orchestrators, entity and activities against graphsim and Azurite.

backup -> incident -> difference report -> recovery cancelled mid-way (a second one refused
with 409 meanwhile) -> a new report -> recovery to the end, nothing recoverable unexplained.
Long operations answer 202 + Location + Retry-After while running and 200 when final
(https://learn.microsoft.com/en-us/azure/logic-apps/logic-apps-create-api-app); job fields are
the native service's (https://learn.microsoft.com/en-us/graph/api/resources/entrarecoveryservices-recoveryjobbase).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

import function_app
from entra_backup.connect import Connection
from entra_backup.diff.reports import iter_entries
from orchestrators import recovery as recovery_module
from tests.conftest import Sim
from tests.engine.incidents import Incident
from tests.functions.api_helpers import HOST, Answer, Api
from tests.functions.conftest import _AUTH_SETTINGS
from tests.functions.e2e import replay_twice, unexplained
from tests.support.durable_harness import Harness
from tests.support.durable_http import DurableHttpServer

SIZE, SEED, INCIDENT_SEED = 100, 23, 9
pytestmark = pytest.mark.tenant(SIZE, SEED)


@dataclass
class Story:
    api: Api
    harness: Harness
    conn: Connection
    sim: Sim
    tenant: str

    def follow(self, answer: Answer) -> str:
        """The Location of a 202 as a path below /api/ (our own route, no key)."""
        assert answer.status == 202, (answer.status, answer.body)
        assert answer.headers["Retry-After"] == "30"
        url = urlsplit(answer.headers["Location"])
        assert f"{url.scheme}://{url.netloc}" == HOST and url.path.startswith("/api/")
        assert "code=" not in url.query
        return url.path[len("/api/"):] + (f"?{url.query}" if url.query else "")

    def finish(self, location: str) -> dict[str, Any]:
        """Poll (202 while the harness has work), run the harness, poll again: 200."""
        assert self.api.get(location).status == 202
        self.harness.run_until_idle()
        done = self.api.get(location)
        assert done.status == 200 and "Location" not in done.headers, done.body
        body: dict[str, Any] = done.json()
        return body

    def diff_report(self, snapshot: str) -> dict[str, Any]:
        location = self.follow(self.api.post(f"tenants/{self.tenant}/diff-reports",
                                             body={"snapshotId": snapshot}))
        report = self.finish(location)
        assert report["status"] == "successful", report.get("error")
        return report


@pytest.fixture
def story(sim: Sim, conn: Connection, monkeypatch: pytest.MonkeyPatch) -> Iterator[Story]:
    tenant = sim.reset(synthetic=SIZE, random_seed=SEED)["tenantId"]
    for name in _AUTH_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENTRA_BACKUP_API_LOCAL_DEV", "true")
    monkeypatch.setenv("ENTRA_BACKUP_TENANTS", tenant)
    harness = Harness(function_app.app)
    server = DurableHttpServer(harness)
    yield Story(Api(server), harness, conn, sim, tenant)
    server.close()


def test_backup_report_recover_through_the_api(story: Story,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    api, harness, tenant = story.api, story.harness, story.tenant
    base = f"tenants/{tenant}"

    # an on-demand backup, followed through its operation
    location = story.follow(api.post(f"{base}/backups"))
    backup = story.finish(location)
    assert backup["status"] == "successful" and backup["snapshotId"]
    snapshot = backup["snapshotId"]
    listed = api.get(f"{base}/backups").json()["value"]
    assert [b["id"] for b in listed] == [snapshot] and listed[0]["objectCounts"]["users"] > 0

    Incident(story.sim, INCIDENT_SEED).run(8)

    # a difference report: its entries are the stored report's
    report = story.diff_report(snapshot)
    assert report["totalChangedObjectsCalculated"] == report["summary"]["total"] > 0
    assert report["reportId"] == report["id"]
    entries = api.get(f"{base}/diff-reports/{report['id']}/entries?$top=500").json()["value"]
    assert entries == list(iter_entries(story.conn.store, tenant, report["reportId"]))
    kinds = sorted({e["kind"] for e in entries})

    # a recovery in one-step waves: a second one is refused while it runs, then it is cancelled
    monkeypatch.setattr(recovery_module, "WAVE_SIZE", 1)
    selection = {"kinds": kinds, "objectIds": []}
    started = api.post(f"{base}/recoveries", body={"reportId": report["id"],
                                                    "selection": selection})
    first = started.json()["id"]
    location = story.follow(started)
    while harness.activity_runs["apply_wave"] < 2:
        assert harness.step() is not None
    running = api.get(location)
    assert running.status == 202 and running.json()["status"] == "running"
    refused = api.post(f"{base}/recoveries", body={"reportId": report["id"],
                                                    "selection": selection})
    assert refused.status == 409 and first in refused.error["message"]
    story.follow(api.post(f"{location}/cancel"))
    harness.run_until_idle()
    cancelled = api.get(location)
    assert cancelled.status == 200, cancelled.body
    body = cancelled.json()
    assert body["status"] == "abandoned" and body["jobCompletionDateTime"]
    assert 2 <= body["cursor"] < body["steps"] and len(body["results"]) >= 2
    assert harness.entity_state("tenant_job", tenant)["holder"] is None

    # what is left: a fresh report, and a recovery to the end
    monkeypatch.setattr(recovery_module, "WAVE_SIZE", 3)
    report = story.diff_report(snapshot)
    started = api.post(f"{base}/recoveries", body={"reportId": report["id"],
                                                    "selection": selection})
    second = started.json()["id"]
    done = story.finish(story.follow(started))
    assert done["status"] == "successful", done.get("error")
    assert done["totalObjectsModified"] > 0 and done["totalFailedChanges"] == 0
    assert done["results"] and {r["entityTypeName"] for r in done["results"]} <= set(kinds)
    listed = api.get(f"{base}/recoveries").json()["value"]
    assert {(r["id"], r["status"]) for r in listed} == {(first, "abandoned"),
                                                        (second, "successful")}
    assert asyncio.run(unexplained(story.conn, tenant, snapshot, second)) == []

    # determinism: every finished execution was replayed from scratch by the harness, and
    # the recovery's last history fed twice by hand gives the same actions
    executions = sum(i.execution + 1 for i in harness.instances.values())
    assert harness.replay_checks == executions >= 5  # backup, 2 reports, 2 recoveries
    instance = f"recovery-{tenant}-{second}"
    assert replay_twice(harness, instance)["output"]["status"] == "successful"
