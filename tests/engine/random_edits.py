"""Random tenant edits through graphsim's Graph API, for the delta-versus-full diff test.

Every edit is an ordinary Graph call a tenant admin could make (graph.md §4): link and unlink
members, owners, sponsors and managers, app role assignments and delegated grants, property
edits, CA policy references, soft delete, restore and purge. An edit picks its objects from
`/_sim/state` with the seeded generator, so a seed names one exact sequence; each call must
succeed, so the test exercises what its log says.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tests.conftest import Sim

Json = dict[str, Any]
AGENT_IDENTITY = "#microsoft.graph.agentIdentity"
AGENT_USER = "#microsoft.graph.agentUser"
BLUEPRINT = "#microsoft.graph.agentIdentityBlueprint"
BIN = "/directory/deletedItems"


class Editor:
    """Applies random edits; `log` says what was done, in order, for the failure message."""

    def __init__(self, sim: Sim, rng: random.Random) -> None:
        self.sim, self.rng = sim, rng
        self.log: list[str] = []
        self._state: Json = {}
        self._former_manager: dict[str, str] = {}  # user -> a manager it had before
        self._ops: list[Callable[[], str | None]] = [
            self.member_add, self.member_remove, self.manager_set, self.manager_set,
            self.manager_remove, self.manager_put_back, self.owner_add, self.owner_remove,
            self.assignment_add, self.assignment_remove, self.grant_add, self.grant_edit,
            self.grant_remove, self.property_edit, self.property_edit, self.soft_delete,
            self.restore, self.restore, self.purge, self.sponsor_add, self.sponsor_remove,
            self.ca_reference, self.create_user,
        ]

    def run(self, count: int) -> None:
        while len(self.log) < count:
            self._state = self.sim.state()
            done = self.rng.choice(self._ops)()
            if done is not None:
                self.log.append(done)

    # ----- picking -------------------------------------------------------------------------

    def _objects(self, collection: str, keep: Callable[[Json], bool] = lambda o: True
                 ) -> list[Json]:
        return [o for o in self._state["objects"][collection] if keep(o)]

    def _links(self, nav: str, source: str) -> list[str]:
        return [link["target"] for link in self._state["links"]
                if link["link"] == nav and link["source"] == source]

    def _pick(self, items: list[Any]) -> Any:
        return self.rng.choice(items) if items else None

    def _cloud_user(self) -> Json | None:
        return self._pick(self._objects("users", lambda u: not u.get("onPremisesSyncEnabled")
                                        and "@odata.type" not in u))

    def _member_group(self) -> Json | None:
        return self._pick(self._objects("groups", lambda g: not g.get("onPremisesSyncEnabled")
                                        and "DynamicMembership" not in g.get("groupTypes", [])))

    def _live_ids(self, *collections: str) -> set[str]:
        return {o["id"] for c in collections for o in self._state["objects"][c]}

    def _ok(self, response: Any, what: str) -> str:
        assert response.status_code < 300, f"{what}: {response.status_code} {response.text}"
        return what

    def _ref(self, object_id: str) -> Json:
        return {"@odata.id": f"{self.sim.graph}/directoryObjects/{object_id}"}

    # ----- links ---------------------------------------------------------------------------

    def member_add(self) -> str | None:
        group = self._member_group()
        if group is None:
            return None
        present = set(self._links("members", group["id"])) | {group["id"]}
        # Graph: a Microsoft 365 group takes only users, and no group takes a Microsoft 365
        # group as a member
        kinds = ("users",) if "Unified" in group.get("groupTypes", []) else (
            "users", "groups", "servicePrincipals")
        candidates = [o["id"] for c in kinds for o in self._state["objects"][c]
                      if o["id"] not in present and "Unified" not in o.get("groupTypes", [])]
        member = self._pick(candidates)
        return self._ok(self.sim.client.post(f"/groups/{group['id']}/members/$ref",
                                             json=self._ref(member)),
                        f"add member {member} to group {group['id']}")

    def member_remove(self) -> str | None:
        group = self._member_group()
        live = self._live_ids("users", "groups", "servicePrincipals")
        members = [m for m in self._links("members", group["id"]) if m in live] if group else []
        member = self._pick(members)
        if member is None:
            return None
        return self._ok(self.sim.client.delete(f"/groups/{group['id']}/members/{member}/$ref"),
                        f"remove member {member} from group {group['id']}")

    def _manager_user(self) -> Json | None:
        return self._pick(self._objects("users", lambda u: not u.get("onPremisesSyncEnabled")))

    def manager_set(self) -> str | None:
        user = self._manager_user()
        if user is None:
            return None
        current = self._links("manager", user["id"])
        manager = self._pick([u["id"] for u in self._objects("users", lambda u: "@odata.type"
                                                              not in u)
                              if u["id"] != user["id"] and u["id"] not in current])
        for old in current:
            self._former_manager[user["id"]] = old
        return self._ok(self.sim.client.put(f"/users/{user['id']}/manager/$ref",
                                            json=self._ref(manager)),
                        f"replace manager of {user['id']} ({current}) with {manager}")

    def manager_remove(self) -> str | None:
        live = self._live_ids("users")
        user = self._pick([u for u in self._objects("users", lambda u: not u.get(
            "onPremisesSyncEnabled")) if any(m in live for m in self._links("manager", u["id"]))])
        if user is None:
            return None
        self._former_manager[user["id"]] = self._links("manager", user["id"])[0]
        return self._ok(self.sim.client.delete(f"/users/{user['id']}/manager/$ref"),
                        f"remove manager of {user['id']}")

    def manager_put_back(self) -> str | None:
        live = self._live_ids("users")
        back = self._pick([(u, m) for u, m in self._former_manager.items()
                           if u in live and m in live])
        if back is None:
            return None
        user, manager = back
        del self._former_manager[user]
        return self._ok(self.sim.client.put(f"/users/{user}/manager/$ref",
                                            json=self._ref(manager)),
                        f"put back manager {manager} of {user}")

    def _owned(self) -> tuple[str, Json] | None:
        collection = self.rng.choice(["groups", "applications", "servicePrincipals"])
        obj = self._pick(self._objects(collection, lambda o: not o.get("onPremisesSyncEnabled")
                                       and o.get("@odata.type") != AGENT_IDENTITY))
        return (collection, obj) if obj else None

    def owner_add(self) -> str | None:
        owned = self._owned()
        if owned is None:
            return None
        collection, obj = owned
        present = set(self._links("owners", obj["id"])) | {obj["id"]}
        owner = self._pick([u["id"] for u in self._objects("users", lambda u: "@odata.type"
                                                            not in u) if u["id"] not in present])
        return self._ok(self.sim.client.post(f"/{collection}/{obj['id']}/owners/$ref",
                                             json=self._ref(owner)),
                        f"add owner {owner} to {collection} {obj['id']}")

    def owner_remove(self) -> str | None:
        owned = self._owned()
        live = self._live_ids("users", "servicePrincipals")
        owners = [o for o in self._links("owners", owned[1]["id"]) if o in live] if owned else []
        owner = self._pick(owners)
        if owner is None or owned is None:
            return None
        collection, obj = owned
        users = self._live_ids("users")
        if collection == "groups" and owner in users and not (set(owners) & users) - {owner}:
            return None  # Graph refuses to remove a group's last user owner
        return self._ok(self.sim.client.delete(f"/{collection}/{obj['id']}/owners/{owner}/$ref"),
                        f"remove owner {owner} from {collection} {obj['id']}")

    def sponsor_add(self) -> str | None:
        target = self._sponsored()
        if target is None:
            return None
        path, obj = target
        present = set(self._links("sponsors", obj["id"]))
        sponsor = self._pick([u["id"] for u in self._objects("users", lambda u: "@odata.type"
                                                              not in u) if u["id"] not in present])
        return self._ok(self.sim.client.post(f"{path}/sponsors/$ref", json=self._ref(sponsor)),
                        f"add sponsor {sponsor} to {path}")

    def sponsor_remove(self) -> str | None:
        target = self._sponsored()
        live = self._live_ids("users", "groups")
        sponsors = [s for s in self._links("sponsors", target[1]["id"]) if s in live] if (
            target) else []
        sponsor = self._pick(sponsors)
        if sponsor is None or target is None:
            return None
        return self._ok(self.sim.client.delete(f"{target[0]}/sponsors/{sponsor}/$ref"),
                        f"remove sponsor {sponsor} from {target[0]}")

    def _sponsored(self) -> tuple[str, Json] | None:
        choices = [(f"/servicePrincipals/{o['id']}/microsoft.graph.agentIdentity", o)
                   for o in self._objects("servicePrincipals",
                                          lambda o: o.get("@odata.type") == AGENT_IDENTITY)]
        choices += [(f"/users/{o['id']}/microsoft.graph.agentUser", o)
                    for o in self._objects("users", lambda o: o.get("@odata.type") == AGENT_USER)]
        choices += [(f"/applications/{o['id']}/microsoft.graph.agentIdentityBlueprint", o)
                    for o in self._objects("applications",
                                           lambda o: o.get("@odata.type") == BLUEPRINT)]
        return self._pick(choices)

    # ----- assignments and grants -------------------------------------------------------

    def assignment_add(self) -> str | None:
        resource = self._pick(self._objects("servicePrincipals", lambda s: s.get("appRoles")))
        principal = self._pick(self._objects("users", lambda u: "@odata.type" not in u)
                               + self._objects("groups"))
        if resource is None or principal is None:
            return None
        role = self.rng.choice(resource["appRoles"])["id"]
        held = {(a["principalId"], a["appRoleId"]) for a in self._objects(
            "appRoleAssignments", lambda a: a["resourceId"] == resource["id"])}
        if (principal["id"], role) in held:
            return None
        body = {"principalId": principal["id"], "resourceId": resource["id"], "appRoleId": role}
        return self._ok(self.sim.client.post(
            f"/servicePrincipals/{resource['id']}/appRoleAssignedTo", json=body),
            f"assign role {role} of {resource['id']} to {principal['id']}")

    def assignment_remove(self) -> str | None:
        live = self._live_ids("users", "groups", "servicePrincipals")
        assignment = self._pick(self._objects("appRoleAssignments", lambda a: a["principalId"]
                                              in live and a["resourceId"] in live))
        if assignment is None:
            return None
        return self._ok(self.sim.client.delete(
            f"/servicePrincipals/{assignment['resourceId']}/appRoleAssignedTo/"
            f"{assignment['id']}"), f"remove assignment {assignment['id']}")

    def grant_add(self) -> str | None:
        sps = self._objects("servicePrincipals", lambda s: s.get("@odata.type") is None)
        client, resource = self._pick(sps), self._pick(sps)
        if client is None or resource is None or client["id"] == resource["id"]:
            return None
        if any(g["clientId"] == client["id"] and g["resourceId"] == resource["id"]
               for g in self._objects("oauth2PermissionGrants")):
            return None
        body = {"clientId": client["id"], "consentType": "AllPrincipals",
                "resourceId": resource["id"], "scope": "User.Read"}
        return self._ok(self.sim.client.post("/oauth2PermissionGrants", json=body),
                        f"grant {resource['id']} to client {client['id']}")

    def grant_edit(self) -> str | None:
        grant = self._pick(self._objects("oauth2PermissionGrants"))
        if grant is None:
            return None
        scope = f"{grant.get('scope', '')} Files.Read{self.rng.randrange(1000)}".strip()
        return self._ok(self.sim.client.patch(f"/oauth2PermissionGrants/{grant['id']}",
                                              json={"scope": scope}),
                        f"set scope of grant {grant['id']}")

    def grant_remove(self) -> str | None:
        grant = self._pick(self._objects("oauth2PermissionGrants"))
        if grant is None:
            return None
        return self._ok(self.sim.client.delete(f"/oauth2PermissionGrants/{grant['id']}"),
                        f"delete grant {grant['id']}")

    # ----- properties, references, lifecycle ---------------------------------------------

    def property_edit(self) -> str | None:
        collection, prop = self.rng.choice([
            ("users", "jobTitle"), ("groups", "description"), ("applications", "notes"),
            ("servicePrincipals", "notes"), ("conditionalAccessPolicies", "displayName")])
        obj = self._pick(self._objects(collection, lambda o: not o.get("onPremisesSyncEnabled")))
        if obj is None:
            return None
        value = f"edit {self.rng.randrange(10**6)}"
        path = ("/identity/conditionalAccess/policies" if collection ==
                "conditionalAccessPolicies" else f"/{collection}")
        return self._ok(self.sim.client.patch(f"{path}/{obj['id']}", json={prop: value}),
                        f"set {prop} of {collection} {obj['id']}")

    def ca_reference(self) -> str | None:
        policy = self._pick(self._objects("conditionalAccessPolicies"))
        user = self._cloud_user()
        if policy is None or user is None:
            return None
        users = policy["conditions"]["users"]
        excluded = list(users.get("excludeUsers") or [])
        if excluded and self.rng.random() < 0.5:
            excluded.remove(self.rng.choice(excluded))
        elif user["id"] not in excluded:
            excluded.append(user["id"])
        body = {"conditions": {**policy["conditions"],
                               "users": {**users, "excludeUsers": excluded}}}
        return self._ok(self.sim.client.patch(
            f"/identity/conditionalAccess/policies/{policy['id']}", json=body),
            f"set excludeUsers of CA policy {policy['id']} to {excluded}")

    def soft_delete(self) -> str | None:
        collection = self.rng.choice(["users", "users", "groups", "servicePrincipals",
                                      "applications"])
        obj = self._pick(self._objects(collection, lambda o: not o.get("onPremisesSyncEnabled")
                                       and o.get("@odata.type") is None
                                       and not o.get("mailEnabled")))
        if obj is None:
            return None
        return self._ok(self.sim.client.delete(f"/{collection}/{obj['id']}"),
                        f"delete {collection} {obj['id']}")

    def _binned(self) -> Json | None:
        return self._pick([item["object"] for item in self._state["deletedItems"]
                           if item["collection"] in ("users", "groups", "applications",
                                                     "servicePrincipals")])

    def restore(self) -> str | None:
        obj = self._binned()
        if obj is None:
            return None
        return self._ok(self.sim.client.post(f"{BIN}/{obj['id']}/restore"),
                        f"restore {obj['id']}")

    def purge(self) -> str | None:
        obj = self._binned()
        if obj is None or self.rng.random() < 0.5:  # rarer than restore
            return None
        return self._ok(self.sim.client.delete(f"{BIN}/{obj['id']}"),
                        f"permanently delete {obj['id']}")

    def create_user(self) -> str | None:
        some = self._cloud_user()
        if some is None:
            return None
        nick = f"rnd{self.rng.randrange(10**9)}"
        domain = some["userPrincipalName"].split("@")[1]
        created = self.sim.client.post("/users", json={
            "accountEnabled": True, "displayName": nick, "mailNickname": nick,
            "userPrincipalName": f"{nick}@{domain}",
            "passwordProfile": {"password": "Xy!12345678"}})
        self._ok(created, "create user")
        new_id = created.json()["id"]
        self._ok(self.sim.client.put(f"/users/{new_id}/manager/$ref",
                                     json=self._ref(some["id"])), "set manager of new user")
        return f"create user {new_id} managed by {some['id']}"
