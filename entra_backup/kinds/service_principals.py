"""Service principals (enterprise apps), with app role assignments and delegated grants."""

from entra_backup.kinds.base import DIRECTORY_READ, Kind, Link, Permissions

SELECT = (
    "id", "accountEnabled", "addIns", "alternativeNames", "appDescription", "appDisplayName",
    "appId", "appOwnerOrganizationId", "appRoleAssignmentRequired", "appRoles",
    "applicationTemplateId", "description", "disabledByMicrosoftStatus", "displayName",
    "homepage", "info", "keyCredentials", "loginUrl", "logoutUrl", "notes",
    "notificationEmailAddresses", "oauth2PermissionScopes", "passwordCredentials",
    "preferredSingleSignOnMode", "preferredTokenSigningKeyThumbprint", "replyUrls",
    "resourceSpecificApplicationPermissions", "samlSingleSignOnSettings",
    "servicePrincipalNames", "servicePrincipalType", "signInAudience", "tags",
    "tokenEncryptionKeyId", "verifiedPublisher",
)
READ_ONLY = frozenset({
    "id", "appDisplayName", "appOwnerOrganizationId", "signInAudience", "verifiedPublisher",
    "applicationTemplateId", "servicePrincipalType", "passwordCredentials",
    "resourceSpecificApplicationPermissions", "disabledByMicrosoftStatus",
})
OWNERS = Link("owners", targets=("users", "servicePrincipals"), read="per_object",
              path="servicePrincipals/{id}/owners?$select=id&$top=999", ref="owners/$ref")
APP_ROLE_ASSIGNED_TO = Link(
    "appRoleAssignedTo", targets=("users", "groups", "servicePrincipals"), read="per_object",
    path="servicePrincipals/{id}/appRoleAssignedTo?$top=999", ref="appRoleAssignedTo",
    fields=("id", "appRoleId", "principalId", "principalType"),
    key="principalId,appRoleId",  # a re-made assignment gets a new id but is the same grant
    # https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto
    permissions=Permissions(read="Application.Read.All", write="AppRoleAssignment.ReadWrite.All"),
)
GRANTS = Link(
    "oauth2PermissionGrants", targets=("servicePrincipals", "users"), read="tenant_list",
    path="oauth2PermissionGrants?$top=999", ref="oauth2PermissionGrants", group_by="clientId",
    fields=("id", "clientId", "consentType", "principalId", "resourceId", "scope"),
    key="clientId,consentType,principalId,resourceId",  # one grant per client, user, API
    # listing needs Directory.Read.All (no narrower application permission reads grants);
    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-list
    # https://learn.microsoft.com/graph/api/oauth2permissiongrant-post
    permissions=Permissions(read=DIRECTORY_READ, write="DelegatedPermissionGrant.ReadWrite.All"),
)

SERVICE_PRINCIPALS = Kind(
    name="servicePrincipals",
    path="servicePrincipals",
    select=SELECT,
    links=(OWNERS, APP_ROLE_ASSIGNED_TO, GRANTS),
    delta=True,
    read_only=READ_ONLY,
    create_only=frozenset({"appId"}),
    secret=frozenset({"secretText"}),
    single_get=("keyCredentials",),
    exclude_types=frozenset({"#microsoft.graph.agentIdentity",
                             "#microsoft.graph.agentIdentityBlueprintPrincipal"}),
    deleted_path="directory/deletedItems/microsoft.graph.servicePrincipal",
    rank=50,
    permissions=Permissions(read="Application.Read.All", write="Application.ReadWrite.All"),
)
