"""Per-collection facts about Microsoft Graph, kept as data (see shared/reference/graph.md).

Everything here is what Graph documents or is observed to do: page-size maxima, the default
projection, properties returned only on `$select`, read-only and create-only properties, who
goes to the recycle bin and which derived (cast) types live in a base collection. The model
reads these rows; no rule is repeated in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

USER_DEFAULT_SELECT = (
    "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName",
)

_USER_READ_ONLY = frozenset({
    "id", "createdDateTime", "creationType", "deletedDateTime", "assignedPlans",
    "provisionedPlans", "assignedLicenses", "licenseAssignmentStates", "proxyAddresses",
    "imAddresses", "externalUserState", "externalUserStateChangeDateTime",
    "lastPasswordChangeDateTime", "securityIdentifier", "signInActivity",
    "signInSessionsValidFromDateTime", "refreshTokensValidFromDateTime", "isManagementRestricted",
    "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "isResourceAccount",
    "serviceProvisioningErrors",
})
_GROUP_READ_ONLY = frozenset({
    "id", "createdDateTime", "deletedDateTime", "mail", "proxyAddresses", "securityIdentifier",
    "renewedDateTime", "expirationDateTime", "assignedLicenses", "hasMembersWithLicenseErrors",
    "isManagementRestricted", "licenseProcessingState", "onPremisesDomainName",
    "onPremisesLastSyncDateTime", "onPremisesNetBiosName", "onPremisesProvisioningErrors",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "membershipRuleProcessingStatus", "serviceProvisioningErrors", "isArchived",
    "onPremisesDistinguishedName",
})
_APP_READ_ONLY = frozenset({
    "id", "appId", "createdDateTime", "deletedDateTime", "publisherDomain", "certification",
    "verifiedPublisher", "disabledByMicrosoftStatus", "applicationTemplateId",
})
_SP_READ_ONLY = frozenset({
    "id", "appDisplayName", "appOwnerOrganizationId", "signInAudience", "publisherName",
    "verifiedPublisher", "applicationTemplateId", "deletedDateTime", "createdDateTime",
})
_POLICY_READ_ONLY = frozenset(
    {"id", "createdDateTime", "modifiedDateTime", "deletedDateTime", "templateId"}
)
# Everything on `organization` is read-only except these (organization-update page).
ORGANIZATION_WRITABLE = frozenset({
    "marketingNotificationEmails", "privacyProfile", "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones", "technicalNotificationMails",
})
# A synced (on-premises mastered) user keeps only cloud attributes writable.
SYNCED_USER_WRITABLE = frozenset({"usageLocation", "preferredDataLocation", "passwordPolicies"})


@dataclass(frozen=True)
class Rule:
    """Facts about one collection: how it pages, projects, validates and deletes."""

    name: str
    base_type: str
    casts: dict[str, str] = field(default_factory=dict)  # "microsoft.graph.agentUser" -> type
    max_top: int = 999
    default_top: int = 100
    default_select: tuple[str, ...] | None = None  # None: all but select_only
    select_only: frozenset[str] = frozenset()
    write_only: frozenset[str] = frozenset()  # accepted on write, never returned
    read_only: frozenset[str] = frozenset()
    create_only: frozenset[str] = frozenset()
    required_on_create: tuple[str, ...] = ()
    soft_delete: bool = True
    delta: bool = False
    directory: bool = True  # a directoryObject (referencable, in deletedItems)
    filterable: frozenset[str] = frozenset({"id", "displayName"})
    orderable: frozenset[str] = frozenset()  # $orderby without advanced query (graph.md 6)
    navigations: frozenset[str] = frozenset()
    odata_type_required: bool = False
    audit_type: str = "Other"
    deleted_cast: str = ""  # cast in directory/deletedItems


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            name="users", base_type="user", casts={"microsoft.graph.agentUser": "agentUser"},
            orderable=frozenset({"displayName", "userPrincipalName"}),
            default_select=USER_DEFAULT_SELECT, write_only=frozenset({"passwordProfile"}),
            read_only=_USER_READ_ONLY, create_only=frozenset({"identityParentId"}),
            required_on_create=("accountEnabled", "displayName", "mailNickname",
                                "userPrincipalName"),
            delta=True, navigations=frozenset({"manager", "directReports", "memberOf",
                                               "appRoleAssignments", "sponsors"}),
            filterable=frozenset({"id", "displayName", "userPrincipalName", "mail",
                                  "mailNickname", "accountEnabled", "userType",
                                  "onPremisesSyncEnabled", "employeeId", "identityParentId"}),
            audit_type="User", deleted_cast="microsoft.graph.user",
        ),
        Rule(
            name="groups", base_type="group",
            orderable=frozenset({"displayName"}),
            select_only=frozenset({"allowExternalSenders", "autoSubscribeNewMembers",
                                   "hideFromAddressLists", "hideFromOutlookClients",
                                   "isSubscribedByMail", "unseenCount", "isArchived",
                                   "membershipRuleProcessingStatus"}),
            read_only=_GROUP_READ_ONLY, create_only=frozenset({"isAssignableToRole"}),
            required_on_create=("displayName", "mailEnabled", "mailNickname", "securityEnabled"),
            delta=True, navigations=frozenset({"members", "owners", "memberOf",
                                               "appRoleAssignments"}),
            filterable=frozenset({"id", "displayName", "mail", "mailNickname", "mailEnabled",
                                  "securityEnabled", "onPremisesSyncEnabled"}),
            audit_type="Group", deleted_cast="microsoft.graph.group",
        ),
        Rule(
            name="applications", base_type="application",
            orderable=frozenset({"displayName"}),
            casts={"microsoft.graph.agentIdentityBlueprint": "agentIdentityBlueprint"},
            select_only=frozenset({"managerApplications"}),
            read_only=_APP_READ_ONLY, create_only=frozenset({"uniqueName"}),
            required_on_create=("displayName",), delta=True,
            navigations=frozenset({"owners", "sponsors"}),
            filterable=frozenset({"id", "displayName", "appId", "uniqueName", "signInAudience"}),
            audit_type="Application", deleted_cast="microsoft.graph.application",
        ),
        Rule(
            name="servicePrincipals", base_type="servicePrincipal",
            orderable=frozenset({"displayName"}),
            casts={"microsoft.graph.agentIdentity": "agentIdentity",
                   "microsoft.graph.agentIdentityBlueprintPrincipal":
                       "agentIdentityBlueprintPrincipal"},
            select_only=frozenset({"managerApplications"}),
            read_only=_SP_READ_ONLY, create_only=frozenset({"appId"}),
            required_on_create=(), delta=True,
            navigations=frozenset({"owners", "appRoleAssignedTo", "appRoleAssignments",
                                   "oauth2PermissionGrants", "sponsors", "memberOf"}),
            filterable=frozenset({"id", "displayName", "appId", "servicePrincipalType",
                                  "accountEnabled", "agentIdentityBlueprintId"}),
            audit_type="ServicePrincipal", deleted_cast="microsoft.graph.servicePrincipal",
        ),
        Rule(
            name="conditionalAccessPolicies", base_type="conditionalAccessPolicy",
            orderable=frozenset({"displayName"}),
            read_only=_POLICY_READ_ONLY,
            required_on_create=("displayName", "state", "conditions"),
            directory=False, audit_type="Policy",
            filterable=frozenset({"id", "displayName", "state"}),
        ),
        Rule(
            name="namedLocations", base_type="namedLocation",
            orderable=frozenset({"displayName"}),
            casts={"microsoft.graph.ipNamedLocation": "ipNamedLocation",
                   "microsoft.graph.countryNamedLocation": "countryNamedLocation"},
            read_only=_POLICY_READ_ONLY, required_on_create=("displayName",), directory=False,
            odata_type_required=True, audit_type="Policy",
        ),
        Rule(
            name="oauth2PermissionGrants", base_type="oAuth2PermissionGrant",
            read_only=frozenset({"id"}), create_only=frozenset({"clientId", "consentType",
                                                               "principalId", "resourceId"}),
            required_on_create=("clientId", "consentType", "resourceId"), soft_delete=False,
            directory=False, audit_type="Other",
            filterable=frozenset({"id", "clientId", "consentType", "principalId", "resourceId"}),
        ),
        Rule(
            name="appRoleAssignments", base_type="appRoleAssignment",
            read_only=frozenset({"id", "createdDateTime", "principalDisplayName",
                                 "principalType", "resourceDisplayName", "deletedDateTime"}),
            required_on_create=("principalId", "resourceId", "appRoleId"), soft_delete=False,
            directory=False, audit_type="Other",
            filterable=frozenset({"id", "principalId", "resourceId", "appRoleId"}),
        ),
        Rule(
            name="organization", base_type="organization", soft_delete=False, directory=False,
            read_only=frozenset(), audit_type="Other",
        ),
        Rule(
            name="authorizationPolicy", base_type="authorizationPolicy", soft_delete=False,
            directory=False, read_only=frozenset({"id"}), audit_type="Policy",
        ),
        Rule(
            name="authenticationMethodsPolicy", base_type="authenticationMethodsPolicy",
            soft_delete=False, directory=False,
            read_only=frozenset({"id", "displayName", "description", "lastModifiedDateTime",
                                 "policyVersion", "authenticationMethodConfigurations"}),
            audit_type="Policy",
        ),
    )
}

# Links the model keeps as references between objects: nav -> (source collections, targets).
LINK_SOURCES: dict[str, frozenset[str]] = {
    "members": frozenset({"groups"}),
    "owners": frozenset({"groups", "applications", "servicePrincipals"}),
    "manager": frozenset({"users"}),
    "sponsors": frozenset({"users", "applications", "servicePrincipals"}),
}
LINK_TARGETS: dict[str, frozenset[str]] = {
    "members": frozenset({"users", "groups", "servicePrincipals"}),
    "owners": frozenset({"users", "servicePrincipals"}),
    "manager": frozenset({"users"}),
    "sponsors": frozenset({"users", "groups"}),
}
# At most this many references may be bound in one request (members@odata.bind).
MAX_BIND_PER_REQUEST = 20
# `$expand` of a multi-valued relationship returns at most this many items.
MAX_EXPAND = 20
# Relationships read (and `$expand`-ed) as directory objects; the reverse ones are read from
# the forward link (memberOf from members, directReports from manager). A single-valued one is
# one object, set with PUT $ref, and a 404 while unset.
LINK_NAVS = frozenset({"members", "owners", "manager", "sponsors", "memberOf", "directReports"})
REVERSE_NAVS = {"memberOf": "members", "directReports": "manager"}
SINGLE_VALUED_NAVS = frozenset({"manager"})
# Page maxima of lists that are not collections: relationships, recycle bins, assignments
# ($top up to 999) and directoryAudits (up to 1,000).
LIST_MAX_TOP = 999
AUDIT_MAX_TOP = 1000
BIN_ORDERABLE = frozenset({"deletedDateTime", "displayName"})
AUDIT_FILTERABLE = frozenset({"activityDateTime", "activityDisplayName", "category",
                              "operationType", "targetResources", "result", "loggedByService"})
GET_BY_IDS_MAX = 1000
# The only properties these request bodies may carry.
REF_BODY = frozenset({"@odata.id"})
RESTORE_BODY = frozenset({"autoReconcileProxyConflict", "newUserPrincipalName"})
SOFT_DELETE_RETENTION_DAYS = 30
# Deleting a blueprint principal soft-deletes its agent identities and their agent users in
# the background (graph.md 5); Graph gives no figure, so this is the simulator's choice.
AGENT_CASCADE_SECONDS = 60.0
DELTA_TOKEN_TTL_SECONDS = 7 * 24 * 3600
AGENT_MAX_TOP = 100
AGENT_TYPES = frozenset(
    {"agentUser", "agentIdentity", "agentIdentityBlueprint", "agentIdentityBlueprintPrincipal"}
)
