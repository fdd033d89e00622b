"""graphsim.synthetic: deterministic, plan-exact, back-referencing and constant-memory output.

The simulator loads the stream in one pass and rejects dangling references, and benchmarks
compare runs by seed, so these properties are what the generator is for.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
import psutil
import pytest

from graphsim.synthetic import (
    COLLECTIONS,
    DEFAULT_ACCESS,
    FIRST_PARTY,
    GRAPH_APP_ID,
    MS_TENANT,
    generate,
    plan_counts,
)

Item = dict[str, Any]
CORE = ("organization", "authorizationPolicy", "authenticationMethodsPolicy", "namedLocations",
        "users", "groups", "applications", "servicePrincipals", "conditionalAccessPolicies")
KIND = {  # @odata.type -> kind used by the reference checks below
    "#microsoft.graph.agentUser": "agentUser",
    "#microsoft.graph.agentIdentityBlueprint": "blueprint",
    "#microsoft.graph.agentIdentityBlueprintPrincipal": "blueprintPrincipal",
    "#microsoft.graph.agentIdentity": "agentIdentity",
}
PLAIN = {"users": "user", "groups": "group", "applications": "application",
         "servicePrincipals": "servicePrincipal"}
SPS = {"servicePrincipal", "blueprintPrincipal", "agentIdentity"}
LINKS = {  # link -> (source kinds, target kinds)
    "members": ({"group"}, {"user", "agentUser", "group", "servicePrincipal", "agentIdentity"}),
    "owners": ({"group", "application", "blueprint", "servicePrincipal"},
               {"user", "servicePrincipal"}),
    "manager": ({"user", "agentUser"}, {"user"}),
    "sponsors": ({"agentIdentity", "blueprint", "agentUser"}, {"user"}),
}
CA_KEYWORDS = {"All", "None", "GuestsOrExternalUsers", "AllTrusted"}


@pytest.fixture(scope="module")
def tenants() -> dict[int, list[Item]]:
    return {total: list(generate(total, random_seed=3)) for total in (2_000, 25_000)}


def _digest(items: Iterable[Item]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(orjson.dumps(item))
    return h.hexdigest()


def _members(items: list[Item]) -> Counter[str]:
    return Counter(i["source"] for i in items if i.get("link") == "members")


def _objects(items: list[Item], collection: str) -> list[dict[str, Any]]:
    return [i["object"] for i in items if i.get("collection") == collection]


def test_same_seed_gives_identical_bytes() -> None:
    first = _digest(generate(2_000, random_seed=11))
    assert first == _digest(generate(2_000, random_seed=11))
    assert first != _digest(generate(2_000, random_seed=12))


def test_tenant_id_override_and_bare_tenant() -> None:
    items = list(generate(2_000, tenant_id="11111111-2222-4333-8444-555555555555"))
    assert items[0]["object"]["id"] == "11111111-2222-4333-8444-555555555555"
    bare = list(generate(0))
    assert [i["collection"] for i in bare] == [
        "organization", "authorizationPolicy",
        *["servicePrincipals"] * len(FIRST_PARTY), "authenticationMethodsPolicy"]
    # Microsoft Graph's service principal exists in every tenant, a new one too
    assert GRAPH_APP_ID in {i["object"]["appId"] for i in bare[2:-1]}
    with pytest.raises(ValueError):
        plan_counts(-1)


@pytest.mark.parametrize("total", [2_000, 25_000])
def test_counts_match_plan(tenants: dict[int, list[Item]], total: int) -> None:
    counts = Counter(i["collection"] for i in tenants[total] if "collection" in i)
    plan = plan_counts(total)
    assert set(plan) == set(COLLECTIONS)
    assert {c: counts[c] for c in COLLECTIONS} == plan
    assert abs(sum(plan[c] for c in CORE) - total) <= total // 100


def test_plan_shares_at_scale() -> None:
    for total in (100_000, 1_000_000):
        plan = plan_counts(total)
        assert 0.78 < plan["users"] / total < 0.84
        assert 0.09 < plan["groups"] / total < 0.11
        assert 0.035 < plan["applications"] / total < 0.045
        assert 0.035 < plan["servicePrincipals"] / total < 0.05
        assert sum(plan[c] for c in CORE) == total
    assert plan_counts(1_000_000)["conditionalAccessPolicies"] == 200
    assert plan_counts(100_000)["conditionalAccessPolicies"] == 50


def _check_stream(items: list[Item]) -> None:
    """Every reference points at an id yielded earlier, of the right kind."""
    kind: dict[str, str] = {}
    position: dict[str, int] = {}
    app_ids: dict[str, str] = {}
    roles_of: dict[str, set[str]] = {}
    links: set[tuple[str, str, str]] = set()
    managed: set[str] = set()

    def need(ref: str, *kinds: str) -> None:
        assert kind.get(ref) in kinds, f"{ref} is not an earlier {kinds}"

    for n, item in enumerate(items):
        if "link" in item:
            nav, src, dst = item["link"], item["source"], item["target"]
            assert (nav, src, dst) not in links
            links.add((nav, src, dst))
            need(src, *LINKS[nav][0])
            need(dst, *LINKS[nav][1])
            if nav == "members" and kind[dst] == "group":
                assert position[dst] < position[src]  # nesting only points back: acyclic
            if nav == "manager":
                assert src not in managed
                managed.add(src)
            continue
        collection, obj = item["collection"], item["object"]
        this = KIND.get(obj.get("@odata.type", ""), PLAIN.get(collection, collection))
        if this == "agentUser":
            need(obj["identityParentId"], "agentIdentity")
        elif this in ("application", "blueprint"):
            app_ids[obj["appId"]] = this
        elif this == "servicePrincipal":
            if obj["appOwnerOrganizationId"] == MS_TENANT:
                app_ids[obj["appId"]] = "firstParty"
            assert app_ids.get(obj["appId"]) in ("application", "firstParty")
        elif this == "blueprintPrincipal":
            assert app_ids.get(obj["appId"]) == "blueprint"
        elif this == "agentIdentity":
            assert app_ids.get(obj["agentIdentityBlueprintId"]) == "blueprint"
        elif collection == "appRoleAssignments":
            ptype = {"User": ("user", "agentUser"), "Group": ("group",),
                     "ServicePrincipal": tuple(SPS)}[obj["principalType"]]
            need(obj["principalId"], *ptype)
            need(obj["resourceId"], *SPS)
            assert obj["appRoleId"] in roles_of[obj["resourceId"]] | {DEFAULT_ACCESS}
        elif collection == "oauth2PermissionGrants":
            need(obj["clientId"], *SPS)
            need(obj["resourceId"], *SPS)
            if obj["consentType"] == "Principal":
                need(obj["principalId"], "user")
        elif collection == "conditionalAccessPolicies":
            cond = obj["conditions"]
            users = cond["users"]
            for ref in users["includeUsers"] + users["excludeUsers"]:
                assert ref in CA_KEYWORDS or kind.get(ref) == "user"
            for ref in users["includeGroups"] + users["excludeGroups"]:
                need(ref, "group")
            for ref in cond["applications"]["includeApplications"]:
                assert ref in CA_KEYWORDS or app_ids.get(ref) == "application"
            locs = cond.get("locations") or {"includeLocations": [], "excludeLocations": []}
            for ref in locs["includeLocations"] + locs["excludeLocations"]:
                assert ref in CA_KEYWORDS or kind.get(ref) == "namedLocations"
        elif collection == "authenticationMethodsPolicy":
            for config in obj["authenticationMethodConfigurations"]:
                for target in config["includeTargets"] + config["excludeTargets"]:
                    assert target["id"] == "all_users" or kind.get(target["id"]) == "group"
        if this in SPS:
            roles_of[obj["id"]] = {role["id"] for role in obj.get("appRoles", [])}
        assert obj["id"] not in kind, f"duplicate id {obj['id']}"
        kind[obj["id"]], position[obj["id"]] = this, n
    assert {"user", "agentUser", "blueprint", "blueprintPrincipal", "agentIdentity"} <= set(
        kind.values())


@pytest.mark.parametrize("total", [2_000, 25_000])
def test_every_reference_points_backwards(tenants: dict[int, list[Item]], total: int) -> None:
    _check_stream(tenants[total])


def test_no_microsoft_365_group_is_a_member_of_another_group(
    tenants: dict[int, list[Item]],
) -> None:
    """Graph refuses one (group-post-members: "Microsoft 365 groups ... can't be members"), so
    a synthetic tenant must not hold a state a real one cannot reach."""
    items = tenants[25_000]
    unified = {g["id"] for g in _objects(items, "groups") if "Unified" in g["groupTypes"]}
    assert unified
    nested = [i for i in items if i.get("link") == "members" and i["target"] in unified]
    assert nested == []


def test_users_groups_and_agents_look_like_a_tenant(tenants: dict[int, list[Item]]) -> None:
    items = tenants[25_000]
    users, groups = _objects(items, "users"), _objects(items, "groups")
    upns = [u["userPrincipalName"] for u in users]
    assert len(upns) == len(set(upns))
    guests = [u for u in users if u.get("userType") == "Guest"]
    assert 0.02 < len(guests) / len(users) < 0.04
    assert all("#EXT#@" in g["userPrincipalName"] and g["creationType"] == "Invitation"
               for g in guests)
    synced = [u for u in users if u.get("onPremisesSyncEnabled")]
    assert 0.08 < len(synced) / len(users) < 0.12
    assert all(u["onPremisesImmutableId"] and u["onPremisesDistinguishedName"] for u in synced)
    synced_groups = {g["id"] for g in groups if g.get("onPremisesSyncEnabled")}
    synced_ids = {u["id"] for u in synced}
    assert synced_groups and all(
        i["target"] in synced_ids for i in items
        if i.get("link") == "members" and i["source"] in synced_groups)
    assert any(g.get("isAssignableToRole") for g in groups)
    assert any(g["groupTypes"] == ["Unified"] and g["mailEnabled"] for g in groups)
    assert any(g["groupTypes"] == [] and g["mailEnabled"] and g["securityEnabled"]
               for g in groups)
    dynamic = [g for g in groups if "DynamicMembership" in g["groupTypes"]]
    assert dynamic and all(g["membershipRuleProcessingState"] == "On" for g in dynamic)
    sizes = _members(items)
    assert max(sizes.values()) >= 2_000
    static = [sizes[g["id"]] for g in groups if not g.get("membershipRule")]
    assert sum(5 <= s <= 50 for s in static) / len(static) > 0.9
    agent_users = [u for u in users if u.get("@odata.type") == "#microsoft.graph.agentUser"]
    assert agent_users and not any("passwordProfile" in u for u in agent_users)
    org = _objects(items, "organization")[0]
    assert org["onPremisesSyncEnabled"] is True
    assert any(d["isDefault"] and d["name"].endswith(".onmicrosoft.com")
               for d in org["verifiedDomains"])


def test_dynamic_membership_matches_rule(tenants: dict[int, list[Item]]) -> None:
    """Dynamic groups hold exactly the users their rule selects (never guests or agents)."""
    items = tenants[25_000]
    by_key: dict[tuple[str, str], set[str]] = {}
    for u in _objects(items, "users"):
        if u.get("userType") == "Member" and "@odata.type" not in u:
            for key in (("", ""), (u["department"], ""), (u["department"], u["usageLocation"])):
                by_key.setdefault(key, set()).add(u["id"])
    members: dict[str, set[str]] = {}
    for item in items:
        if item.get("link") == "members":
            members.setdefault(item["source"], set()).add(item["target"])
    dynamic = [g for g in _objects(items, "groups") if g.get("membershipRule")]
    assert len(dynamic) > 50
    for group in dynamic:
        values = [part.split('"')[1] for part in group["membershipRule"].split(" -eq ")[1:]]
        key = ("", "") if values == ["Member"] else (*values, "")[:2]
        assert members.get(group["id"]) == by_key[key], group["displayName"]


def test_no_secret_text_anywhere(tenants: dict[int, list[Item]]) -> None:
    for items in tenants.values():
        assert b"secretText" not in orjson.dumps(items)
    assert any(o["passwordCredentials"] for o in _objects(tenants[2_000], "applications"))


def test_memory_is_bounded_under_tracemalloc() -> None:
    """Peak Python allocations while streaming; storing the output would need ~35 MB here."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in generate(20_000, random_seed=1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > 80_000
    assert peak < 8 * 2**20, f"tracemalloc peak {peak / 2**20:.1f} MiB"


def test_memory_does_not_grow_with_total() -> None:
    """300,000 objects (~1.8 M items): RSS stays flat; tracemalloc here would take ~50 s."""
    proc = psutil.Process()
    base = peak = proc.memory_info().rss
    for n, _ in enumerate(generate(300_000, random_seed=2)):
        if n % 50_000 == 0:
            peak = max(peak, proc.memory_info().rss)
    assert peak - base < 50 * 2**20, f"RSS grew {(peak - base) / 2**20:.1f} MiB"
