"""Model of Microsoft Graph throttling for the directory and Conditional Access.

The backup engine must survive Graph's real budgets, so the simulator copies them: token buckets
over resource units (RU) and writes, the 1 request/s tenant-wide Conditional Access (CA) bucket
without Retry-After, and the documented headers (reference: graph.md §0-§1). Stdlib only, so the
HTTP layer and tests can ask "would Graph let this through, and with which headers?" directly.

Time is *simulated*: ``time_scale = X`` makes every window X times shorter in clock time and
divides Retry-After by X. Simulated time advances incrementally, so changing ``time_scale`` at
runtime never makes the buckets jump.

Simplifications (documented, all deliberate):
- A rejected directory request still accrues its cost against the buckets that refused it
  ("usage keeps accruing while a client hammers a throttled endpoint", graph.md 1.6), down to
  a debt of one window's capacity, so a client that ignores Retry-After waits longer. A
  rejected Conditional Access request accrues nothing (Graph says nothing either way). Both
  feed the demand meter behind ``x-ms-throttle-limit-percentage`` (values above 1.0 say how
  far demand exceeds the budget).
- The per-app-across-tenants limits (150,000 RU / 20 s, 35,000 writes / 5 min) cannot bind with
  one simulated tenant and are not modelled; neither are the B2C user-creation surcharge and the
  MSA-audience application write limit. ``x-ms-throttle-priority`` is accepted and ignored (it
  only orders clients, it does not change limits).

Services: "directory", "conditionalAccess" (CA policies, named locations, their deletedItems and
identity protection share the one tenant bucket), "reports" (auditLogs: 5 requests / 10 s per
app) and "other" (global limit only). Only the directory reasons are Graph header values;
the others ("ConditionalAccessLimitExceeded", "ReportsLimitExceeded", "GlobalLimitExceeded")
exist for stats and logs.

Concurrency: the simulator is a single-threaded asyncio server and ``decide`` never awaits, so
there are no locks; call a ``Throttle`` from one thread only.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

DEFAULT_APP_ID = "graphsim-default-app"
DEFAULT_TENANT_ID = "00000000-0000-0000-0000-00000000c0de"
MODES = ("off", "graph")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

_RU_WINDOW = 10.0  # simulated seconds; capacity depends on tenant size (see _ru_capacity)
_APP_WRITES = (3_000, 150.0)  # per (app, tenant)
_TENANT_WRITES = (18_000, 300.0)  # per tenant, all apps
_GLOBAL = (130_000, 10.0)  # requests per app, every service
_REPORTS = (5, 10.0)  # auditLogs: requests per (app, tenant)
_SHOW_PERCENT_ABOVE = 0.8
_MAX_PERCENT = 1.8
_EPS = 1e-9  # float slack so exact refills (10 s x 800 RU/s) are not lost to rounding

# fmt: off
_DIRECTORY_ROOTS = frozenset({
    "users", "groups", "applications", "servicePrincipals", "oauth2PermissionGrants",
    "organization", "policies", "directoryObjects", "directory", "directoryRoles",
    "directoryRoleTemplates", "domains", "devices", "contacts", "subscribedSkus", "contracts",
    "groupSettings", "groupSettingTemplates", "administrativeUnits", "me",
})
# Collections whose second segment is an object id (or a key such as ``(uniqueName='x')``).
_ID_ROOTS = _DIRECTORY_ROOTS - {"policies", "directory", "me"}
_CA_PATHS = frozenset({
    ("identity", "conditionalAccess", "policies"),
    ("identity", "conditionalAccess", "namedLocations"),
    ("identity", "conditionalAccess", "deletedItems"),
    ("identityProtection", "riskDetections"), ("identityProtection", "riskyUsers"),
    ("riskDetections",), ("riskyUsers",),
})
# GET costs from §1.3; ``users/{id}/...`` is rewritten to ``me/...`` before lookup.
_READ_COSTS: dict[tuple[str, ...], int] = {
    ("applications",): 2, ("applications", "{id}", "extensionProperties"): 2, ("contracts",): 3,
    ("domains", "{id}", "domainNameReferences"): 4, ("groups", "{id}", "members"): 3,
    ("groups", "{id}", "transitiveMembers"): 5, ("me", "licenseDetails"): 2,
    ("me", "memberOf"): 2, ("me", "ownedObjects"): 2, ("me", "transitiveMemberOf"): 2,
    ("oauth2PermissionGrants",): 2, ("oauth2PermissionGrants", "{id}"): 2,
    ("servicePrincipals", "{id}", "appRoleAssignments"): 2, ("subscribedSkus",): 3, ("users",): 2,
}
# POST actions that are queries: charged from the table as reads, never as writes.
_READ_ACTIONS: dict[str, int] = {
    "getByIds": 5, "getObjectsById": 5, "isMemberOf": 4, "checkMemberGroups": 4,
    "checkMemberObjects": 4, "getMemberGroups": 2, "getMemberObjects": 2,
}
# ``microsoft.graph.<name>`` segments that are functions/actions; any other one is a type cast.
_ACTIONS = frozenset(_READ_ACTIONS) | {
    "delta", "restore", "addPassword", "removePassword", "addKey", "removeKey",
    "validateProperties", "getAvailableExtensionProperties", "assignLicense",
}
# fmt: on


@dataclass(frozen=True)
class RequestInfo:
    """What the throttle needs to know about one request (or one ``$batch`` sub-request)."""

    method: str
    segments: tuple[str, ...]
    select: bool = False
    expand: bool = False
    top: int | None = None
    priority: str = "normal"
    app_id: str = DEFAULT_APP_ID


@dataclass(frozen=True)
class Decision:
    """Verdict plus everything the HTTP layer must copy into the response."""

    allowed: bool
    status: int
    retry_after: float | None
    headers: dict[str, str]
    resource_units: int
    service: str
    reason: str | None


class _Bucket:
    """Token bucket plus a demand meter (accepted + rejected cost) for the percentage header."""

    def __init__(self, capacity: float, window: float, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window  # tokens per simulated second
        self.tokens = capacity
        self.demand = 0.0
        self.stamp = now

    def advance(self, now: float) -> None:
        drained = max(0.0, now - self.stamp) * self.rate
        self.stamp = max(self.stamp, now)
        self.tokens = min(self.capacity, self.tokens + drained)
        self.demand = max(0.0, self.demand - drained)

    def note(self, cost: float) -> None:
        """Record demand whether or not it is served, capped so it drains within 1.8 windows."""
        self.demand = min(self.demand + cost, self.capacity * _MAX_PERCENT)

    def accrue(self, cost: float) -> None:
        """A refused request's usage still counts, down to one window's capacity of debt."""
        self.tokens = max(self.tokens - cost, -self.capacity)

    def wait(self, cost: float) -> float:
        """Simulated seconds until ``cost`` tokens are available (0 if they are now)."""
        return 0.0 if self.tokens + _EPS >= cost else (cost - self.tokens) / self.rate


class _Limit(NamedTuple):
    bucket: _Bucket
    cost: int
    reason: str
    scope: str | None  # directory scope header value; None = no scope/information headers
    retry_after: bool  # False for CA, which sends no Retry-After


def _normalise(segments: tuple[str, ...]) -> tuple[str, ...]:
    """Reduce a path to its cost-table shape: ids -> ``{id}``, ``users/{id}/x`` -> ``me/x``.

    Type casts are dropped, so ``servicePrincipals/microsoft.graph.agentIdentity`` costs like
    ``servicePrincipals``.
    """
    out: list[str] = []
    for raw in segments:
        if not raw:
            continue
        namespaced = raw.startswith("microsoft.graph.")
        name, paren, _ = raw.removeprefix("microsoft.graph.").partition("(")
        if namespaced and name not in _ACTIONS:
            continue
        if paren and not out and name in _ID_ROOTS:  # alternate key: applications(appId='..')
            out += [name, "{id}"]
            continue
        if len(out) == 1 and out[0] in _ID_ROOTS and name not in _ACTIONS and name[:1] != "$":
            name = "{id}"
        out.append(name)
    if len(out) >= 3 and out[0] == "users" and out[1] == "{id}":
        out = ["me", *out[2:]]
    return tuple(out)


def _service(path: tuple[str, ...]) -> str:
    if not path:
        return "other"
    if path[0] in _DIRECTORY_ROOTS or path[:2] == ("roleManagement", "directory"):
        return "directory"
    if path[:3] in _CA_PATHS or path[:2] in _CA_PATHS or path[:1] in _CA_PATHS:
        return "conditionalAccess"
    return "reports" if path[0] == "auditLogs" else "other"


def _charge(method: str, path: tuple[str, ...], req: RequestInfo) -> tuple[int, int]:
    """(RU, writes) for a directory request, per the §1.3 table and modifiers."""
    action = path[-1] if path else ""
    if method == "POST" and action in _READ_ACTIONS:
        base = _READ_ACTIONS[action]
        if action in ("getByIds", "getObjectsById") and req.select:
            base = 3  # documented as 2 with $select; the generic -1 below gets it there
    elif method in WRITE_METHODS:
        return 1, 1
    else:
        base = _READ_COSTS.get(path, 1)
    ru = base - req.select + req.expand - (req.top is not None and req.top < 20)
    return max(1, ru), 0


def _ru_capacity(tenant_users: int) -> int:
    return 3_500 if tenant_users < 50 else 5_000 if tenant_users <= 500 else 8_000


def _fmt_seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "0") else "0.001"


class Throttle:
    """Decides, per request, whether Graph would answer 429 and which headers it would send.

    ``mode`` is ``"off"`` (never throttle, still report RU) or ``"graph"``; ``mode`` and
    ``time_scale`` may be changed at runtime. ``tenant_users``, ``ca_rate_per_second`` and
    ``ca_burst`` size buckets when they are created, so changing them takes effect after
    ``reset()``; ``spurious_429_rate`` applies immediately.
    """

    def __init__(
        self,
        *,
        mode: str = "off",
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        tenant_users: int = 0,
        tenant_id: str = DEFAULT_TENANT_ID,
        ca_rate_per_second: float = 1.0,
        ca_burst: int = 1,
        spurious_429_rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if not ca_rate_per_second > 0:
            raise ValueError("ca_rate_per_second must be > 0")
        self._clock = clock
        self._last_clock = clock()
        self._sim = 0.0
        self._mode = "off"
        self._time_scale = 1.0
        self.mode = mode
        self.time_scale = time_scale
        self.tenant_users = tenant_users
        self.tenant_id = tenant_id
        self.ca_rate_per_second = ca_rate_per_second
        self.ca_burst = ca_burst
        self.spurious_429_rate = spurious_429_rate
        self._rng = rng if rng is not None else random.Random()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._stats: dict[str, int] = {}

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        self._mode = value

    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"time_scale must be > 0, not {value!r}")
        self._now()  # settle elapsed clock time at the old scale first
        self._time_scale = float(value)

    def decide(self, req: RequestInfo) -> Decision:
        """Charge ``req`` against every applicable bucket, or explain why Graph would refuse it."""
        now = self._now()
        path = _normalise(req.segments)
        service = _service(path)
        ru, writes = _charge(req.method.upper(), path, req) if service == "directory" else (0, 0)
        headers = {"x-ms-resource-unit": str(ru)} if service == "directory" else {}
        self._bump("requests")
        if self._mode == "off":
            return self._allow(service, ru, writes, headers)
        limits = self._limits(service, req.app_id, ru, writes, now)
        for lim in limits:
            lim.bucket.note(lim.cost)
        if service == "directory":
            pressure = max(lim.bucket.demand / lim.bucket.capacity for lim in limits if lim.scope)
            if pressure > _SHOW_PERCENT_ABOVE + _EPS:
                shown = min(_MAX_PERCENT, math.floor(pressure * 10 + _EPS) / 10)
                headers["x-ms-throttle-limit-percentage"] = f"{shown:.1f}"
        blocked = [(lim.bucket.wait(lim.cost), lim) for lim in limits]
        blocked = [(wait, lim) for wait, lim in blocked if wait > 0]
        if blocked:
            wait, worst = max(blocked, key=lambda item: item[0])
            retry = self._scaled(wait) if worst.retry_after else None
            if retry is not None:
                headers["Retry-After"] = _fmt_seconds(retry)
            if worst.scope is not None:
                headers["x-ms-throttle-scope"] = worst.scope
                headers["x-ms-throttle-information"] = worst.reason
            if service == "directory":
                for _, lim in blocked:
                    lim.bucket.accrue(lim.cost)
            return self._reject(service, worst.reason, retry, headers, ru)
        rate = self.spurious_429_rate
        if service == "directory" and rate > 0 and self._rng.random() < rate:
            # Graph documents 429s below the limits under load; nothing is charged.
            retry = self._scaled(1.0)
            headers["Retry-After"] = _fmt_seconds(retry)
            headers["x-ms-throttle-information"] = "CPULimitExceeded"
            return self._reject(service, "CPULimitExceeded", retry, headers, ru)
        for lim in limits:
            lim.bucket.tokens -= lim.cost
        return self._allow(service, ru, writes, headers)

    def stats(self) -> dict[str, int]:
        """Counters: requests, allowed, throttled, throttled.<service>[.<reason>], RU, writes."""
        base = dict.fromkeys(("requests", "allowed", "throttled", "resource_units", "writes"), 0)
        return base | self._stats

    def reset(self) -> None:
        """Refill every bucket and clear the counters (mode and time_scale are kept)."""
        self._buckets.clear()
        self._stats.clear()

    def _now(self) -> float:
        """Advance and return simulated time (clock delta x the current time_scale)."""
        clock = self._clock()
        self._sim += max(0.0, clock - self._last_clock) * self._time_scale
        self._last_clock = clock
        return self._sim

    def _scaled(self, wait: float) -> float:
        """Whole simulated seconds (at least 1), converted to clock seconds."""
        return max(1, math.ceil(wait - _EPS)) / self._time_scale

    def _bucket(self, kind: str, key: str, capacity: float, window: float, now: float) -> _Bucket:
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            bucket = self._buckets[(kind, key)] = _Bucket(capacity, window, now)
        bucket.advance(now)
        return bucket

    def _limits(self, service: str, app: str, ru: int, writes: int, now: float) -> list[_Limit]:
        """Buckets this request is charged against, service-specific first, global last."""
        tenant = self.tenant_id
        limits: list[_Limit] = []
        if service == "directory":
            ru_b = self._bucket("ru", app, _ru_capacity(self.tenant_users), _RU_WINDOW, now)
            scope = f"Tenant_Application/Read/{app}/{tenant}"
            limits.append(_Limit(ru_b, ru, "ResourceUnitLimitExceeded", scope, True))
            if writes:
                app_w = self._bucket("app_write", app, *_APP_WRITES, now)
                scope = f"Tenant_Application/Write/{app}/{tenant}"
                limits.append(_Limit(app_w, writes, "WriteLimitExceeded", scope, True))
                tenant_w = self._bucket("tenant_write", tenant, *_TENANT_WRITES, now)
                scope = f"Tenant/Write/{app}/{tenant}"
                limits.append(_Limit(tenant_w, writes, "WriteLimitExceeded", scope, True))
        elif service == "conditionalAccess":
            burst = max(1, self.ca_burst)
            ca = self._bucket("ca", tenant, burst, burst / self.ca_rate_per_second, now)
            limits.append(_Limit(ca, 1, "ConditionalAccessLimitExceeded", None, False))
        elif service == "reports":
            reports = self._bucket("reports", app, *_REPORTS, now)
            limits.append(_Limit(reports, 1, "ReportsLimitExceeded", None, True))
        glob = self._bucket("global", app, *_GLOBAL, now)
        limits.append(_Limit(glob, 1, "GlobalLimitExceeded", None, True))
        return limits

    def _bump(self, key: str, by: int = 1) -> None:
        self._stats[key] = self._stats.get(key, 0) + by

    def _allow(self, service: str, ru: int, writes: int, headers: dict[str, str]) -> Decision:
        self._bump("allowed")
        self._bump("resource_units", ru)
        self._bump("writes", writes)
        return Decision(True, 200, None, headers, ru, service, None)

    def _reject(
        self, service: str, reason: str, retry: float | None, headers: dict[str, str], ru: int
    ) -> Decision:
        for key in ("throttled", f"throttled.{service}", f"throttled.{service}.{reason}"):
            self._bump(key)
        return Decision(False, 429, retry, headers, ru, service, reason)
