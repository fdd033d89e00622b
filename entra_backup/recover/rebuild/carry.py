"""What each snapshot object becomes in the new tenant, and what cannot be carried. Pure.

An exception is `{"reason", "detail", "covers"}`: `covers` names the properties or links the
verification diff may find different because of it (`*`: the whole object is not carried).
Nothing is guessed: an object that cannot be made faithfully is reported and left out, and
links and references to it are dropped and reported on their holder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from entra_backup.kinds import Kind
from entra_backup.recover.rebuild.rewrite import Move, upn_domain
from entra_backup.types import Json

MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # owner of first-party apps
REPORT_ONLY = "enabledForReportingButNotEnforced"
# directory extension attributes (`extension_{appId}_{name}`) belong to an app of the old
# tenant; the new tenant has no such attribute until the app and its extension are remade
_EXTENSION_ATTRIBUTE = re.compile(r"\.extension_[0-9a-fA-F]{32}_\w+")
# properties whose strings embed an app's own appId (`api://{appId}`): written after create
EMBEDDED = {"applications": ("identifierUris",), "servicePrincipals": ("servicePrincipalNames",)}
NOT_REBUILT = frozenset({"agentIdentityBlueprints", "agentIdentityBlueprintPrincipals",
                         "agentIdentities", "agentUsers"})


def exception(reason: str, detail: str, *covers: str) -> Json:
    return {"reason": reason, "detail": detail, "covers": list(covers)}


@dataclass
class Target:
    """What the new tenant already has: verified domains and its service principals."""

    tenant_id: str
    verified_domains: set[str]
    sp_by_app_id: dict[str, str] = field(default_factory=dict)


@dataclass
class Verdict:
    """One object's fate: carried (created or mapped) or not, with its exceptions."""

    carried: bool
    exceptions: list[Json] = field(default_factory=list)
    maps_to: str | None = None  # an object that already exists in the new tenant


def verdict(kind: Kind, obj: Json, move: Move, target: Target, own_app_ids: set[str],
            unmapped: set[str]) -> Verdict:
    """Decide one object. `unmapped` collects UPN domains neither mapped nor verified in the
    target: the caller refuses the whole rebuild if it is not empty."""
    if kind.name in NOT_REBUILT:
        return Verdict(False, [exception("agent_id", "Agent IDs are not rebuilt: create the "
                                         "blueprint and its agents again", "*")])
    synced = bool(kind.synced_flag and obj.get(kind.synced_flag))
    if synced:
        return Verdict(False, [exception(
            "synced_from_on_premises", "synced from on-premises AD: the new tenant has no "
            "on-premises link; connect sync there instead", "*")])
    if kind.name == "users":
        return _user(obj, move, target, unmapped)
    if kind.name == "groups":
        return _group(obj)
    if kind.name == "servicePrincipals":
        return _service_principal(obj, target, own_app_ids)
    if kind.name == "applications":
        return Verdict(True, _credentials(obj))
    return Verdict(True)


def _user(obj: Json, move: Move, target: Target, unmapped: set[str]) -> Verdict:
    upn = str(obj.get("userPrincipalName") or "")
    if obj.get("userType") == "Guest" or "#EXT#" in upn.upper():
        return Verdict(False, [exception("guest", "a guest: invite them again to the new "
                                         "tenant (invitations)", "*")])
    domain = upn_domain(obj) or ""
    new_domain = move.domains.domain(domain)
    if new_domain.lower() not in target.verified_domains:
        if domain in move.domains.pairs:
            return Verdict(False, [exception(
                "unverified_domain", f"the domain map sends {domain} to {new_domain}, which "
                "is not verified in the new tenant", "*")])
        unmapped.add(domain)
        return Verdict(False)
    found = [exception("password", "created disabled with a generated password nobody "
                       "knows: reset the password, then enable the account",
                       "accountEnabled")]
    if obj.get("assignedLicenses"):
        found.append(exception("licences", f"{len(obj['assignedLicenses'])} licence(s) not "
                               "assigned: the new tenant has its own subscriptions",
                               "assignedLicenses"))
    return Verdict(True, found)


