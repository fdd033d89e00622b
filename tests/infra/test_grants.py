"""infra/grant_permissions.py against graphsim over HTTP: the identity ends up holding exactly
the catalog's permissions for the chosen mode, re-runs change nothing, and going back to
read-only takes the write permissions away.
https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignments
https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignments
"""

from __future__ import annotations

import uuid

from entra_backup.kinds import required_permissions
from infra.grant_permissions import sync_app_roles, wanted_permissions
from infra.graph_rest import GRAPH_APP_ID, Graph
from tests.conftest import TOKEN, Sim

ALL = sorted(set(required_permissions()["read"]) | set(required_permissions()["write"]))


def seed(sim: Sim) -> tuple[str, dict[str, str]]:
    role_ids = {value: str(uuid.uuid5(uuid.NAMESPACE_URL, value)) for value in [*ALL, "Mail.Send"]}
    graph_sp = {"id": str(uuid.uuid4()), "appId": GRAPH_APP_ID, "displayName": "Microsoft Graph",
                "appRoles": [{"id": role_id, "value": value, "displayName": value,
                              "allowedMemberTypes": ["Application"], "isEnabled": True,
                              "description": value} for value, role_id in role_ids.items()]}
    identity = {"id": str(uuid.uuid4()), "appId": str(uuid.uuid4()), "displayName": "id-app",
                "servicePrincipalType": "ManagedIdentity"}
    sim.reset(seed={"objects": {"servicePrincipals": [graph_sp, identity]}})
    return identity["id"], role_ids


def held(sim: Sim, principal: str, role_ids: dict[str, str]) -> list[str]:
    names = {role_id: value for value, role_id in role_ids.items()}
    answer = sim.client.get(f"servicePrincipals/{principal}/appRoleAssignments")
    answer.raise_for_status()
    return sorted(names[a["appRoleId"]] for a in answer.json()["value"])


def test_modes_are_computed_from_the_catalog() -> None:
    catalog = required_permissions()
    assert wanted_permissions("read") == catalog["read"]
    assert wanted_permissions("recovery") == ALL
    assert not set(catalog["write"]) & set(wanted_permissions("read"))


def test_grant_recovery_then_read_only_against_graphsim(sim: Sim) -> None:
    principal, role_ids = seed(sim)
    graph = Graph(base_url=sim.graph, token=TOKEN)
    first = sync_app_roles(graph, principal, GRAPH_APP_ID, wanted_permissions("recovery"))
    assert sorted(first.added) == ALL and not first.removed
    assert held(sim, principal, role_ids) == ALL
    again = sync_app_roles(graph, principal, GRAPH_APP_ID, wanted_permissions("recovery"))
    assert not again.added and not again.removed and sorted(again.kept) == ALL
    down = sync_app_roles(graph, principal, GRAPH_APP_ID, wanted_permissions("read"))
    assert sorted(down.removed) == required_permissions()["write"]
    assert held(sim, principal, role_ids) == required_permissions()["read"]
    dry = sync_app_roles(graph, principal, GRAPH_APP_ID, wanted_permissions("recovery"),
                         dry_run=True)
    assert sorted(dry.added) == required_permissions()["write"]
    assert held(sim, principal, role_ids) == required_permissions()["read"]
