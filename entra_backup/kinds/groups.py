"""Groups: Microsoft 365, security (assigned and dynamic), mail-enabled security, synced."""

from entra_backup.kinds.base import Kind, Link, Permissions

GROUPS = Kind(
    name="groups",
    path="groups",
    select=(
        "id", "classification", "createdDateTime", "description", "displayName",
        "expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled",
        "mailNickname", "membershipRule", "membershipRuleProcessingState",
        "onPremisesDomainName", "onPremisesLastSyncDateTime", "onPremisesNetBiosName",
        "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
        "preferredDataLocation", "preferredLanguage", "proxyAddresses", "renewedDateTime",
        "resourceBehaviorOptions", "resourceProvisioningOptions", "securityEnabled",
        "securityIdentifier", "theme", "uniqueName", "visibility",
    ),
    links=(
        # members ride inline in groups/delta (members@delta), 1 RU a page instead of 2 a group
        Link("members", targets=("users", "groups", "servicePrincipals", "agentUsers",
                                 "agentIdentities"), read="delta", ref="members/$ref",
             per_request=20),
        Link("owners", targets=("users", "servicePrincipals"), read="per_object",
             path="groups/{id}/owners?$select=id&$top=999", ref="owners/$ref"),
    ),
    delta=True,
    read_only=frozenset({
        "id", "createdDateTime", "mail", "proxyAddresses", "securityIdentifier",
        "renewedDateTime", "expirationDateTime", "onPremisesDomainName",
        "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesSamAccountName",
        "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    }),
    create_only=frozenset({"isAssignableToRole", "resourceBehaviorOptions",
                           "resourceProvisioningOptions"}),
    volatile=frozenset({"onPremisesLastSyncDateTime", "renewedDateTime",
                        "expirationDateTime"}),
    synced_flag="onPremisesSyncEnabled",
    deleted_path="directory/deletedItems/microsoft.graph.group",
    extra={"rebuildMarker": "description"},  # where a rebuilt object keeps its old id
    rank=30,
    permissions=Permissions(read="Group.Read.All", write="Group.ReadWrite.All"),
)
