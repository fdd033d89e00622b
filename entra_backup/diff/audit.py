"""What the directory audit log says happened since a snapshot: who changed which object, and
whether Microsoft's own recovery service rewrote objects behind delta's back.

Microsoft Entra Backup and Recovery jobs "don't generate change notifications through
subscriptions or delta records for change tracking", and "all operations performed through
the backup and recovery APIs are logged in the Microsoft Entra audit logs with the category
'Backup and Recovery'" (https://learn.microsoft.com/graph/api/resources/
entrarecoveryservices-backup-recovery-overview, "Audit logs" and "Limitations"; graph.md 2.6).
So after such a job a delta link still works and answers as if nothing had happened: the
diff must read the kinds a recovery may have touched in full.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from entra_backup.graph.session import GraphSession
from entra_backup.kinds import Kind
from entra_backup.types import Json

NATIVE_RECOVERY_CATEGORY = "backup and recovery"
# Microsoft documents the category, not the activity names. Snapshots, preview jobs and
# difference reports change nothing; any other activity of the category (a recovery job, a
# single-object recovery, a cancel after changes were applied) is taken as a write.
_READ_ONLY_ACTIVITY = re.compile(r"preview|difference|snapshot|\bbackup\b", re.IGNORECASE)


# Pages as large as Graph gives (directoryAudits allows $top up to 1,000): the reports
# service allows 5 requests per 10 s, so after an incident of 10,000 writes the default page
# of 100 would hold the diff for minutes.
AUDIT_PAGE = 999


@dataclass
class AuditTrail:
    """Audit events since a snapshot: by target id (oldest first), and the kinds a native
    recovery job may have changed without a delta record."""

    by_target: dict[str, list[Json]] = field(default_factory=dict)
    native_recovery: set[str] = field(default_factory=set)


async def read_audit(session: GraphSession | None, since: str,
                     kinds: Iterable[Kind]) -> AuditTrail:
    """Directory audit events since the snapshot, indexed for the diff."""
    trail = AuditTrail()
    if session is None:
        return trail
    index: dict[str, list[Json]] = defaultdict(list)
    moment = since.split(".")[0].rstrip("Z") + "Z"
    native: list[Json] = []
    async for event in session.list_objects(
            "auditLogs/directoryAudits", filter=f"activityDateTime ge {moment}",
            top=AUDIT_PAGE):
        when = event.get("activityDateTime")
        if not isinstance(when, str):
            continue  # an event without a time cannot be placed after the snapshot
        if is_native_recovery(event):
            native.append(event)
        record = {"when": when, "activity": str(event.get("activityDisplayName") or ""),
                  "operationType": str(event.get("operationType") or ""),
                  "by": _initiator(event), "auditId": str(event.get("id") or ""),
                  "result": str(event.get("result") or "")}
        for target in event.get("targetResources") or []:
            if isinstance(target, dict) and target.get("id"):
                index[target["id"]].append(record)
    for events in index.values():
        events.sort(key=lambda e: str(e["when"]))
    trail.by_target = dict(index)
    trail.native_recovery = recovered_kinds(native, list(kinds))
    return trail


def _initiator(event: Json) -> Json:
    initiated = event.get("initiatedBy") or {}
    actor = initiated.get("user") or initiated.get("app") or {}
    return {"type": "user" if initiated.get("user") else "app",
            "id": actor.get("id") or actor.get("servicePrincipalId") or actor.get("appId"),
            "displayName": actor.get("displayName"),
            "userPrincipalName": actor.get("userPrincipalName")}


def is_native_recovery(event: Json) -> bool:
    """Whether an audit event records Microsoft's recovery service changing the directory."""
    category = str(event.get("category") or "").strip().lower()
    if category != NATIVE_RECOVERY_CATEGORY:
        return False
    return not _READ_ONLY_ACTIVITY.search(str(event.get("activityDisplayName") or ""))


def recovered_kinds(events: list[Json], kinds: list[Kind]) -> set[str]:
    """Names of the delta kinds a native recovery may have changed.

    A target of a known type (User, Group, Application, ServicePrincipal) names its kinds,
    and every kind holding links to them: restoring a user brings its group memberships and
    ownerships back. An event naming no typed target (a job-level record) may have touched
    anything the service covers: every delta kind.
    """
    delta_kinds = [k for k in kinds if k.delta]
    hit: set[str] = set()
    for event in events:
        typed = [t for t in event.get("targetResources") or []
                 if isinstance(t, dict) and _kinds_of_type(t.get("type"), delta_kinds)]
        if not typed:
            return {k.name for k in delta_kinds}
        for target in typed:
            hit |= _kinds_of_type(target.get("type"), delta_kinds)
    linked = {k.name for k in delta_kinds
              if any(set(link.targets) & hit for link in k.links)}
    return hit | linked


def _kinds_of_type(type_name: object, kinds: list[Kind]) -> set[str]:
    """Kinds whose collection holds objects of an audit target type ("User" -> users)."""
    if not isinstance(type_name, str) or not type_name:
        return set()
    collection = type_name.strip().lower() + "s"
    return {k.name for k in kinds if k.path.split("/")[0].lower() == collection}
