"""Microsoft's own recovery jobs leave no delta record: the diff reads their kinds in full.

"Recovery operations don't generate change notifications through subscriptions or delta
records for change tracking", and every operation is audited "with the category 'Backup and
Recovery'" (https://learn.microsoft.com/graph/api/resources/
entrarecoveryservices-backup-recovery-overview; graph.md 2.6). graphsim's
`/_sim/native-recovery` acts as such a job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from entra_backup.diff.audit import is_native_recovery, recovered_kinds
from entra_backup.kinds import ALL_KINDS
from entra_backup.store.snapshots import FolderStore
from entra_backup.store.verify import load_manifest
from tests.conftest import Sim
from tests.engine.test_diff import cloud_user, diff, first, snap

DELTA_KINDS = {"users", "groups", "applications", "servicePrincipals"}


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "store")


def recover(sim: Sim, body: dict[str, Any]) -> None:
    answer = sim.control.post("/native-recovery", json=body)
    assert answer.status_code == 200, answer.text


def delta_ids(sim: Sim, store: FolderStore, tenant: str, snapshot: str, kind: str) -> set[str]:
    """Every object id the snapshot's delta link answers for a kind now."""
    url: str | None = load_manifest(store, tenant, snapshot)[0]["kinds"][kind]["deltaLink"]
    found: set[str] = set()
    while url:
        page = sim.client.get(url).json()
        found |= {item["id"] for item in page["value"]}
        url = page.get("@odata.nextLink")
    return found


async def test_objects_a_recovery_job_changed_are_read_in_full(
    sim: Sim, store: FolderStore
) -> None:
    user = cloud_user(sim)
    state = sim.state()
    group = first(sim, "groups", lambda g: any(
        link["link"] == "members" and link["source"] == g["id"] for link in state["links"]))
    member = next(link["target"] for link in state["links"]
                  if link["link"] == "members" and link["source"] == group["id"])
    tenant, snapshot = await snap(sim, store)
    ordinary = next(u for u in state["objects"]["users"] if u["id"] != user["id"]
                    and not u.get("onPremisesSyncEnabled") and "@odata.type" not in u)
    assert sim.client.patch(f"/users/{ordinary['id']}", json={"jobTitle": "Ordinary"}
                            ).status_code == 204
    recover(sim, {"objects": [{"id": user["id"], "action": "update",
                               "set": {"jobTitle": "Recovered"}}],
                  "links": [{"link": "members", "source": group["id"], "target": member,
                             "added": False}]})
    # the delta path alone would have missed both: their delta links say nothing of them
    assert delta_ids(sim, store, tenant, snapshot, "users") == {ordinary["id"]}
    assert group["id"] not in delta_ids(sim, store, tenant, snapshot, "groups")

    header, entries = await diff(sim, store, tenant, snapshot)
    assert {header["summary"]["livePath"][k] for k in DELTA_KINDS} == {"full"}
    recovered = entries[("users", user["id"])]
    assert {"path": "jobTitle", "before": user.get("jobTitle"), "after": "Recovered"} in \
        recovered["properties"]
    assert recovered["changedBy"][0]["activity"] == "Recover object (update)"
    assert {"link": "members", "targetKind": None, "added": [], "removed": [member]} in \
        entries[("groups", group["id"])]["links"]
    assert ("users", ordinary["id"]) in entries
    _, full = await diff(sim, store, tenant, snapshot, use_delta=False)
    assert full == entries


async def test_only_the_kinds_a_recovery_can_reach_lose_the_delta_path(
    sim: Sim, store: FolderStore
) -> None:
    app = first(sim, "applications", lambda a: "@odata.type" not in a)
    user = cloud_user(sim)
    tenant, snapshot = await snap(sim, store)
    refused = sim.control.post("/native-recovery", json={"objects": [{"id": app["id"]}]})
    assert refused.status_code == 400 and "set" in refused.json()["error"]
    recover(sim, {"objects": [{"id": app["id"], "set": {"displayName": "Recovered app"}}]})
    assert app["id"] not in delta_ids(sim, store, tenant, snapshot, "applications")
    assert sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Still delta"}
                            ).status_code == 204
    header, entries = await diff(sim, store, tenant, snapshot)
    live = header["summary"]["livePath"]
    assert live["applications"] == "full"
    assert {live[k] for k in DELTA_KINDS - {"applications"}} == {"delta"}  # nothing links apps
    assert {"path": "displayName", "before": app["displayName"],
            "after": "Recovered app"} in entries[("applications", app["id"])]["properties"]
    assert ("users", user["id"]) in entries


def _event(activity: str, *types: str, category: str = "Backup and Recovery") -> dict[str, Any]:
    return {"category": category, "activityDisplayName": activity,
            "targetResources": [{"id": f"t{n}", "type": t} for n, t in enumerate(types)]}


def test_which_audit_events_are_native_recovery_writes() -> None:
    assert is_native_recovery(_event("Recover object (restore)", "User"))
    assert is_native_recovery(_event("Cancel recovery job"))  # changes may have been applied
    assert is_native_recovery(_event("Start recovery", category="backup and recovery"))
    for read_only in ("Create recovery preview job", "Create difference report",
                      "Snapshot created", "Daily backup completed"):
        assert not is_native_recovery(_event(read_only)), read_only
    assert not is_native_recovery(_event("Update user", "User", category="UserManagement"))


def test_recovered_kinds_follow_targets_and_the_links_to_them() -> None:
    kinds = list(ALL_KINDS)
    assert recovered_kinds([], kinds) == set()
    assert recovered_kinds([_event("Recover", "Application")], kinds) == {"applications"}
    # a group's members and app role assignments can change with it
    assert recovered_kinds([_event("Recover", "Group")], kinds) == {"groups",
                                                                   "servicePrincipals"}
    assert recovered_kinds([_event("Recover", "User")], kinds) == DELTA_KINDS
    # a job-level event names no object: anything the service covers may have changed
    assert recovered_kinds([_event("Recovery job completed", "Other")], kinds) == DELTA_KINDS
