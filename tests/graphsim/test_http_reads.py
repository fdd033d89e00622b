"""graphsim over HTTP, read side: paging, $top, $select, $filter, $count, $expand, errors, auth.

Each test states the Graph behaviour it pins (reference: shared/reference/graph.md §6, §7).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    USER_DEFAULT,
    assert_graph_error,
    first,
    ids,
    items,
    new_id,
    pages,
    seed_group,
    seed_user,
)

EVENTUAL = {"ConsistencyLevel": "eventual"}
LISTS = [
    "users", "groups", "applications", "servicePrincipals", "oauth2PermissionGrants",
    "identity/conditionalAccess/policies", "identity/conditionalAccess/namedLocations",
]


def _token(next_link: str) -> str:
    return parse_qs(urlsplit(next_link).query)["$skiptoken"][0]


# ----- paging ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", LISTS)
def test_paging_returns_every_object_once_through_opaque_next_links(sim: Sim, path: str) -> None:
    everything = sim.client.get(path, params={"$top": 999}).json()
    assert "@odata.nextLink" not in everything
    expected = ids(everything["value"])
    assert len(expected) >= 4
    walked = pages(sim.client, f"{path}?$top=3&$select=id")
    assert len(walked) == -(-len(expected) // 3)
    assert ids([i for p in walked for i in p["value"]]) == expected
    for page in walked[:-1]:
        link = page["@odata.nextLink"]
        assert link.startswith(str(sim.client.base_url))
        query = parse_qs(urlsplit(link).query)
        assert query["$top"] == ["3"] and query["$select"] == ["id"]
        assert not _token(link).isdigit()  # opaque, not a position a client could build
        assert len(page["value"]) == 3
    assert all(set(o) == {"id"} | ({"@odata.type"} & set(o))
               for p in walked for o in p["value"])


def test_default_page_is_100_and_nested_lists_page_too(sim: Sim) -> None:
    assert len(sim.client.get("users").json()["value"]) == 100
    group = _largest_group(sim)
    members = items(sim.client, f"groups/{group}/members?$top=50&$select=id")
    assert len(members) > 100
    assert len(set(ids(members))) == len(members)
    listed = sim.client.get("users?$top=50&$select=id,onPremisesSyncEnabled").json()["value"]
    deleted = [u["id"] for u in listed if not u["onPremisesSyncEnabled"]][:5]
    for object_id in deleted:
        assert sim.client.delete(f"users/{object_id}").status_code == 204
    binned = items(sim.client, "directory/deletedItems/microsoft.graph.user?$top=2")
    assert sorted(ids(binned)) == sorted(deleted)


def test_paging_survives_deletes_between_pages(sim: Sim) -> None:
    page1 = sim.client.get("users?$top=50&$select=id").json()
    seen = ids(page1["value"])
    listed = items(sim.client, "users?$top=999&$select=id,onPremisesSyncEnabled")
    everyone = ids(listed)
    cloud = [u["id"] for u in listed if not u["onPremisesSyncEnabled"]]
    # delete one object already returned and one not yet returned
    gone_before, gone_later = next(i for i in seen if i in cloud), cloud[75]
    for object_id in (gone_before, gone_later):
        assert sim.client.delete(f"users/{object_id}").status_code == 204
    rest = items(sim.client, page1["@odata.nextLink"])
    walked = seen + ids(rest)
    assert len(walked) == len(set(walked))
    assert set(walked) == set(everyone) - {gone_later}


def test_top_is_clamped_to_999(sim: Sim) -> None:
    sim.reset(seed={"objects": {"users": [seed_user(n) for n in range(1005)]}})
    page = sim.client.get("users", params={"$top": 5000, "$select": "id"}).json()
    assert len(page["value"]) == 999
    rest = sim.client.get(page["@odata.nextLink"]).json()
    assert len(rest["value"]) == 6 and "@odata.nextLink" not in rest


def test_top_is_clamped_to_100_for_agent_casts(sim: Sim) -> None:
    blueprint_app = new_id("bp-app")
    agents = [{"@odata.type": "#microsoft.graph.agentIdentity", "id": new_id("agent", n),
               "displayName": f"Agent {n}", "agentIdentityBlueprintId": blueprint_app,
               "servicePrincipalType": "ServiceIdentity", "accountEnabled": True}
              for n in range(105)]
    plain = [{"id": new_id("sp", n), "appId": new_id("sp-app", n), "displayName": f"SP {n}",
              "servicePrincipalType": "Application"} for n in range(5)]
    sim.reset(seed={"objects": {"servicePrincipals": plain + agents}})
    cast = "servicePrincipals/microsoft.graph.agentIdentity"
    page = sim.client.get(cast, params={"$top": 999}).json()
    assert len(page["value"]) == 100
    assert all(o["@odata.type"] == "#microsoft.graph.agentIdentity" for o in page["value"])
    walked = items(sim.client, f"{cast}?$top=999")
    assert len(walked) == 105
    base = sim.client.get("servicePrincipals", params={"$top": 999}).json()
    assert len(base["value"]) == 110  # the base collection keeps its own maximum


def test_invalid_top_is_400(sim: Sim) -> None:
    for value in ("0", "-1", "ten"):
        assert_graph_error(sim.client.get("users", params={"$top": value}), 400)


# ----- $select and projections -------------------------------------------------------------

def test_users_default_projection_is_exactly_the_eleven_properties(sim: Sim) -> None:
    page = sim.client.get("users?$top=50").json()["value"]
    plain = [u for u in page if "@odata.type" not in u]
    assert plain
    assert all(set(u) == USER_DEFAULT for u in plain)
    one = sim.client.get(f"users/{plain[0]['id']}").json()
    assert set(one) - {"@odata.context"} == USER_DEFAULT
    assert "department" not in one and "accountEnabled" not in one


def test_select_returns_only_the_selected_properties_plus_id(sim: Sim) -> None:
    page = sim.client.get("users?$select=department,accountEnabled&$top=5").json()["value"]
    assert all(set(u) - {"@odata.type"} == {"id", "department", "accountEnabled"} for u in page)
    assert any(u["department"] for u in page)


def test_select_only_properties_appear_only_when_selected(sim: Sim) -> None:
    default = first(sim.client, "users?$top=20&$filter=userType eq 'Member'")
    assert "employeeType" not in default
    chosen = sim.client.get(f"users/{default['id']}?$select=employeeType").json()
    assert chosen["employeeType"] in ("Employee", "Contractor")
    group = first(sim.client, "groups")
    assert "hideFromAddressLists" not in group and "displayName" in group
    selected = sim.client.get(f"groups/{group['id']}?$select=hideFromAddressLists").json()
    assert "hideFromAddressLists" in selected
    blueprint = first(sim.client, "applications/microsoft.graph.agentIdentityBlueprint")
    assert "managerApplications" not in blueprint and "displayName" in blueprint
    chosen = sim.client.get("applications/microsoft.graph.agentIdentityBlueprint"
                            "?$select=id,managerApplications").json()["value"][0]
    assert "managerApplications" in chosen


def test_passwords_are_never_readable(sim: Sim) -> None:
    user = first(sim.client, "users")
    response = sim.client.get(f"users/{user['id']}?$select=id,passwordProfile")
    assert response.status_code == 200
    assert "passwordProfile" not in response.json()


@pytest.mark.parametrize("path", ["users", "groups", "applications", "servicePrincipals",
                                  "identity/conditionalAccess/policies"])
def test_select_of_an_unknown_property_is_400(sim: Sim, path: str) -> None:
    error = assert_graph_error(sim.client.get(path, params={"$select": "id,noSuchThing"}), 400)
    assert "noSuchThing" in error["message"]
    one = first(sim.client, path)
    assert_graph_error(sim.client.get(f"{path}/{one['id']}?$select=noSuchThing"), 400)


def test_key_credential_key_only_on_select(sim: Sim) -> None:
    apps = items(sim.client, "applications?$top=999&$select=id,keyCredentials")
    app = next(a for a in apps if a["keyCredentials"])
    app_id = app["id"]
    sim.client.patch(f"applications/{app_id}", json={"keyCredentials": [
        {**app["keyCredentials"][0], "key": "TUlJQ2VydA=="}]}).raise_for_status()
    listed = sim.client.get(f"applications/{app_id}").json()
    assert all("key" not in k for k in listed["keyCredentials"])
    selected = sim.client.get(f"applications/{app_id}?$select=keyCredentials").json()
    assert selected["keyCredentials"][0]["key"] == "TUlJQ2VydA=="


# ----- $filter ---------------------------------------------------------------------------

def test_filter_eq_startswith_in_and(sim: Sim) -> None:
    everyone = items(sim.client, "users?$top=999&$select=id,displayName,userPrincipalName,"
                                 "accountEnabled,userType")
    target = everyone[10]
    eq = sim.client.get("users", params={
        "$filter": f"userPrincipalName eq '{target['userPrincipalName'].upper()}'"}).json()
    assert ids(eq["value"]) == [target["id"]]
    prefix = target["displayName"][:2]
    started = items(sim.client, f"users?$top=999&$filter=startswith(displayName,'{prefix}')")
    assert sorted(ids(started)) == sorted(
        u["id"] for u in everyone if u["displayName"].lower().startswith(prefix.lower()))
    chosen = [everyone[3]["id"], everyone[7]["id"], new_id("nobody")]
    quoted = ",".join(f"'{i}'" for i in chosen)
    listed = sim.client.get("users", params={"$filter": f"id in ({quoted})"}).json()
    assert sorted(ids(listed["value"])) == sorted(chosen[:2])
    both = items(sim.client, "users?$top=999&$filter=accountEnabled eq false and "
                             "userType eq 'Member'")
    expected = [u["id"] for u in everyone
                if u["accountEnabled"] is False and u["userType"] == "Member"]
    assert expected and sorted(ids(both)) == sorted(expected)


def test_filter_on_groups_by_flags(sim: Sim) -> None:
    groups = [seed_group(1),
              seed_group(2, mailEnabled=True, securityEnabled=False, groupTypes=["Unified"]),
              seed_group(3, mailEnabled=True, securityEnabled=True),
              seed_group(4, mailEnabled=True, securityEnabled=False)]
    sim.reset(seed={"objects": {"groups": groups}})
    found = items(sim.client, "groups?$filter=mailEnabled eq true and securityEnabled eq true")
    assert ids(found) == [groups[2]["id"]]
    either = items(sim.client, "groups?$filter=mailEnabled eq false or securityEnabled eq false")
    assert sorted(ids(either)) == sorted(g["id"] for g in groups if g is not groups[2])


@pytest.mark.parametrize(("path", "clause"), [
    ("users", "aboutMe eq 'x'"),
    ("users", "startswith(jobTitle,'x') and mySite eq 'y'"),
    ("groups", "isSubscribedByMail eq true"),
    ("servicePrincipals", "notes eq 'x'"),
])
def test_filter_on_unsupported_property_is_unsupported_query(sim: Sim, path: str,
                                                             clause: str) -> None:
    assert_graph_error(sim.client.get(path, params={"$filter": clause}), 400,
                       "Request_UnsupportedQuery")


def test_filter_syntax_error_and_ne_need_advanced_query(sim: Sim) -> None:
    assert_graph_error(sim.client.get("users", params={"$filter": "displayName eq"}), 400)
    assert_graph_error(sim.client.get("users", params={"$filter": "userType ne 'Guest'"}), 400,
                       "Request_UnsupportedQuery")
    advanced = sim.client.get("users", params={"$filter": "userType ne 'Guest'",
                                               "$count": "true"}, headers=EVENTUAL)
    assert advanced.status_code == 200
    assert all(u["id"] for u in advanced.json()["value"])


def test_orderby_display_name_pages_in_order_both_ways(sim: Sim) -> None:
    listed = items(sim.client, "users?$top=999&$select=id,displayName")
    names = sorted(((u["displayName"] or "").lower(), u["id"]) for u in listed)
    walked = pages(sim.client, "users?$orderby=displayName&$top=50&$select=id,displayName")
    assert len(walked) > 1
    assert all("$orderby=displayName" in p["@odata.nextLink"] for p in walked[:-1])
    got = [u["id"] for p in walked for u in p["value"]]
    assert got == [i for _, i in names]
    desc = items(sim.client, "groups?$orderby=displayName desc&$top=999&$select=id,displayName")
    keys = [(g["displayName"] or "").lower() for g in desc]
    assert keys == sorted(keys, reverse=True) and len(desc) > 1


def test_orderby_graph_does_not_support_is_unsupported_query(sim: Sim) -> None:
    for query in ("users?$orderby=jobTitle", "users?$orderby=displayName sideways",
                  "users?$orderby=displayName,userPrincipalName",
                  "oauth2PermissionGrants?$orderby=clientId",
                  "users?$orderby=displayName&$filter=startswith(displayName,'A')"):
        assert_graph_error(sim.client.get(query), 400, "Request_UnsupportedQuery")
    advanced = sim.client.get("users?$orderby=displayName&$filter=startswith(displayName,'A')"
                              "&$count=true", headers=EVENTUAL)
    assert advanced.status_code == 200, advanced.text


# ----- $count, $search --------------------------------------------------------------------

def test_count_needs_consistency_level(sim: Sim) -> None:
    total = sim.stats()["objects"]["users"]
    assert_graph_error(sim.client.get("users?$count=true"), 400, "Request_UnsupportedQuery")
    assert_graph_error(sim.client.get("users/$count"), 400, "Request_UnsupportedQuery")
    counted = sim.client.get("users/$count", headers=EVENTUAL)
    assert counted.status_code == 200 and counted.text == str(total)
    assert counted.headers["content-type"].startswith("text/plain")
    first_page = sim.client.get("users?$count=true&$top=100", headers=EVENTUAL).json()
    assert first_page["@odata.count"] == total
    # ConsistencyLevel is not carried to next pages; @odata.count is on the first page only
    second = sim.client.get(first_page["@odata.nextLink"], headers=EVENTUAL).json()
    assert "@odata.count" not in second
    assert_graph_error(sim.client.get(first_page["@odata.nextLink"]), 400,
                       "Request_UnsupportedQuery")


def test_search_needs_consistency_level(sim: Sim) -> None:
    assert_graph_error(sim.client.get('users?$search="displayName:a"'), 400,
                       "Request_UnsupportedQuery")
    found = sim.client.get('users?$search="displayName:Lara"', headers=EVENTUAL)
    assert found.status_code == 200
    assert all("lara" in u["displayName"].lower() for u in found.json()["value"])


# ----- $expand ----------------------------------------------------------------------------

def _largest_group(sim: Sim) -> str:
    state = sim.state()
    counts: dict[str, int] = {}
    for link in state["links"]:
        if link["link"] == "members":
            counts[link["source"]] = counts.get(link["source"], 0) + 1
    return max(counts, key=lambda g: counts[g])


def test_expand_members_is_capped_at_20(sim: Sim) -> None:
    group = _largest_group(sim)
    members = items(sim.client, f"groups/{group}/members?$top=999&$select=id")
    assert len(members) > 20
    expanded = sim.client.get(f"groups/{group}?$expand=members($select=id,displayName)").json()
    assert len(expanded["members"]) == 20
    assert set(ids(expanded["members"])) <= set(ids(members))
    assert all("@odata.type" in m and "displayName" in m for m in expanded["members"])
    listed = sim.client.get(f"groups?$filter=id eq '{group}'&$expand=members").json()
    assert len(listed["value"][0]["members"]) == 20


def test_expand_manager_and_unknown_navigation(sim: Sim) -> None:
    users = items(sim.client, "users?$top=999&$select=id&$expand=manager($select=id)")
    with_manager = [u for u in users if "manager" in u]
    assert with_manager and len(with_manager) < len(users)
    user = with_manager[0]
    manager = sim.client.get(f"users/{user['id']}/manager").json()
    assert manager["id"] == user["manager"]["id"]
    assert_graph_error(sim.client.get("users?$expand=noSuchNav"), 400)


# ----- tokens and paths --------------------------------------------------------------------

def test_tampered_or_foreign_skiptoken_is_400(sim: Sim) -> None:
    link = sim.client.get("users?$top=5").json()["@odata.nextLink"]
    token = _token(link)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert_graph_error(sim.client.get("users", params={"$top": 5, "$skiptoken": flipped}), 400)
    assert_graph_error(sim.client.get("users", params={"$skiptoken": "not-a-token"}), 400)
    assert_graph_error(sim.client.get("groups", params={"$top": 5, "$skiptoken": token}), 400)
    assert sim.client.get(link).status_code == 200


def test_deleted_items_without_cast_is_400(sim: Sim) -> None:
    assert_graph_error(sim.client.get("directory/deletedItems"), 400)
    assert sim.client.get("directory/deletedItems/microsoft.graph.group").status_code == 200


def test_unknown_segments_and_methods(sim: Sim) -> None:
    assert_graph_error(sim.client.get("noSuchCollection"), 400)
    assert_graph_error(sim.client.get("users/microsoft.graph.noSuchType"), 400)
    assert_graph_error(sim.client.put("users"), 405)
    assert_graph_error(sim.client.get(f"users/{new_id('missing')}"), 404,
                       "Request_ResourceNotFound")


def test_users_are_addressable_by_user_principal_name(sim: Sim) -> None:
    listed = items(sim.client, "users?$top=999&$select=id,userPrincipalName")
    user = next(u for u in listed if sim.client.get(f"users/{u['id']}/memberOf").json()["value"])
    by_upn = sim.client.get(f"users/{user['userPrincipalName'].upper()}")
    assert by_upn.status_code == 200 and by_upn.json()["id"] == user["id"]
    groups = ids(sim.client.get(f"users/{user['userPrincipalName']}/memberOf").json()["value"])
    assert groups == ids(sim.client.get(f"users/{user['id']}/memberOf").json()["value"])
    assert_graph_error(sim.client.get("users/nobody@contoso.test"), 404,
                       "Request_ResourceNotFound")


def test_ref_lists_name_objects_by_odata_id(sim: Sim) -> None:
    group = _largest_group(sim)
    members = ids(items(sim.client, f"groups/{group}/members?$top=999&$select=id"))
    refs = items(sim.client, f"groups/{group}/members/$ref?$top=100")
    assert [r["@odata.id"].rsplit("/", 1)[1] for r in refs] == members
    assert all(set(r) == {"@odata.id"} for r in refs)


def test_unknown_system_query_option_is_400(sim: Sim) -> None:
    assert_graph_error(sim.client.get("users?$foo=1"), 400)
    assert sim.client.get("users?foo=1&$top=1").status_code == 200  # custom ones are ignored


def test_directory_objects_and_get_by_ids(sim: Sim) -> None:
    user, group = first(sim.client, "users"), first(sim.client, "groups")
    obj = sim.client.get(f"directoryObjects/{group['id']}").json()
    assert obj["@odata.type"] == "#microsoft.graph.group" and obj["id"] == group["id"]
    found = sim.client.post("directoryObjects/getByIds",
                            json={"ids": [user["id"], group["id"], new_id("gone")]}).json()
    assert sorted(ids(found["value"])) == sorted([user["id"], group["id"]])


def test_member_list_casts_filter_by_type(sim: Sim) -> None:
    group = _largest_group(sim)
    users = items(sim.client, f"groups/{group}/members/microsoft.graph.user?$top=999")
    every = items(sim.client, f"groups/{group}/members?$top=999")
    assert users and all(u["@odata.type"] == "#microsoft.graph.user" for u in users)
    assert len(users) == sum(1 for m in every if m["@odata.type"] == "#microsoft.graph.user")


# ----- errors, ids, auth -------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "users?$select=bogus", 400),
    ("GET", "users/00000000-0000-0000-0000-000000000001", 404),
    ("DELETE", "users", 405),
    ("GET", "directory/deletedItems", 400),
    ("PATCH", "users/00000000-0000-0000-0000-000000000001", 400),
])
def test_every_error_has_graph_shape_and_echoes_client_request_id(
        sim: Sim, method: str, path: str, status: int) -> None:
    content = b"{not json" if method == "PATCH" else None
    response = sim.client.request(method, path, content=content,
                                  headers={"client-request-id": "my-correlation-id"})
    error = assert_graph_error(response, status)
    assert response.headers["client-request-id"] == "my-correlation-id"
    assert error["innerError"]["client-request-id"] == "my-correlation-id"
    assert response.headers["request-id"] != "my-correlation-id"


def test_request_ids_on_success_and_defaults(sim: Sim) -> None:
    one = sim.client.get("users?$top=1")
    two = sim.client.get("users?$top=1", headers={"client-request-id": "abc"})
    assert one.headers["request-id"] != two.headers["request-id"]
    assert one.headers["client-request-id"] == one.headers["request-id"]
    assert two.headers["client-request-id"] == "abc"
    assert one.headers["x-ms-resource-unit"] == "1"  # users (2) - $top<20 (1)
    assert len(one.headers.get_list("date")) == 1
    error = sim.client.get("users?$select=bogus")
    inner = error.json()["error"]["innerError"]
    assert inner["client-request-id"] == inner["request-id"]


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic dXNlcjpwdw=="])
def test_requests_without_bearer_token_are_401(sim: Sim, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=sim.graph, headers=headers) as anonymous:
        response = anonymous.get("users", headers={"client-request-id": "anon"})
    error = assert_graph_error(response, 401, "InvalidAuthenticationToken")
    assert error["innerError"]["client-request-id"] == "anon"


def test_unknown_version_is_400(sim: Sim) -> None:
    response = sim.client.get(f"{sim.url}/v2.0/users")
    assert_graph_error(response, 400)


def test_beta_serves_the_same_tenant(sim: Sim) -> None:
    v1 = ids(sim.client.get("groups?$top=5").json()["value"])
    beta = sim.client.get(f"{sim.beta}/groups?$top=5").json()
    assert ids(beta["value"]) == v1
    assert beta["@odata.context"].startswith(f"{sim.beta}/$metadata")


def test_singletons_and_organization(sim: Sim) -> None:
    org = sim.client.get("organization").json()["value"]
    assert len(org) == 1 and org[0]["id"] == sim.state()["tenantId"]
    policy = sim.client.get("policies/authorizationPolicy").json()
    assert policy["id"] == "authorizationPolicy"
    methods = sim.client.get("policies/authenticationMethodsPolicy").json()
    assert {c["id"] for c in methods["authenticationMethodConfigurations"]} >= {"Fido2", "Sms"}
    fido = sim.client.get(
        "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2").json()
    assert fido["@odata.type"] == "#microsoft.graph.fido2AuthenticationMethodConfiguration"


def test_small_seed_documents_load(sim: Sim) -> None:
    answer = sim.reset(seed={"objects": {"users": [seed_user(1), seed_user(2)],
                                         "groups": [seed_group(1)]},
                             "links": [{"link": "members", "source": seed_group(1)["id"],
                                        "target": seed_user(2)["id"]}]})
    assert answer["objects"]["users"] == 2
    members = sim.client.get(f"groups/{seed_group(1)['id']}/members").json()["value"]
    assert ids(members) == [seed_user(2)["id"]]
