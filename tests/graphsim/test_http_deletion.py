"""graphsim over HTTP: soft delete, hard delete, restore, retention and permanent delete.

Reference: shared/reference/graph.md §2 (recycle bins), §2.5 (CA bin in beta), §5 (agents).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    DOMAIN,
    assert_graph_error,
    first,
    group_body,
    ids,
    items,
    new_id,
    ref,
    seed_group,
    seed_user,
    user_body,
)

Json = dict[str, Any]
DAY = 24 * 3600
BIN = "directory/deletedItems"
CA_BIN = "identity/conditionalAccess/deletedItems"


def _create(sim: Sim, path: str, body: Json) -> Json:
    response = sim.client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _delete(sim: Sim, path: str) -> None:
    response = sim.client.delete(path)
    assert response.status_code == 204, response.text


def _binned(sim: Sim, cast: str) -> list[str]:
    return ids(items(sim.client, f"{BIN}/microsoft.graph.{cast}?$top=999"))


def _cloud_users(sim: Sim, n: int) -> list[str]:
    listed = items(sim.client, "users?$top=999&$select=id,onPremisesSyncEnabled")
    cloud = [u["id"] for u in listed
             if not u["onPremisesSyncEnabled"] and "@odata.type" not in u]
    return cloud[:n]


def _groups(sim: Sim) -> list[Json]:
    return items(sim.client, "groups?$top=999&$select=id,groupTypes,mailEnabled,"
                             "securityEnabled,onPremisesSyncEnabled,displayName")


# ----- soft delete per kind ----------------------------------------------------------------

def test_deleted_user_goes_to_the_bin_and_disappears_from_reads(sim: Sim) -> None:
    user = _cloud_users(sim, 1)[0]
    groups = ids(items(sim.client, f"users/{user}/memberOf?$top=999"))
    assert groups
    _delete(sim, f"users/{user}")
    assert_graph_error(sim.client.get(f"users/{user}"), 404, "Request_ResourceNotFound")
    assert user not in ids(items(sim.client, "users?$top=999&$select=id"))
    assert user not in ids(items(sim.client, f"groups/{groups[0]}/members?$top=999"))
    assert_graph_error(sim.client.get(f"directoryObjects/{user}"), 404)
    assert _binned(sim, "user") == [user]
    item = sim.client.get(f"{BIN}/{user}").json()
    assert item["@odata.type"] == "#microsoft.graph.user" and item["id"] == user
    assert item["deletedDateTime"].endswith("Z")
    assert_graph_error(sim.client.delete(f"users/{user}"), 404)


def test_microsoft_365_and_security_groups_are_soft_deleted(sim: Sim) -> None:
    groups = _groups(sim)
    unified = next(g for g in groups if "Unified" in g["groupTypes"]
                   and "DynamicMembership" not in g["groupTypes"])
    security = next(g for g in groups if not g["groupTypes"] and not g["mailEnabled"]
                    and not g["onPremisesSyncEnabled"])
    for group in (unified, security):
        _delete(sim, f"groups/{group['id']}")
    assert sorted(_binned(sim, "group")) == sorted([unified["id"], security["id"]])
    listed = items(sim.client, f"{BIN}/microsoft.graph.group?$select=id,groupTypes")
    kinds = {g["id"]: g["groupTypes"] for g in listed}
    assert kinds[unified["id"]] == unified["groupTypes"] and kinds[security["id"]] == []


def test_soft_deleted_security_group_reports_security_enabled_false(sim: Sim) -> None:
    group = _create(sim, "groups", group_body("quirk"))
    _delete(sim, f"groups/{group['id']}")
    listed = sim.client.get(f"{BIN}/microsoft.graph.group?$select=id,securityEnabled,"
                            "groupTypes").json()["value"]
    assert listed == [{"@odata.type": "#microsoft.graph.group", "id": group["id"],
                       "securityEnabled": False, "groupTypes": [],
                       "deletedDateTime": listed[0]["deletedDateTime"]}]
    one = sim.client.get(f"{BIN}/{group['id']}").json()
    assert one["securityEnabled"] is False
    restored = sim.client.post(f"{BIN}/{group['id']}/restore").json()
    assert restored["securityEnabled"] is True
    got = sim.client.get(f"groups/{group['id']}?$select=securityEnabled").json()
    assert got["securityEnabled"] is True


def test_mail_enabled_security_groups_and_distribution_lists_are_hard_deleted(sim: Sim) -> None:
    mesg = seed_group(1, mailEnabled=True, securityEnabled=True, mail="mesg@contoso.test")
    dl = seed_group(2, mailEnabled=True, securityEnabled=False, mail="dl@contoso.test")
    cloud = seed_group(3)
    user = seed_user(1)
    sim.reset(seed={"objects": {"users": [user], "groups": [mesg, dl, cloud]},
                    "links": [{"link": "members", "source": g["id"], "target": user["id"]}
                              for g in (mesg, dl, cloud)]})
    for group in (mesg, dl, cloud):
        _delete(sim, f"groups/{group['id']}")
        assert_graph_error(sim.client.get(f"groups/{group['id']}"), 404)
    assert _binned(sim, "group") == [cloud["id"]]
    for group in (mesg, dl):
        assert_graph_error(sim.client.get(f"{BIN}/{group['id']}"), 404)
        assert_graph_error(sim.client.post(f"{BIN}/{group['id']}/restore"), 404)
    assert sim.stats()["tenant"]["hardDeletes"] == 2
    assert sim.stats()["tenant"]["softDeletes"] == 1
    links = sim.state()["links"]
    assert [link["source"] for link in links] == [cloud["id"]]  # kept for the restore


def test_synced_objects_cannot_be_deleted(sim: Sim) -> None:
    user = first(sim.client, "users?$filter=onPremisesSyncEnabled eq true")
    group = first(sim.client, "groups?$filter=onPremisesSyncEnabled eq true")
    for path in (f"users/{user['id']}", f"groups/{group['id']}"):
        error = assert_graph_error(sim.client.delete(path), 400, "Request_BadRequest")
        assert "on-premises" in error["message"]
        assert sim.client.get(path).status_code == 200


def test_deleting_an_application_soft_deletes_its_service_principal(sim: Sim) -> None:
    app = _create(sim, "applications", {"displayName": "Doomed"})
    sp = _create(sim, "servicePrincipals", {"appId": app["appId"]})
    _delete(sim, f"applications/{app['id']}")
    assert _binned(sim, "application") == [app["id"]]
    assert _binned(sim, "servicePrincipal") == [sp["id"]]
    assert_graph_error(sim.client.get(f"servicePrincipals/{sp['id']}"), 404)
    restored = sim.client.post(f"{BIN}/{app['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["@odata.type"] == "#microsoft.graph.application"
    assert restored.json()["appId"] == app["appId"]
    # restoring the app does not restore its service principal
    assert_graph_error(sim.client.get(f"servicePrincipals/{sp['id']}"), 404)
    assert _binned(sim, "servicePrincipal") == [sp["id"]]
    sp_back = sim.client.post(f"{BIN}/{sp['id']}/restore").json()
    assert sp_back["id"] == sp["id"] and sp_back["appId"] == app["appId"]
    assert sim.client.get(f"servicePrincipals/{sp['id']}").status_code == 200


def test_service_principal_alone_is_soft_deleted_and_keeps_its_assignments(sim: Sim) -> None:
    sps = items(sim.client, "servicePrincipals?$top=999&$select=id,appRoles")
    resource = next(s for s in sps if s["appRoles"] and "@odata.type" not in s)
    assigned = ids(items(sim.client, f"servicePrincipals/{resource['id']}/appRoleAssignedTo"))
    assert assigned
    _delete(sim, f"servicePrincipals/{resource['id']}")
    assert _binned(sim, "servicePrincipal") == [resource["id"]]
    principal = sim.state()["objects"]["appRoleAssignments"]
    gone = [a for a in principal if a["resourceId"] == resource["id"]]
    assert {a["id"] for a in gone} == set(assigned)  # kept with the deleted resource
    sim.client.post(f"{BIN}/{resource['id']}/restore").raise_for_status()
    again = ids(items(sim.client, f"servicePrincipals/{resource['id']}/appRoleAssignedTo"))
    assert sorted(again) == sorted(assigned)


@pytest.mark.parametrize(("path", "cast"), [
    ("servicePrincipals/microsoft.graph.agentIdentity", "agentIdentity"),
    ("users/microsoft.graph.agentUser", "agentUser"),
    ("applications/microsoft.graph.agentIdentityBlueprint", "agentIdentityBlueprint"),
])
def test_agent_types_are_soft_deleted_under_their_cast(sim: Sim, path: str, cast: str) -> None:
    agent = first(sim.client, path)
    _delete(sim, f"{path.split('/')[0]}/{agent['id']}")
    assert agent["id"] in _binned(sim, cast)
    item = sim.client.get(f"{BIN}/{agent['id']}").json()
    assert item["@odata.type"] == f"#microsoft.graph.{cast}"
    restored = sim.client.post(f"{BIN}/{agent['id']}/restore").json()
    assert restored["@odata.type"] == f"#microsoft.graph.{cast}"
    assert agent["id"] in ids(items(sim.client, f"{path}?$top=100"))


def test_agent_user_is_listed_under_the_user_cast_too(sim: Sim) -> None:
    agent_user = first(sim.client, "users/microsoft.graph.agentUser")
    plain = _cloud_users(sim, 1)[0]
    for object_id in (agent_user["id"], plain):
        _delete(sim, f"users/{object_id}")
    assert sorted(_binned(sim, "user")) == sorted([agent_user["id"], plain])
    assert _binned(sim, "agentUser") == [agent_user["id"]]


def test_deleting_a_blueprint_principal_cascades_to_its_agent_identities(sim: Sim) -> None:
    principal = first(sim.client, "servicePrincipals/microsoft.graph."
                                  "agentIdentityBlueprintPrincipal")
    agents = items(sim.client, "servicePrincipals/microsoft.graph.agentIdentity?$top=100&"
                               "$select=id,agentIdentityBlueprintId")
    children = [a["id"] for a in agents if a["agentIdentityBlueprintId"] == principal["appId"]]
    assert children
    _delete(sim, f"servicePrincipals/{principal['id']}")
    assert _binned(sim, "agentIdentityBlueprintPrincipal") == [principal["id"]]
    assert _binned(sim, "agentIdentity") == []  # Graph's cleanup runs in the background
    sim.advance(61)
    assert sorted(_binned(sim, "agentIdentity")) == sorted(children)


def test_restoring_the_principal_before_the_cleanup_leaves_its_agents_alone(sim: Sim) -> None:
    principal = first(sim.client, "servicePrincipals/microsoft.graph."
                                  "agentIdentityBlueprintPrincipal")
    before = ids(items(sim.client, "servicePrincipals/microsoft.graph.agentIdentity?$top=100"))
    _delete(sim, f"servicePrincipals/{principal['id']}")
    sim.advance(30)
    assert sim.client.post(f"{BIN}/{principal['id']}/restore").status_code == 200
    sim.advance(60)
    after = ids(items(sim.client, "servicePrincipals/microsoft.graph.agentIdentity?$top=100"))
    assert sorted(after) == sorted(before)
    assert _binned(sim, "agentIdentity") == []


def test_restoring_the_principal_after_the_cleanup_does_not_bring_agents_back(sim: Sim) -> None:
    principal = first(sim.client, "servicePrincipals/microsoft.graph."
                                  "agentIdentityBlueprintPrincipal")
    _delete(sim, f"servicePrincipals/{principal['id']}")
    sim.advance(61)
    binned = _binned(sim, "agentIdentity")
    assert binned
    assert sim.client.post(f"{BIN}/{principal['id']}/restore").status_code == 200
    assert sorted(_binned(sim, "agentIdentity")) == sorted(binned)  # each one by itself


# ----- restore -----------------------------------------------------------------------------

def test_restore_keeps_id_memberships_ownerships_and_manager(sim: Sim) -> None:
    worker, boss = _cloud_users(sim, 2)
    group = _create(sim, "groups", group_body("keepers"))
    sim.client.post(f"groups/{group['id']}/members/$ref",
                    json=ref(sim.graph, worker)).raise_for_status()
    sim.client.post(f"groups/{group['id']}/owners/$ref",
                    json=ref(sim.graph, worker)).raise_for_status()
    sim.client.put(f"users/{worker}/manager/$ref", json=ref(sim.graph, boss)).raise_for_status()
    memberships = sorted(ids(items(sim.client, f"users/{worker}/memberOf?$top=999")))
    before = sim.client.get(f"users/{worker}").json()
    _delete(sim, f"users/{worker}")
    assert worker not in ids(items(sim.client, f"groups/{group['id']}/owners"))
    response = sim.client.post(f"{BIN}/{worker}/restore")
    assert response.status_code == 200
    assert response.json()["id"] == worker
    assert response.json()["@odata.type"] == "#microsoft.graph.user"
    assert sim.client.get(f"users/{worker}").json() == before
    assert sorted(ids(items(sim.client, f"users/{worker}/memberOf?$top=999"))) == memberships
    assert worker in ids(items(sim.client, f"groups/{group['id']}/owners"))
    assert sim.client.get(f"users/{worker}/manager").json()["id"] == boss
    assert _binned(sim, "user") == []
    assert_graph_error(sim.client.post(f"{BIN}/{worker}/restore"), 404)


def test_restored_group_keeps_members_and_owners(sim: Sim) -> None:
    members = _cloud_users(sim, 3)
    group = _create(sim, "groups", {**group_body("phoenix"),
                                    "members@odata.bind": [f"{sim.graph}/users/{u}"
                                                           for u in members[:2]],
                                    "owners@odata.bind": [f"{sim.graph}/users/{members[2]}"]})
    _delete(sim, f"groups/{group['id']}")
    assert group["id"] not in ids(items(sim.client, f"users/{members[0]}/memberOf"))
    sim.client.post(f"{BIN}/{group['id']}/restore").raise_for_status()
    assert sorted(ids(items(sim.client, f"groups/{group['id']}/members"))) == sorted(
        members[:2])
    assert ids(items(sim.client, f"groups/{group['id']}/owners")) == [members[2]]
    assert group["id"] in ids(items(sim.client, f"users/{members[0]}/memberOf"))


def test_restored_user_upn_conflict_is_400_unless_renamed(sim: Sim) -> None:
    user = _create(sim, "users", user_body("phoenix"))
    _delete(sim, f"users/{user['id']}")
    _create(sim, "users", user_body("phoenix"))  # the UPN is free again while deleted
    error = assert_graph_error(sim.client.post(f"{BIN}/{user['id']}/restore"), 400)
    assert error["details"][0]["code"] == "ObjectConflict"
    assert _binned(sim, "user") == [user["id"]]
    response = sim.client.post(f"{BIN}/{user['id']}/restore",
                               json={"newUserPrincipalName": f"phoenix2@{DOMAIN}"})
    assert response.status_code == 200
    got = sim.client.get(f"users/{user['id']}").json()
    assert got["userPrincipalName"] == f"phoenix2@{DOMAIN}"
    assert_graph_error(sim.client.post(f"{BIN}/{new_id('x')}/restore",
                                       json={"bogus": True}), 400)


def test_restore_of_a_live_or_unknown_object_is_404(sim: Sim) -> None:
    user = _cloud_users(sim, 1)[0]
    assert_graph_error(sim.client.post(f"{BIN}/{user}/restore"), 404)
    assert_graph_error(sim.client.post(f"{BIN}/{new_id('ghost')}/restore"), 404)


# ----- retention and permanent delete ------------------------------------------------------

def test_bin_items_are_purged_after_30_days_and_delta_says_deleted(sim: Sim) -> None:
    sim.configure(delta_token_ttl_seconds=60 * DAY)
    keep, purge = _cloud_users(sim, 2)
    latest = sim.client.get("users/delta?$deltatoken=latest").json()["@odata.deltaLink"]
    _delete(sim, f"users/{purge}")
    sim.advance(20 * DAY)
    _delete(sim, f"users/{keep}")
    sim.advance(11 * DAY)  # 31 days after the first delete, 11 after the second
    changes = items(sim.client, latest)
    removed = {c["id"]: c["@removed"]["reason"] for c in changes if "@removed" in c}
    assert removed == {purge: "deleted", keep: "changed"}
    assert_graph_error(sim.client.get(f"{BIN}/{purge}"), 404)
    assert_graph_error(sim.client.post(f"{BIN}/{purge}/restore"), 404)
    assert _binned(sim, "user") == [keep]
    assert sim.stats()["tenant"]["automaticPurges"] == 1
    assert sim.stats()["permanentDeletes"] == 0


def test_day_29_item_is_still_restorable(sim: Sim) -> None:
    user = _cloud_users(sim, 1)[0]
    _delete(sim, f"users/{user}")
    sim.advance(29 * DAY)
    assert sim.client.post(f"{BIN}/{user}/restore").status_code == 200


def test_permanent_delete_is_final_and_counted(sim: Sim) -> None:
    user = _cloud_users(sim, 1)[0]
    groups = ids(items(sim.client, f"users/{user}/memberOf?$top=999"))
    _delete(sim, f"users/{user}")
    assert sim.stats()["permanentDeletes"] == 0
    response = sim.client.delete(f"{BIN}/{user}")
    assert response.status_code == 204
    assert sim.stats()["permanentDeletes"] == 1
    assert_graph_error(sim.client.get(f"{BIN}/{user}"), 404)
    assert_graph_error(sim.client.post(f"{BIN}/{user}/restore"), 404)
    assert_graph_error(sim.client.delete(f"{BIN}/{user}"), 404)
    state = sim.state()
    assert all(user not in (link["source"], link["target"]) for link in state["links"])
    assert user not in ids(items(sim.client, f"groups/{groups[0]}/members?$top=999"))
    assert sim.stats()["permanentDeletes"] == 1


def test_live_objects_cannot_be_permanently_deleted_through_the_bin(sim: Sim) -> None:
    user = _cloud_users(sim, 1)[0]
    assert_graph_error(sim.client.delete(f"{BIN}/{user}"), 404)
    assert sim.client.get(f"users/{user}").status_code == 200
    assert sim.stats()["permanentDeletes"] == 0


# ----- Conditional Access bin (beta) -------------------------------------------------------

def test_ca_policy_bin_lives_only_in_beta(sim: Sim) -> None:
    policy = first(sim.client, "identity/conditionalAccess/policies")
    _delete(sim, f"identity/conditionalAccess/policies/{policy['id']}")
    assert_graph_error(sim.client.get(f"identity/conditionalAccess/policies/{policy['id']}"),
                       404)
    response = sim.client.get(f"{CA_BIN}/policies")
    assert response.status_code in (400, 404)
    assert_graph_error(response, response.status_code)
    assert_graph_error(sim.client.get(f"{BIN}/{policy['id']}"), 404)
    listed = sim.client.get(f"{sim.beta}/{CA_BIN}/policies").json()["value"]
    assert ids(listed) == [policy["id"]]
    assert listed[0]["deletedDateTime"] and listed[0]["displayName"] == policy["displayName"]
    one = sim.client.get(f"{sim.beta}/{CA_BIN}/policies/{policy['id']}").json()
    assert one["id"] == policy["id"]
    assert_graph_error(sim.client.get(f"{sim.beta}/{CA_BIN}/namedLocations/{policy['id']}"),
                       404)
    restored = sim.client.post(f"{sim.beta}/{CA_BIN}/policies/{policy['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["id"] == policy["id"] and restored.json()["deletedDateTime"] is None
    back = sim.client.get(f"identity/conditionalAccess/policies/{policy['id']}").json()
    assert back["state"] == policy["state"] and back["conditions"] == policy["conditions"]
    assert sim.client.get(f"{sim.beta}/{CA_BIN}/policies").json()["value"] == []


def test_ca_policy_permanent_delete_in_beta(sim: Sim) -> None:
    policy = first(sim.client, "identity/conditionalAccess/policies")
    _delete(sim, f"identity/conditionalAccess/policies/{policy['id']}")
    v1 = sim.client.delete(f"{CA_BIN}/policies/{policy['id']}")
    assert v1.status_code in (400, 404)
    assert_graph_error(v1, v1.status_code)
    assert sim.client.delete(f"{sim.beta}/{CA_BIN}/policies/{policy['id']}").status_code == 204
    assert_graph_error(sim.client.get(f"{sim.beta}/{CA_BIN}/policies/{policy['id']}"), 404)
    assert sim.stats()["permanentDeletes"] == 1


def test_trusted_named_location_cannot_be_deleted(sim: Sim) -> None:
    path = "identity/conditionalAccess/namedLocations"
    trusted = next(n for n in items(sim.client, path) if n.get("isTrusted"))
    assert_graph_error(sim.client.delete(f"{path}/{trusted['id']}"), 400)
    assert sim.client.get(f"{path}/{trusted['id']}").status_code == 200


def _unreference(sim: Sim, location_id: str) -> None:
    """Take a named location out of every policy (a location in use cannot be deleted)."""
    for policy in items(sim.client, "identity/conditionalAccess/policies"):
        locations = (policy["conditions"] or {}).get("locations") or {}
        if location_id in (locations.get("includeLocations") or []) + (
                locations.get("excludeLocations") or []):
            kept = {key: [i for i in locations.get(key) or [] if i != location_id]
                    for key in ("includeLocations", "excludeLocations")}
            if not kept["includeLocations"]:
                kept["includeLocations"] = ["All"]
            sim.client.patch(f"identity/conditionalAccess/policies/{policy['id']}",
                             json={"conditions": {"locations": kept}}).raise_for_status()


def test_restored_named_location_comes_back_untrusted(sim: Sim) -> None:
    path = "identity/conditionalAccess/namedLocations"
    trusted = next(n for n in items(sim.client, path) if n.get("isTrusted"))
    sim.client.patch(f"{path}/{trusted['id']}", json={
        "@odata.type": trusted["@odata.type"], "isTrusted": False}).raise_for_status()
    _unreference(sim, trusted["id"])
    _delete(sim, f"{path}/{trusted['id']}")
    binned = sim.client.get(f"{sim.beta}/{CA_BIN}/namedLocations").json()["value"]
    assert ids(binned) == [trusted["id"]]
    assert binned[0]["@odata.type"] == "#microsoft.graph.ipNamedLocation"
    restored = sim.client.post(f"{sim.beta}/{CA_BIN}/namedLocations/{trusted['id']}/restore")
    assert restored.status_code == 200
    back = sim.client.get(f"{path}/{trusted['id']}").json()
    assert back["isTrusted"] is False and back["ipRanges"] == trusted["ipRanges"]
    country = next(n for n in items(sim.client, path)
                   if n["@odata.type"] == "#microsoft.graph.countryNamedLocation")
    _unreference(sim, country["id"])
    _delete(sim, f"{path}/{country['id']}")
    sim.client.post(f"{sim.beta}/{CA_BIN}/namedLocations/{country['id']}/restore"
                    ).raise_for_status()
    again = sim.client.get(f"{path}/{country['id']}").json()
    assert again["countriesAndRegions"] == country["countriesAndRegions"]


def test_ca_bin_items_expire_after_30_days(sim: Sim) -> None:
    policy = first(sim.client, "identity/conditionalAccess/policies")
    _delete(sim, f"identity/conditionalAccess/policies/{policy['id']}")
    sim.advance(31 * DAY)
    assert sim.client.get(f"{sim.beta}/{CA_BIN}/policies").json()["value"] == []
    assert_graph_error(sim.client.post(
        f"{sim.beta}/{CA_BIN}/policies/{policy['id']}/restore"), 404)


# ----- grants and assignments are hard-deleted --------------------------------------------

def test_grants_are_hard_deleted(sim: Sim) -> None:
    grant = first(sim.client, "oauth2PermissionGrants")
    _delete(sim, f"oauth2PermissionGrants/{grant['id']}")
    assert_graph_error(sim.client.get(f"oauth2PermissionGrants/{grant['id']}"), 404)
    assert_graph_error(sim.client.get(f"{BIN}/{grant['id']}"), 404)


def test_agent_cascade_delay_is_a_setting(sim: Sim) -> None:
    sim.configure(agent_cascade_seconds=0)
    principal = first(sim.client, "servicePrincipals/microsoft.graph."
                                  "agentIdentityBlueprintPrincipal")
    _delete(sim, f"servicePrincipals/{principal['id']}")
    assert _binned(sim, "agentIdentity")  # at once
    assert sim.control.post("/config", json={"agentCascadeSeconds": -1}).status_code == 400
