"""Deterministic, streaming synthetic Entra ID tenant (seed items for the Graph simulator).

Why it is built this way:
- Benchmarks need tenants of 10^3..10^6 objects shaped like Graph v1.0 JSON, identical for a
  given (total, random_seed) so runs compare, so all randomness comes from one random.Random.
- generate(1_000_000) must run in constant memory, so no id lists are kept: every id is a hash of
  (seed, kind, index), and everything another object may point at (names, appIds, role ids,
  department, guest/synced flags, manager) is a pure function of the index.
- The simulator loads the stream in one pass and rejects dangling references, so an item is
  yielded only after everything it references (phases below run in dependency order).
- plan_counts() has no seed and must be cheap (benchmarks binary-search it), so per-index counts
  (app role assignments, grants) come from a seedless integer hash (_pick) that repeats every
  _PERIOD indices and is summed with prefix sums, never from the sequential random stream.
"""

import base64
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache, partial
from typing import Any

SeedItem = dict[str, Any]

COLLECTIONS = (
    "organization", "authorizationPolicy", "authenticationMethodsPolicy", "namedLocations",
    "users", "groups", "applications", "servicePrincipals", "conditionalAccessPolicies",
    "appRoleAssignments", "oauth2PermissionGrants",
)
_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z; all timestamps are offsets from it
_M64 = (1 << 64) - 1
_PERIOD = 1009  # per-index count decisions repeat with this period
MS_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"
FIRST_PARTY = (  # (appId, displayName) of Microsoft resource apps; Graph must stay first
    (GRAPH_APP_ID, "Microsoft Graph"),
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"),
    ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"),
    ("cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault"),
    ("797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API"),
    ("c5393580-f805-4401-95e8-94b7a6ef2fc2", "Office 365 Management APIs"),
)
GRAPH_ROLES = (  # real Microsoft Graph application permission ids
    ("df021288-bdef-4463-88db-98f22de89214", "User.Read.All"),
    ("5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All"),
    ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All"),
    ("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All"),
    ("b633e1c5-b582-4048-a93e-9f11b44c7e96", "Mail.Send"),
    ("332a536c-c7ef-4017-ab91-336970924f0d", "Sites.Read.All"),
)
GRAPH_SCOPES = (  # real delegated scope ids; apps request a prefix, grants use the same prefix
    ("e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read"),
    ("37f7f235-527c-4136-accd-4a02d197296e", "openid"),
    ("14dad69e-099b-42c9-810b-d002981feec1", "profile"),
    ("7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "offline_access"),
    ("570282fd-fa5c-430d-a7fd-fc8dc98a9dca", "Mail.Read"),
)
ADMIN_ROLES = (  # role template ids: Global, Privileged Role, Security, Exchange, SharePoint,
    "62e90394-69f5-4237-9190-012177145e10", "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "194ae4cb-b126-40b2-bd5b-6091b380977d", "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
)  # ... User, Conditional Access, Application Administrator
SYNC_ROLE = "d29b2b05-8046-44ba-8758-1e26182fcf32"  # Directory Synchronization Accounts
FIRST = ("Adele", "Alex", "Allan", "Amara", "Ben", "Chloe", "Diego", "Elena", "Emma", "Farah",
         "Grace", "Hana", "Isaac", "Ivan", "Jonas", "Julia", "Kenji", "Lara", "Lee", "Lidia",
         "Lucas", "Maya", "Megan", "Miriam", "Nestor", "Noah", "Olga", "Omar", "Pradeep", "Priya",
         "Quinn", "Raul", "Sara", "Sofia", "Tariq", "Uma", "Victor", "Wei", "Yara", "Zoe")
LAST = ("Vance", "Wilber", "Deyoung", "Okafor", "Patel", "Nguyen", "Garcia", "Muller", "Rossi",
        "Tanaka", "Kowalski", "Silva", "Johansson", "Haddad", "Kim", "Novak", "Dubois", "Schmidt",
        "Lopez", "Brown", "Cohen", "Ivanova", "Singh", "Mensah", "Larsen", "Moreau", "Fischer",
        "Costa", "Sato", "Walsh", "Byrne", "Holt", "Reyes", "Khan", "Weber", "Lindqvist",
        "Adeyemi", "Park", "Chen", "Rahman")
DEPTS = ("Sales", "Marketing", "Finance", "Engineering", "Operations", "Human Resources", "Legal",
         "IT", "Customer Support", "Research", "Procurement", "Facilities")
SITES = (("US", "Seattle", "+1 425 555", "en-US"), ("GB", "London", "+44 20 7946", "en-GB"),
         ("DE", "Munich", "+49 89 3012", "de-DE"), ("FR", "Paris", "+33 1 7091", "fr-FR"),
         ("IN", "Bengaluru", "+91 80 4140", "en-IN"), ("JP", "Tokyo", "+81 3 4510", "ja-JP"),
         ("BR", "Sao Paulo", "+55 11 3090", "pt-BR"), ("AU", "Sydney", "+61 2 8090", "en-AU"))
TITLES = ("Analyst", "Specialist", "Engineer", "Coordinator", "Consultant", "Associate",
          "Senior Analyst", "Administrator", "Advisor", "Lead")
TOPICS = ("Project Phoenix", "VPN Users", "Budget 2026", "Onboarding", "Leadership", "Audit",
          "Partners", "Field Team", "Data Platform", "Release Train", "EMEA", "APAC", "Licensing",
          "Security Champions", "Book Club", "Hackathon", "Contractors", "Printers")
PARTNERS = ("fabrikam.com", "adatum.com", "litware.com", "northwindtraders.com",
            "woodgrovebank.com", "tailspintoys.com")
APP_WORDS = ("Payroll", "Expense", "Timesheet", "Inventory", "Helpdesk", "Procurement", "CRM",
             "Analytics", "Billing", "Onboarding", "Travel", "Learning", "Contracts", "Survey",
             "Wiki", "Forecast", "Ledger", "Reporting")
APP_KINDS = ("Portal", "API", "Sync", "Connector", "Dashboard", "Service", "Automation", "Bot")
AGENT_WORDS = ("Invoice", "Triage", "Scheduling", "Research", "Helpdesk", "Compliance", "Sales",
               "Recruiting", "Knowledge", "Ops")
COUNTRIES = ("CN", "RU", "KP", "IR", "BY", "SY", "CU", "VE", "NG", "PK", "VN", "ID", "TR", "AE",
             "SA", "EG", "UA", "KZ", "MX", "CO")
AUTH_METHODS = ("Fido2", "MicrosoftAuthenticator", "Sms", "Voice", "Email", "SoftwareOath",
                "TemporaryAccessPass", "X509Certificate")
_ALL_EMPLOYEES = '(user.userType -eq "Member")'
_N_DYNAMIC = 1 + len(DEPTS) * len(SITES) + len(DEPTS)  # all-employees, dept+site, dept rules
_GUID_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_GUID_BITS = (0x4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant (as uuid.UUID(version=4))


def _rng_guid(rng: random.Random) -> str:
    """Like uuid.UUID(int=rng.getrandbits(128), version=4), for ids nothing else references."""
    h = f"{rng.getrandbits(128) & _GUID_MASK | _GUID_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _id_space(seed: int, kind: str) -> Callable[[int], str]:
    """GUID of object `index` of `kind`: blake2b(seed, kind, index), so it is never stored."""
    base = hashlib.blake2b(f"graphsim/{seed}/{kind}/".encode(), digest_size=16)
    variant = "89ab"

    def guid(index: int) -> str:
        h = base.copy()
        h.update(index.to_bytes(8, "little"))
        x = h.hexdigest()
        return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{variant[int(x[16], 16) & 3]}{x[17:20]}-{x[20:]}"
    return guid


def _pick(i: int, salt: int, n: int) -> int:
    """Seedless hash of (i, salt) in [0, n): per-index decisions plan_counts() must reproduce."""
    z = ((i + 1) * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 31)) * 0x94D049BB133111EB) & _M64
    return ((z >> 32) * n) >> 32


