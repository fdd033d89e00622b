"""graphsim over HTTP, group writes: member types, owners, Exchange-backed properties.

Each test names the Graph reference page its rule comes from.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Sim
from tests.graphsim.http_helpers import (
    assert_graph_error,
    bind,
    cloud_users,
    create,
    group_body,
    ids,
    items,
    ref,
)

Json = dict[str, Any]
EXCHANGE_PROPS = ["allowExternalSenders", "autoSubscribeNewMembers", "hideFromAddressLists",
                  "hideFromOutlookClients"]


def _unified(sim: Sim, nick: str) -> Json:
    return create(sim.client, "groups", group_body(nick, mailEnabled=True,
                                                   groupTypes=["Unified"]))


def _members(sim: Sim, group_id: str) -> list[str]:
    return ids(items(sim.client, f"groups/{group_id}/members?$top=999&$select=id"))


def _app_sp(sim: Sim) -> str:
    sps = items(sim.client, "servicePrincipals?$top=999&$select=id,servicePrincipalType")
    return next(s["id"] for s in sps
                if s["servicePrincipalType"] == "Application" and "@odata.type" not in s)


@pytest.mark.parametrize("prop", EXCHANGE_PROPS)
def test_exchange_properties_cannot_be_set_on_create(sim: Sim, prop: str) -> None:
    """group resource: "Can be set only as part of a PATCH request ... Don't set it in the
    initial POST request that creates the group." (https://learn.microsoft.com/graph/api/resources/group)"""
    before = sim.stats()["objects"]["groups"]
    body = group_body("exch", mailEnabled=True, groupTypes=["Unified"], **{prop: True})
    error = assert_graph_error(sim.client.post("groups", json=body), 400, "Request_BadRequest")
    assert prop in error["message"]
    assert sim.stats()["objects"]["groups"] == before


@pytest.mark.parametrize("prop", EXCHANGE_PROPS)
def test_exchange_properties_need_their_own_patch(sim: Sim, prop: str) -> None:
    """group-update: "you must specify them in their own PATCH request, without including the
    other properties listed in the table above" (https://learn.microsoft.com/graph/api/group-update)."""
    group = _unified(sim, "m365exch")
    assert_graph_error(sim.client.patch(f"groups/{group['id']}", json={
        prop: True, "description": "with company"}), 400)
    ok = sim.client.patch(f"groups/{group['id']}", json={prop: True})
    assert ok.status_code == 204
    assert sim.client.get(f"groups/{group['id']}?$select={prop}").json()[prop] is True
    security = create(sim.client, "groups", group_body("secexch"))
    assert_graph_error(sim.client.patch(f"groups/{security['id']}", json={prop: True}), 400)


def test_microsoft_365_group_takes_only_users_as_members(sim: Sim) -> None:
    """group-post-members table: a Microsoft 365 group's members can be users only; a
    security group or service principal "Cannot be group member"
    (https://learn.microsoft.com/graph/api/group-post-members)."""
    m365 = _unified(sim, "m365members")
    user = cloud_users(sim.client, 1)[0]
    security = create(sim.client, "groups", group_body("nested"))
    sp = _app_sp(sim)
    path = f"groups/{m365['id']}/members/$ref"
    for target in (security["id"], sp):
        error = assert_graph_error(sim.client.post(path, json=ref(sim.graph, target)), 400,
                                   "Request_BadRequest")
        assert "Microsoft 365 group" in error["message"]
    # members@odata.bind is all-or-nothing: one bad reference adds no one
    assert_graph_error(sim.client.patch(f"groups/{m365['id']}", json={
        "members@odata.bind": bind(sim.graph, [user, sp])}), 400)
    assert _members(sim, m365["id"]) == []
    assert sim.client.post(path, json=ref(sim.graph, user)).status_code == 204
    assert _members(sim, m365["id"]) == [user]


