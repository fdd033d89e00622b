"""graphsim over HTTP: `$batch`, throttling in graph mode, fault injection and `/_sim/stats`.

Reference: shared/reference/graph.md §1 (budgets, headers, CA limit), §1.7 ($batch), §7.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    assert_graph_error,
    first,
    group_body,
    new_id,
)

Json = dict[str, Any]
CA = "identity/conditionalAccess/policies"


def _batch(sim: Sim, requests: list[Json], *, version: str = "v1.0") -> httpx.Response:
    return sim.client.post(f"{sim.url}/{version}/$batch", json={"requests": requests})


def _get(n: int, url: str) -> Json:
    return {"id": str(n), "method": "GET", "url": url}


def _by_id(response: httpx.Response) -> dict[str, Json]:
    assert response.status_code == 200, response.text
    return {r["id"]: r for r in response.json()["responses"]}


# ----- $batch ------------------------------------------------------------------------------

def test_batch_answers_each_entry_with_its_own_status(sim: Sim) -> None:
    user = first(sim.client, "users")
    answer = _by_id(_batch(sim, [
        _get(1, f"/users/{user['id']}"),
        _get(2, f"/users/{new_id('ghost')}"),
        _get(3, "/users?$select=bogus"),
        {"id": "4", "method": "POST", "url": "/groups", "body": group_body("batched"),
         "headers": {"Content-Type": "application/json"}},
        {"id": "5", "method": "PUT", "url": "/users"},
    ]))
    assert answer["1"]["status"] == 200 and answer["1"]["body"]["id"] == user["id"]
    assert answer["2"]["status"] == 404
    assert answer["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert answer["3"]["status"] == 400
    assert answer["4"]["status"] == 201
    created = answer["4"]["body"]["id"]
    assert sim.client.get(f"groups/{created}").status_code == 200
    assert answer["5"]["status"] == 405
    for entry in answer.values():
        assert entry["headers"]["request-id"]
        if entry["status"] >= 400:
            inner = entry["body"]["error"]["innerError"]
            assert inner["request-id"] == entry["headers"]["request-id"]


def test_batch_of_21_is_400_and_runs_nothing(sim: Sim) -> None:
    before = sim.stats()["objects"]["groups"]
    requests = [{"id": str(n), "method": "POST", "url": "/groups",
                 "body": group_body(f"b{n}"), "headers": {"Content-Type": "application/json"}}
                for n in range(21)]
    assert_graph_error(_batch(sim, requests), 400)
    assert sim.stats()["objects"]["groups"] == before
    assert _batch(sim, requests[:20]).status_code == 200
    assert sim.stats()["objects"]["groups"] == before + 20


@pytest.mark.parametrize("requests", [
    [_get(1, "/users"), _get(1, "/groups")],
    [{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/x"}],
    [],
    [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}],
])
def test_malformed_batches_are_400_as_a_whole(sim: Sim, requests: list[Json]) -> None:
    """Duplicate ids (case-insensitive), no entries, unknown dependsOn: the batch is 400."""
    before = sim.stats()["requests"]
    assert_graph_error(_batch(sim, requests), 400)
    assert sim.stats()["requests"] == before  # no entry ran


def test_batch_is_validated_before_any_entry_runs(sim: Sim) -> None:
    before = sim.stats()["objects"]["groups"]
    response = _batch(sim, [
        {"id": "1", "method": "POST", "url": "/groups", "body": group_body("early"),
         "headers": {"Content-Type": "application/json"}},
        {**_get(2, "/users"), "dependsOn": ["nope"]},
    ])
    assert_graph_error(response, 400)
    assert sim.stats()["objects"]["groups"] == before


def test_entry_without_url_fails_alone(sim: Sim) -> None:
    answer = _by_id(_batch(sim, [{"id": "1", "method": "GET"}, _get(2, "/users?$top=1")]))
    assert answer["1"]["status"] == 400 and answer["2"]["status"] == 200


def test_batch_envelope_errors(sim: Sim) -> None:
    assert_graph_error(sim.client.post("$batch", content=b"{nope",
                                       headers={"Content-Type": "application/json"}), 400)
    assert_graph_error(sim.client.post("$batch", json={"requests": "x"}), 400)
    assert_graph_error(sim.client.get("$batch"), 400)
    body_without_type = [{"id": "1", "method": "POST", "url": "/groups",
                          "body": group_body("untyped")}]
    assert _by_id(_batch(sim, body_without_type))["1"]["status"] == 400


def test_depends_on_failure_gives_424(sim: Sim) -> None:
    answer = _by_id(_batch(sim, [
        _get(1, f"/users/{new_id('ghost')}"),
        {**_get(2, "/users?$top=1"), "dependsOn": ["1"]},
        {**_get(3, "/groups?$top=1"), "dependsOn": ["2"]},
        _get(4, "/groups?$top=1"),
        {**_get(5, "/applications?$top=1"), "dependsOn": ["4"]},
    ]))
    assert answer["1"]["status"] == 404
    assert answer["2"]["status"] == 424 and answer["3"]["status"] == 424
    assert answer["4"]["status"] == 200 and answer["5"]["status"] == 200
    assert "error" in answer["2"]["body"]


def test_batch_version_applies_to_every_entry(sim: Sim) -> None:
    group = first(sim.client, "groups")
    sync = f"/groups/{group['id']}/onPremisesSyncBehavior"
    v1 = _by_id(_batch(sim, [_get(1, sync)]))
    beta = _by_id(_batch(sim, [_get(1, sync)], version="beta"))
    assert v1["1"]["status"] >= 400 and beta["1"]["status"] == 200
    absolute = _by_id(_batch(sim, [_get(1, f"{sim.graph}/users")]))
    assert absolute["1"]["status"] == 400


def test_batch_entries_count_as_separate_requests(sim: Sim) -> None:
    _batch(sim, [_get(n, "/users?$top=1") for n in range(7)]).raise_for_status()
    stats = sim.stats()
    assert stats["requests"]["GET"]["users"] == 7
    assert stats["throttle"]["requests"] == 7


# ----- throttling ---------------------------------------------------------------------------

def test_directory_reads_under_budget_carry_resource_unit_headers(sim: Sim) -> None:
    sim.configure(throttle="graph")
    group = first(sim.client, "groups")
    costs = {
        "users": "2", "users?$select=id": "1", "users?$top=5": "1", "groups": "1",
        "applications": "2", f"groups/{group['id']}/members": "3",
        f"groups/{group['id']}?$expand=members": "2",
    }
    for url, cost in costs.items():
        response = sim.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["x-ms-resource-unit"] == cost, url
        assert "x-ms-throttle-limit-percentage" not in response.headers
    write = sim.client.patch(f"groups/{group['id']}", json={"description": "x"})
    assert write.status_code == 204 and write.headers["x-ms-resource-unit"] == "1"
    ca = sim.client.get(CA)
    assert ca.status_code == 200 and "x-ms-resource-unit" not in ca.headers
    assert sim.stats()["throttled"] == 0


@pytest.mark.parametrize("throttle", ["off", "graph"])
def test_directory_errors_carry_resource_unit_headers_too(sim: Sim, throttle: str) -> None:
    sim.configure(throttle=throttle)
    missing = sim.client.get(f"users/{new_id('gone')}")
    assert_graph_error(missing, 404)
    assert missing.headers["x-ms-resource-unit"] == "1"
    bad = sim.client.patch(f"groups/{new_id('gone')}", json={"description": "x"})
    assert bad.status_code == 404 and bad.headers["x-ms-resource-unit"] == "1"
    entry = _by_id(_batch(sim, [_get(1, f"/users/{new_id('gone')}")]))["1"]
    assert entry["status"] == 404 and entry["headers"]["x-ms-resource-unit"] == "1"


def test_conditional_access_is_one_request_per_second_without_retry_after(sim: Sim) -> None:
    sim.configure(throttle="graph")
    answers = [sim.client.get(CA) for _ in range(5)]
    assert answers[0].status_code == 200
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) >= 3
    for answer in throttled:
        assert_graph_error(answer, 429, "TooManyRequests")
        assert "Retry-After" not in answer.headers
        assert "x-ms-throttle-scope" not in answer.headers
    named = sim.client.get("identity/conditionalAccess/namedLocations")
    assert named.status_code == 429  # the same tenant-wide bucket
    assert sim.client.get("users?$top=1").status_code == 200  # other services unaffected
    stats = sim.stats()
    assert stats["throttled"] == len(throttled) + 1
    assert stats["throttle"]["throttled.conditionalAccess"] == len(throttled) + 1


def test_conditional_access_budget_refills_with_time_scale(sim: Sim) -> None:
    sim.configure(throttle="graph", time_scale=20)  # one simulated second is 50 ms
    statuses = [sim.client.get(CA).status_code for _ in range(3)]
    assert statuses[0] == 200 and 429 in statuses
    time.sleep(0.1)
    assert sim.client.get(CA).status_code == 200


def test_ca_budget_is_configurable(sim: Sim) -> None:
    sim.configure(throttle="graph", ca_rate_per_second=1_000_000)
    statuses = {sim.client.get(CA).status_code for _ in range(5)}
    assert statuses == {200}


def test_write_budget_exceeded_gives_429_with_retry_after_and_scope(sim: Sim) -> None:
    sim.configure(throttle="graph", time_scale=5)  # writes refill at 100/s of clock time
    missing = new_id("missing")
    entry = {"method": "PATCH", "url": f"/users/{missing}", "body": {"jobTitle": "x"},
             "headers": {"Content-Type": "application/json"}}
    throttled: Json | None = None
    for batch in range(400):  # noqa: B007 - the count is asserted after the loop
        answer = _batch(sim, [{"id": str(n), **entry} for n in range(20)]).json()
        statuses = {r["status"] for r in answer["responses"]}
        assert statuses <= {404, 429}
        limited = [r for r in answer["responses"] if r["status"] == 429]
        if limited:
            throttled = limited[0]
            break
    assert throttled is not None, "the write budget never ran out"
    assert batch >= 140  # 3,000 writes per 150 s: at least ~2,800 went through first
    headers = throttled["headers"]
    retry = float(headers["Retry-After"])
    assert 0 < retry <= 1.0  # whole simulated seconds, divided by time_scale
    assert headers["x-ms-throttle-scope"].startswith("Tenant_Application/Write/")
    assert headers["x-ms-throttle-information"] == "WriteLimitExceeded"
    assert throttled["body"]["error"]["code"] == "TooManyRequests"
    # reads are charged to the RU bucket, not the write bucket
    assert sim.client.get("groups?$top=1").status_code == 200
    time.sleep(retry)
    after = sim.client.patch(f"users/{missing}", json={"jobTitle": "x"})
    assert after.status_code == 404


def test_read_budget_exceeded_gives_429_with_retry_after(sim: Sim) -> None:
    sim.reset(synthetic=100)  # 66 users: a medium tenant, 5,000 RU per 10 s
    # a simulated second lasts ten real ones: on a loaded machine the client cannot send
    # slower than the bucket refills (at Graph's speed it needs 13 batches a second)
    sim.configure(throttle="graph", time_scale=0.1)
    group = first(sim.client, "groups")
    entry = {"method": "GET", "url": f"/groups/{group['id']}/members?$select=id"}  # 2 RU
    limited: Json | None = None
    warnings: list[float] = []
    served = 0
    for batch in range(300):  # noqa: B007 - the count is asserted after the loop
        answer = _batch(sim, [{"id": str(n), **entry} for n in range(20)]).json()
        served += sum(1 for r in answer["responses"] if r["status"] == 200)
        warnings += [float(r["headers"]["x-ms-throttle-limit-percentage"])
                     for r in answer["responses"]
                     if "x-ms-throttle-limit-percentage" in r["headers"]]
        hits = [r for r in answer["responses"] if r["status"] == 429]
        if hits:
            limited = hits[0]
            break
    assert limited is not None
    assert batch >= 120  # 2,500 reads of 2 RU fit in the bucket
    assert limited["headers"]["x-ms-throttle-scope"].startswith("Tenant_Application/Read/")
    assert limited["headers"]["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert float(limited["headers"]["Retry-After"]) >= 1
    assert sim.stats()["throttle"]["throttled.directory.ResourceUnitLimitExceeded"] >= 1
    # above 80 % of the budget Graph warns with the percentage header first
    assert warnings and all(0.8 <= w <= 1.8 for w in warnings)
    assert len(warnings) < served / 2  # not before most of the budget is used


def test_throttled_batch_entries_are_individual(sim: Sim) -> None:
    sim.configure(throttle="graph")
    answer = _by_id(_batch(sim, [_get(n, f"/{CA}") for n in range(4)] + [
        _get(9, "/users?$top=1")]))
    statuses = [answer[str(n)]["status"] for n in range(4)]
    assert statuses[0] == 200 and statuses[1:] == [429, 429, 429]
    assert all("Retry-After" not in answer[str(n)]["headers"] for n in range(1, 4))
    assert answer["9"]["status"] == 200
    assert answer["9"]["headers"]["x-ms-resource-unit"] == "1"


def test_spurious_429s_below_the_limits(sim: Sim) -> None:
    sim.configure(throttle="graph", spurious_429_rate=1)
    response = sim.client.get("users?$top=1")
    assert_graph_error(response, 429, "TooManyRequests")
    assert float(response.headers["Retry-After"]) > 0
    inner = response.json()["error"]["innerError"]
    assert (inner["code"], inner["status"]) == ("429", "429")
    sim.configure(throttle="graph", spurious_429_rate=0)
    assert sim.client.get("users?$top=1").status_code == 200


def test_throttle_off_never_limits(sim: Sim) -> None:
    statuses = {sim.client.get(CA).status_code for _ in range(10)}
    assert statuses == {200}
    assert sim.stats()["throttled"] == 0


# ----- fault injection --------------------------------------------------------------------

def test_fail_rate_one_answers_graph_shaped_503_or_504(sim: Sim) -> None:
    sim.configure(fail_rate=1)
    seen = set()
    for _ in range(12):
        response = sim.client.get("users?$top=1", headers={"client-request-id": "retry-me"})
        error = assert_graph_error(response, response.status_code)
        assert response.status_code in (503, 504)
        assert error["innerError"]["client-request-id"] == "retry-me"
        if response.status_code == 503:
            assert float(response.headers["Retry-After"]) > 0
            assert error["code"] == "serviceNotAvailable"
        seen.add(response.status_code)
    assert seen == {503, 504}
    assert sim.stats()["faults"]["failed"] == 12
    sim.configure(fail_rate=0)
    assert sim.client.get("users?$top=1").status_code == 200


def test_drop_rate_one_drops_the_connection(sim: Sim) -> None:
    sim.configure(drop_rate=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        sim.client.get("users?$top=1")
    assert sim.stats()["faults"]["dropped"] == 1
    sim.configure(drop_rate=0)
    assert sim.client.get("users?$top=1").status_code == 200


def test_latency_is_added(sim: Sim) -> None:
    sim.configure(latency_ms=60)
    started = time.perf_counter()
    sim.client.get("users?$top=1").raise_for_status()
    assert time.perf_counter() - started >= 0.06


def test_faults_do_not_touch_the_tenant(sim: Sim) -> None:
    before = sim.stats()["objects"]["groups"]
    sim.configure(fail_rate=1)
    assert sim.client.post("groups", json=group_body("faulty")).status_code in (503, 504)
    sim.configure(fail_rate=0)
    assert sim.stats()["objects"]["groups"] == before


# ----- /_sim/stats ------------------------------------------------------------------------

def test_stats_count_requests_by_method_and_kind(sim: Sim) -> None:
    user = first(sim.client, "users")
    sim.client.get("users?$top=2").raise_for_status()
    sim.client.get(f"groups/{new_id('nope')}")
    sim.client.post("groups", json=group_body("counted")).raise_for_status()
    sim.client.patch(f"users/{user['id']}", json={"jobTitle": "x"})
    sim.client.get(CA).raise_for_status()
    sim.client.get("policies/authorizationPolicy").raise_for_status()
    stats = sim.stats()
    assert stats["requests"]["GET"]["users"] == 2
    assert stats["requests"]["GET"]["groups"] == 1
    assert stats["requests"]["GET"]["policies"] == 1
    assert stats["requests"]["GET"]["authorizationPolicy"] == 1
    assert stats["requests"]["POST"] == {"groups": 1}
    assert stats["requests"]["PATCH"] == {"users": 1}
    assert stats["throttled"] == 0
    assert stats["tenant"]["creates"] == 1 and stats["tenant"]["updates"] == 1
    sim.reset(synthetic=100)
    assert sim.stats()["requests"] == {}


def test_batch_answers_come_in_any_order_matched_by_id(sim: Sim) -> None:
    requests = [{"id": f"r{n}", "method": "GET", "url": "/users?$top=1&$select=id"}
                for n in range(20)]
    answer = sim.client.post("$batch", json={"requests": requests})
    assert answer.status_code == 200
    order = [r["id"] for r in answer.json()["responses"]]
    assert sorted(order) == sorted(r["id"] for r in requests)
    assert order != [r["id"] for r in requests]  # 1 in 20! to happen by chance
