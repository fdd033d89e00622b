"""A seeded incident generator: random damage to a graphsim tenant through Graph's HTTP API.

Each operation is what an attacker, a careless admin or a sync engine does: property edits
(deep CA conditions included), soft and hard deletes, creations, membership / owner / manager
changes, new client secrets, app role and grant changes, and edits of synced objects (through
graphsim's sync door, as only Entra Connect can make them). The same seed gives the same
incident on the same synthetic tenant.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from tests.conftest import Sim

Json = dict[str, Any]


class Incident:
    def __init__(self, sim: Sim, seed: int) -> None:
        self.sim, self.rng = sim, random.Random(seed)
        self.log: list[str] = []
        state = sim.state()
        self.objects: dict[str, list[Json]] = state["objects"]
        self.links: list[Json] = state["links"]
        self.domain = self.objects["users"][0]["userPrincipalName"].split("@", 1)[1]

    # ----- picking ----------------------------------------------------------------------

    def _pick(self, collection: str, test: Callable[[Json], bool] = lambda o: True
              ) -> Json | None:
        pool = [o for o in self.objects.get(collection, []) if test(o)
                and not o.get("_gone")]
        return self.rng.choice(pool) if pool else None

    def cloud_user(self) -> Json | None:
        return self._pick("users", lambda u: not u.get("onPremisesSyncEnabled")
                          and "@odata.type" not in u)

    def assigned_group(self) -> Json | None:
        return self._pick("groups", lambda g: not g.get("onPremisesSyncEnabled")
                          and "DynamicMembership" not in (g.get("groupTypes") or [])
                          and not (g.get("mailEnabled")
                                   and "Unified" not in (g.get("groupTypes") or [])))

    def _ok(self, response: Any, what: str) -> bool:
        good = response.status_code < 300
        self.log.append(f"{what}: {response.status_code}")
        return good

    # ----- operations -------------------------------------------------------------------

    def edit_user(self) -> None:
        user = self.cloud_user()
        if user:
            body = self.rng.choice([{"jobTitle": f"Title {self.rng.randrange(99)}"},
                                    {"department": None}, {"accountEnabled": False},
                                    {"officeLocation": "Basement", "city": "Nowhere"}])
            self._ok(self.sim.client.patch(f"/users/{user['id']}", json=body),
                     f"edit user {user['id']} {body}")

    def edit_group(self) -> None:
        group = self.assigned_group()
        if group:
            body = {"description": f"hijacked {self.rng.randrange(99)}"}
            self._ok(self.sim.client.patch(f"/groups/{group['id']}", json=body),
                     f"edit group {group['id']}")

    def edit_app(self) -> None:
        app = self._pick("applications", lambda a: "@odata.type" not in a)
        if app:
            body = self.rng.choice([{"notes": "pwned"}, {"tags": ["evil"]},
                                    {"displayName": f"{app['displayName']} (x)"}])
            self._ok(self.sim.client.patch(f"/applications/{app['id']}", json=body),
                     f"edit app {app['id']}")

    def edit_ca(self) -> None:
        policy = self._pick("conditionalAccessPolicies")
        user = self.cloud_user()
        if not policy or not user:
            return
        conditions = policy["conditions"]
        users = dict(conditions.get("users") or {})
        choice = self.rng.randrange(3)
        if choice == 0:
            users["excludeUsers"] = [*users.get("excludeUsers", []), user["id"]]
            body: Json = {"conditions": {**conditions, "users": users}}
        elif choice == 1:
            body = {"state": "disabled" if policy["state"] != "disabled" else "enabled"}
        else:
            body = {"displayName": policy["displayName"] + " (edited)"}
        self._ok(self.sim.client.patch(f"/identity/conditionalAccess/policies/{policy['id']}",
                                       json=body), f"edit CA {policy['id']} {list(body)}")

    def edit_named_location(self) -> None:
        location = self._pick("namedLocations")
        if location:
            body = {"@odata.type": location["@odata.type"],
                    "displayName": location["displayName"] + " (edited)"}
            self._ok(self.sim.client.patch(
                f"/identity/conditionalAccess/namedLocations/{location['id']}", json=body),
                f"edit location {location['id']}")

    def soft_delete(self) -> None:
        collection = self.rng.choice(["users", "groups", "applications"])
        target = (self.cloud_user() if collection == "users" else self.assigned_group()
                  if collection == "groups" else
                  self._pick("applications", lambda a: "@odata.type" not in a))
        if target and self._ok(self.sim.client.delete(f"/{collection}/{target['id']}"),
                               f"soft-delete {collection} {target['id']}"):
            target["_gone"] = True

    def hard_delete(self) -> None:
        user = self.cloud_user()
        if user and self._ok(self.sim.client.delete(f"/users/{user['id']}"),
                             f"delete user {user['id']}"):
            user["_gone"] = True
            self._ok(self.sim.client.delete(f"/directory/deletedItems/{user['id']}"),
                     f"purge user {user['id']}")

    def create(self) -> None:
        nick = f"intruder{uuid.uuid4().hex[:8]}"
        if self.rng.random() < 0.5:
            body: Json = {"accountEnabled": True, "displayName": nick, "mailNickname": nick,
                          "userPrincipalName": f"{nick}@{self.domain}",
                          "passwordProfile": {"password": "Xy!9" + uuid.uuid4().hex}}
            self._ok(self.sim.client.post("/users", json=body), f"create user {nick}")
        else:
            body = {"displayName": nick, "mailEnabled": False, "mailNickname": nick,
                    "securityEnabled": True}
            self._ok(self.sim.client.post("/groups", json=body), f"create group {nick}")

    def create_ca(self) -> None:
        body = {"displayName": f"Rogue {self.rng.randrange(999)}", "state": "enabled",
                "conditions": {"users": {"includeUsers": ["All"]},
                               "applications": {"includeApplications": ["All"]}},
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}
        self._ok(self.sim.client.post("/identity/conditionalAccess/policies", json=body),
                 "create CA policy")

    def membership(self) -> None:
        group = self.assigned_group()
        user = self.cloud_user()
        if not group or not user:
            return
        members = [link["target"] for link in self.links
                   if link["link"] == "members" and link["source"] == group["id"]]
        if members and self.rng.random() < 0.5:
            target = self.rng.choice(members)
            self._ok(self.sim.client.delete(f"/groups/{group['id']}/members/{target}/$ref"),
                     f"remove member {target} from {group['id']}")
        elif user["id"] not in members:
            ref = {"@odata.id": f"{self.sim.graph}/directoryObjects/{user['id']}"}
            self._ok(self.sim.client.post(f"/groups/{group['id']}/members/$ref", json=ref),
                     f"add member {user['id']} to {group['id']}")

    def owners(self) -> None:
        app = self._pick("applications", lambda a: "@odata.type" not in a)
        user = self.cloud_user()
        if app and user:
            ref = {"@odata.id": f"{self.sim.graph}/directoryObjects/{user['id']}"}
            self._ok(self.sim.client.post(f"/applications/{app['id']}/owners/$ref", json=ref),
                     f"add owner {user['id']} to app {app['id']}")

    def manager(self) -> None:
        user, boss = self.cloud_user(), self.cloud_user()
        if not user or not boss or user is boss:
            return
        if self.rng.random() < 0.3:
            self._ok(self.sim.client.delete(f"/users/{user['id']}/manager/$ref"),
                     f"remove manager of {user['id']}")
        else:
            ref = {"@odata.id": f"{self.sim.graph}/directoryObjects/{boss['id']}"}
            self._ok(self.sim.client.put(f"/users/{user['id']}/manager/$ref", json=ref),
                     f"set manager of {user['id']}")

    def secret(self) -> None:
        app = self._pick("applications", lambda a: "@odata.type" not in a)
        if app:
            self._ok(self.sim.client.post(f"/applications/{app['id']}/addPassword",
                                          json={"passwordCredential": {"displayName": "x"}}),
                     f"add secret to {app['id']}")

    def assignment(self) -> None:
        rows = self.objects.get("appRoleAssignments") or []
        if rows and self.rng.random() < 0.5:
            row = self.rng.choice(rows)
            self._ok(self.sim.client.delete(
                f"/servicePrincipals/{row['resourceId']}/appRoleAssignedTo/{row['id']}"),
                f"remove assignment {row['id']}")
            rows.remove(row)
        elif rows:
            row, user = self.rng.choice(rows), self.cloud_user()
            if user:
                body = {"principalId": user["id"], "resourceId": row["resourceId"],
                        "appRoleId": row["appRoleId"]}
                self._ok(self.sim.client.post(
                    f"/servicePrincipals/{row['resourceId']}/appRoleAssignedTo", json=body),
                    f"assign {user['id']} to {row['resourceId']}")

    def grant(self) -> None:
        rows = self.objects.get("oauth2PermissionGrants") or []
        if not rows:
            return
        row = self.rng.choice(rows)
        if self.rng.random() < 0.5:
            self._ok(self.sim.client.delete(f"/oauth2PermissionGrants/{row['id']}"),
                     f"remove grant {row['id']}")
        else:
            self._ok(self.sim.client.patch(f"/oauth2PermissionGrants/{row['id']}",
                                           json={"scope": row["scope"] + " Mail.Read"}),
                     f"widen grant {row['id']}")
        rows.remove(row)

    def synced_edit(self) -> None:
        user = self._pick("users", lambda u: bool(u.get("onPremisesSyncEnabled")))
        if user:
            answer = self.sim.control.post("/sync", json={"id": user["id"],
                                                          "set": {"jobTitle": "From AD"}})
            self._ok(answer, f"sync edit {user['id']}")

    def delete_policy_or_principal(self) -> None:
        if self.rng.random() < 0.5:
            policy = self._pick("conditionalAccessPolicies")
            if policy and self._ok(self.sim.client.delete(
                    f"/identity/conditionalAccess/policies/{policy['id']}"),
                    f"delete CA {policy['id']}"):
                policy["_gone"] = True
        else:
            tenant = self.sim.state()["tenantId"]
            principal = self._pick("servicePrincipals", lambda p: "@odata.type" not in p
                                   and p.get("appOwnerOrganizationId") == tenant)
            if principal and self._ok(self.sim.client.delete(
                    f"/servicePrincipals/{principal['id']}"), f"delete SP {principal['id']}"):
                principal["_gone"] = True

    def edit_tenant_policies(self) -> None:
        if self.rng.random() < 0.5:
            body: Json = {"allowInvitesFrom": self.rng.choice(
                ["everyone", "none", "adminsAndGuestInviters"]),
                "allowedToUseSSPR": self.rng.random() < 0.5}
            self._ok(self.sim.client.patch("/policies/authorizationPolicy", json=body),
                     f"edit authorization policy {body}")
            return
        policy = self.sim.client.get("/policies/authenticationMethodsPolicy").json()
        configs = policy.get("authenticationMethodConfigurations") or []
        if configs:
            config = self.rng.choice(configs)
            state = "disabled" if config.get("state") == "enabled" else "enabled"
            self._ok(self.sim.client.patch(
                f"/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/"
                f"{config['id']}", json={"@odata.type": config["@odata.type"],
                                         "state": state}),
                f"set method {config['id']} {state}")

    def edit_principal(self) -> None:
        principal = self._pick("servicePrincipals", lambda p: "@odata.type" not in p)
        if principal:
            body = self.rng.choice([{"notes": "tampered"}, {"appRoleAssignmentRequired":
                                                            not principal.get(
                                                                "appRoleAssignmentRequired")}])
            self._ok(self.sim.client.patch(f"/servicePrincipals/{principal['id']}",
                                           json=body), f"edit SP {principal['id']} {body}")

    OPERATIONS = ("edit_user", "edit_group", "edit_app", "edit_ca", "edit_named_location",
                  "soft_delete", "hard_delete", "create", "create_ca", "membership", "owners",
                  "manager", "secret", "assignment", "grant", "synced_edit",
                  "delete_policy_or_principal", "edit_tenant_policies", "edit_principal")

    def run(self, count: int) -> list[str]:
        for _ in range(count):
            getattr(self, self.rng.choice(self.OPERATIONS))()
        return self.log
