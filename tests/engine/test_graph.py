"""GraphSession against graphsim over real HTTP, plus MockTransport for exact wire details.

graphsim forces the failures a tenant-wide run meets (throttling, 5xx, dropped connections,
expired tokens and delta links); MockTransport is used only where a test must see exact
headers or request sequences that graphsim cannot force.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from entra_backup.errors import (
    AccessDeniedError,
    AuthenticationError,
    DeltaExpiredError,
    GraphRequestError,
    GraphResponseError,
    NotFoundError,
    PermanentDeleteRefusedError,
    ThrottledError,
)
from entra_backup.graph.session import (
    BatchRequest,
    CredentialTokenProvider,
    GraphSession,
    StaticTokenProvider,
    token_provider_from_env,
)
from graphsim.clock import parse_iso
from tests.conftest import TOKEN, Sim

FAST = {"backoff_base": 0.01, "backoff_max": 0.2}


def session(sim: Sim, token: str = TOKEN, **options: Any) -> GraphSession:
    return GraphSession(base_url=sim.url, tokens=StaticTokenProvider(token), **(FAST | options))


@pytest.fixture
async def graph(sim: Sim) -> AsyncIterator[GraphSession]:
    async with session(sim) as client:
        yield client


async def first_ids(graph: GraphSession, path: str, count: int) -> list[str]:
    page = await anext(graph.list_pages(path, select=["id"], top=count))
    return [item["id"] for item in page.items]


async def user_ids(graph: GraphSession, **options: Any) -> list[str]:
    return sorted([u["id"] async for u in graph.list_objects("users", select=["id"], **options)])


def sim_now(sim: Sim) -> float:
    return parse_iso(sim.control.get("/clock").json()["now"]).timestamp()


class SimCredential:
    """An async credential issuing graphsim tokens valid for `lifetime` simulator seconds."""

    def __init__(self, sim: Sim, lifetime: float, expires_in: float = 3600) -> None:
        self.sim, self.lifetime, self.expires_in, self.calls = sim, lifetime, expires_in, 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        token = f"{TOKEN};exp={sim_now(self.sim) + self.lifetime:.0f}"
        return AccessToken(token, int(time.time() + self.expires_in))


# ----- reads against graphsim -------------------------------------------------------------


async def test_paging_reads_every_user_with_select(sim: Sim, graph: GraphSession) -> None:
    pages = [p async for p in graph.list_pages("users", top=50, select=["id", "displayName"])]
    items = [item for page in pages for item in page.items]
    assert len(items) == sim.stats()["objects"]["users"] > 50
    assert all(len(p.items) <= 50 for p in pages) and pages[-1].next_link is None
    assert all(set(item) - {"@odata.type"} == {"id", "displayName"} for item in items)
    assert len({item["id"] for item in items}) == len(items)


async def test_not_found_is_translated_with_request_id(graph: GraphSession) -> None:
    missing = "00000000-0000-0000-0000-0000000000ff"
    with pytest.raises(NotFoundError) as caught:
        await graph.get_object(f"users/{missing}")
    error = caught.value
    assert (error.status, error.code) == (404, "Request_ResourceNotFound")
    assert error.request_id and f"GET /v1.0/users/{missing}" in str(error)
    assert TOKEN not in str(error)


async def test_permanent_delete_is_refused_before_sending(sim: Sim, graph: GraphSession) -> None:
    for path in ("directory/deletedItems/x", "Directory/DeletedItems/x",
                 "directory/deletedItems%2Fx", "identity/conditionalAccess/deletedItems/policies/x",
                 f"{sim.graph}/directory//deletedItems/x"):
        with pytest.raises(PermanentDeleteRefusedError):
            await graph.request("DELETE", path, api_version="beta")
    with pytest.raises(PermanentDeleteRefusedError):
        await graph.delete_object("directory/deletedItems/x")
    with pytest.raises(PermanentDeleteRefusedError):
        await graph.batch([BatchRequest("1", "GET", "/users"),
                           BatchRequest("2", "DELETE", "/directory/deletedItems/x")])
    with pytest.raises(PermanentDeleteRefusedError):
        await graph.request("POST", "$batch", json={"requests": [
            {"id": "1", "method": "DELETE", "url": "/directory/deletedItems/x"}]})
    assert "DELETE" not in sim.stats()["requests"] and graph.stats.requests == 0


async def test_delta_round_then_expired_link(sim: Sim, graph: GraphSession) -> None:
    pages = [p async for p in graph.list_delta("users", select=["id", "displayName"])]
    assert len(pages) == 1 and graph.stats.requests == 1  # Prefer: odata.maxpagesize=999
    assert len(pages[0].items) == sim.stats()["objects"]["users"]
    link = pages[-1].delta_link
    assert link and "$deltatoken=" in link
    again = [p async for p in graph.list_delta("users", delta_link=link)]
    assert again[-1].delta_link and not [i for p in again for i in p.items]
    sim.advance(8 * 24 * 3600)
    with pytest.raises(DeltaExpiredError) as caught:
        [p async for p in graph.list_delta("users", delta_link=link)]
    assert (caught.value.status, caught.value.code) == (410, "syncStateNotFound")


async def test_access_denied_from_a_token_without_permission(sim: Sim) -> None:
    async with session(sim, f"{TOKEN};deny=groups") as graph:
        with pytest.raises(AccessDeniedError) as caught:
            [g async for g in graph.list_objects("groups")]
        assert caught.value.code == "Authorization_RequestDenied"
        user = (await graph.get_json("users", params={"$top": 1}))["value"][0]
        with pytest.raises(AccessDeniedError):
            await graph.get_many([f"/users/{user['id']}", "/groups"])


# ----- resilience against graphsim ----------------------------------------------------------


async def test_ca_throttling_without_retry_after_backs_off(sim: Sim) -> None:
    sim.configure(throttle="graph", time_scale=1, ca_rate_per_second=5)
    async with session(sim, backoff_base=0.1, backoff_max=2.0) as graph:
        async def read() -> list[str]:
            path = "identity/conditionalAccess/policies"
            return sorted([p["id"] async for p in graph.list_objects(path)])

        results = await asyncio.gather(*(read() for _ in range(20)))
    assert results[0] and all(r == results[0] for r in results)
    assert graph.stats.throttled > 0 and sim.stats()["throttled"] > 0


async def test_faults_and_dropped_connections_lose_nothing(sim: Sim, graph: GraphSession) -> None:
    clean = await user_ids(graph, top=50)
    sim.configure(time_scale=100, fail_rate=0.3, drop_rate=0.1)
    assert await user_ids(graph, top=5) == clean  # small pages: many requests, many faults
    faults = sim.stats()["faults"]
    dropped, failed = faults.get("dropped", 0), faults.get("failed", 0)
    assert dropped + failed > 0
    assert (graph.stats.transport_errors, graph.stats.retries) == (dropped, dropped + failed)


async def test_spurious_429s_lose_nothing(sim: Sim, graph: GraphSession) -> None:
    clean = await user_ids(graph, top=50)
    sim.configure(throttle="graph", time_scale=100, spurious_429_rate=0.3)
    assert await user_ids(graph, top=5) == clean
    assert graph.stats.throttled == graph.stats.retries == sim.stats()["throttled"] > 0


async def test_token_expiring_mid_run_is_refreshed(sim: Sim) -> None:
    credential = SimCredential(sim, lifetime=600)
    async with GraphSession(base_url=sim.url, tokens=CredentialTokenProvider(credential),
                            **FAST) as graph:
        seen = 0
        async for page in graph.list_pages("users", top=50, select=["id"]):
            seen += len(page.items)
            if seen == 50:
                sim.advance(3600)  # the token dies between two pages
    assert seen == sim.stats()["objects"]["users"]
    assert credential.calls == 2 and graph.stats.token_refreshes == 1


async def test_a_401_gets_exactly_one_refresh_and_retry(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included: no token text anywhere
    credential = SimCredential(sim, lifetime=-60)  # every token is already expired
    async with GraphSession(base_url=sim.url, tokens=CredentialTokenProvider(credential),
                            **FAST) as graph:
        with pytest.raises(GraphResponseError) as caught:
            await graph.get_json("users")
    assert (caught.value.status, caught.value.code) == (401, "InvalidAuthenticationToken")
    assert credential.calls == 2 and graph.stats.requests == 2
    assert "exp=" not in str(caught.value)
    assert caplog.records and "exp=" not in caplog.text and "Bearer" not in caplog.text


# ----- batch ---------------------------------------------------------------------------------


async def test_batch_of_45_answers_in_order(graph: GraphSession) -> None:
    users = await first_ids(graph, "users", 45)
    answers = await graph.batch([BatchRequest(f"r{i}", "GET", f"/users/{u}?$select=id")
                                 for i, u in enumerate(users)])
    assert [a.id for a in answers] == [f"r{i}" for i in range(45)]
    assert [a.body["id"] for a in answers] == users and all(a.ok for a in answers)
    assert graph.stats.requests == 1 + 3  # the listing, then 20 + 20 + 5
    gone = "00000000-0000-0000-0000-0000000000ff"
    got = await graph.get_many([f"/users/{users[0]}", f"/users/{gone}"])
    assert got[0] is not None and got[0]["id"] == users[0] and got[1] is None


async def test_batch_retries_only_throttled_entries(sim: Sim, graph: GraphSession) -> None:
    users = await first_ids(graph, "users", 40)
    sim.configure(throttle="graph", time_scale=100, spurious_429_rate=0.3)
    answers = await graph.batch([BatchRequest(str(i), "GET", f"/users/{u}?$select=id")
                                 for i, u in enumerate(users)])
    assert [a.body["id"] for a in answers] == users and all(a.status == 200 for a in answers)
    assert graph.stats.throttled == sim.stats()["throttled"] > 0
    # every resent entry is one that was throttled: nothing that worked went twice
    assert graph.stats.batch_entries == 40 + graph.stats.retries == 40 + graph.stats.throttled


async def test_list_all_many_follows_next_links(sim: Sim, graph: GraphSession) -> None:
    groups = await first_ids(graph, "groups", 30)
    urls = [f"/groups/{g}/members?$select=id&$top=2" for g in groups]
    got = {url: items async for url, items in graph.list_all_many(urls)}
    assert list(got) == urls
    for group, url in zip(groups, urls, strict=True):
        direct = [m["id"] async for m in graph.list_objects(f"groups/{group}/members")]
        assert [m["id"] for m in got[url] or []] == direct
    assert any(len(items or []) > 2 for items in got.values())  # some needed a nextLink


# ----- writes ---------------------------------------------------------------------------------


async def test_write_helpers_round_trip(sim: Sim, graph: GraphSession) -> None:
    user = (await graph.get_json("users", params={"$top": 1, "$select": "id"}))["value"][0]["id"]
    group = await graph.create_object("groups", {
        "displayName": "Graph session test", "mailEnabled": False, "mailNickname": "gst",
        "securityEnabled": True})
    path = f"groups/{group['id']}"
    await graph.update_object(path, {"description": "patched"})
    await graph.add_link(path, "members", user)
    assert [m["id"] async for m in graph.list_objects(f"{path}/members")] == [user]
    assert await graph.remove_link(path, "members", user) is True
    assert await graph.remove_link(path, "members", user) is False
    assert await graph.delete_object(path) is True
    assert await graph.delete_object(path) is False
    restored = await graph.restore_deleted(group["id"])
    assert restored["id"] == group["id"]
    assert (await graph.get_object(path, select=["description"]))["description"] == "patched"


# ----- exact wire behaviour (MockTransport) ------------------------------------------------------


def mock(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> GraphSession:
    return GraphSession(base_url="https://graph.example", tokens=StaticTokenProvider("s3cret"),
                        transport=httpx.MockTransport(handler), **(FAST | options))


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": "m", "innerError": {"request-id": "rid"}}}
    return httpx.Response(status, json=body, headers=headers)


async def test_headers_and_retry_sequence_on_the_wire() -> None:
    seen: list[httpx.Request] = []
    answers = [error(503, "serviceNotAvailable", {"Retry-After": "0.05"}),
               error(429, "TooManyRequests"),
               httpx.Response(200, json={"value": [{"id": "1"}],
                                         "@odata.nextLink": "https://graph.example/v1.0/users?"
                                                            "$skiptoken=abc%2B"}),
               httpx.Response(200, json={"value": [{"id": "2"}]})]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1]

    async with mock(handler) as graph:
        started = time.monotonic()
        items = [u async for u in graph.list_objects(
            "users", top=5, filter="startswith(displayName,'a b')",
            headers={"ConsistencyLevel": "eventual"})]
        assert time.monotonic() - started >= 0.05  # the fractional Retry-After was honoured
    assert [i["id"] for i in items] == ["1", "2"]
    first = "https://graph.example/v1.0/users?$top=5&$filter=startswith(displayName,'a%20b')"
    assert [str(r.url) for r in seen] == [first] * 3 + [
        "https://graph.example/v1.0/users?$skiptoken=abc%2B"]  # the nextLink, verbatim
    assert all(r.headers["ConsistencyLevel"] == "eventual" for r in seen)
    assert all(r.headers["x-ms-throttle-priority"] == "low" for r in seen)
    assert all(r.headers["Authorization"] == "Bearer s3cret" for r in seen)
    assert len({r.headers["client-request-id"] for r in seen[:3]}) == 1
    assert [r.headers.get("Retry-Attempt") for r in seen[:3]] == [None, "1", "2"]
    assert graph.stats.retries == 2 and graph.stats.throttled == 1


async def test_give_up_raises_translated_errors_without_the_token() -> None:
    async with mock(lambda r: error(429, "TooManyRequests", {"Retry-After": "0.01"}),
                    max_attempts=3) as graph:
        with pytest.raises(ThrottledError) as caught:
            await graph.get_json("identity/conditionalAccess/policies")
    assert caught.value.retry_after == 0.01 and graph.stats.requests == 3
    assert "s3cret" not in str(caught.value)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    async with mock(drop, max_attempts=2) as graph:
        with pytest.raises(GraphRequestError) as failed:
            await graph.get_json("users")
        assert isinstance(failed.value.__cause__, httpx.RemoteProtocolError)
        assert graph.stats.requests == 2 and "s3cret" not in str(failed.value)
        with pytest.raises(GraphRequestError):  # a create is never resent after a drop
            await graph.create_object("users", {"displayName": "x"})
        assert graph.stats.requests == 3

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with mock(refuse, max_attempts=8) as graph:
        with pytest.raises(GraphRequestError):  # nothing was sent: even a POST is resent,
            await graph.create_object("users", {})  # but a dead host fails within seconds
        assert graph.stats.requests == 4


async def test_post_is_resent_only_when_safe() -> None:
    answers = [error(504, "UnknownError"), error(504, "UnknownError"),
               httpx.Response(200, json={"value": []})]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answers[len(seen) - 1]

    async with mock(handler) as graph:
        with pytest.raises(GraphResponseError):  # 504 on a create: it may have happened
            await graph.create_object("groups", {})
        await graph.request("POST", "directoryObjects/getByIds", json={"ids": []},
                            idempotent=True)  # a read: resent
    assert seen == ["/v1.0/groups"] + ["/v1.0/directoryObjects/getByIds"] * 2


async def test_pressure_header_slows_the_service_and_clean_answers_recover() -> None:
    pressure = {"x-ms-throttle-limit-percentage": "1.2"}
    answers = iter([httpx.Response(200, json={}, headers=pressure)]
                   + [httpx.Response(200, json={})] * 40)
    async with mock(lambda r: next(answers)) as graph:
        await graph.get_json("users/1")
        assert graph.pacer.interval("directory") > 0
        assert graph.pacer.interval("conditionalAccess") == 0
        for _ in range(40):
            await graph.get_json("users/1")
        assert graph.pacer.interval("directory") == 0


async def test_links_to_another_host_are_never_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"value": [],
                                         "@odata.nextLink": "https://evil.example/v1.0/users"})

    async with mock(handler) as graph:
        with pytest.raises(GraphRequestError, match="outside"):
            [p async for p in graph.list_pages("users")]
    assert seen == ["https://graph.example/v1.0/users"]


# ----- token providers ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class SyncCredential:
    def __init__(self, clock: Clock, fail: bool = False) -> None:
        self.clock, self.fail, self.calls = clock, fail, 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        if self.fail:
            raise ClientAuthenticationError("no credential available")
        return AccessToken(f"token-{self.calls}", int(self.clock.now + 3600))


async def test_credential_tokens_refresh_five_minutes_before_expiry() -> None:
    clock = Clock()
    credential = SyncCredential(clock)
    provider = CredentialTokenProvider(credential, clock=clock)
    assert await provider.token() == await provider.token() == "token-1"
    clock.now += 3600 - 301
    assert await provider.token() == "token-1"
    clock.now += 2  # now inside the 5-minute margin
    assert await provider.token() == "token-2"
    assert await provider.token(force_refresh=True) == "token-3"
    assert "token" not in repr(provider).replace("TokenProvider", "")
    failing = CredentialTokenProvider(SyncCredential(clock, fail=True), clock=clock)
    with pytest.raises(AuthenticationError):
        await failing.token()


async def test_token_provider_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_BACKUP_GRAPH_TOKEN", "app:sim")
    provider = token_provider_from_env(tenant_id=None)
    assert isinstance(provider, StaticTokenProvider) and "app:sim" not in repr(provider)
    monkeypatch.delenv("ENTRA_BACKUP_GRAPH_TOKEN")
    default = token_provider_from_env(tenant_id="t")
    assert isinstance(default, CredentialTokenProvider)
    await default.close()
