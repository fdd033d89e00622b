"""The `/_sim/` control API: reset, state, stats, config, sync, native-recovery and clock.

Tests and benchmarks steer the simulator through this surface, never through `/v1.0`, the way
moto keeps `/moto-api/` apart from the services it fakes. Answers are plain JSON (not Graph's
shapes): they are for the harness, not for a Graph client.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from graphsim import seed, synthetic
from graphsim.clock import iso
from graphsim.model import deletion, recovery, writes
from graphsim.model.audit import Caller

if TYPE_CHECKING:
    from graphsim.app import Simulator


async def handle(sim: Simulator, request: Request) -> Response:
    """Answer one `/_sim/{op}` request: reset, state, stats, config, sync, native-recovery,
    clock."""
    op = request.path_params["op"]
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return _json({"error": "malformed JSON"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "body must be a JSON object"}, 400)
    if op == "reset" and request.method == "POST":
        return _reset(sim, body)
    if op == "state" and request.method == "GET":
        deletion.run_due_cascades(sim.tenant)  # the dump shows what Graph would have by now
        return _json(seed.dump(sim.tenant))
    if op == "stats" and request.method == "GET":
        return _json(stats(sim))
    if op == "config":
        if request.method == "POST":
            error = _configure(sim, body)
            if error:
                return _json({"error": error}, 400)
        return _json({k: v for k, v in asdict(sim.config).items() if k != "extra"})
    if op == "sync" and request.method == "POST":
        return _sync(sim, body)
    if op == "native-recovery" and request.method == "POST":
        try:  # Microsoft's recovery service: writes without delta records (model/recovery.py)
            return _json(recovery.native_recovery(sim.tenant, body))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
    if op == "clock":
        if request.method == "POST":
            seconds = body.get("advanceSeconds", 0)
            if not isinstance(seconds, int | float) or seconds < 0:
                return _json({"error": "advanceSeconds must be a non-negative number"}, 400)
            sim.clock.advance(float(seconds))
        return _json({"now": iso(sim.clock.now())})
    return _json({"error": f"unknown control operation {op!r}"}, 404)


SYNC_CALLER = Caller("app:Microsoft Entra Connect")


def _sync(sim: Simulator, body: dict[str, Any]) -> Response:
    """Act as the on-premises sync engine: change or delete a synced object.

    Graph refuses cloud writes to synced objects, so tests need this door to make the drift
    that only Entra Connect can make. Body: {"id": ..., "set": {...}} or {"id": ..., "delete":
    true}. Users removed on-premises go to the recycle bin; synced groups are hard-deleted.
    """
    object_id = body.get("id")
    located = sim.tenant.locate(object_id) if isinstance(object_id, str) else None
    if located is None:
        return _json({"error": "no live object with that id"}, 404)
    collection, obj = located
    if not obj.get("onPremisesSyncEnabled"):
        return _json({"error": "the object is not synced from on-premises"}, 400)
    if body.get("delete") is True:
        deletion.remove_object(sim.tenant, SYNC_CALLER, collection, obj)
        return _json({"deleted": object_id})
    values = body.get("set")
    if not isinstance(values, dict) or not values:
        return _json({"error": "give 'set' (an object of properties) or 'delete': true"}, 400)
    writes.apply_update(sim.tenant, SYNC_CALLER, collection, obj, dict(values))
    return _json({"updated": object_id})


def _reset(sim: Simulator, body: dict[str, Any]) -> Response:
    try:
        if "seed" in body:
            items: Any = list(seed.document_items(body["seed"]))
        elif "synthetic" in body:
            items = synthetic.generate(int(body["synthetic"]),
                                       random_seed=int(body.get("randomSeed", 0)),
                                       tenant_id=sim.config.tenant_id)
        else:
            items = None
        sim.load(items)
    except (seed.SeedError, ValueError, TypeError, KeyError) as exc:
        return _json({"error": f"bad seed: {exc}"}, 400)
    return _json({"tenantId": sim.tenant.tenant_id,
                  "objects": {k: len(v) for k, v in sim.tenant.stores.items()}})


_CONFIG_TYPES = {"throttle": str, "latency_model": str, "time_scale": float,
                 "latency_ms": float, "fail_rate": float, "drop_rate": float,
                 "spurious_429_rate": float, "ca_rate_per_second": float,
                 "delta_token_ttl_seconds": float, "delta_reset_rate": float,
                 "delta_replay": int, "agent_cascade_seconds": float,
                 "replication_delay_ms": float}
_CONFIG_ALIASES = {"timeScale": "time_scale", "latencyMs": "latency_ms",
                   "latencyModel": "latency_model", "failRate": "fail_rate",
                   "dropRate": "drop_rate",
                   "spurious429Rate": "spurious_429_rate", "caRatePerSecond": "ca_rate_per_second",
                   "deltaTokenTtlSeconds": "delta_token_ttl_seconds",
                   "deltaResetRate": "delta_reset_rate", "deltaReplay": "delta_replay",
                   "agentCascadeSeconds": "agent_cascade_seconds",
                   "replicationDelayMs": "replication_delay_ms"}


_POSITIVE = frozenset({"time_scale", "ca_rate_per_second", "delta_token_ttl_seconds"})
_RATES = frozenset({"fail_rate", "drop_rate", "spurious_429_rate", "delta_reset_rate"})


def _configure(sim: Simulator, body: dict[str, Any]) -> str | None:
    updates: dict[str, Any] = {}
    for key, value in body.items():
        name = _CONFIG_ALIASES.get(key, key)
        kind = _CONFIG_TYPES.get(name)
        if kind is None:
            return f"unknown setting {key!r}"
        if kind is float and (not isinstance(value, int | float) or isinstance(value, bool)
                              or value < 0):
            return f"{key} must be a non-negative number"
        if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            return f"{key} must be a non-negative integer"
        if kind is str and value not in ("off", "graph"):
            return f"{key} must be 'off' or 'graph'"
        if name in _POSITIVE and value <= 0:
            return f"{key} must be greater than 0"
        if name in _RATES and value > 1:
            return f"{key} is a share of requests: between 0 and 1"
        updates[name] = value
    # validated as a whole first, so a refused body changes nothing
    for name, value in updates.items():
        setattr(sim.config, name, value)
    sim.configure_throttle()
    return None


def stats(sim: Simulator) -> dict[str, Any]:
    tenant = sim.tenant
    return {
        "requests": {method: dict(kinds) for method, kinds in sim.requests.items()},
        "throttled": sim.faults["throttled"],
        "faults": dict(sim.faults),
        "permanentDeletes": tenant.stats["permanentDeletes"],
        "tenant": dict(tenant.stats),
        "throttle": sim.throttle.stats(),
        "objects": {name: len(store) for name, store in tenant.stores.items()},
        "deletedItems": len(tenant.bin),
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
