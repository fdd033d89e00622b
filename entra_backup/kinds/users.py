"""Users: member and guest accounts. Agent users are their own kind (agent_users.py)."""

from entra_backup.kinds.base import Kind, Link, Permissions

SELECT = (
    "id", "accountEnabled", "ageGroup", "assignedLicenses", "businessPhones", "city",
    "companyName", "consentProvidedForMinor", "country", "createdDateTime", "creationType",
    "department", "displayName", "employeeHireDate", "employeeId", "employeeOrgData",
    "employeeType", "externalUserState", "externalUserStateChangeDateTime", "faxNumber",
    "givenName", "identities", "imAddresses", "jobTitle", "legalAgeGroupClassification", "mail",
    "mailNickname", "mobilePhone", "officeLocation", "onPremisesDistinguishedName",
    "onPremisesDomainName", "onPremisesExtensionAttributes", "onPremisesImmutableId",
    "onPremisesLastSyncDateTime", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
    "postalCode", "preferredDataLocation", "preferredLanguage", "proxyAddresses",
    "securityIdentifier", "showInAddressList", "state", "streetAddress", "surname",
    "usageLocation", "userPrincipalName", "userType",
)
READ_ONLY = frozenset({
    "id", "createdDateTime", "creationType", "assignedLicenses", "externalUserState",
    "externalUserStateChangeDateTime", "imAddresses", "proxyAddresses", "securityIdentifier",
    "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName", "legalAgeGroupClassification",
})
VOLATILE = frozenset({"onPremisesLastSyncDateTime", "externalUserStateChangeDateTime"})
MANAGER = Link("manager", targets=("users",), read="delta", ref="manager/$ref", single=True)

USERS = Kind(
    name="users",
    path="users",
    select=SELECT,
    links=(MANAGER,),
    delta=True,
    read_only=READ_ONLY,
    volatile=VOLATILE,
    synced_flag="onPremisesSyncEnabled",
    exclude_types=frozenset({"#microsoft.graph.agentUser"}),
    deleted_path="directory/deletedItems/microsoft.graph.user",
    rank=20,
    permissions=Permissions(read="User.Read.All", write="User.ReadWrite.All"),
)
