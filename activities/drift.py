"""Drift check after each snapshot: the new snapshot compared with the previous one.

The comparison is the engine's own snapshot-to-snapshot diff (`entra-backup diff PREVIOUS
--against NEW` in the CLI), stored as a report whose id is the new snapshot's id, so a
repeated activity finds the report its first run wrote instead of writing a second one. The
summary (counts only, no object data) goes to the log as one structured event and, when
ENTRA_BACKUP_DRIFT_WEBHOOK is set, is POSTed there as JSON.

The webhook URL may carry a SAS or function key, so it is never logged whole: only its host.
A webhook failure is logged and swallowed - the snapshot is already safe in the store.
urllib is used for the POST because httpx logs every request URL at INFO level.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from datetime import UTC
from typing import Any, Final
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
Json = dict[str, Any]

EVENT: Final = "entraBackup.drift"
WEBHOOK_TIMEOUT_SECONDS: Final = 10.0
_CHANGES: Final = ("created", "updated", "deleted")


async def summarize(store: Any, tenant_id: str, snapshot_id: str,
                    previous_id: str | None) -> Json:
    """The drift summary of `snapshot_id` against `previous_id` (None: the first snapshot)."""
    summary: Json = {"event": EVENT, "tenantId": tenant_id, "snapshotId": snapshot_id,
                     "previousSnapshotId": previous_id, "reportId": None, "total": 0,
                     "byChange": dict.fromkeys(_CHANGES, 0), "byKind": {}}
    if previous_id is None:
        return summary
    header = _stored(store, tenant_id, snapshot_id, previous_id)
    if header is None:
        header = await _compare(store, tenant_id, snapshot_id, previous_id)
    counts = header["summary"]
    summary.update(reportId=header["reportId"], total=counts["total"],
                   byChange=counts["byChange"],
                   byKind={kind: changes for kind, changes in counts["byKind"].items()
                           if any(changes.values())})
    return summary


def _stored(store: Any, tenant_id: str, snapshot_id: str, previous_id: str) -> Json | None:
    """The drift report an earlier run of this check stored, if any."""
    from entra_backup.diff.reports import load_header
    from entra_backup.errors import SnapshotNotFoundError

    try:
        header: Json = load_header(store, tenant_id, snapshot_id)
    except SnapshotNotFoundError:
        return None
    if header.get("snapshotId") != previous_id or header.get("against") != snapshot_id:
        raise ValueError(f"report {snapshot_id} of tenant {tenant_id} is not the drift "
                         f"report of snapshot {snapshot_id}")
    return header


async def _compare(store: Any, tenant_id: str, snapshot_id: str, previous_id: str) -> Json:
    """Diff previous -> new over the kinds both captured; report id = the new snapshot's."""
    from entra_backup.diff.run import DiffRequest, run_diff
    from entra_backup.kinds import ALL_KINDS
    from entra_backup.store.snapshots import snapshot_time
    from entra_backup.store.verify import load_manifest

    captured = [set(load_manifest(store, tenant_id, one)[0]["kinds"])
                for one in (previous_id, snapshot_id)]
    common = [kind.name for kind in ALL_KINDS if all(kind.name in c for c in captured)]
    request = DiffRequest(tenant_id=tenant_id, snapshot_id=previous_id, against=snapshot_id,
                          kinds=common)
    result = await run_diff(store, request, now=snapshot_time(snapshot_id).astimezone(UTC))
    header: Json = result.header
    return header


def announce(summary: Json) -> None:
    """One structured log event (App Insights custom dimensions carry the counts)."""
    log.info("%s %s", EVENT, json.dumps(summary, sort_keys=True),
             extra={"custom_dimensions": {"event": EVENT, "tenantId": summary["tenantId"],
                                          "snapshotId": summary["snapshotId"],
                                          "total": summary["total"]}})


def webhook_host(url: str) -> str:
    """What may be logged of a webhook URL: its host, never path, query or credentials."""
    return urlsplit(url).hostname or "?"


async def post(url: str, summary: Json) -> bool:
    """POST the summary; False (logged by host only) when the webhook refused or failed."""
    host = webhook_host(url)
    try:
        status = await asyncio.to_thread(_post, url, json.dumps(summary).encode())
    except urllib.error.HTTPError as exc:
        log.warning("drift webhook at %s answered HTTP %s", host, exc.code)
        return False
    except Exception as exc:  # network, TLS, timeout: the snapshot stands regardless
        log.warning("drift webhook at %s failed: %s", host, type(exc).__name__)
        return False
    log.info("drift webhook at %s answered HTTP %s", host, status)
    return True


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        return int(response.status)