def _group(obj: Json) -> Verdict:
    types = obj.get("groupTypes") or []
    if obj.get("mailEnabled") and "Unified" not in types:
        return Verdict(False, [exception(
            "mail_enabled_group", "a mail-enabled security group or distribution list: "
            "Exchange manages it; create it there", "*")])
    rule = str(obj.get("membershipRule") or "")
    if "DynamicMembership" in types:
        if _EXTENSION_ATTRIBUTE.search(rule):
            return Verdict(False, [exception(
                "dynamic_rule_attribute", "its membership rule uses directory extension "
                "attributes the new tenant lacks", "*")])
        return Verdict(True, [exception("dynamic_membership", "members are computed by the "
                                        "new tenant from the rule", "members")])
    return Verdict(True)


def _service_principal(obj: Json, target: Target, own_app_ids: set[str]) -> Verdict:
    app_id = str(obj.get("appId") or "")
    if app_id in own_app_ids:
        return Verdict(True, _credentials(obj))
    existing = target.sp_by_app_id.get(app_id)
    if existing is not None:
        return Verdict(True, maps_to=existing)
    if obj.get("appOwnerOrganizationId") == MICROSOFT_TENANT:
        return Verdict(False, [exception("first_party_missing", "a Microsoft app the new "
                                         "tenant does not have yet", "*")])
    return Verdict(False, [exception("third_party_app", "an app of another organization: "
                                     "consent to it again in the new tenant", "*")])


def _credentials(obj: Json) -> list[Json]:
    found = []
    if obj.get("passwordCredentials"):
        found.append(exception("secrets", f"{len(obj['passwordCredentials'])} client "
                               "secret(s) cannot be carried: issue new ones (addPassword)",
                               "passwordCredentials"))
    if obj.get("keyCredentials"):
        found.append(exception("certificates", f"{len(obj['keyCredentials'])} certificate(s)"
                               " not carried: upload the public keys again", "keyCredentials"))
    return found


def ca_policy(obj: Json, carried: set[str], app_ids: set[str],
              first_party: set[str]) -> tuple[Json, list[Json]]:
    """A CA policy for the new tenant: report-only, references to objects not carried
    dropped (and reported). Ids are mapped later, by the executor."""
    out = dict(obj)
    found: list[Json] = []
    if out.get("state") == "enabled":
        out["state"] = REPORT_ONLY
        found.append(exception("report_only", "created report-only: review, then enable",
                               "state"))
    conditions = _copy(out.get("conditions") or {})
    dropped = 0
    for section, key in _REFERENCE_LISTS:
        values = (conditions.get(section) or {}).get(key)
        if not isinstance(values, list):
            continue
        keep = [v for v in values if not _is_id(v) or v in carried or v in app_ids
                or v in first_party]
        dropped += len(values) - len(keep)
        if len(keep) != len(values) and key.startswith("include") and not keep:
            keep = ["None"]
        conditions[section][key] = keep
    out["conditions"] = conditions
    if dropped:
        found.append(exception("dropped_references", f"{dropped} reference(s) to objects not "
                               "carried were removed from the conditions", "conditions"))
    return out, found


_REFERENCE_LISTS = (
    ("users", "includeUsers"), ("users", "excludeUsers"), ("users", "includeGroups"),
    ("users", "excludeGroups"), ("applications", "includeApplications"),
    ("applications", "excludeApplications"), ("locations", "includeLocations"),
    ("locations", "excludeLocations"), ("clientApplications", "includeServicePrincipals"),
    ("clientApplications", "excludeServicePrincipals"),
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _is_id(value: object) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def _copy(conditions: Json) -> Json:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in conditions.items()}


def method_targets(config: Json, carried: set[str]) -> tuple[Json, bool, int]:
    """An authentication method configuration with group targets not carried dropped:
    (config, whether it names groups at all, how many targets were dropped)."""
    out = dict(config)
    names_groups, dropped = False, 0
    for key in ("includeTargets", "excludeTargets"):
        targets = out.get(key)
        if not isinstance(targets, list):
            continue
        keep = []
        for item in targets:
            target_id = item.get("id") if isinstance(item, dict) else None
            if _is_id(target_id) and target_id != "00000000-0000-0000-0000-000000000000":
                names_groups = True
                if target_id not in carried:
                    dropped += 1
                    continue
            keep.append(item)
        out[key] = keep
    return out, names_groups, dropped
