"""Throttle model: cost table, buckets, headers and time scaling, on a fake clock (no sleeps)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from graphsim.throttle import DEFAULT_TENANT_ID, Decision, RequestInfo, Throttle

APP = "app-1"
TENANT = DEFAULT_TENANT_ID


class FakeClock:
    """Injected instead of time.monotonic so tests move time explicitly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def req(
    method: str,
    path: str,
    app: str = APP,
    *,
    select: bool = False,
    expand: bool = False,
    top: int | None = None,
) -> RequestInfo:
    segments = tuple(path.split("/"))
    return RequestInfo(method, segments, select=select, expand=expand, top=top, app_id=app)


def run(throttle: Throttle, request: RequestInfo, times: int) -> list[Decision]:
    return [throttle.decide(request) for _ in range(times)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def graph(clock: FakeClock, **kwargs: Any) -> Throttle:
    """A throttle in "graph" mode for a large tenant (8,000 RU / 10 s) unless told otherwise."""
    kwargs.setdefault("tenant_users", 1000)
    return Throttle(mode="graph", clock=clock, **kwargs)


@pytest.mark.parametrize(
    ("request_info", "ru"),
    [
        (req("GET", "users"), 2),
        (req("GET", "users", select=True), 1),
        (req("GET", "users", select=True, expand=True), 2),
        (req("GET", "users", top=10), 1),
        (req("GET", "users", top=999), 2),
        (req("GET", "users", select=True, top=5), 1),  # floor of 1
        (req("GET", "groups"), 1),
        (req("GET", "groups", expand=True), 2),
        (req("GET", "groups/g1/members"), 3),
        (req("GET", "groups/g1/members", select=True), 2),
        (req("GET", "groups/g1/members/microsoft.graph.user"), 3),
        (req("GET", "groups/g1/transitiveMembers"), 5),
        (req("GET", "groups/g1/owners"), 1),
        (req("GET", "applications"), 2),
        (req("GET", "applications(appId='x')/extensionProperties"), 2),
        (req("GET", "servicePrincipals/sp1/appRoleAssignments"), 2),
        (req("GET", "servicePrincipals/microsoft.graph.agentIdentity"), 1),
        (req("GET", "users/microsoft.graph.agentUser"), 2),
        (req("GET", "users/u1/memberOf"), 2),
        (req("GET", "users/delta"), 1),
        (req("GET", "users/microsoft.graph.delta()"), 1),
        (req("GET", "oauth2PermissionGrants/x"), 2),
        (req("GET", "subscribedSkus"), 3),
        (req("POST", "directoryObjects/getByIds"), 5),
        (req("POST", "directoryObjects/getByIds", select=True), 2),
        (req("POST", "users/u1/checkMemberGroups"), 4),
        (req("POST", "users"), 1),
        (req("PATCH", "groups/g1", select=True, expand=True), 1),
        (req("DELETE", "applications/a1"), 1),
        (req("GET", "policies/authenticationMethodsPolicy"), 1),
    ],
)
def test_cost_table(request_info: RequestInfo, ru: int) -> None:
    decision = Throttle().decide(request_info)
    assert decision.resource_units == ru
    assert decision.headers == {"x-ms-resource-unit": str(ru)}
    assert decision.service == "directory"


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("identity/conditionalAccess/policies", "conditionalAccess"),
        ("identity/conditionalAccess/namedLocations/n1", "conditionalAccess"),
        ("identity/conditionalAccess/deletedItems/policies/p1/restore", "conditionalAccess"),
        ("identityProtection/riskyUsers", "conditionalAccess"),
        ("directory/deletedItems/microsoft.graph.group", "directory"),
        ("organization", "directory"),
        ("policies/authorizationPolicy", "directory"),
        ("roleManagement/directory/roleAssignments", "directory"),
        ("auditLogs/directoryAudits", "reports"),
        ("sites/root", "other"),
    ],
)
def test_service_classification(path: str, service: str) -> None:
    decision = Throttle().decide(req("GET", path))
    assert decision.service == service
    assert ("x-ms-resource-unit" in decision.headers) == (service == "directory")


