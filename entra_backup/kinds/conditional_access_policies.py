"""Conditional Access policies: 1 request/s tenant-wide, 429s without Retry-After.

The ids inside `conditions` and `grantControls` are references (users, groups, roles, appIds,
named locations); diff and recovery read them through `REFERENCE_PATHS`.
"""

from entra_backup.kinds.base import Kind, Permissions

# JSON paths inside a policy that hold ids of other objects, and the kind they point at.
REFERENCE_PATHS = {
    "conditions.users.includeUsers": "users",
    "conditions.users.excludeUsers": "users",
    "conditions.users.includeGroups": "groups",
    "conditions.users.excludeGroups": "groups",
    "conditions.applications.includeApplications": "applications.appId",
    "conditions.applications.excludeApplications": "applications.appId",
    "conditions.clientApplications.includeServicePrincipals": "servicePrincipals",
    "conditions.clientApplications.excludeServicePrincipals": "servicePrincipals",
    "conditions.locations.includeLocations": "namedLocations",
    "conditions.locations.excludeLocations": "namedLocations",
}

CONDITIONAL_ACCESS_POLICIES = Kind(
    name="conditionalAccessPolicies",
    path="identity/conditionalAccess/policies",
    select=("id", "conditions", "createdDateTime", "description", "displayName",
            "grantControls", "modifiedDateTime", "sessionControls", "state", "templateId"),
    read_only=frozenset({"id", "createdDateTime", "modifiedDateTime", "templateId"}),
    volatile=frozenset({"modifiedDateTime"}),
    deleted_path="identity/conditionalAccess/deletedItems/policies",
    deleted_api_version="beta",
    references=tuple(REFERENCE_PATHS.items()),
    write_whole=True,  # Graph does not say whether PATCH merges `conditions`: send it all
    on_created="disable",  # never deleted by recovery: a recycle bin is not guaranteed
    extra={"rebuildMarker": "description"},  # where a rebuilt object keeps its old id
    rank=70,
    permissions=Permissions(read="Policy.Read.All",
                            write="Policy.ReadWrite.ConditionalAccess"),
)
