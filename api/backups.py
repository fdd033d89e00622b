"""Backups (snapshots): list what the store holds, take one on demand, follow it.

Snapshots are not jobs in the job store (they hold no tenant lease), so an on-demand
snapshot is followed through its orchestration: `POST backups` answers 202 with
`Location: .../backups?operationId={id}`, and that query answers 202 while the snapshot runs
and 200 when it ended, successful or failed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

import azure.durable_functions as df
import azure.functions as func

from api import validate
from api.auth import ADMINISTRATOR, READER, authorize
from api.engine import engine
from api.errors import bad_request, json_response, not_found, responds
from api.jobs import LIVE, RETRY_AFTER_SECONDS, absolute_url, next_link
from entra_backup.ids import snapshot_time
from entra_backup.kinds import get_kind
from entra_backup.types import Json

bp = df.Blueprint()

ORCHESTRATOR: Final = "snapshot"


@bp.route(route="tenants/{tenantId}/backups", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def list_backups(req: func.HttpRequest,
                       client: df.DurableOrchestrationClient) -> func.HttpResponse:
    authorize(req, READER)
    query = validate.Query.of(req, ("operationId",))
    operation = query.get("operationId")
    top, skip = query.top(), query.skip()
    eng = engine()
    tenant = eng.tenant(req.route_params["tenantId"])
    path = f"tenants/{tenant}/backups"
    if operation is not None:
        return await _operation(req, client, tenant, validate.operation_id(operation))
    snapshots = eng.store.list_snapshots(tenant)
    page = []
    for snapshot_id in snapshots[skip:skip + top]:
        manifest, _ = _manifest(eng.store, tenant, snapshot_id)
        counts = {name: entry.get("count", 0) for name, entry in manifest["kinds"].items()}
        page.append({"id": snapshot_id, "createdDateTime": _iso_of(snapshot_id),
                     "takenAt": manifest.get("takenAt"), "objectCounts": counts})
    body: Json = {"value": page}
    if len(snapshots) > skip + top:
        body["@odata.nextLink"] = next_link(req, path, query, skip + top)
    return json_response(body)


@bp.route(route="tenants/{tenantId}/backups", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@responds
async def start_backup(req: func.HttpRequest,
                       client: df.DurableOrchestrationClient) -> func.HttpResponse:
    authorize(req, ADMINISTRATOR)
    validate.Query.of(req)
    body = validate.body_object(req, ("kinds",), optional=True)
    kinds = validate.texts(body, "kinds")
    try:
        for kind in kinds:
            get_kind(kind)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    tenant = engine().tenant(req.route_params["tenantId"])
    operation = uuid.uuid4().hex
    snapshot_input: Json = {"tenantId": tenant, "operationId": operation, "trigger": "http"}
    if kinds:
        snapshot_input["kinds"] = kinds
    await client.start_new(ORCHESTRATOR, operation, snapshot_input)
    return _accepted(req, tenant, {"id": operation, "status": "running", "snapshotId": None})


async def _operation(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                     tenant: str, operation: str) -> func.HttpResponse:
    status = await client.get_status(operation)
    given = status.input_ if status.runtime_status is not None else None
    if (status.runtime_status is None or status.name not in (None, ORCHESTRATOR)
            or (isinstance(given, dict) and given.get("tenantId") != tenant)):
        raise not_found(f"no backup operation {operation} for tenant {tenant}")
    output = status.output if isinstance(status.output, dict) else {}
    doc: Json = {"id": operation, "snapshotId": output.get("snapshotId"),
                 "createdDateTime": _iso(status.created_time),
                 "lastUpdatedDateTime": _iso(status.last_updated_time)}
    runtime = status.runtime_status
    if runtime in LIVE:
        return _accepted(req, tenant, {**doc, "status": "running"})
    done = "successful" if runtime == df.OrchestrationRuntimeStatus.Completed else "failed"
    return json_response({**doc, "status": done})


def _accepted(req: func.HttpRequest, tenant: str, body: Json) -> func.HttpResponse:
    location = absolute_url(req, f"tenants/{tenant}/backups") + "?" + \
        urlencode({"operationId": body["id"]})
    return json_response(body, 202, headers={"Location": location,
                                             "Retry-After": str(RETRY_AFTER_SECONDS)})


def _iso_of(snapshot_id: str) -> str:
    return snapshot_time(snapshot_id).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso(when: object) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(when, datetime) else None


def _manifest(store: Any, tenant: str, snapshot_id: str) -> tuple[Json, str]:
    from entra_backup.store.verify import load_manifest  # loads the capture engine: not at start

    return load_manifest(store, tenant, snapshot_id)