def test_writes_count_one_ru_and_one_write() -> None:
    throttle = Throttle()
    throttle.decide(req("POST", "users"))
    throttle.decide(req("GET", "users"))
    assert throttle.stats()["resource_units"] == 3
    assert throttle.stats()["writes"] == 1


def test_large_tenant_allows_8000_ru_then_429(clock: FakeClock) -> None:
    throttle = graph(clock)
    assert all(d.allowed for d in run(throttle, req("GET", "users"), 4000))  # 2 RU each
    denied = throttle.decide(req("GET", "users"))
    assert not denied.allowed
    assert denied.status == 429
    assert denied.reason == "ResourceUnitLimitExceeded"
    assert denied.retry_after == 1.0
    assert denied.headers["Retry-After"] == "1"
    assert denied.headers["x-ms-throttle-scope"] == f"Tenant_Application/Read/{APP}/{TENANT}"
    assert denied.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert denied.headers["x-ms-resource-unit"] == "2"


@pytest.mark.parametrize(("users", "capacity"), [(0, 3500), (49, 3500), (50, 5000), (500, 5000)])
def test_budget_follows_tenant_size(clock: FakeClock, users: int, capacity: int) -> None:
    throttle = graph(clock, tenant_users=users)
    assert all(d.allowed for d in run(throttle, req("GET", "groups"), capacity))
    assert not throttle.decide(req("GET", "groups")).allowed


def test_bucket_refills_after_window(clock: FakeClock) -> None:
    throttle = graph(clock)
    run(throttle, req("GET", "groups"), 8000)
    assert not throttle.decide(req("GET", "groups")).allowed  # its 1 RU still accrues
    clock.advance(1)  # token bucket: one second buys back a tenth of the window
    assert all(d.allowed for d in run(throttle, req("GET", "groups"), 799))
    assert not throttle.decide(req("GET", "groups")).allowed
    clock.advance(11)
    assert all(d.allowed for d in run(throttle, req("GET", "groups"), 8000))


def test_retry_after_covers_the_deficit(clock: FakeClock) -> None:
    throttle = graph(clock, tenant_users=0)  # 350 RU/s
    run(throttle, req("GET", "groups/g1/transitiveMembers"), 700)  # 5 RU each
    denied = throttle.decide(req("GET", "groups/g1/transitiveMembers"))
    assert denied.retry_after == 1.0  # 5 RU at 350 RU/s: under a second, rounded up
    clock.advance(denied.retry_after)
    assert throttle.decide(req("GET", "groups/g1/transitiveMembers")).allowed


def test_time_scale_shortens_windows_and_retry_after(clock: FakeClock) -> None:
    throttle = graph(clock, time_scale=100)
    run(throttle, req("GET", "groups"), 8000)
    denied = throttle.decide(req("GET", "groups"))
    assert denied.retry_after == pytest.approx(0.01)
    assert denied.headers["Retry-After"] == "0.01"
    clock.advance(0.05)  # half of a 0.1 s window: 4,000 RU back, less the refused 1
    served = sum(d.allowed for d in run(throttle, req("GET", "groups"), 4100))
    assert 3990 <= served <= 3999
    clock.advance(0.2)
    assert all(d.allowed for d in run(throttle, req("GET", "groups"), 8000))


def test_time_scale_change_does_not_rewrite_elapsed_time(clock: FakeClock) -> None:
    throttle = graph(clock)
    run(throttle, req("GET", "groups"), 8000)
    clock.advance(1)  # 1 simulated second at scale 1 -> 800 RU back
    throttle.time_scale = 10
    assert sum(d.allowed for d in run(throttle, req("GET", "groups"), 1000)) == 800


def test_write_budget_binds_while_reads_pass(clock: FakeClock) -> None:
    throttle = graph(clock)
    assert all(d.allowed for d in run(throttle, req("POST", "groups"), 3000))
    denied = throttle.decide(req("PATCH", "groups/g1"))
    assert denied.reason == "WriteLimitExceeded"
    assert denied.headers["x-ms-throttle-scope"] == f"Tenant_Application/Write/{APP}/{TENANT}"
    assert denied.headers["x-ms-throttle-information"] == "WriteLimitExceeded"
    assert denied.retry_after == 1.0  # 20 writes/s: one write is back within a second
    assert throttle.decide(req("GET", "groups")).allowed
    clock.advance(151)  # the refused PATCH still counted as a write
    assert all(d.allowed for d in run(throttle, req("DELETE", "groups/g1"), 3000))


