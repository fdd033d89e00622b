"""Per-kind write rules Graph documents beyond the schema's type checks.

`writes.py` validates shapes (unknown, read-only, mistyped properties); this module holds the
sentences of the Graph reference that say what a well-typed write may still not do, each with
the page it comes from. Every check raises before state changes, so a refused request changes
nothing.
"""

from __future__ import annotations

from typing import Any

from graphsim.errors import BadRequest
from graphsim.model.tenant import Json, Tenant

# group-update: "To update the following properties, you must specify them in their own PATCH
# request, without including the other properties"; group resource: "Can be set only as part
# of a PATCH request ... Don't set it in the initial POST request that creates the group."
# https://learn.microsoft.com/graph/api/group-update
EXCHANGE_GROUP_PROPS = frozenset({
    "allowExternalSenders", "autoSubscribeNewMembers", "hideFromAddressLists",
    "hideFromOutlookClients", "isSubscribedByMail", "unseenCount",
})
# user-update / group-update: displayName "is required when a user is created and it cannot be
# cleared during updates" (the same sentence is on the group page).
_DISPLAY_NAME_REQUIRED = frozenset({"users", "groups"})
# CA locations may name these instead of a named location id (conditionalAccessLocations).
_LOCATION_KEYWORDS = frozenset({"All", "AllTrusted"})
_WEAK_PASSWORD = ("The specified password does not comply with password complexity "
                  "requirements. Please provide a different password.")
_UNVERIFIED_DOMAIN = ("The domain portion of the userPrincipalName property is invalid. You "
                      "must use one of the verified domain names in your organization.")


def check_write(
    tenant: Tenant, collection: str, body: Json, values: Json,
    binds: dict[str, list[str]], existing: Json | None,
) -> None:
    """Run the rules of this section for one create (`existing` None) or update.

    May add server-computed values (proxyAddresses from mail, merged CA conditions).
    """
    check_display_name(collection, values)
    if collection == "users":
        check_user(tenant, values, existing)
        mail_to_proxy_addresses(values, existing)
    elif collection == "groups":
        check_group_exchange(body, existing)
        group = {**(existing or {}), **values}
        for target in binds.get("members", ()):
            located = tenant.locate(target)
            if located is not None:
                check_member(group, located[0], located[1])
    elif collection == "applications" and "identifierUris" in values:
        check_identifier_uris(tenant, values["identifierUris"], (existing or {}).get("id"))
    elif collection == "oauth2PermissionGrants" and existing is None:
        check_grant(tenant, values)
    elif collection == "conditionalAccessPolicies":
        if existing is not None:
            merge_conditions(existing, values)
        if "conditions" in values:
            check_policy_locations(tenant, values["conditions"])
    if existing is not None and collection in ("applications", "servicePrincipals"):
        check_entitlements(collection, values, existing)


def check_display_name(collection: str, values: Json) -> None:
    """displayName cannot be cleared (null or empty) on users and groups."""
    if collection in _DISPLAY_NAME_REQUIRED and "displayName" in values and not (
        isinstance(values["displayName"], str) and values["displayName"].strip()
    ):
        kind = "User" if collection == "users" else "Group"
        raise BadRequest(f"Invalid value specified for property 'displayName' of resource "
                         f"'{kind}'.")


# ----- users -------------------------------------------------------------------------------

def check_user(tenant: Tenant, values: Json, existing: Json | None) -> None:
    """UPN in a verified domain; a strong password unless passwordPolicies disables it.

    user-update: "domain must be present in the tenant's collection of verified domains";
    passwordProfile: "By default, a strong password is required."
    https://learn.microsoft.com/graph/api/user-update, .../resources/passwordprofile
    """
    upn = values.get("userPrincipalName")
    if isinstance(upn, str):
        check_upn_domain(tenant, upn)
    profile = values.get("passwordProfile")
    password = profile.get("password") if isinstance(profile, dict) else None
    if isinstance(password, str):
        policies = values.get("passwordPolicies", (existing or {}).get("passwordPolicies"))
        if "DisableStrongPassword" not in str(policies or "") and not strong(password):
            raise BadRequest(_WEAK_PASSWORD)


def check_upn_domain(tenant: Tenant, upn: str) -> None:
    """400 unless the UPN's domain is one of organization.verifiedDomains.

    A seed without an organization object has no domain list to check against, so the rule
    applies only where the tenant has one (every synthetic tenant does).
    """
    verified = verified_domains(tenant)
    if verified and upn.rsplit("@", 1)[-1].lower() not in verified:
        raise BadRequest(_UNVERIFIED_DOMAIN)


