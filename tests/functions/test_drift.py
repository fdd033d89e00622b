"""drift_check's parts: the summary of two real snapshots of graphsim (the engine's own
snapshot-to-snapshot diff, stored once), and the webhook - POSTed as JSON, logged by host
only (the URL may carry a SAS), a refusal or a dead endpoint logged and never raised."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from activities import drift
from entra_backup.capture.snapshot import capture
from entra_backup.diff.reports import list_reports
from entra_backup.graph.session import GraphSession, StaticTokenProvider
from entra_backup.kinds import KINDS_BY_NAME
from entra_backup.store.snapshots import FolderStore
from tests.conftest import TOKEN, Sim

SECRET_QUERY = "sv=2024&sig=Zm9vYmFyc2VjcmV0"


class Hook:
    """A loopback webhook that records what it was sent and answers `status`."""

    def __init__(self, status: int) -> None:
        self.bodies: list[Any] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append((self.headers["Content-Type"],
                                    json.loads(self.rfile.read(length))))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/drift?{SECRET_QUERY}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(204)
    yield server
    server.close()


SUMMARY = {"event": drift.EVENT, "tenantId": "t", "snapshotId": "s2", "total": 3}


def test_webhook_gets_the_summary_and_the_log_shows_only_its_host(
        hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(drift.post(hook.url, SUMMARY)) is True
    assert hook.bodies == [("application/json", SUMMARY)]
    assert "127.0.0.1" in caplog.text
    assert "sig=" not in caplog.text and "/hooks/drift" not in caplog.text


def test_a_refusing_webhook_is_logged_not_raised(hook: Hook,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    hook.status = 500
    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(drift.post(hook.url, SUMMARY)) is False
    assert "answered HTTP 500" in caplog.text
    assert "sig=" not in caplog.text


def test_an_unreachable_webhook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    hook = Hook(204)
    url = hook.url
    hook.close()  # nothing listens there any more
    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(drift.post(url, SUMMARY)) is False
    assert "failed" in caplog.text and "sig=" not in caplog.text


async def test_summary_of_two_snapshots_counts_the_change_and_is_stored_once(
        sim: Sim, tmp_path: Path) -> None:
    """A user renamed between two captures is one `updated` users entry; a second check
    (a retried activity) reuses the stored drift report."""
    store = FolderStore(tmp_path)
    kinds = [KINDS_BY_NAME["users"], KINDS_BY_NAME["groups"]]
    start = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    async with GraphSession(base_url=sim.url, tokens=StaticTokenProvider(TOKEN)) as session:
        first = await capture(session, store, kinds=kinds, now=start)
        user = sim.client.get("/users", params={"$top": "1"}).json()["value"][0]
        sim.client.patch(f"/users/{user['id']}",
                         json={"displayName": "Renamed for drift"}).raise_for_status()
        second = await capture(session, store, kinds=kinds, now=start + timedelta(days=1))
    tenant = first.tenant_id
    summary = await drift.summarize(store, tenant, second.snapshot_id, first.snapshot_id)
    assert summary == {
        "event": drift.EVENT, "tenantId": tenant, "snapshotId": second.snapshot_id,
        "previousSnapshotId": first.snapshot_id, "reportId": second.snapshot_id,
        "total": 1, "byChange": {"created": 0, "updated": 1, "deleted": 0},
        "byKind": {"users": {"created": 0, "updated": 1, "deleted": 0}}}
    again = await drift.summarize(store, tenant, second.snapshot_id, first.snapshot_id)
    assert again == summary
    assert list_reports(store, tenant) == [second.snapshot_id]
    assert len(json.dumps(summary)) < 2_000


async def test_the_first_snapshot_has_nothing_to_compare(tmp_path: Path) -> None:
    summary = await drift.summarize(FolderStore(tmp_path), "t", "20260302T230000.000Z", None)
    assert summary["total"] == 0 and summary["reportId"] is None
    assert summary["previousSnapshotId"] is None
