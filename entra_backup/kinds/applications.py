"""App registrations. Agent identity blueprints are their own kind (agent_blueprints.py)."""

from entra_backup.kinds.base import Kind, Link, Permissions

SELECT = (
    "id", "addIns", "api", "appId", "appRoles", "applicationTemplateId", "createdDateTime",
    "defaultRedirectUri", "description", "disabledByMicrosoftStatus", "displayName",
    "groupMembershipClaims", "identifierUris", "info", "isDeviceOnlyAuthSupported",
    "isFallbackPublicClient", "keyCredentials", "notes", "oauth2RequirePostResponse",
    "optionalClaims", "parentalControlSettings", "passwordCredentials", "publicClient",
    "publisherDomain", "requestSignatureVerification", "requiredResourceAccess",
    "samlMetadataUrl", "serviceManagementReference", "servicePrincipalLockConfiguration",
    "signInAudience", "spa", "tags", "tokenEncryptionKeyId", "uniqueName", "verifiedPublisher",
    "web",
)
READ_ONLY = frozenset({
    "id", "appId", "createdDateTime", "publisherDomain", "verifiedPublisher",
    "disabledByMicrosoftStatus", "applicationTemplateId",
    "passwordCredentials",  # only through addPassword; secrets can be re-issued, never restored
})
OWNERS = Link("owners", targets=("users", "servicePrincipals"), read="per_object",
              path="applications/{id}/owners?$select=id&$top=999", ref="owners/$ref")

APPLICATIONS = Kind(
    name="applications",
    path="applications",
    select=SELECT,
    links=(OWNERS,),
    delta=True,
    read_only=READ_ONLY,
    create_only=frozenset({"uniqueName"}),
    secret=frozenset({"secretText"}),
    single_get=("keyCredentials",),
    exclude_types=frozenset({"#microsoft.graph.agentIdentityBlueprint"}),
    deleted_path="directory/deletedItems/microsoft.graph.application",
    extra={"rebuildMarker": "tags"},  # where a rebuilt object keeps its old id
    rank=40,
    permissions=Permissions(read="Application.Read.All", write="Application.ReadWrite.All"),
)
