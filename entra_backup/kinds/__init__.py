"""The kinds catalog: `ALL_KINDS` in restore-rank order. One module per kind, one line here."""

from entra_backup.kinds.agent_blueprint_principals import AGENT_BLUEPRINT_PRINCIPALS
from entra_backup.kinds.agent_blueprints import AGENT_BLUEPRINTS
from entra_backup.kinds.agent_identities import AGENT_IDENTITIES
from entra_backup.kinds.agent_users import AGENT_USERS
from entra_backup.kinds.applications import APPLICATIONS
from entra_backup.kinds.authentication_methods_policy import AUTHENTICATION_METHODS_POLICY
from entra_backup.kinds.authorization_policy import AUTHORIZATION_POLICY
from entra_backup.kinds.base import DIRECTORY_READ, Kind, Link, Permissions
from entra_backup.kinds.conditional_access_policies import CONDITIONAL_ACCESS_POLICIES
from entra_backup.kinds.groups import GROUPS
from entra_backup.kinds.named_locations import NAMED_LOCATIONS
from entra_backup.kinds.organization import ORGANIZATION
from entra_backup.kinds.service_principals import SERVICE_PRINCIPALS
from entra_backup.kinds.users import USERS

ALL_KINDS: tuple[Kind, ...] = tuple(sorted((
    ORGANIZATION,
    AUTHORIZATION_POLICY,
    NAMED_LOCATIONS,
    USERS,
    GROUPS,
    APPLICATIONS,
    AGENT_BLUEPRINTS,
    SERVICE_PRINCIPALS,
    AGENT_BLUEPRINT_PRINCIPALS,
    AGENT_IDENTITIES,
    AGENT_USERS,
    AUTHENTICATION_METHODS_POLICY,
    CONDITIONAL_ACCESS_POLICIES,
), key=lambda kind: kind.rank))

KINDS_BY_NAME: dict[str, Kind] = {kind.name: kind for kind in ALL_KINDS}


def get_kind(name: str) -> Kind:
    """The kind called `name`, or a ValueError listing the known names."""
    try:
        return KINDS_BY_NAME[name]
    except KeyError:
        known = ", ".join(KINDS_BY_NAME)
        raise ValueError(f"unknown kind {name!r} (known: {known})") from None


# Read by the engine itself rather than for one kind: the diff attributes changes from
# auditLogs/directoryAudits, which needs both of these.
# https://learn.microsoft.com/graph/api/directoryaudit-list
ENGINE_READS: tuple[str, ...] = ("AuditLog.Read.All", DIRECTORY_READ)


def required_permissions() -> dict[str, list[str]]:
    """Graph application permissions the app needs, computed from the catalog (read, write).

    "read" is what capture and diff need (the read-only deployment); a recovery-enabled
    deployment holds "read" and "write" together. infra/grant_permissions.py grants these.
    """
    declared = [kind.permissions for kind in ALL_KINDS]
    declared += [link.permissions for kind in ALL_KINDS for link in kind.links if link.permissions]
    return {
        "read": sorted({p.read for p in declared} | set(ENGINE_READS)),
        "write": sorted({p.write for p in declared}),
    }


__all__ = ["ALL_KINDS", "ENGINE_READS", "KINDS_BY_NAME", "Kind", "Link", "Permissions",
           "get_kind", "required_permissions"]
