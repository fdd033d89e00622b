"""graphsim over HTTP, Conditional Access and authentication-method writes, plus the
latency model.

Each test names the Graph reference page its rule comes from.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN, Sim
from tests.graphsim.http_helpers import assert_graph_error, audits_for, create, new_id

Json = dict[str, Any]
POLICIES = "identity/conditionalAccess/policies"
LOCATIONS = "identity/conditionalAccess/namedLocations"
CA_BIN = "identity/conditionalAccess/deletedItems"


def _policy_body(**extra: Any) -> Json:
    return {"displayName": "Restore test", "state": "disabled",
            "conditions": {"clientAppTypes": ["all"],
                           "applications": {"includeApplications": ["All"]},
                           "users": {"includeUsers": ["All"]}},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}, **extra}


def _location(sim: Sim, name: str) -> Json:
    return create(sim.client, LOCATIONS, {
        "@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": name,
        "isTrusted": False, "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange",
                                          "cidrAddress": "192.0.2.0/24"}]})


@pytest.mark.parametrize("state", ["enabled", "disabled", "enabledForReportingButNotEnforced"])
def test_policy_state_takes_the_three_documented_values(sim: Sim, state: str) -> None:
    """conditionalAccessPolicy, state: "Possible values are: enabled, disabled,
    enabledForReportingButNotEnforced." (https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy)"""
    created = create(sim.client, POLICIES, _policy_body(state=state))
    assert created["state"] == state
    for bad in ("Enabled", "reportOnly", "on"):
        assert_graph_error(sim.client.post(POLICIES, json=_policy_body(state=bad)), 400)
        assert_graph_error(sim.client.patch(f"{POLICIES}/{created['id']}",
                                            json={"state": bad}), 400)


def test_policy_create_needs_conditions(sim: Sim) -> None:
    """conditionalAccessPolicy, conditions: "Specifies the rules that must be met for the
    policy to apply. Required." (https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy)"""
    body = {k: v for k, v in _policy_body().items() if k != "conditions"}
    before = sim.stats()["objects"]["conditionalAccessPolicies"]
    error = assert_graph_error(sim.client.post(POLICIES, json=body), 400)
    assert "conditions" in error["message"]
    assert sim.stats()["objects"]["conditionalAccessPolicies"] == before


def test_policy_may_name_only_existing_named_locations(sim: Sim) -> None:
    """conditionalAccessLocations: "Location IDs in scope of policy unless explicitly
    excluded, All, or AllTrusted." - an id must be a named location
    (https://learn.microsoft.com/graph/api/resources/conditionalaccesslocations)."""
    ghost = new_id("no-such-location")
    located = _policy_body()
    located["conditions"]["locations"] = {"includeLocations": [ghost]}
    error = assert_graph_error(sim.client.post(POLICIES, json=located), 400)
    assert ghost in error["message"]
    real = _location(sim, "Office")
    located["conditions"]["locations"] = {"includeLocations": ["All"],
                                          "excludeLocations": ["AllTrusted", real["id"]]}
    policy = create(sim.client, POLICIES, located)
    assert_graph_error(sim.client.patch(f"{POLICIES}/{policy['id']}", json={
        "conditions": {"locations": {"includeLocations": [ghost]}}}), 400)


def test_a_named_location_in_use_cannot_be_deleted(sim: Sim) -> None:
    """Graph's delete pages do not say; the Entra admin center refuses to delete a location a
    policy uses, and graphsim answers 400 the same way (docs/graphsim.md fidelity notes;
    https://learn.microsoft.com/graph/api/namedlocation-delete)."""
    location = _location(sim, "Branch")
    body = _policy_body()
    body["conditions"]["locations"] = {"includeLocations": [location["id"]]}
    policy = create(sim.client, POLICIES, body)
    error = assert_graph_error(sim.client.delete(f"{LOCATIONS}/{location['id']}"), 400)
    assert policy["id"] in error["message"]
    assert sim.client.get(f"{LOCATIONS}/{location['id']}").status_code == 200
    assert sim.client.delete(f"{POLICIES}/{policy['id']}").status_code == 204
    assert sim.client.delete(f"{LOCATIONS}/{location['id']}").status_code == 204