@lru_cache(maxsize=16384)
def _day(days: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def _ts(ago: int) -> str:
    """ISO 8601 UTC timestamp `ago` seconds before the fixed epoch (negative = future)."""
    days, rem = divmod(_EPOCH - ago, 86400)
    return f"{_day(days)}T{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}Z"


def _sid(guid: str) -> str:
    """Cloud SID the way Entra derives it: S-1-12-1 + the GUID's .NET byte array as 4 uint32."""
    tail = bytes.fromhex(guid[19:23] + guid[24:])
    return (f"S-1-12-1-{int(guid[:8], 16)}-{int(guid[9:13], 16) | int(guid[14:18], 16) << 16}"
            f"-{int.from_bytes(tail[:4], 'little')}-{int.from_bytes(tail[4:], 'little')}")


def _opaque(*guids: str) -> str:
    """Graph-style opaque id (base64url of concatenated GUID bytes, like grant ids)."""
    raw = b"".join(bytes.fromhex(g.replace("-", "")) for g in guids)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _name(i: int) -> tuple[str, str, str]:
    """Unique (given, surname, mailNickname) of plain user i: permuted name grid, then 2, 3..."""
    grid = len(FIRST) * len(LAST)
    block, k = divmod(i, grid)
    p = (k * 1009 + 17) % grid
    given, sur = FIRST[p % len(FIRST)], LAST[p // len(FIRST)]
    return given, sur, f"{given}.{sur}{block + 1 if block else ''}".lower()


def _is_guest(i: int) -> bool:
    return i % 33 == 6  # ~3 %; 33 shares no factor with the 96-user department/site grid


def _is_synced(i: int) -> bool:
    return i % 10 == 3 and not _is_guest(i)  # ~10 %


def _manager(i: int) -> int:
    m = (i - 1) >> 3  # tree fan-out 8, always an earlier user; guests manage nobody
    return m - 1 if _is_guest(m) else m


def _app_name(a: int) -> str:
    return f"{APP_WORDS[_pick(a, 9, len(APP_WORDS))]} {APP_KINDS[_pick(a, 10, len(APP_KINDS))]}"


def _agent_name(k: int) -> str:
    return f"{AGENT_WORDS[k % len(AGENT_WORDS)]} Agent {k + 1}"


def _app_shape(a: int) -> tuple[int, int, int, int, int, bool]:
    """(app roles, user assignments, Graph app permissions, delegated scopes, grants, whether
    the one grant is tenant-wide admin consent) of app a.

    Periodic in a (period 1009) so plan_counts() sums it in O(1) via prefix sums."""
    a %= _PERIOD
    roles, users, perms = _pick(a, 1, 4), _pick(a, 2, 6), _pick(a, 3, 4)
    scopes = 0 if _pick(a, 4, 4) == 0 else 2 + _pick(a, 12, 4)
    admin = _pick(a, 5, 2) == 0
    grants = 0 if not scopes else 1 if admin else 1 + _pick(a, 11, 3)
    return roles, users, perms, scopes, grants, admin


def _group_assigned(g: int) -> bool:
    return _pick(g % _PERIOD, 6, 25) == 0  # ~4 % of groups hold an app role


def _agent_assigned(k: int) -> bool:
    return _pick(k % _PERIOD, 7, 2) == 0  # half the agent identities hold a Graph app role


_PER_INDEX: dict[str, Callable[[int], int]] = {
    "assignments": lambda a: _app_shape(a)[1] + _app_shape(a)[2],
    "grants": lambda a: _app_shape(a)[4],
    "group": lambda g: int(_group_assigned(g)), "agent": lambda k: int(_agent_assigned(k)),
}


@lru_cache(maxsize=8)
def _prefix(kind: str) -> tuple[int, ...]:
    out, acc = [0], 0
    for i in range(_PERIOD):
        acc += _PER_INDEX[kind](i)
        out.append(acc)
    return tuple(out)


def _total(kind: str, n: int) -> int:
    """Sum of a periodic per-index count over indices [0, n)."""
    full, rest = divmod(n, _PERIOD)
    return full * _prefix(kind)[-1] + _prefix(kind)[rest]


@dataclass(frozen=True)
class _Plan:
    named_locations: int = 0
    ca: int = 0
    users: int = 0  # plain users (members and guests)
    agent_users: int = 0
    groups: int = 0
    apps: int = 0  # plain applications
    blueprints: int = 0
    agent_ids: int = 0


@lru_cache(maxsize=64)
def _plan(total: int) -> _Plan:
    """Collection sizes; below 100 the tenant is bare (the three singletons and Microsoft's
    first-party service principals only)."""
    if total < 0:
        raise ValueError("total must be >= 0")
    if total < 100:
        return _Plan()
    nl, ca = min(max(4, total // 10_000), 150), min(max(5, total // 2000), 200)
    rest = total - 3 - nl - ca
    groups, apps_all, bps = rest // 10, rest * 4 // 100, max(1, rest // 20_000)
    agent_ids = max(2, rest // 400)
    agent_users = agent_ids // 2
    users_all = rest - groups - apps_all - (len(FIRST_PARTY) + apps_all + agent_ids)
    return _Plan(nl, ca, users_all - agent_users, agent_users, groups, apps_all - bps, bps,
                 agent_ids)


def plan_counts(total: int) -> dict[str, int]:
    """Exact number of objects per collection that generate(total) yields, for any seed."""
    p = _plan(total)
    return {
        "organization": 1, "authorizationPolicy": 1, "authenticationMethodsPolicy": 1,
        "namedLocations": p.named_locations, "users": p.users + p.agent_users,
        "groups": p.groups, "applications": p.apps + p.blueprints,
        "servicePrincipals": len(FIRST_PARTY) + p.apps + p.blueprints
        + p.agent_ids,
        "conditionalAccessPolicies": p.ca,
        "appRoleAssignments": _total("assignments", p.apps) + _total("group", p.groups)
        + _total("agent", p.agent_ids),
        "oauth2PermissionGrants": _total("grants", p.apps),
    }


def generate(total: int, *, random_seed: int = 0,
             tenant_id: str | None = None) -> Iterator[SeedItem]:
    """Stream the seed items of a tenant of ~`total` objects (see plan_counts) in load order.

    Items are {"collection": C, "object": {...}} or {"link": L, "source": id, "target": id};
    each references only ids yielded before it. Same (total, random_seed) -> identical stream.
    """
    return _Tenant(total, random_seed, tenant_id).items()


def _obj(collection: str, obj: dict[str, Any]) -> SeedItem:
    return {"collection": collection, "object": obj}


class _Tenant:
    """One generation run: the plan, the single rng, the id spaces and index-derived facts."""

    def __init__(self, total: int, seed: int, tenant_id: str | None) -> None:
        self.p, self.seed, self.rng = _plan(total), seed, random.Random(seed)
        ids = partial(_id_space, seed)
        self.user, self.agent_user, self.group = ids("user"), ids("agentUser"), ids("group")
        self.app, self.app_id, self.sp = ids("application"), ids("appId"), ids("sp")
        self.bp, self.bp_app_id, self.bp_sp = ids("blueprint"), ids("blueprintAppId"), ids("bpsp")
        self.agent, self.fp_sp, self.location = ids("agentIdentity"), ids("fpsp"), ids("location")
        self.role, self.scope, self.ca_id = ids("appRole"), ids("scope"), ids("ca")
        self.assignment = ids("assignment")
        self.n_assign = 0
        self.tenant = tenant_id or ids("tenant")(0)
        self.domain = f"contoso{seed}.onmicrosoft.com"
        self.ad_domain = f"corp.contoso{seed}.com"
        self.domain_sid = "S-1-5-21-" + "-".join(str(self.rng.getrandbits(31)) for _ in range(3))

    def items(self) -> Iterator[SeedItem]:
        for phase in (self._org, self._locations, self._users, self._first_party, self._apps,
                      self._agents, self._groups, self._auth_methods, self._ca):
            yield from phase()

    # -- helpers -------------------------------------------------------------------------------
    def _person(self) -> int:
        """A random non-guest plain user index (owners, sponsors, CA targets)."""
        i = int(self.rng.random() * self.p.users)
        return i - 1 if _is_guest(i) else i

    def _people(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            i = self._person()
            if i not in out:
                out.append(i)
        return out

    def _ago(self, lo_days: float, hi_days: float) -> int:
        return int((lo_days + (hi_days - lo_days) * self.rng.random()) * 86400)

    def _assign(self, role: str, pid: str, ptype: str, pname: str, rid: str,
                rname: str) -> SeedItem:
        self.n_assign += 1
        return _obj("appRoleAssignments", {
            "id": _opaque(pid, self.assignment(self.n_assign)), "appRoleId": role,
            "createdDateTime": _ts(self._ago(1, 900)), "principalDisplayName": pname,
            "principalId": pid, "principalType": ptype, "resourceDisplayName": rname,
            "resourceId": rid})

    def _creds(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Credential metadata only: Graph never returns secretText after addPassword."""
        r, pw, keys = self.rng.random, [], []
        for n in range(int(r() * 3)):
            start = self._ago(0, 700)
            pw.append({"displayName": f"{name} secret {n + 1}",
                       "hint": f"{self.rng.getrandbits(12):03x}", "keyId": _rng_guid(self.rng),
                       "endDateTime": _ts(start - 63072000), "startDateTime": _ts(start)})
        if r() < 0.25:
            start = self._ago(0, 300)
            keys.append({"customKeyIdentifier": f"{self.rng.getrandbits(160):040X}",
                         "displayName": f"CN={name}", "endDateTime": _ts(start - 31536000),
                         "keyId": _rng_guid(self.rng), "startDateTime": _ts(start),
                         "type": "AsymmetricX509Cert", "usage": "Verify"})
        return {"keyCredentials": keys, "passwordCredentials": pw}

    # -- phases --------------------------------------------------------------------------------
    def _org(self) -> Iterator[SeedItem]:
        r, dom = self.rng.random, self.domain
        yield _obj("organization", {
            "id": self.tenant, "displayName": f"Contoso {self.seed}", "tenantType": "AAD",
            "createdDateTime": _ts(self._ago(2500, 3500)), "businessPhones": ["+1 425 555 0100"],
            "city": "Redmond", "state": "WA", "street": "1 Contoso Way", "postalCode": "98052",
            "countryLetterCode": "US", "preferredLanguage": "en",
            "marketingNotificationEmails": [], "securityComplianceNotificationPhones": [],
            "securityComplianceNotificationMails": [f"secops@{dom}"],
            "technicalNotificationMails": [f"it-admin@{dom}"],
            "privacyProfile": {"contactEmail": f"privacy@{dom}",
                               "statementUrl": "https://www.contoso.com/privacy"},
            **({"onPremisesSyncEnabled": True, "onPremisesLastSyncDateTime": _ts(
                self._ago(0, 0.02))} if self.p.users > 3 else {}),  # user 3 is synced
            "verifiedDomains": [
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                 "isInitial": True, "name": dom, "type": "Managed"},
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": False,
                 "isInitial": False, "name": f"contoso{self.seed}.com", "type": "Managed"}]})
        yield _obj("authorizationPolicy", {
            "id": "authorizationPolicy", "displayName": "Authorization Policy",
            "description": "Used to manage authorization related settings across the company.",
            "allowInvitesFrom": ("everyone", "adminsAndGuestInviters")[r() < 0.5],
            "allowedToSignUpEmailBasedSubscriptions": r() < 0.5, "allowedToUseSSPR": True,
            "allowEmailVerifiedUsersToJoinOrganization": False,
            "allowUserConsentForRiskyApps": False, "blockMsolPowerShell": r() < 0.6,
            "guestUserRoleId": ("10dae51f-b6af-4016-8d66-8c2a99b929b3",
                                "2af84b1e-32c8-42b7-82bc-daa82404023b")[r() < 0.3],
            "defaultUserRolePermissions": {
                "allowedToCreateApps": r() < 0.3, "allowedToCreateSecurityGroups": r() < 0.5,
                "allowedToCreateTenants": False, "allowedToReadOtherUsers": True,
                "allowedToReadBitlockerKeysForOwnedDevice": True,
                "permissionGrantPoliciesAssigned": [
                    "ManagePermissionGrantsForSelf.microsoft-user-default-low"]}})

    def _locations(self) -> Iterator[SeedItem]:
        r = self.rng.random
        for k in range(self.p.named_locations):
            created = self._ago(30, 1500)
            obj: dict[str, Any] = {"id": self.location(k), "createdDateTime": _ts(created),
                                   "modifiedDateTime": _ts(int(created * r()))}
            if k % 3 == 2:  # CA policies find country locations by this index rule
                obj = {"@odata.type": "#microsoft.graph.countryNamedLocation", **obj,
                       "displayName": f"Blocked countries {k // 3 + 1}",
                       "countriesAndRegions": sorted(self.rng.sample(COUNTRIES, 2 + int(r() * 6))),
                       "includeUnknownCountriesAndRegions": r() < 0.3,
                       "countryLookupMethod": "clientIpAddress"}
            else:
                ranges = [{"@odata.type": "#microsoft.graph.iPv4CidrRange",
                           "cidrAddress": f"{(40, 52, 104, 131, 157, 203)[int(r() * 6)]}."
                                          f"{int(r() * 256)}.{int(r() * 256)}.0/24"}
                          for _ in range(1 + int(r() * 4))]
                if r() < 0.3:
                    ranges.append({"@odata.type": "#microsoft.graph.iPv6CidrRange",
                                   "cidrAddress": f"2001:db8:{k:x}::/48"})
                obj = {"@odata.type": "#microsoft.graph.ipNamedLocation", **obj,
                       "displayName": "Corporate HQ" if k == 0 else f"Office network {k}",
                       "isTrusted": k == 0 or r() < 0.5, "ipRanges": ranges}
            yield _obj("namedLocations", obj)

    def _users(self) -> Iterator[SeedItem]:
        r, n, uid, dom, ad = self.rng.random, self.p.users, self.user, self.domain, self.ad_domain
        span = 8 * 365 * 86400
        for i in range(n):
            given, sur, nick = _name(i)
            x, ago = uid(i), (n - i) * span // n + int(r() * 3600)
            if _is_guest(i):
                partner = PARTNERS[i % len(PARTNERS)]
                mail, ext = f"{nick}@{partner}", f"{nick}_{partner}#EXT#"
                yield _obj("users", {
                    "id": x, "displayName": f"{given} {sur}", "givenName": given, "surname": sur,
                    "userPrincipalName": f"{ext}@{dom}", "mail": mail, "mailNickname": ext,
                    "otherMails": [mail], "proxyAddresses": [f"SMTP:{mail}"],
                    "accountEnabled": True, "companyName": partner.split(".")[0].title(),
                    "businessPhones": [], "createdDateTime": _ts(ago), "userType": "Guest",
                    "creationType": "Invitation", "securityIdentifier": _sid(x),
                    "externalUserState": ("Accepted", "PendingAcceptance")[r() < 0.1],
                    "externalUserStateChangeDateTime": _ts(int(ago * r()))})
                continue
            country, city, phone, lang = SITES[(i // 12) % len(SITES)]
            dept, upn = DEPTS[i % 12], f"{nick}@{dom}"
            title = ("Director" if i < n // 64 else "Manager" if i < n // 8
                     else TITLES[int(r() * 10)])
            u: dict[str, Any] = {
                "id": x, "displayName": f"{given} {sur}", "givenName": given, "surname": sur,
                "userPrincipalName": upn, "mail": upn, "mailNickname": nick,
                "proxyAddresses": [f"SMTP:{upn}"], "accountEnabled": r() > 0.03,
                "jobTitle": f"{dept} {title}", "department": dept, "companyName": "Contoso",
                "employeeId": str(100000 + i), "employeeType": ("Employee", "Contractor")[r() < .1],
                "officeLocation": f"{city} {1 + int(r() * 5)}/{100 + int(r() * 400)}",
                "city": city, "country": country, "usageLocation": country,
                "businessPhones": [f"{phone} {int(r() * 10000):04d}"], "preferredLanguage": lang,
                "createdDateTime": _ts(ago), "userType": "Member"}
            if r() < 0.6:
                u["mobilePhone"] = f"{phone.split()[0]} {int(r() * 1e9):09d}"
            if _is_synced(i):
                u["securityIdentifier"] = u["onPremisesSecurityIdentifier"] = \
                    f"{self.domain_sid}-{1100 + i}"
                u.update({
                    "onPremisesSyncEnabled": True, "onPremisesDomainName": ad,
                    "onPremisesImmutableId": base64.b64encode(bytes.fromhex(
                        x.replace("-", ""))).decode(),
                    "onPremisesSamAccountName": nick[:20], "onPremisesUserPrincipalName": upn,
                    "onPremisesDistinguishedName": f"CN={given} {sur},OU={dept},OU=Users,"
                                                   f"DC={ad.replace('.', ',DC=')}",
                    "onPremisesLastSyncDateTime": _ts(int(r() * 1800))})
            else:
                u["securityIdentifier"] = _sid(x)
            yield _obj("users", u)
            if i:
                yield {"link": "manager", "source": x, "target": uid(_manager(i))}

    def _first_party(self) -> Iterator[SeedItem]:
        """Microsoft's resource apps: every tenant has their service principals, a bare one
        too (the Graph SP is what app role assignments and consent grants point at)."""
        for k, (app_id, name) in enumerate(FIRST_PARTY):
            graph = app_id == GRAPH_APP_ID
            yield _obj("servicePrincipals", {
                "id": self.fp_sp(k), "accountEnabled": True, "appDisplayName": name,
                "appId": app_id, "appOwnerOrganizationId": MS_TENANT, "displayName": name,
                "appRoleAssignmentRequired": False,
                "servicePrincipalNames": [app_id], "servicePrincipalType": "Application",
                "signInAudience": "AzureADMultipleOrgs", "tags": [],
                "appRoles": [{"allowedMemberTypes": ["Application"], "id": rid, "value": v,
                              "description": f"Allows {v}.", "displayName": v, "isEnabled": True,
                              "origin": "Application"} for rid, v in GRAPH_ROLES] if graph else [],
                "oauth2PermissionScopes": [
                    {"adminConsentDescription": f"Allows {v}.", "adminConsentDisplayName": v,
                     "id": sid, "isEnabled": True, "type": "User", "value": v,
                     "userConsentDescription": f"Allows {v}.", "userConsentDisplayName": v}
                    for sid, v in GRAPH_SCOPES] if graph else []})

    def _apps(self) -> Iterator[SeedItem]:
        r, tenant, graph_sp = self.rng.random, self.tenant, self.fp_sp(0)
        for a in range(self.p.apps):
            n_roles, n_users, n_perms, n_scopes, n_grants, admin = _app_shape(a)
            oid, app_id, sp_id, name = self.app(a), self.app_id(a), self.sp(a), _app_name(a)
            audience = ("AzureADMyOrg", "AzureADMultipleOrgs")[r() < 0.15]
            is_api, created = r() < 0.35, self._ago(1, 2500)
            uris = [f"api://{app_id}"] if is_api else []
            redirects = [f"https://{name.lower().replace(' ', '-')}{a}.contoso.com/signin-oidc"]
            roles = [{"allowedMemberTypes": ["User"], "description": f"{v} access to {name}",
                      "displayName": v, "id": self.role(a * 4 + j), "isEnabled": True,
                      "origin": "Application", "value": v}
                     for j, v in enumerate(("Reader", "Contributor", "Approver")[:n_roles])]
            scopes = [{"adminConsentDescription": f"Access {name} as the signed-in user",
                       "adminConsentDisplayName": f"Access {name}", "id": self.scope(a),
                       "isEnabled": True, "type": "User", "value": "access_as_user",
                       "userConsentDescription": f"Access {name} on your behalf",
                       "userConsentDisplayName": f"Access {name}"}] if is_api else []
            start = _pick(a, 13, len(GRAPH_ROLES))
            perms = [GRAPH_ROLES[(start + j) % len(GRAPH_ROLES)] for j in range(n_perms)]
            access = [{"id": sid, "type": "Scope"} for sid, _ in GRAPH_SCOPES[:n_scopes]]
            access += [{"id": rid, "type": "Role"} for rid, _ in perms]
            yield _obj("applications", {
                "id": oid, "appId": app_id, "displayName": name, "createdDateTime": _ts(created),
                "description": f"{name} line-of-business app", "signInAudience": audience,
                "publisherDomain": self.domain, "identifierUris": uris,
                "tags": ["HideApp"] if r() < 0.05 else [], "appRoles": roles,
                "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": scopes,
                        "knownClientApplications": [], "preAuthorizedApplications": []},
                "web": {"homePageUrl": redirects[0].rsplit("/", 1)[0], "redirectUris": redirects,
                        "implicitGrantSettings": {"enableAccessTokenIssuance": False,
                                                  "enableIdTokenIssuance": r() < 0.3}},
                "spa": {"redirectUris": []}, "publicClient": {"redirectUris": []},
                "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID,
                                            "resourceAccess": access}] if access else [],
                **self._creds(name)})
            for i in self._people(1 + (r() < 0.4)):
                yield {"link": "owners", "source": oid, "target": self.user(i)}
            if a and r() < 0.05:  # automation SP of an earlier app co-owns this one
                yield {"link": "owners", "source": oid, "target": self.sp(int(r() * a))}
            yield _obj("servicePrincipals", {
                "id": sp_id, "accountEnabled": r() > 0.02, "appDisplayName": name,
                "appId": app_id, "appOwnerOrganizationId": tenant, "displayName": name,
                "appRoleAssignmentRequired": r() < 0.3, "appRoles": [dict(x) for x in roles],
                "oauth2PermissionScopes": [dict(x) for x in scopes], "replyUrls": redirects,
                "servicePrincipalNames": [app_id, *uris], "servicePrincipalType": "Application",
                "signInAudience": audience, "tags": ["WindowsAzureActiveDirectoryIntegratedApp"]})
            if r() < 0.5:
                yield {"link": "owners", "source": sp_id, "target": self.user(self._person())}
            for j, i in enumerate(self._people(n_users)):
                given, sur, _ = _name(i)
                role = str(roles[j % n_roles]["id"]) if n_roles else DEFAULT_ACCESS
                yield self._assign(role, self.user(i), "User", f"{given} {sur}", sp_id, name)
            for rid, _ in perms:
                yield self._assign(rid, sp_id, "ServicePrincipal", name, graph_sp,
                                   "Microsoft Graph")
            scope = " ".join(v for _, v in GRAPH_SCOPES[:n_scopes])
            if n_grants and admin:
                yield _obj("oauth2PermissionGrants", {
                    "id": _opaque(sp_id, graph_sp), "clientId": sp_id,
                    "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": scope})
            elif n_grants:
                for i in self._people(n_grants):
                    uid = self.user(i)
                    yield _obj("oauth2PermissionGrants", {
                        "id": _opaque(sp_id, graph_sp, uid), "clientId": sp_id,
                        "consentType": "Principal", "principalId": uid, "resourceId": graph_sp,
                        "scope": scope})

    def _agents(self) -> Iterator[SeedItem]:
        """Blueprint -> blueprint principal -> agent identities -> agent users (create order)."""
        r, p, graph_sp = self.rng.random, self.p, self.fp_sp(0)
        for b in range(p.blueprints):
            oid, app_id = self.bp(b), self.bp_app_id(b)
            name, created = f"{AGENT_WORDS[b % len(AGENT_WORDS)]} Agent Blueprint {b + 1}", \
                self._ago(1, 300)
            yield _obj("applications", {
                "@odata.type": "#microsoft.graph.agentIdentityBlueprint", "id": oid,
                "appId": app_id, "displayName": name, "createdDateTime": _ts(created),
                "signInAudience": "AzureADMyOrg", "publisherDomain": self.domain,
                "identifierUris": [f"api://{app_id}"] if r() < 0.5 else [],
                "tags": ["agent", "blueprint"], **self._creds(name)})
            people = self._people(2)
            yield {"link": "owners", "source": oid, "target": self.user(people[0])}
            for i in people[: 1 + (r() < 0.5)]:
                yield {"link": "sponsors", "source": oid, "target": self.user(i)}
            yield _obj("servicePrincipals", {
                "@odata.type": "#microsoft.graph.agentIdentityBlueprintPrincipal",
                "id": self.bp_sp(b), "accountEnabled": True, "appDisplayName": name,
                "appId": app_id, "appOwnerOrganizationId": self.tenant, "displayName": name,
                "servicePrincipalType": "Application", "tags": ["agent", "blueprint"]})
        for k in range(p.agent_ids):
            aid, bp_app = self.agent(k), self.bp_app_id(k % p.blueprints)
            yield _obj("servicePrincipals", {
                "@odata.type": "#microsoft.graph.agentIdentity", "id": aid,
                "accountEnabled": r() > 0.05, "agentIdentityBlueprintId": bp_app,
                "createdByAppId": bp_app, "createdDateTime": _ts(self._ago(0, 200)),
                "displayName": _agent_name(k), "servicePrincipalType": "ServiceIdentity",
                "tags": ["agent", "blueprint"]})
            yield {"link": "sponsors", "source": aid, "target": self.user(self._person())}
            if _agent_assigned(k):
                rid, _ = GRAPH_ROLES[k % 2]
                yield self._assign(rid, aid, "ServicePrincipal", _agent_name(k), graph_sp,
                                   "Microsoft Graph")
        for j in range(p.agent_users):  # 1:1 with agent identity j; no password profile
            xid, sponsor = self.agent_user(j), self.user(self._person())
            slug = f"{AGENT_WORDS[j % len(AGENT_WORDS)].lower()}-agent-{j + 1}"
            yield _obj("users", {
                "@odata.type": "#microsoft.graph.agentUser", "id": xid,
                "displayName": _agent_name(j), "identityParentId": self.agent(j),
                "userPrincipalName": f"{slug}@{self.domain}", "mail": f"{slug}@{self.domain}",
                "mailNickname": slug, "accountEnabled": True, "userType": "Member",
                "jobTitle": "AI agent", "usageLocation": "US", "businessPhones": [],
                "createdDateTime": _ts(self._ago(0, 150))})
            yield {"link": "sponsors", "source": xid, "target": sponsor}
            yield {"link": "manager", "source": xid, "target": sponsor}

    def _rule(self, k: int) -> tuple[str, str, range]:
        """Dynamic rule k (0 = all members, then department+site, then department) and the
        index range of users it matches: department/site are index arithmetic, so the stored
        members are exactly what the rule computes, without scanning users."""
        n = self.p.users
        if k == 0:
            return "All Employees", _ALL_EMPLOYEES, range(n)
        if k <= len(DEPTS) * len(SITES):
            d, s = (k - 1) % len(DEPTS), (k - 1) // len(DEPTS)
            return (f"Dynamic {DEPTS[d]} {SITES[s][1]}",
                    f'(user.department -eq "{DEPTS[d]}") -and '
                    f'(user.usageLocation -eq "{SITES[s][0]}")',
                    range(d + len(DEPTS) * s, n, len(DEPTS) * len(SITES)))
        d = k - 1 - len(DEPTS) * len(SITES)
        return f"All {DEPTS[d]}", f'(user.department -eq "{DEPTS[d]}")', range(d, n, len(DEPTS))

    def _groups(self) -> Iterator[SeedItem]:
        r, rng, p, dom, uid = self.rng.random, self.rng, self.p, self.domain, self.user
        synced_pool, span, dyn = range(3, p.users, 10), 6 * 365 * 86400, 0
        unified: set[int] = set()  # Graph takes no Microsoft 365 group as a member
        for g in range(p.groups):
            gid, u, dept, topic = self.group(g), r(), DEPTS[int(r() * 12)], TOPICS[int(r() * 18)]
            types: list[str] = []
            mail = synced = role = False
            sec, matched, rule = True, range(0), ""
            if g == 0 or (0.40 <= u < 0.45 and dyn < _N_DYNAMIC):
                name, rule, matched = self._rule(dyn)
                dyn += 1
                if dyn % 4 == 0:  # dynamic Microsoft 365 group
                    types, mail, sec = ["DynamicMembership", "Unified"], True, False
                else:
                    types = ["DynamicMembership"]
            elif u < 0.10:
                synced, mail = True, r() < 0.25
                name = f"{('GRP', 'DL')[mail]}_{dept.upper().replace(' ', '_')}_{topic.upper()}"
            elif u < 0.40:
                types, mail, sec = ["Unified"], True, r() < 0.15
                name = f"{dept} {topic}"
            elif u < 0.48:
                mail, name = True, f"MESG-{dept}-{topic}"
            elif u < 0.50:
                role, name = True, f"PRV-{('Helpdesk', 'Security', 'App')[g % 3]}-Admins-{g}"
            else:
                name = f"SG-{dept}-{topic}"
            nick = "".join(ch for ch in name.lower() if ch.isalnum()) + str(g)
            created = (p.groups - g) * span // p.groups + int(r() * 3600)
            obj: dict[str, Any] = {
                "id": gid, "displayName": name, "description": f"{name} group",
                "groupTypes": types, "mailEnabled": mail, "mailNickname": nick,
                "securityEnabled": sec, "createdDateTime": _ts(created),
                "proxyAddresses": [f"SMTP:{nick}@{dom}"] if mail else [],
                "resourceProvisioningOptions": ["Team"] if types and r() < 0.3 else [],
                "securityIdentifier": _sid(gid)}
            if mail:
                obj["mail"] = f"{nick}@{dom}"
            if "Unified" in types:
                unified.add(g)
                obj.update(visibility=("Private", "Public")[r() < 0.4],
                           renewedDateTime=_ts(int(created * r())))
            if rule:
                obj.update(membershipRule=rule, membershipRuleProcessingState="On")
            if role:
                obj["isAssignableToRole"] = True
            if synced:
                obj["securityIdentifier"] = f"{self.domain_sid}-{500000 + g}"
                obj.update(onPremisesSyncEnabled=True, onPremisesDomainName=self.ad_domain,
                           onPremisesNetBiosName="CORP", onPremisesSamAccountName=nick[:64],
                           onPremisesSecurityIdentifier=obj["securityIdentifier"],
                           onPremisesLastSyncDateTime=_ts(int(r() * 1800)))
            yield _obj("groups", obj)
            for i in self._people(1 + (r() < 0.5) + (r() < 0.2)):
                yield {"link": "owners", "source": gid, "target": uid(i)}
            plain_security = not (types or synced or role)
            if plain_security and r() < 0.03:
                yield {"link": "owners", "source": gid, "target": self.sp(int(r() * p.apps))}
            if rule:  # computed membership: exactly the users the rule matches (never agents)
                for i in matched:
                    if not _is_guest(i):
                        yield {"link": "members", "source": gid, "target": uid(i)}
            else:  # heavy tail: Pareto(1.5) from 5, so ~97 % have 5..50 members
                size = min(int(4.0 * (1.0 - r()) ** -0.6667) + 1, 20_000)
                pool = synced_pool if synced else range(p.users)
                for i in rng.sample(pool, min(size, len(pool))):
                    if not (synced and _is_guest(i)):  # synced groups hold synced users only
                        yield {"link": "members", "source": gid, "target": uid(i)}
                extra: list[str] = []
                if plain_security or (mail and not types and not synced):
                    if g and r() < 0.08:  # nesting only points back: no cycles
                        nested = rng.sample(range(g), min(g, 1 + int(r() * 3)))
                        extra += [self.group(j) for j in nested if j not in unified]
                    if r() < 0.03:
                        extra += map(self.sp, rng.sample(range(p.apps), min(p.apps, 2)))
                    if r() < 0.03:
                        extra.append(self.agent(int(r() * p.agent_ids)))
                if not (synced or role) and r() < 0.02:
                    extra.append(self.agent_user(int(r() * p.agent_users)))
                for target in extra:
                    yield {"link": "members", "source": gid, "target": target}
            if _group_assigned(g):
                a = _pick(g, 8, p.apps)
                role_id = self.role(a * 4) if _app_shape(a)[0] else DEFAULT_ACCESS
                yield self._assign(role_id, gid, "Group", name, self.sp(a), _app_name(a))

    def _auth_methods(self) -> Iterator[SeedItem]:
        gs = ([self.group(g) for g in self.rng.sample(range(self.p.groups), 4)]
              if self.p.groups >= 4 else ["all_users"] * 3)

        def target(gid: str, **extra: Any) -> dict[str, Any]:
            return {"targetType": "group", "id": gid, "isRegistrationRequired": False, **extra}

        def feature(state: str) -> dict[str, Any]:
            return {"state": state, "includeTarget": {"targetType": "group", "id": "all_users"},
                    "excludeTarget": {"targetType": "group", "id": DEFAULT_ACCESS}}

        settings: dict[str, dict[str, Any]] = {
            "Fido2": {"state": "enabled", "isAttestationEnforced": True,
                      "isSelfServiceRegistrationAllowed": True, "includeTargets": [target(gs[0])],
                      "keyRestrictions": {"isEnforced": False, "enforcementType": "block",
                                          "aaGuids": []}},
            "MicrosoftAuthenticator": {
                "state": "enabled", "isSoftwareOathEnabled": False,
                "featureSettings": {"displayAppInformationRequiredState": feature("enabled"),
                                    "displayLocationInformationRequiredState": feature("default")},
                "includeTargets": [target("all_users", authenticationMode="any")]},
            "Sms": {"state": "enabled", "includeTargets": [target(gs[1], isUsableForSignIn=False)]},
            "Voice": {"state": "disabled", "isOfficePhoneAllowed": False,
                      "includeTargets": [target("all_users")]},
            "Email": {"state": "enabled", "allowExternalIdToUseEmailOtp": "default",
                      "includeTargets": [{"targetType": "group", "id": "all_users"}]},
            "SoftwareOath": {"state": "disabled", "includeTargets": [target("all_users")]},
            "TemporaryAccessPass": {
                "state": "enabled", "defaultLifetimeInMinutes": 60, "defaultLength": 8,
                "minimumLifetimeInMinutes": 60, "maximumLifetimeInMinutes": 480,
                "isUsableOnce": False, "includeTargets": [target(gs[2])]},
            "X509Certificate": {
                "state": "disabled", "includeTargets": [target("all_users")],
                "certificateUserBindings": [
                    {"x509CertificateField": "PrincipalName", "priority": 1,
                     "userProperty": "onPremisesUserPrincipalName"},
                    {"x509CertificateField": "RFC822Name", "priority": 2,
                     "userProperty": "userPrincipalName"}],
                "authenticationModeConfiguration": {
                    "x509CertificateAuthenticationDefaultMode": "x509CertificateSingleFactor",
                    "rules": []}},
        }
        configs = [{"@odata.type": f"#microsoft.graph.{m[0].lower()}{m[1:]}"
                                   "AuthenticationMethodConfiguration",
                    "id": m, **settings[m], "excludeTargets": []} for m in AUTH_METHODS]
        if len(gs) > 3:
            configs[6]["excludeTargets"] = [{"targetType": "group", "id": gs[3]}]
        yield _obj("authenticationMethodsPolicy", {
            "id": "authenticationMethodsPolicy", "displayName": "Authentication Methods Policy",
            "description": "The tenant-wide policy that controls which authentication methods "
                           "are allowed in the tenant, authentication method registration "
                           "requirements, and self-service password reset settings",
            "lastModifiedDateTime": _ts(self._ago(1, 200)), "policyVersion": "1.5",
            "policyMigrationState": "migrationComplete",
            "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                "snoozeDurationInDays": 1, "state": "default", "excludeTargets": [],
                "includeTargets": [{"id": "all_users", "targetType": "group",
                                    "targetedAuthenticationMethod": "microsoftAuthenticator"}]}},
            "authenticationMethodConfigurations": configs})

    def _ca(self) -> Iterator[SeedItem]:
        """Common CA patterns in rotation; every id they name was yielded earlier."""
        r, rng, p = self.rng.random, self.rng, self.p
        countries = range(2, p.named_locations, 3)
        for c in range(p.ca):
            kind, created, u = c % 8, self._ago(30, 1200), r()
            users: dict[str, list[str]] = {
                "includeUsers": ["All"], "excludeUsers": [self.user(1), self.user(2)],
                "includeGroups": [], "excludeGroups": [], "includeRoles": [],
                "excludeRoles": [SYNC_ROLE]}
            cond: dict[str, Any] = {
                "applications": {"includeApplications": ["All"], "excludeApplications": [],
                                 "includeUserActions": [],
                                 "includeAuthenticationContextClassReferences": []},
                "users": users, "clientAppTypes": ["all"], "signInRiskLevels": [],
                "userRiskLevels": [], "servicePrincipalRiskLevels": []}
            controls, session = ["mfa"], None
            sample_groups = [self.group(g) for g in rng.sample(range(p.groups), 2)]
            if kind == 0:
                name, users["includeUsers"] = "Require MFA for administrators", []
                users["includeRoles"] = list(ADMIN_ROLES[: 3 + int(r() * 6)])
            elif kind == 1:
                name, controls = "Block legacy authentication", ["block"]
                cond["clientAppTypes"] = ["exchangeActiveSync", "other"]
            elif kind == 2:
                name, users["excludeGroups"] = "Require MFA outside trusted locations", \
                    sample_groups[:1]
                cond["locations"] = {"includeLocations": ["All"],
                                     "excludeLocations": ["AllTrusted", self.location(0)]}
            elif kind == 3:
                apps = rng.sample(range(p.apps), min(p.apps, 1 + int(r() * 3)))
                name = f"Require compliant device for {_app_name(apps[0])}"
                cond["applications"]["includeApplications"] = [self.app_id(a) for a in apps]
                users["includeUsers"], users["includeGroups"] = [], sample_groups
                controls = ["compliantDevice", "domainJoinedDevice"]
            elif kind == 4:
                loc = countries[int(r() * len(countries))]
                name, controls = f"Block sign-ins from blocked countries {loc // 3 + 1}", ["block"]
                cond["locations"] = {"includeLocations": [self.location(loc)],
                                     "excludeLocations": []}
            elif kind == 5:
                name = "Require MFA for risky sign-ins"
                cond["signInRiskLevels"] = ["high", "medium"]
                session = {"signInFrequency": {
                    "isEnabled": True, "authenticationType": "primaryAndSecondaryAuthentication",
                    "frequencyInterval": "everyTime"}}
            elif kind == 6:
                name = "Require approved client apps on mobile"
                cond["platforms"] = {"includePlatforms": ["android", "iOS"],
                                     "excludePlatforms": []}
                controls = ["approvedApplication", "compliantApplication"]
                session = {"signInFrequency": {
                    "isEnabled": True, "type": "hours", "value": (4, 8, 12)[int(r() * 3)],
                    "authenticationType": "primaryAndSecondaryAuthentication",
                    "frequencyInterval": "timeBased"}}
            else:
                name = "Pilot - require MFA for selected users"
                users["includeUsers"] = [self.user(i) for i in self._people(1 + int(r() * 5))]
                users["includeGroups"] = sample_groups[1:]
            yield _obj("conditionalAccessPolicies", {
                "id": self.ca_id(c), "displayName": f"CA{c + 1:03d} - {name}",
                "createdDateTime": _ts(created), "modifiedDateTime": _ts(int(created * r())),
                "state": "enabled" if u < 0.7 else "disabled" if u > 0.9
                else "enabledForReportingButNotEnforced",
                "conditions": cond, "sessionControls": session,
                "grantControls": {"operator": "OR", "builtInControls": controls,
                                  "customAuthenticationFactors": [], "termsOfUse": []}})
