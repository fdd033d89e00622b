"""Small helpers shared by the graphsim HTTP tests: Graph error checks, paging, tiny seeds."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import TOKEN

Json = dict[str, Any]
CALLER_NAME = TOKEN.split(":", 1)[1]  # what an app token names in audit initiatedBy
USER_DEFAULT = frozenset({
    "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName",
})
ZERO_ROLE = "00000000-0000-0000-0000-000000000000"
# A verified domain of the `sim` fixture's tenant (synthetic, random seed 7): Graph refuses a
# userPrincipalName outside organization.verifiedDomains (test_http_writes_users checks it).
DOMAIN = "contoso7.onmicrosoft.com"


def assert_graph_error(response: httpx.Response, status: int, code: str | None = None) -> Json:
    """Check Graph's error shape, ids in body and headers; return the `error` object."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], error
    assert isinstance(error.get("message"), str) and error["message"], error
    inner = error["innerError"]
    assert {"date", "request-id", "client-request-id"} <= set(inner), inner
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    uuid.UUID(inner["request-id"])
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


def pages(client: httpx.Client, url: str, *, headers: dict[str, str] | None = None,
          limit: int = 200) -> list[Json]:
    """Every page of a list, following whole nextLinks (never building tokens)."""
    out: list[Json] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not ("@odata.nextLink" in body and "@odata.deltaLink" in body)
        out.append(body)
        next_url = body.get("@odata.nextLink")
        assert len(out) < limit, "paging does not end"
    return out


def items(client: httpx.Client, url: str, **kwargs: Any) -> list[Json]:
    return [item for page in pages(client, url, **kwargs) for item in page["value"]]


def ids(objects: list[Json]) -> list[str]:
    return [str(o["id"]) for o in objects]


def new_id(label: str, n: int = 0) -> str:
    """A stable GUID for seed objects (readable in failures through the label)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsim-test/{label}/{n}"))


def seed_user(n: int, **extra: Any) -> Json:
    return {
        "id": new_id("user", n), "displayName": f"User {n}", "givenName": "User",
        "surname": str(n), "userPrincipalName": f"user{n}@contoso.test",
        "mail": f"user{n}@contoso.test", "mailNickname": f"user{n}", "accountEnabled": True,
        "userType": "Member", "businessPhones": [], "jobTitle": None, **extra,
    }


def seed_group(n: int, **extra: Any) -> Json:
    return {
        "id": new_id("group", n), "displayName": f"Group {n}", "mailNickname": f"group{n}",
        "mailEnabled": False, "securityEnabled": True, "groupTypes": [], **extra,
    }


def user_body(nick: str, **extra: Any) -> Json:
    """A valid POST /users body."""
    return {
        "accountEnabled": True, "displayName": f"New {nick}", "mailNickname": nick,
        "userPrincipalName": f"{nick}@{DOMAIN}",
        "passwordProfile": {"password": "Xy!" + uuid.uuid4().hex,
                            "forceChangePasswordNextSignIn": True},
        **extra,
    }


def group_body(nick: str, **extra: Any) -> Json:
    """A valid POST /groups body (cloud security group)."""
    return {"displayName": f"New {nick}", "mailEnabled": False, "mailNickname": nick,
            "securityEnabled": True, **extra}


def ref(base: str, object_id: str) -> Json:
    return {"@odata.id": f"{base}/directoryObjects/{object_id}"}


def bind(base: str, object_ids: list[str]) -> list[str]:
    return [f"{base}/directoryObjects/{i}" for i in object_ids]


def first(client: httpx.Client, url: str) -> Json:
    response = client.get(url)
    assert response.status_code == 200, response.text
    value = response.json()["value"]
    assert value, f"no objects for {url}"
    return dict(value[0])


def create(client: httpx.Client, path: str, body: Json) -> Json:
    """POST a create that must succeed (201); return the created object."""
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def audits_for(client: httpx.Client, target_id: str) -> list[Json]:
    """Directory audit events naming an object, newest first."""
    clause = f"targetResources/any(t:t/id eq '{target_id}')"
    return items(client, f"auditLogs/directoryAudits?$filter={clause}")


def cloud_users(client: httpx.Client, n: int) -> list[str]:
    """Ids of `n` cloud-mastered plain users (writable, not agents)."""
    listed = items(client, "users?$top=999&$select=id,onPremisesSyncEnabled")
    cloud = [u["id"] for u in listed
             if not u["onPremisesSyncEnabled"] and "@odata.type" not in u]
    assert len(cloud) >= n
    return cloud[:n]