def test_policy_patch_merges_conditions(sim: Sim) -> None:
    """conditionalaccesspolicy-update: "Existing properties that aren't included in the
    request body maintain their previous values"; the documented example PATCHes only
    conditions.signInRiskLevels and the policy keeps its users and applications
    (https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update)."""
    policy = create(sim.client, POLICIES, _policy_body())
    sim.client.patch(f"{POLICIES}/{policy['id']}", json={
        "conditions": {"signInRiskLevels": ["high", "medium"],
                       "users": {"excludeUsers": ["GuestsOrExternalUsers"]}}}
                     ).raise_for_status()
    got = sim.client.get(f"{POLICIES}/{policy['id']}").json()["conditions"]
    assert got["signInRiskLevels"] == ["high", "medium"]
    assert got["applications"]["includeApplications"] == ["All"]
    assert got["users"]["includeUsers"] == ["All"]  # merged below users too
    assert got["users"]["excludeUsers"] == ["GuestsOrExternalUsers"]
    assert got["clientAppTypes"] == ["all"]


def test_policy_writes_and_restore_are_audited(sim: Sim) -> None:
    """directoryAudit events for Conditional Access writes, restore included
    (https://learn.microsoft.com/graph/api/resources/directoryaudit,
    https://learn.microsoft.com/graph/api/conditionalaccesspolicy-restore?view=graph-rest-beta)."""
    policy = create(sim.client, POLICIES, _policy_body())
    sim.client.patch(f"{POLICIES}/{policy['id']}", json={"state": "enabled"}).raise_for_status()
    sim.client.delete(f"{POLICIES}/{policy['id']}").raise_for_status()
    restored = sim.client.post(f"{sim.beta}/{CA_BIN}/policies/{policy['id']}/restore")
    assert restored.status_code == 200
    events = audits_for(sim.client, policy["id"])
    assert [e["activityDisplayName"] for e in events] == [
        "Restore conditional access policy", "Delete conditional access policy",
        "Update conditional access policy", "Add conditional access policy"]
    assert all(e["category"] == "Policy" and e["targetResources"][0]["type"] == "Policy"
               for e in events)


def test_method_configuration_state_is_enabled_or_disabled(sim: Sim) -> None:
    """authenticationMethodConfiguration, state: "The state of the policy. Possible values
    are: enabled, disabled." and the PATCH names the subtype in @odata.type
    (https://learn.microsoft.com/graph/api/resources/authenticationmethodconfiguration)."""
    path = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2"
    odata_type = sim.client.get(path).json()["@odata.type"]
    for bad in ("on", "Enabled", "enabledForReportingButNotEnforced"):
        assert_graph_error(sim.client.patch(path, json={"@odata.type": odata_type,
                                                        "state": bad}), 400)
    for good in ("disabled", "enabled"):
        assert sim.client.patch(path, json={"@odata.type": odata_type,
                                            "state": good}).status_code == 204
        assert sim.client.get(path).json()["state"] == good


# ----- latency model ---------------------------------------------------------------------

async def _timed(sim: Sim, requests: list[tuple[str, str, Json | None]]) -> float:
    """Send requests concurrently; the wall time they took together."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=sim.graph, headers=headers, timeout=60) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.request(m, u, json=b)
                                         for m, u, b in requests))
        elapsed = time.perf_counter() - started
    assert all(a.status_code < 400 for a in answers), [a.text for a in answers]
    return elapsed


def test_graph_latency_model_charges_reads_by_size_and_writes_more(sim: Sim) -> None:
    """docs/graphsim.md: --latency-model graph waits ~60 ms + 0.05 ms per object for a read
    and 150-250 ms for a write (estimates; Graph publishes no latency figures)."""
    user = sim.client.get("users?$top=1").json()["value"][0]
    sim.configure(latency_model="graph")
    assert sim.control.get("/config").json()["latency_model"] == "graph"
    read = asyncio.run(_timed(sim, [("GET", "users?$top=1", None)]))
    assert 0.06 <= read < 0.5
    write = asyncio.run(_timed(sim, [("PATCH", f"users/{user['id']}", {"jobTitle": "Slow"})]))
    assert write >= 0.15
    # concurrent requests overlap: ten writes take about one write, not ten
    ten = asyncio.run(_timed(sim, [("PATCH", f"users/{user['id']}", {"jobTitle": f"T{n}"})
                                   for n in range(10)]))
    assert ten < 1.0
    sim.configure(latency_model="off")
    started = time.perf_counter()
    for _ in range(5):
        sim.client.get("users?$top=1").raise_for_status()
    assert time.perf_counter() - started < 5 * 0.06


def test_latency_model_setting_is_validated(sim: Sim) -> None:
    answer = sim.control.post("/config", json={"latencyModel": "slow"})
    assert answer.status_code == 400
    assert sim.control.get("/config").json()["latency_model"] == "off"
