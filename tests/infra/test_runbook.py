"""The incident runbook (infra/logicapp/runbook.json) calls only routes the API publishes.

Routes come from the API's OpenAPI 2.0 file docs/openapi.json (written beside the API; a
missing file fails here) and from the contract's route list. Every API call authenticates
with the Logic App's managed identity; the long calls rely on the HTTP action's
asynchronous pattern (202 + Location), with a timeout long enough for a 30-hour recovery.
https://learn.microsoft.com/azure/connectors/connectors-native-http#asynchronous-request-response-behavior
https://learn.microsoft.com/azure/logic-apps/authenticate-with-managed-identity
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tests.infra.bicep import INFRA, ROOT

API = "@{parameters('apiBaseUrl')}/api/"
# CONTRACT-9.md, "HTTP API (routes under /api, exactly as issue 9 lists them)"
CONTRACT_ROUTES = {
    ("GET", "tenants/{}/backups"), ("POST", "tenants/{}/backups"),
    ("POST", "tenants/{}/diff-reports"), ("GET", "tenants/{}/diff-reports/{}"),
    ("GET", "tenants/{}/diff-reports/{}/entries"),
    ("POST", "tenants/{}/recoveries"), ("GET", "tenants/{}/recoveries"),
    ("GET", "tenants/{}/recoveries/{}"), ("POST", "tenants/{}/recoveries/{}/cancel"),
    ("GET", "health"),
}


def definition() -> dict[str, Any]:
    return dict(json.loads((INFRA / "logicapp" / "runbook.json").read_text()))


def actions(block: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every action, nested ones (If branches) included."""
    for name, action in block.get("actions", {}).items():
        yield name, action
        yield from actions(action)
        yield from actions(action.get("else", {}))


def api_calls() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, route template with {} for each expression segment, action) per API call."""
    calls = []
    for _, action in actions(definition()):
        if action["type"] != "Http" or not action["inputs"]["uri"].startswith(API):
            continue
        path = action["inputs"]["uri"][len(API):]
        route = "/".join("{}" if "@{" in part else part for part in path.split("/"))
        calls.append((action["inputs"]["method"], route, action))
    return calls


def openapi_routes() -> set[tuple[str, str]]:
    spec_path = ROOT / "docs" / "openapi.json"
    assert spec_path.is_file(), "docs/openapi.json (the API's OpenAPI 2.0 file) is missing"
    spec = json.loads(spec_path.read_text())
    base = spec.get("basePath", "").strip("/")
    routes = set()
    for path, item in spec["paths"].items():
        full = "/".join(p for p in (base, path.strip("/")) if p)
        full = full.removeprefix("api/")
        template = re.sub(r"\{[^}]+\}", "{}", full)
        routes |= {(method.upper(), template) for method in item
                   if method in ("get", "post", "put", "patch", "delete")}
    return routes


def test_runbook_calls_diff_then_recovery_with_its_managed_identity() -> None:
    calls = api_calls()
    used = {(method, route) for method, route, _ in calls}
    assert ("POST", "tenants/{}/diff-reports") in used
    assert ("POST", "tenants/{}/recoveries") in used
    for _, _, action in calls:
        auth = action["inputs"]["authentication"]
        assert auth == {"type": "ManagedServiceIdentity", "audience": "@parameters('apiAudience')"}
        assert action.get("operationOptions") != "DisableAsyncPattern"
    limits = {route: action.get("limit", {}).get("timeout") for method, route, action in calls
              if method == "POST" and route.endswith(("diff-reports", "recoveries"))}
    assert limits == {"tenants/{}/diff-reports": "PT12H", "tenants/{}/recoveries": "PT36H"}


def test_runbook_waits_for_an_approval_before_recovering() -> None:
    flow = dict(actions(definition()))
    assert flow["Wait_for_approval"]["type"] == "HttpWebhook"
    assert "listCallbackUrl()" in json.dumps(flow["Wait_for_approval"]["inputs"]["subscribe"])
    assert flow["Approved"]["runAfter"] == {"Wait_for_approval": ["Succeeded"]}
    assert "Start_recovery" in flow["Approved"]["actions"]
    assert "Start_recovery" not in flow["Approved"]["else"]["actions"]


def test_runbook_routes_are_in_the_contract() -> None:
    used = {(method, route) for method, route, _ in api_calls()}
    assert used <= CONTRACT_ROUTES, used - CONTRACT_ROUTES


def test_runbook_routes_are_in_docs_openapi() -> None:
    used = {(method, route) for method, route, _ in api_calls()}
    published = openapi_routes()
    assert used <= published, used - published
