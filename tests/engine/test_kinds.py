"""Sweeps over the kinds catalog, in the spirit of M365DSC's per-resource QA tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from entra_backup.kinds import ALL_KINDS, KINDS_BY_NAME, get_kind, required_permissions
from graphsim import schema_data

KIND_DIR = Path(__file__).resolve().parents[2] / "entra_backup" / "kinds"
# Graph type each kind captures (what its $select must be valid for).
GRAPH_TYPES = {
    "users": "user", "groups": "group", "applications": "application",
    "servicePrincipals": "servicePrincipal", "conditionalAccessPolicies":
    "conditionalAccessPolicy", "namedLocations": "namedLocation",
    "authenticationMethodsPolicy": "authenticationMethodsPolicy",
    "authorizationPolicy": "authorizationPolicy", "organization": "organization",
    "agentIdentityBlueprints": "agentIdentityBlueprint",
    "agentIdentityBlueprintPrincipals": "agentIdentityBlueprintPrincipal",
    "agentIdentities": "agentIdentity", "agentUsers": "agentUser",
}


def test_registry_matches_the_modules_in_the_folder() -> None:
    modules = {p.stem for p in KIND_DIR.glob("*.py")} - {"__init__", "base"}
    assert len(modules) == len(ALL_KINDS)
    assert set(GRAPH_TYPES) == set(KINDS_BY_NAME)


def test_kinds_are_in_restore_rank_order_with_dependencies_first() -> None:
    ranks = {kind.name: kind.rank for kind in ALL_KINDS}
    assert [k.rank for k in ALL_KINDS] == sorted(k.rank for k in ALL_KINDS)
    assert ranks["namedLocations"] < ranks["conditionalAccessPolicies"]
    assert ranks["applications"] < ranks["servicePrincipals"]
    assert ranks["groups"] < ranks["authenticationMethodsPolicy"]
    assert ranks["agentIdentities"] < ranks["agentUsers"]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.name)
def test_every_kind_declares_permissions_and_a_valid_select(kind) -> None:  # type: ignore[no-untyped-def]
    assert "." in kind.permissions.read and "." in kind.permissions.write
    properties = schema_data.PROPERTIES[GRAPH_TYPES[kind.name]]
    unknown = [name for name in kind.select if name not in properties]
    assert unknown == []
    assert "id" in kind.select or not kind.select
    for name in kind.read_only | kind.create_only | kind.volatile:
        assert name in properties or kind.name == "namedLocations", name


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.name)
def test_links_never_use_expand_and_name_known_target_kinds(kind) -> None:  # type: ignore[no-untyped-def]
    for link in kind.links:
        assert "$expand" not in link.path
        assert set(link.targets) <= set(KINDS_BY_NAME), link.name
        if link.read == "per_object":
            assert "{id}" in link.path


def test_get_kind_rejects_unknown_names_with_the_known_list() -> None:
    assert get_kind("users").name == "users"
    with pytest.raises(ValueError, match=r"unknown kind 'robots'.*users"):
        get_kind("robots")


def test_permissions_are_computed_from_the_catalog() -> None:
    permissions = required_permissions()
    assert "User.Read.All" in permissions["read"]
    assert "Policy.ReadWrite.ConditionalAccess" in permissions["write"]
    assert len(permissions["read"]) == len(set(permissions["read"]))


def test_permissions_cover_what_the_engine_reads_beyond_the_kinds() -> None:
    """The diff reads auditLogs/directoryAudits (AuditLog.Read.All and Directory.Read.All:
    https://learn.microsoft.com/graph/api/directoryaudit-list); recovery writes app role
    assignments and delegated grants, which their own permissions guard
    (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto,
    https://learn.microsoft.com/graph/api/oauth2permissiongrant-post)."""
    permissions = required_permissions()
    assert {"AuditLog.Read.All", "Directory.Read.All"} <= set(permissions["read"])
    assert {"AppRoleAssignment.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All"} <= set(permissions["write"])
    assert not set(permissions["read"]) & set(permissions["write"])
