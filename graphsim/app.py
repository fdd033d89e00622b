"""The ASGI application: Graph's request pipeline around the model (`/_sim/` is `control.py`).

Pipeline per request, in Graph's order of effects: request ids, latency, authentication,
injected faults, authorization, throttling, then the route's handler; every error leaves as
Graph's JSON error body. `$batch` runs its entries through the same pipeline one by one, so
each entry is authorized, throttled and validated on its own, as Graph does.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from graphsim import control, latency, seed, synthetic
from graphsim.clock import SimClock
from graphsim.context import Ctx
from graphsim.delta_handler import DeltaPolicy
from graphsim.errors import (
    AccessDenied,
    BadRequest,
    GatewayTimeout,
    GraphError,
    InvalidAuthenticationToken,
    ServiceUnavailable,
    TooManyRequests,
)
from graphsim.model import deletion
from graphsim.model.audit import Caller
from graphsim.model.tenant import Tenant
from graphsim.odata import parse_query
from graphsim.render import Result, error_body, new_request_id
from graphsim.routes import dispatch
from graphsim.rules import AGENT_CASCADE_SECONDS, DELTA_TOKEN_TTL_SECONDS, MAX_BIND_PER_REQUEST
from graphsim.throttle import RequestInfo, Throttle

log = logging.getLogger(__name__)
MAX_BATCH = 20
_DIAGNOSTIC = '{"ServerInfo":{"DataCenter":"graphsim","Slice":"E","Ring":"1",' \
              '"ScaleUnit":"000","RoleInstance":"graphsim"}}'
assert MAX_BIND_PER_REQUEST == MAX_BATCH


@dataclass
class SimConfig:
    """Everything `graphsim serve` and `/_sim/config` can set."""

    throttle: str = "off"
    time_scale: float = 1.0
    latency_ms: float = 0.0
    latency_model: str = "off"  # "graph": per-request costs shaped like Graph's (latency.py)
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    spurious_429_rate: float = 0.0
    ca_rate_per_second: float = 1.0
    delta_token_ttl_seconds: float = DELTA_TOKEN_TTL_SECONDS
    delta_reset_rate: float = 0.0
    delta_replay: int = 0
    agent_cascade_seconds: float = AGENT_CASCADE_SECONDS
    replication_delay_ms: float = 0.0
    random_seed: int = 0
    seed_file: str | None = None
    synthetic: int | None = None
    tenant_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Simulator:
    """One tenant behind one HTTP endpoint."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock()
        self.rng = random.Random(config.random_seed)
        self.tenant = Tenant(self.clock, config.tenant_id)
        self.throttle = Throttle(mode=config.throttle, time_scale=config.time_scale)
        self.requests: dict[str, Counter[str]] = defaultdict(Counter)
        self.faults: Counter[str] = Counter()
        self.load(None)

    # ----- seeding ---------------------------------------------------------------------------

    def _default_items(self) -> Any:
        if self.config.seed_file:
            return seed.read_file(Path(self.config.seed_file))
        if self.config.synthetic:
            return synthetic.generate(self.config.synthetic, random_seed=self.config.random_seed,
                                      tenant_id=self.config.tenant_id)
        return synthetic.generate(0, random_seed=self.config.random_seed,
                                  tenant_id=self.config.tenant_id)

    def load(self, items: Any) -> None:
        self.clock.reset()
        tenant = Tenant(self.clock, self.config.tenant_id)
        seed.load(tenant, items if items is not None else self._default_items())
        self.tenant = tenant
        self.requests.clear()
        self.faults.clear()
        self.configure_throttle()

    def configure_throttle(self) -> None:
        """Apply the config's throttling and delta settings (after load or /_sim/config)."""
        self.delta_policy = DeltaPolicy(
            ttl_seconds=self.config.delta_token_ttl_seconds,
            reset_rate=self.config.delta_reset_rate, replay=self.config.delta_replay,
            rng=self.rng,
        )
        self.tenant.agent_cascade_delay = timedelta(seconds=self.config.agent_cascade_seconds)
        self.tenant.replication_delay = timedelta(milliseconds=self.config.replication_delay_ms)
        self.latency = latency.LatencyModel(flat_ms=self.config.latency_ms,
                                            model=self.config.latency_model,
                                            random_seed=self.config.random_seed)
        self.throttle = Throttle(
            mode=self.config.throttle, time_scale=self.config.time_scale,
            tenant_users=len(self.tenant.stores["users"]), tenant_id=self.tenant.tenant_id,
            ca_rate_per_second=self.config.ca_rate_per_second,
            spurious_429_rate=self.config.spurious_429_rate, rng=self.rng,
        )

    # ----- one Graph request ---------------------------------------------------------------

    def execute(self, ctx: Ctx) -> Result:
        """Throttle, then dispatch one (sub-)request; GraphErrors become error results."""
        kind = _kind(ctx.segments)
        self.requests[ctx.method][kind] += 1
        deletion.run_due_cascades(self.tenant)
        try:
            deny = ctx.extra.get("deny", frozenset())
            if deny and {kind, *ctx.segments[:1]} & deny:
                raise AccessDenied("Insufficient privileges to complete the operation.")
            decision = self.throttle.decide(_request_info(ctx))
            if not decision.allowed:
                headers = dict(decision.headers)
                if decision.retry_after is not None:
                    headers["Retry-After"] = _seconds(decision.retry_after)
                raise TooManyRequests("Too many requests. Please retry later." if
                                      decision.retry_after is not None else
                                      "Too many requests.", headers=headers)
            try:
                result = dispatch(self.tenant, ctx, delta=self.delta_policy)
            except GraphError as error:
                # The request was charged either way: Graph sends x-ms-resource-unit on every
                # directory response, a 404 or 400 included.
                result = Result(error.status, error, dict(error.headers))
            result.headers.update(decision.headers)
            return result
        except GraphError as error:
            if isinstance(error, TooManyRequests):
                self.faults["throttled"] += 1
            return Result(error.status, error, dict(error.headers))

    def batch(self, ctx: Ctx) -> Result:
        body = ctx.json_body()
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise BadRequest("The batch request must have a non-empty 'requests' array.")
        if len(requests) > MAX_BATCH:
            raise BadRequest(f"The number of batch requests exceeds the limit of {MAX_BATCH}.")
        ids = [str(r.get("id", "")).lower() if isinstance(r, dict) else "" for r in requests]
        if "" in ids or len(set(ids)) != len(ids):
            raise BadRequest("Every batch request needs a unique 'id'.")
        # Graph rejects a malformed batch as a whole before running any entry, so a bad
        # dependsOn late in the list must not leave the writes listed before it applied.
        for position, entry in enumerate(requests):
            depends = entry.get("dependsOn") or []
            if not isinstance(depends, list) or any(str(d).lower() not in ids for d in depends):
                raise BadRequest(f"Batch request '{entry['id']}' depends on an unknown id.")
            if any(str(d).lower() not in ids[:position] for d in depends):
                raise BadRequest("A batch request may only depend on requests listed before it.")
        results: dict[str, Result] = {}
        responses = []
        for entry in requests:
            entry_id = str(entry["id"])
            depends = entry.get("dependsOn") or []
            failed = any(results[str(d).lower()].status >= 400 for d in depends)
            if failed:
                result = Result(424, GraphError("The request depends on a request that failed.",
                                                code="FailedDependency"))
                result.status = 424
            else:
                result = self._batch_entry(ctx, entry)
            results[entry_id.lower()] = result
            rendered, headers = self.render_body(result, ctx.headers)
            out: dict[str, Any] = {"id": entry_id, "status": result.status, "headers": headers}
            if rendered is not None:
                out["body"] = orjson.loads(rendered) if isinstance(rendered, bytes) else rendered
            responses.append(out)
        # Graph documents that answers may come in any order; clients must match them by id.
        self.rng.shuffle(responses)
        return Result(200, {"responses": responses})

    def _batch_entry(self, ctx: Ctx, entry: dict[str, Any]) -> Result:
        method = str(entry.get("method", "")).upper()
        url = entry.get("url")
        if method not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not isinstance(url, str):
            return Result(400, BadRequest("Each batch request needs a valid 'method' and 'url'."))
        parts = urlsplit(url)
        path = parts.path.lstrip("/")
        if path.startswith(("v1.0/", "beta/")) or path == "$batch":
            return Result(400, BadRequest("Batch request URLs are relative to the version."))
        headers = {k.lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
        body = entry.get("body")
        if body is not None and "content-type" not in headers:
            return Result(400, BadRequest("A batch request with a body needs a Content-Type "
                                          "header."))
        sub = self.context(method, ctx.version, path, parse_qsl(parts.query), headers,
                           body, ctx.base, ctx.caller)
        if isinstance(sub, Result):
            return sub
        sub.extra["deny"] = ctx.extra.get("deny", frozenset())
        return self.execute(sub)

    def context(self, method: str, version: str, path: str, params: list[tuple[str, str]],
                headers: dict[str, str], body: Any, base: str, caller: Caller) -> Ctx | Result:
        try:
            query = parse_query(dict(params))
        except GraphError as error:
            return Result(error.status, error)
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        return Ctx(method, version, segments, params, query, headers, body, base, caller)

    # ----- rendering -------------------------------------------------------------------------

    def render_body(
        self, result: Result, req_headers: dict[str, str]
    ) -> tuple[Any, dict[str, str]]:
        request_id = new_request_id()
        client_id = req_headers.get("client-request-id", request_id)
        headers = {"request-id": request_id, "client-request-id": client_id, **result.headers}
        if isinstance(result.body, GraphError):
            body: Any = orjson.dumps(error_body(result.body, request_id, client_id))
            headers["content-type"] = "application/json"
        elif isinstance(result.body, str):
            body = result.body
        elif result.body is None:
            body = None
        else:
            body = orjson.dumps(result.body)
            headers.setdefault("content-type",
                               "application/json;odata.metadata=minimal;charset=utf-8")
        return body, headers


def _kind(segments: list[str]) -> str:
    if segments[:2] == ["identity", "conditionalAccess"] and len(segments) > 2:
        return segments[2]
    if segments[:1] == ["policies"] and len(segments) > 1:
        return segments[1]
    return segments[0].split("(")[0] if segments else ""


def _request_info(ctx: Ctx) -> RequestInfo:
    return RequestInfo(
        method=ctx.method, segments=tuple(ctx.segments), select=ctx.query.select is not None,
        expand=bool(ctx.query.expand), top=ctx.query.top,
        priority=ctx.headers.get("x-ms-throttle-priority", "normal"), app_id=ctx.caller.name,
    )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


class DroppedResponse(Response):
    """Promise a body and close the connection early: the client sees a dropped connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"value": [', "more_body": False})


def create_app(sim: Simulator) -> Starlette:
    async def graph(request: Request) -> Response:
        version = request.path_params["version"]
        path = request.path_params["path"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        base = f"{request.url.scheme}://{request.url.netloc}"
        raw = await request.body()
        result = _prepare(sim, request.method, version, path, headers, raw, base,
                          list(request.query_params.multi_items()))
        if result == "drop":
            return DroppedResponse()
        assert isinstance(result, Result)
        wait = sim.latency.delay(request.method, result.status, result.body,
                                 latency.batch_methods(raw) if path == "$batch" else None)
        if wait:  # awaited, so concurrent requests overlap as they do against Graph
            await asyncio.sleep(wait)
        body, out_headers = sim.render_body(result, headers)
        out_headers["Date"] = formatdate(usegmt=True)
        out_headers["x-ms-ags-diagnostic"] = _DIAGNOSTIC
        return Response(body, status_code=result.status, headers=out_headers)

    async def sim_control(request: Request) -> Response:
        return await control.handle(sim, request)

    return Starlette(routes=[
        Route("/_sim/{op:path}", sim_control, methods=["GET", "POST"]),
        Route("/{version:str}/{path:path}", graph,
              methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    ])


def _token_claims(token: str) -> tuple[str, float | None, frozenset[str]]:
    """Split a test bearer token into (caller name, expiry, denied segments).

    Grammar: ``<name>[;exp=<unix seconds>][;deny=<segment>,<segment>]``. graphsim trusts the
    token text, so tests steer authentication through it:

    - ``exp``: once the simulator clock (``/_sim/clock``) is past it, every request answers
      401 ``InvalidAuthenticationToken`` "Lifetime validation failed, the token is expired."
      (what Graph says for an expired token), so clients can test refresh-and-retry.
    - ``deny``: requests whose first path segment, or X in ``identity/conditionalAccess/X``
      and ``policies/X``, is listed answer 403 ``Authorization_RequestDenied``, as for an
      app without that permission (``deny=policies`` refuses every policy, ``deny=
      authorizationPolicy`` only that one). Checked per ``$batch`` entry too.

    Only ``<name>`` names the caller (audit ``initiatedBy``, throttle buckets), so a refreshed
    token is the same app. A malformed ``exp`` is an invalid token (401).
    """
    name, *claims = token.split(";")
    expires: float | None = None
    deny: frozenset[str] = frozenset()
    for claim in claims:
        key, _, value = claim.strip().partition("=")
        if key == "exp":
            try:
                expires = float(value)
            except ValueError:
                raise InvalidAuthenticationToken("Access token validation failure.") from None
        elif key == "deny":
            deny = frozenset(s.strip() for s in value.split(",") if s.strip())
    return name.strip(), expires, deny


def _prepare(sim: Simulator, method: str, version: str, path: str, headers: dict[str, str],
             raw: bytes, base: str, params: list[tuple[str, str]]) -> Result | str:
    try:
        if version not in ("v1.0", "beta"):
            raise BadRequest(f"Invalid version: {version}", code="BadRequest")
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            raise InvalidAuthenticationToken("Access token is empty.")
        name, expires, deny = _token_claims(token)
        if expires is not None and sim.clock.now().timestamp() > expires:
            raise InvalidAuthenticationToken("Lifetime validation failed, the token is expired.")
        body: Any = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BadRequest("Unable to read JSON request payload. Please ensure Content-Type "
                                 "header is set and payload is of valid JSON format.") from None
        if sim.config.drop_rate and sim.rng.random() < sim.config.drop_rate:
            sim.faults["dropped"] += 1
            return "drop"
        if sim.config.fail_rate and sim.rng.random() < sim.config.fail_rate:
            sim.faults["failed"] += 1
            if sim.rng.random() < 0.5:
                retry = _seconds(max(1.0 / sim.config.time_scale, 0.001))
                raise ServiceUnavailable("The service is temporarily unavailable.",
                                         headers={"Retry-After": retry})
            raise GatewayTimeout("The gateway did not receive a response in time.")
        ctx = sim.context(method, version, path, params, headers, body, base, Caller(name))
        if isinstance(ctx, Result):
            return ctx
        ctx.extra["deny"] = deny
        if ctx.segments == ["$batch"]:
            if method != "POST":
                raise BadRequest("Specified HTTP method is not allowed for the request target.")
            return sim.batch(ctx)
        return sim.execute(ctx)
    except GraphError as error:
        return Result(error.status, error, dict(error.headers))
    except Exception as exc:  # a simulator bug must still answer like Graph, and be visible
        log.error("graphsim internal error: %s\n%s", exc, traceback.format_exc())
        return Result(500, GraphError(f"graphsim internal error: {exc}",
                                      code="generalException"))
