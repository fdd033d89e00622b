"""One simulated tenant: its collections, links, recycle bins, change log and audit log.

This class holds state and the read side (lookups, projections, paging). Writes, deletion and
restore live in `writes.py` and `deletion.py` as functions over a `Tenant`, so each module
stays small and says one thing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graphsim.clock import SimClock, iso, parse_iso
from graphsim.errors import BadRequest, NotFound, resource_not_found
from graphsim.model.audit import AuditLog
from graphsim.model.delta import ChangeLog
from graphsim.model.links import LinkStore
from graphsim.model.store import ObjectStore
from graphsim.model.validate import type_navigations, type_properties
from graphsim.rules import (
    AGENT_CASCADE_SECONDS,
    AGENT_MAX_TOP,
    RULES,
    SOFT_DELETE_RETENTION_DAYS,
    Rule,
)

Json = dict[str, Any]
SINGLETONS = ("organization", "authorizationPolicy", "authenticationMethodsPolicy")


@dataclass
class Deleted:
    """An object in a recycle bin: where it came from and when it was deleted."""

    collection: str
    obj: Json
    deleted_at: datetime


class Tenant:
    def __init__(self, clock: SimClock, tenant_id: str | None = None) -> None:
        self.clock = clock
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.stores: dict[str, ObjectStore] = {name: ObjectStore() for name in RULES}
        self.links = LinkStore()
        # directory/deletedItems and the beta CA bin (identity/conditionalAccess/deletedItems).
        self.bin: dict[str, Deleted] = {}
        self.changes = ChangeLog()
        self.audit = AuditLog(clock)
        self.cloud_managed: dict[str, bool] = {}  # onPremisesSyncBehavior.isCloudManaged
        self.stats: Counter[str] = Counter()
        # Graph's background cleanup after a blueprint principal is deleted (graph.md 5):
        # (when it runs, the principal's id, who deleted it).
        self.agent_cascade_delay = timedelta(seconds=AGENT_CASCADE_SECONDS)
        self.pending_cascades: list[tuple[datetime, str, Any]] = []
        # Replication delay (graph.md 6, 9): a new object stays invisible to reads and
        # references until then. Off (zero) unless configured.
        self.replication_delay = timedelta(0)
        self.fresh: dict[str, datetime] = {}
        # Index of unique values Graph enforces (userPrincipalName, service principal appId).
        self.upn_index: dict[str, str] = {}
        self.sp_by_app: dict[str, str] = {}
        self.app_by_appid: dict[str, str] = {}
        self.assign_by_resource: dict[str, dict[str, None]] = {}
        self.assign_by_principal: dict[str, dict[str, None]] = {}

    # ----- lookups -------------------------------------------------------------------------

    def store(self, collection: str) -> ObjectStore:
        return self.stores[collection]

    def find(self, collection: str, object_id: str) -> Json:
        """Return a live object or raise Graph's 404."""
        self.purge_expired()
        obj = self.stores[collection].get(object_id)
        if obj is None or self.replicating(object_id):
            raise resource_not_found(object_id)
        return obj

    def replicating(self, object_id: str) -> bool:
        """Whether a just-created object has not reached every replica yet."""
        if not self.fresh:
            return False
        visible_at = self.fresh.get(object_id)
        if visible_at is None:
            return False
        if visible_at <= self.clock.now():
            del self.fresh[object_id]
            return False
        return True

    def created(self, object_id: str) -> None:
        """Note a new object; with a replication delay it is hidden from reads for a while."""
        if self.replication_delay:
            self.fresh[object_id] = self.clock.now() + self.replication_delay

    def locate(self, object_id: str) -> tuple[str, Json] | None:
        """Find a live directory object in any collection (directoryObjects/{id})."""
        if self.replicating(object_id):
            return None
        for name, rule in RULES.items():
            if rule.directory:
                obj = self.stores[name].get(object_id)
                if obj is not None:
                    return name, obj
        return None

    def is_live(self, object_id: str) -> bool:
        return self.locate(object_id) is not None

    def singleton(self, collection: str) -> Json:
        store = self.stores[collection]
        for _, obj in store.scan():
            return obj
        raise NotFound(f"The {collection} of this tenant is not seeded.")

    @staticmethod
    def type_of(rule: Rule, obj: Json) -> str:
        odata_type = obj.get("@odata.type")
        if isinstance(odata_type, str):
            return odata_type.removeprefix("#microsoft.graph.")
        return rule.base_type

    def max_top(self, rule: Rule, cast: str | None) -> int:
        if cast and RULES[rule.name].casts.get(cast, "").startswith("agent"):
            return AGENT_MAX_TOP
        return rule.max_top

    def is_synced(self, obj: Json) -> bool:
        """On-premises mastered and not converted to cloud authority (SOA)."""
        return bool(obj.get("onPremisesSyncEnabled")) and not self.cloud_managed.get(obj["id"])

    # ----- projection ----------------------------------------------------------------------

    def view(self, rule: Rule, obj: Json, select: list[str] | None, *,
             single: bool = False) -> Json:
        """Project an object the way Graph does for this request's `$select`.

        keyCredential.key is "returned only on $select for a single object ... otherwise,
        it's always null" (https://learn.microsoft.com/graph/api/resources/keycredential):
        a list never carries it, `single` says this is a GET of one object.
        """
        type_name = self.type_of(rule, obj)
        out: Json = {}
        if "@odata.type" in obj:
            out["@odata.type"] = obj["@odata.type"]
        if select:
            navs = type_navigations(type_name)
            if "id" not in select:
                out["id"] = obj["id"]
            for name in select:
                if name in navs or name in rule.write_only:
                    continue
                out[name] = obj.get(name)
        elif rule.default_select is not None:
            for name in rule.default_select:
                out[name] = obj.get(name)
        else:
            hidden = rule.select_only | rule.write_only
            for name, value in obj.items():
                if name not in hidden:
                    out[name] = value
        keys = out.get("keyCredentials")
        if keys and not (single and select and "keyCredentials" in select):
            out["keyCredentials"] = [{k: v for k, v in key.items() if k != "key"} for key in keys]
        return out

    def check_select(self, rule: Rule, cast: str | None, select: list[str] | None) -> None:
        """Graph answers 400 for a `$select` of a property the type does not have."""
        if not select:
            return
        type_name = rule.casts.get(cast or "", rule.base_type)
        known = set(type_properties(type_name)) | set(type_navigations(type_name))
        for subtype in rule.casts.values():
            if cast is None:
                known |= set(type_properties(subtype)) | set(type_navigations(subtype))
        if not known:
            return
        for name in select:
            if name not in known:
                raise BadRequest(
                    f"Could not find a property named '{name}' on type "
                    f"'microsoft.graph.{type_name}'."
                )

    # ----- recycle bin retention ----------------------------------------------------------

    def purge_expired(self) -> None:
        """Purge bin entries older than 30 days (Graph does this by itself)."""
        if not self.bin:
            return
        limit = self.clock.now() - timedelta(days=SOFT_DELETE_RETENTION_DAYS)
        for object_id in [i for i, d in self.bin.items() if d.deleted_at <= limit]:
            entry = self.bin.pop(object_id)
            self.forget(entry.collection, object_id)
            self.stats["automaticPurges"] += 1

    def forget(self, collection: str, object_id: str) -> None:
        """Drop every trace of an object that no longer exists anywhere (hard delete)."""
        for nav, source, _target in self.links.drop(object_id):
            if source != object_id:
                located = self.locate(source)
                if located is not None:
                    self.changes.record(located[0], source, props=frozenset(),
                                        links=((nav, object_id, False),))
        for assignment_id in list(self.assign_by_principal.get(object_id, ())) + list(
            self.assign_by_resource.get(object_id, ())
        ):
            self.drop_assignment(assignment_id)
        self.cloud_managed.pop(object_id, None)
        self.changes.record(collection, object_id, removed=True)

    # ----- app role assignments -----------------------------------------------------------

    def add_assignment(self, assignment: Json) -> None:
        self.stores["appRoleAssignments"].put(assignment)
        self.assign_by_resource.setdefault(assignment["resourceId"], {})[assignment["id"]] = None
        self.assign_by_principal.setdefault(assignment["principalId"], {})[
            assignment["id"]
        ] = None

    def drop_assignment(self, assignment_id: str) -> None:
        assignment = self.stores["appRoleAssignments"].pop(assignment_id)
        if assignment is None:
            return
        self.assign_by_resource.get(assignment["resourceId"], {}).pop(assignment_id, None)
        self.assign_by_principal.get(assignment["principalId"], {}).pop(assignment_id, None)

    def assignments(
        self, *, resource: str | None = None, principal: str | None = None
    ) -> list[Json]:
        """Live assignments of a resource or principal (both ends must be live)."""
        index = self.assign_by_resource if resource else self.assign_by_principal
        ids = index.get(resource or principal or "", {})
        store = self.stores["appRoleAssignments"]
        out = []
        for assignment_id in ids:
            assignment = store.get(assignment_id)
            if assignment and self.is_live(assignment["principalId"]) and self.is_live(
                assignment["resourceId"]
            ):
                out.append(assignment)
        return out

    # ----- indexing of unique values ------------------------------------------------------

    def index(self, collection: str, obj: Json) -> None:
        if collection == "users" and obj.get("userPrincipalName"):
            self.upn_index[obj["userPrincipalName"].lower()] = obj["id"]
        elif collection == "servicePrincipals" and obj.get("appId"):
            self.sp_by_app[obj["appId"]] = obj["id"]
        elif collection == "applications" and obj.get("appId"):
            self.app_by_appid[obj["appId"]] = obj["id"]

    def unindex(self, collection: str, obj: Json) -> None:
        if collection == "users" and obj.get("userPrincipalName"):
            self.upn_index.pop(obj["userPrincipalName"].lower(), None)
        elif collection == "servicePrincipals" and obj.get("appId"):
            self.sp_by_app.pop(obj["appId"], None)
        elif collection == "applications" and obj.get("appId"):
            self.app_by_appid.pop(obj["appId"], None)

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def deleted_age_ok(self, entry: Deleted) -> bool:
        return self.clock.now() - entry.deleted_at < timedelta(days=SOFT_DELETE_RETENTION_DAYS)


def deleted_at_of(obj: Json, fallback: datetime) -> datetime:
    value = obj.get("deletedDateTime")
    return parse_iso(value) if isinstance(value, str) else fallback