def verified_domains(tenant: Tenant) -> frozenset[str]:
    for _, org in tenant.stores["organization"].scan():
        return frozenset(str(d.get("name", "")).lower()
                         for d in org.get("verifiedDomains") or [])
    return frozenset()


def strong(password: str) -> bool:
    """Entra's default policy: 8-256 characters and three of the four character classes."""
    classes = (any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    return 8 <= len(password) <= 256 and sum(classes) >= 3


def mail_to_proxy_addresses(values: Json, existing: Json | None) -> None:
    """Writing `mail` also makes it the primary SMTP address in proxyAddresses.

    user resource, mail: "Changes to this property also update the user's proxyAddresses
    collection to include the value as an SMTP address."
    https://learn.microsoft.com/graph/api/resources/user
    """
    mail = values.get("mail")
    if not isinstance(mail, str) or not mail:
        return
    old: list[str] = list((existing or {}).get("proxyAddresses") or [])
    wanted = "smtp:" + mail.lower()
    kept = ["smtp:" + a[5:] if a.startswith("SMTP:") else a for a in old
            if a.lower() != wanted]
    new = [f"SMTP:{mail}", *kept]
    if new != old:
        values["proxyAddresses"] = new


# ----- groups ------------------------------------------------------------------------------

def check_group_exchange(body: Json, existing: Json | None) -> None:
    """Exchange-backed group properties: never on create, alone in a PATCH, Unified only."""
    given = EXCHANGE_GROUP_PROPS & set(body)
    if not given:
        return
    name = sorted(given)[0]
    if existing is None:
        raise BadRequest(f"Property '{name}' cannot be set when the group is created; set it "
                         "in a later PATCH request.")
    if set(body) - EXCHANGE_GROUP_PROPS:
        raise BadRequest("The request is currently not supported on the targeted entity set: "
                         f"'{name}' must be updated in its own PATCH request.")
    if "Unified" not in (existing.get("groupTypes") or []):
        raise BadRequest(f"Property '{name}' is supported only for Microsoft 365 groups.")


def check_member(group: Json, target_collection: str, target: Json) -> None:
    """Which member types a group takes (group-post-members table).

    Microsoft 365 groups: users only. Security groups: users, security groups, service
    principals - never a Microsoft 365 group. https://learn.microsoft.com/graph/api/group-post-members
    """
    if target_collection == "groups" and "Unified" in (target.get("groupTypes") or []):
        raise BadRequest("A Microsoft 365 group cannot be a member of another group.")
    if "Unified" in (group.get("groupTypes") or []) and target_collection != "users":
        raise BadRequest("Only users can be members of a Microsoft 365 group; "
                         f"a {target_collection[:-1]} cannot.")


def check_owner_removal(tenant: Tenant, group_id: str, target: str) -> None:
    """The last user owner of a group cannot be removed (group-delete-owners).

    "Once owners are assigned to a group, the last owner (a user object) of the group cannot
    be removed." https://learn.microsoft.com/graph/api/group-delete-owners
    """
    if target not in tenant.stores["users"]:
        return
    user_owners = [o for o in tenant.links.targets("owners", group_id)
                   if o in tenant.stores["users"]]
    if user_owners == [target]:
        raise BadRequest("The group must have at least one owner, hence this owner cannot be "
                         "removed.")


# ----- applications and service principals ------------------------------------------------

def check_identifier_uris(tenant: Tenant, uris: Any, own_id: str | None) -> None:
    """identifierUris are unique across the directory's applications (400 ObjectConflict)."""
    if not isinstance(uris, list):
        return
    wanted = {str(u).lower() for u in uris}
    for _, app in tenant.stores["applications"].scan():
        if app["id"] != own_id and wanted & {str(u).lower() for u in
                                             app.get("identifierUris") or []}:
            message = ("Another object with the same value for property identifierUris "
                       "already exists.")
            raise BadRequest(message, details=[{"code": "ObjectConflict",
                                                "target": "identifierUris",
                                                "message": message}])


def check_entitlements(collection: str, values: Json, existing: Json) -> None:
    """An enabled app role or permission scope must be disabled before a later PATCH removes it.

    appRole / permissionScope, isEnabled: "To delete a role, this must first be set to false.
    At that point, in a subsequent call, this role may be removed."
    https://learn.microsoft.com/graph/api/resources/approle,
    https://learn.microsoft.com/graph/api/resources/permissionscope
    """
    pairs: list[tuple[Any, Any]] = []
    if "appRoles" in values:
        pairs.append((existing.get("appRoles"), values["appRoles"]))
    if collection == "servicePrincipals" and "oauth2PermissionScopes" in values:
        pairs.append((existing.get("oauth2PermissionScopes"), values["oauth2PermissionScopes"]))
    if collection == "applications" and "api" in values:
        new_api = values["api"] if isinstance(values["api"], dict) else {}
        if "oauth2PermissionScopes" in new_api or values["api"] is None:
            pairs.append(((existing.get("api") or {}).get("oauth2PermissionScopes"),
                          new_api.get("oauth2PermissionScopes")))
    for old, new in pairs:
        kept = {str(e.get("id")) for e in new or [] if isinstance(e, dict)}
        for entry in old or []:
            if entry.get("isEnabled", True) and str(entry.get("id")) not in kept:
                raise BadRequest("Property value cannot be deleted or updated unless it is "
                                 "disabled first.", code="CannotDeleteOrUpdateEnabledEntitlement")


# ----- delegated permission grants ----------------------------------------------------------

def check_grant(tenant: Tenant, values: Json) -> None:
    """oauth2PermissionGrant create: consentType decides whether principalId is set.

    "principalId: The id of the user on behalf of whom the client is authorized to access the
    resource, when consentType is Principal. If consentType is AllPrincipals this value is
    null. Required when consentType is Principal."
    https://learn.microsoft.com/graph/api/resources/oauth2permissiongrant
    """
    consent = values.get("consentType")
    if consent not in ("AllPrincipals", "Principal"):
        raise BadRequest("Property 'consentType' must be 'AllPrincipals' or 'Principal'.")
    principal = values.get("principalId")
    if consent == "Principal":
        if not isinstance(principal, str) or principal not in tenant.stores["users"]:
            raise BadRequest("Property 'principalId' must name an existing user when "
                             "consentType is 'Principal'.")
    elif principal is not None:
        raise BadRequest("Property 'principalId' must be null when consentType is "
                         "'AllPrincipals'.")
    for name in ("clientId", "resourceId"):
        if str(values.get(name)) not in tenant.stores["servicePrincipals"]:
            raise BadRequest(f"Property '{name}' must name an existing service principal.")


# ----- conditional access -------------------------------------------------------------------

def merge_conditions(existing: Json, values: Json) -> None:
    """PATCH of a policy merges `conditions` into the stored set (the documented example sends
    only `conditions.signInRiskLevels` and the policy keeps its users and applications);
    https://learn.microsoft.com/graph/api/conditionalaccesspolicy-update"""
    given = values.get("conditions")
    if isinstance(given, dict) and isinstance(existing.get("conditions"), dict):
        values["conditions"] = _deep_merge(existing["conditions"], given)


def _deep_merge(old: Json, new: Json) -> Json:
    out = dict(old)
    for key, value in new.items():
        current = out.get(key)
        out[key] = (_deep_merge(current, value) if isinstance(value, dict)
                    and isinstance(current, dict) else value)
    return out


def check_policy_locations(tenant: Tenant, conditions: Any) -> None:
    """A policy may name only existing named locations (or All / AllTrusted)."""
    locations = conditions.get("locations") if isinstance(conditions, dict) else None
    if not isinstance(locations, dict):
        return
    for key in ("includeLocations", "excludeLocations"):
        for location in locations.get(key) or []:
            if location not in _LOCATION_KEYWORDS and (
                    location not in tenant.stores["namedLocations"]):
                raise BadRequest(f"The named location '{location}' in conditions.locations."
                                 f"{key} does not exist.")


def check_location_unused(tenant: Tenant, location_id: str) -> None:
    """A named location a live policy still names cannot be deleted."""
    for _, policy in tenant.stores["conditionalAccessPolicies"].scan():
        locations = (policy.get("conditions") or {}).get("locations") or {}
        if location_id in (locations.get("includeLocations") or []) + (
                locations.get("excludeLocations") or []):
            raise BadRequest(f"The named location '{location_id}' is referenced by the "
                             f"conditional access policy '{policy['id']}' and cannot be "
                             "deleted.")