def test_tenant_write_budget_is_shared_by_apps(clock: FakeClock) -> None:
    throttle = graph(clock)
    for n in range(6):
        assert all(d.allowed for d in run(throttle, req("POST", "users", app=f"a{n}"), 3000))
    denied = throttle.decide(req("POST", "users", app="a6"))
    assert denied.headers["x-ms-throttle-scope"] == f"Tenant/Write/a6/{TENANT}"
    assert denied.reason == "WriteLimitExceeded"


def test_rejected_request_is_not_served_but_its_usage_accrues(clock: FakeClock) -> None:
    throttle = graph(clock)
    run(throttle, req("POST", "groups"), 3000)
    first = throttle.decide(req("POST", "groups"))
    run(throttle, req("POST", "groups"), 49)  # hammering while throttled
    last = throttle.decide(req("POST", "groups"))
    assert throttle.stats()["resource_units"] == 3000  # only what was served is charged
    assert throttle.stats()["writes"] == 3000
    assert not first.allowed and not last.allowed
    assert last.retry_after is not None and first.retry_after is not None
    assert last.retry_after > first.retry_after  # the hammering pushed the bucket back


def test_waiting_out_retry_after_is_enough_when_not_hammering(clock: FakeClock) -> None:
    throttle = graph(clock)
    run(throttle, req("GET", "users", select=True), 8000)
    denied = throttle.decide(req("GET", "users", select=True))
    assert denied.retry_after is not None
    clock.advance(denied.retry_after)
    assert throttle.decide(req("GET", "users", select=True)).allowed


def test_ca_bucket_one_per_second_without_retry_after(clock: FakeClock) -> None:
    throttle = graph(clock)
    assert throttle.decide(req("GET", "identity/conditionalAccess/policies")).allowed
    denied = throttle.decide(req("POST", "identity/conditionalAccess/namedLocations"))
    assert (denied.allowed, denied.status, denied.retry_after) == (False, 429, None)
    assert denied.headers == {}
    assert denied.service == "conditionalAccess"
    clock.advance(0.5)
    assert not throttle.decide(req("GET", "identity/conditionalAccess/policies")).allowed
    clock.advance(0.5)  # the rejection above did not push the bucket back
    assert throttle.decide(req("GET", "identity/conditionalAccess/policies")).allowed


def test_ca_bucket_is_shared_across_apps(clock: FakeClock) -> None:
    throttle = graph(clock)
    assert throttle.decide(req("GET", "identity/conditionalAccess/policies", app="a")).allowed
    assert not throttle.decide(req("GET", "identity/conditionalAccess/policies", app="b")).allowed


def test_ca_burst_and_rate_are_settings(clock: FakeClock) -> None:
    throttle = graph(clock, ca_rate_per_second=2, ca_burst=3)
    ca = req("GET", "identity/conditionalAccess/policies")
    assert [d.allowed for d in run(throttle, ca, 4)] == [True, True, True, False]
    clock.advance(0.5)
    assert [d.allowed for d in run(throttle, ca, 2)] == [True, False]


def test_reports_bucket_five_per_ten_seconds(clock: FakeClock) -> None:
    throttle = graph(clock)
    audits = req("GET", "auditLogs/directoryAudits")
    assert [d.allowed for d in run(throttle, audits, 6)] == [True] * 5 + [False]
    denied = throttle.decide(audits)
    assert denied.headers == {"Retry-After": "2"}
    assert denied.reason == "ReportsLimitExceeded"


