"""Activities of the `snapshot` orchestration: begin_snapshot, capture_kind, finish_kind,
finish_snapshot, drift_check. Thin doors: small JSON in, one engine stage
(entra_backup.capture.stages) through `connect(Settings.from_env())`, small JSON out - ids,
cursors, counts and blob names, never records (those meet in the store's staging area).

Each may run twice (a host crash after it ran, before its completion was recorded): the
stages are written so a repeat rewrites the same staging chunk or finds the file already
merged, and drift_check reuses the drift report an earlier run stored.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

bp = df.Blueprint()
Json = dict[str, Any]


def connection() -> Any:
    """The engine's parts for this app's settings (imported late: a cold start stays light)."""
    from entra_backup.connect import connect
    from entra_backup.settings import Settings

    return connect(Settings.from_env())


@bp.activity_trigger(input_name="request")
async def begin_snapshot(request: Json) -> Json:
    """{"tenantId", "takenAt", "kinds": [names] (empty = all)} -> begun (the stage's, with
    `kinds` narrowed to the ones asked for, in the stage's order)."""
    from entra_backup.capture import stages

    begun: Json = await stages.begin_snapshot(connection(), request["tenantId"],
                                              request["takenAt"])
    wanted = set(request.get("kinds") or [])
    unknown = wanted - set(begun["kinds"])
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}")
    if wanted:
        begun = {**begun, "kinds": [kind for kind in begun["kinds"] if kind in wanted]}
    return begun


@bp.activity_trigger(input_name="request")
async def capture_kind(request: Json) -> Json:
    """{"begun", "kind", "cursor"} -> {"kind", "done", "cursor", "count"}: one chunk."""
    from entra_backup.capture import stages

    result: Json = await stages.capture_chunk(connection(), request["begun"], request["kind"],
                                              request.get("cursor"))
    return result


@bp.activity_trigger(input_name="request")
async def finish_kind(request: Json) -> Json:
    """{"begun", "kind"} -> {"kind", "file", "count", "sha256", "bytes", "deltaLink"}."""
    from entra_backup.capture import stages

    result: Json = await stages.finish_kind(connection(), request["begun"], request["kind"])
    return result


@bp.activity_trigger(input_name="request")
async def finish_snapshot(request: Json) -> Json:
    """{"begun", "kinds": [finish_kind results]} -> {"tenantId", "snapshotId", "counts"}."""
    from entra_backup.capture import stages

    result: Json = await stages.finish_snapshot(connection(), request["begun"],
                                                request["kinds"])
    return result


@bp.activity_trigger(input_name="request")
async def drift_check(request: Json) -> Json:
    """{"tenantId", "snapshotId", "previousSnapshotId"} -> the drift summary (drift.py)."""
    from activities import drift

    conn = connection()
    summary = await drift.summarize(conn.store, request["tenantId"], request["snapshotId"],
                                    request.get("previousSnapshotId"))
    drift.announce(summary)
    if conn.settings.drift_webhook:
        await drift.post(conn.settings.drift_webhook, summary)
    return summary