def test_security_group_takes_security_groups_and_service_principals_not_m365(sim: Sim) -> None:
    """group-post-members table: security groups take users, security groups and service
    principals; a Microsoft 365 group "Cannot be group member" of either kind
    (https://learn.microsoft.com/graph/api/group-post-members)."""
    parent = create(sim.client, "groups", group_body("parent"))
    child = create(sim.client, "groups", group_body("child"))
    sp = _app_sp(sim)
    m365 = _unified(sim, "m365child")
    path = f"groups/{parent['id']}/members/$ref"
    assert sim.client.post(path, json=ref(sim.graph, child["id"])).status_code == 204
    assert sim.client.post(path, json=ref(sim.graph, sp)).status_code == 204
    assert_graph_error(sim.client.post(path, json=ref(sim.graph, m365["id"])), 400)
    assert sorted(_members(sim, parent["id"])) == sorted([child["id"], sp])


def test_removing_a_non_member_is_404_and_a_duplicate_add_is_400(sim: Sim) -> None:
    """group-delete-members / group-post-members: the reference must exist to be removed;
    adding an existing one answers "One or more added object references already exist"
    (https://learn.microsoft.com/graph/api/group-delete-members)."""
    group = create(sim.client, "groups", group_body("strict"))
    user, stranger = cloud_users(sim.client, 2)
    sim.client.post(f"groups/{group['id']}/members/$ref",
                    json=ref(sim.graph, user)).raise_for_status()
    error = assert_graph_error(sim.client.patch(f"groups/{group['id']}", json={
        "members@odata.bind": bind(sim.graph, [user])}), 400)
    assert "already exist" in error["message"]
    assert_graph_error(sim.client.delete(f"groups/{group['id']}/members/{stranger}/$ref"),
                       404, "Request_ResourceNotFound")


def test_the_last_user_owner_of_a_group_cannot_be_removed(sim: Sim) -> None:
    """group-delete-owners: "Once owners are assigned to a group, the last owner (a user
    object) of the group cannot be removed." (https://learn.microsoft.com/graph/api/group-delete-owners)"""
    first_owner, second_owner = cloud_users(sim.client, 2)
    group = create(sim.client, "groups", {**group_body("owned"), "owners@odata.bind": bind(
        sim.graph, [first_owner, second_owner])})
    sp = _app_sp(sim)
    sim.client.post(f"groups/{group['id']}/owners/$ref",
                    json=ref(sim.graph, sp)).raise_for_status()
    owners = f"groups/{group['id']}/owners"
    assert sim.client.delete(f"{owners}/{first_owner}/$ref").status_code == 204
    error = assert_graph_error(sim.client.delete(f"{owners}/{second_owner}/$ref"), 400,
                               "Request_BadRequest")
    assert "at least one owner" in error["message"]
    assert sorted(ids(items(sim.client, owners))) == sorted([second_owner, sp])
    # a service principal owner is not the last *user* owner: it may go
    assert sim.client.delete(f"{owners}/{sp}/$ref").status_code == 204


def test_group_link_writes_are_audited(sim: Sim) -> None:
    """directoryAudit: "Add member to group" / "Remove member from group" name the group
    (https://learn.microsoft.com/graph/api/resources/directoryaudit)."""
    group = create(sim.client, "groups", group_body("audlinks"))
    user = cloud_users(sim.client, 1)[0]
    sim.client.post(f"groups/{group['id']}/members/$ref",
                    json=ref(sim.graph, user)).raise_for_status()
    sim.client.delete(f"groups/{group['id']}/members/{user}/$ref").raise_for_status()
    clause = f"targetResources/any(t:t/id eq '{group['id']}')"
    events = items(sim.client, f"auditLogs/directoryAudits?$filter={clause}")
    assert [e["activityDisplayName"] for e in events] == [
        "Remove member from group", "Add member to group", "Add group"]
    assert all(e["targetResources"][0]["type"] == "Group" for e in events)
