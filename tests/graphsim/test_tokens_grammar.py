"""The bearer-token grammar `<name>[;exp=<unix seconds>][;deny=<segment>,...]` over HTTP.

Clients test token refresh and permission errors through it, so both answers must have
Graph's exact status, code and message, and the caller must stay `<name>`.
"""

from __future__ import annotations

import time

from tests.conftest import TOKEN, Sim
from tests.graphsim.http_helpers import CALLER_NAME, assert_graph_error, group_body


def test_exp_claim_expires_on_the_simulator_clock(sim: Sim) -> None:
    token = f"{TOKEN};exp={time.time() + 3600:.0f}"
    auth = {"Authorization": f"Bearer {token}"}
    assert sim.client.get("users?$top=1", headers=auth).status_code == 200
    created = sim.client.post("groups", json=group_body("tokgrammar"), headers=auth)
    assert created.status_code == 201, created.text
    audits = sim.client.get("auditLogs/directoryAudits?$top=999").json()["value"]
    assert {a["initiatedBy"]["app"]["displayName"] for a in audits} == {CALLER_NAME}

    sim.advance(2 * 3600)
    error = assert_graph_error(sim.client.get("users?$top=1", headers=auth), 401,
                               "InvalidAuthenticationToken")
    assert error["message"] == "Lifetime validation failed, the token is expired."
    assert sim.client.get("users?$top=1").status_code == 200  # no exp: never expires
    bad = sim.client.get("users", headers={"Authorization": f"Bearer {TOKEN};exp=soon"})
    assert_graph_error(bad, 401, "InvalidAuthenticationToken")


def test_deny_claim_refuses_listed_segments_also_inside_batch(sim: Sim) -> None:
    auth = {"Authorization": f"Bearer {TOKEN};deny=groups,namedLocations,authorizationPolicy"}
    for path in ("groups", "identity/conditionalAccess/namedLocations",
                 "policies/authorizationPolicy"):
        error = assert_graph_error(sim.client.get(path, headers=auth), 403,
                                   "Authorization_RequestDenied")
        assert error["message"] == "Insufficient privileges to complete the operation."
    for path in ("users?$top=1", "identity/conditionalAccess/policies",
                 "policies/authenticationMethodsPolicy"):
        assert sim.client.get(path, headers=auth).status_code == 200, path

    everything = {"Authorization": f"Bearer {TOKEN};deny=policies,identity"}
    for path in ("policies/authenticationMethodsPolicy", "identity/conditionalAccess/policies"):
        assert_graph_error(sim.client.get(path, headers=everything), 403)

    batch = sim.client.post("$batch", headers=auth, json={"requests": [
        {"id": "1", "method": "GET", "url": "/groups?$top=1"},
        {"id": "2", "method": "GET", "url": "/users?$top=1"},
    ]})
    assert batch.status_code == 200
    status = {r["id"]: r["status"] for r in batch.json()["responses"]}
    assert status == {"1": 403, "2": 200}