def test_mode_off_never_throttles_but_reports_ru(clock: FakeClock) -> None:
    throttle = Throttle(mode="off", clock=clock, spurious_429_rate=1.0)
    assert all(d.allowed for d in run(throttle, req("GET", "groups/g1/members"), 10_000))
    ca = req("GET", "identity/conditionalAccess/policies")
    assert all(d.allowed for d in run(throttle, ca, 5))
    decision = throttle.decide(req("GET", "groups/g1/members"))
    assert decision.headers == {"x-ms-resource-unit": "3"}
    assert throttle.stats()["throttled"] == 0


def test_mode_can_flip_at_runtime(clock: FakeClock) -> None:
    throttle = Throttle(clock=clock, tenant_users=1000)
    run(throttle, req("GET", "groups"), 9000)
    throttle.mode = "graph"
    assert all(d.allowed for d in run(throttle, req("GET", "groups"), 8000))
    assert not throttle.decide(req("GET", "groups")).allowed
    with pytest.raises(ValueError):
        throttle.mode = "fast"


def test_limit_percentage_after_80_percent(clock: FakeClock) -> None:
    throttle = graph(clock, tenant_users=0)  # 3,500 RU
    decisions = run(throttle, req("GET", "groups"), 2800)
    assert all("x-ms-throttle-limit-percentage" not in d.headers for d in decisions)
    assert throttle.decide(req("GET", "groups")).headers["x-ms-throttle-limit-percentage"] == "0.8"
    last = run(throttle, req("GET", "groups"), 699)[-1]
    assert last.allowed
    assert last.headers["x-ms-throttle-limit-percentage"] == "1.0"
    over = run(throttle, req("GET", "groups"), 700)[-1]  # 20 % more demand, all rejected
    assert over.headers["x-ms-throttle-limit-percentage"] == "1.2"
    capped = run(throttle, req("GET", "groups"), 10_000)[-1]
    assert capped.headers["x-ms-throttle-limit-percentage"] == "1.8"


def test_limit_percentage_tracks_write_bucket(clock: FakeClock) -> None:
    throttle = graph(clock)
    decision = run(throttle, req("POST", "users"), 2500)[-1]
    assert decision.headers["x-ms-throttle-limit-percentage"] == "0.8"


def test_spurious_429(clock: FakeClock) -> None:
    throttle = graph(clock, spurious_429_rate=1.0, rng=random.Random(1), time_scale=4)
    denied = throttle.decide(req("GET", "users"))
    assert (denied.allowed, denied.status, denied.retry_after) == (False, 429, 0.25)
    assert denied.headers["Retry-After"] == "0.25"
    assert denied.reason == "CPULimitExceeded"
    assert throttle.decide(req("GET", "sites/root")).allowed  # directory only


def test_spurious_rate_is_a_probability(clock: FakeClock) -> None:
    throttle = graph(clock, spurious_429_rate=0.25, rng=random.Random(7))
    denied = sum(not d.allowed for d in run(throttle, req("GET", "groups"), 4000))
    assert 800 < denied < 1200


def test_global_limit_is_per_app(clock: FakeClock) -> None:
    throttle = graph(clock)
    assert all(d.allowed for d in run(throttle, req("GET", "sites"), 130_000))
    denied = throttle.decide(req("GET", "sites"))
    assert denied.reason == "GlobalLimitExceeded"
    assert denied.headers == {"Retry-After": "1"}
    assert throttle.decide(req("GET", "sites", app="other-app")).allowed


def test_stats_and_reset(clock: FakeClock) -> None:
    throttle = graph(clock)
    run(throttle, req("GET", "identity/conditionalAccess/policies"), 3)
    run(throttle, req("POST", "users"), 3002)
    stats = throttle.stats()
    assert stats["requests"] == 3005
    assert stats["allowed"] == 3001
    assert stats["throttled"] == 4
    assert stats["throttled.conditionalAccess"] == 2
    assert stats["throttled.conditionalAccess.ConditionalAccessLimitExceeded"] == 2
    assert stats["throttled.directory.WriteLimitExceeded"] == 2
    assert stats["resource_units"] == 3000
    throttle.reset()
    assert throttle.stats()["throttled"] == 0
    assert throttle.decide(req("POST", "users")).allowed


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Throttle(time_scale=0)
    with pytest.raises(ValueError):
        Throttle(ca_rate_per_second=0)
