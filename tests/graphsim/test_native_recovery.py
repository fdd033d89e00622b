"""graphsim's stand-in for a Microsoft Entra Backup and Recovery job, on the model.

The job changes state without a delta record and audits each object under the category
"Backup and Recovery" (https://learn.microsoft.com/graph/api/resources/
entrarecoveryservices-backup-recovery-overview, "Audit logs" and "Limitations").
"""

from __future__ import annotations

import pytest

from graphsim import seed
from graphsim.clock import SimClock
from graphsim.model import deletion
from graphsim.model.audit import Caller
from graphsim.model.recovery import native_recovery
from graphsim.model.tenant import Tenant
from tests.graphsim.http_helpers import seed_group, seed_user

USERS = [seed_user(n) for n in range(3)]
GROUP = seed_group(1)


@pytest.fixture
def tenant() -> Tenant:
    t = Tenant(SimClock())
    seed.load(t, [{"collection": "users", "object": u} for u in USERS]
              + [{"collection": "groups", "object": GROUP},
                 {"link": "members", "source": GROUP["id"], "target": USERS[0]["id"]}])
    return t


def test_a_recovery_job_changes_state_with_no_delta_record(tenant: Tenant) -> None:
    deletion.delete_object(tenant, Caller("app:admin"), "users", USERS[2]["id"])
    head = tenant.changes.head
    events = len(tenant.audit.events)
    answer = native_recovery(tenant, {
        "objects": [{"id": USERS[0]["id"], "set": {"jobTitle": "Recovered"}},
                    {"id": USERS[1]["id"], "action": "softDelete"},
                    {"id": USERS[2]["id"], "action": "restore"}],
        "links": [{"link": "members", "source": GROUP["id"], "target": USERS[0]["id"],
                   "added": False}]})
    assert answer == {"recovered": [u["id"] for u in USERS], "links": 1}
    assert tenant.changes.head == head  # delta will never hear of it
    users = tenant.stores["users"]
    assert users.objects[USERS[0]["id"]]["jobTitle"] == "Recovered"
    assert USERS[1]["id"] not in users and USERS[1]["id"] in tenant.bin
    assert USERS[2]["id"] in users and USERS[2]["id"] not in tenant.bin
    assert tenant.links.targets("members", GROUP["id"]) == []
    written = tenant.audit.events[events:]
    assert [e["category"] for e in written] == ["Backup and Recovery"] * 4
    assert [e["targetResources"][0]["id"] for e in written] == [
        *(u["id"] for u in USERS), GROUP["id"]]
    assert {e["targetResources"][0]["type"] for e in written} == {"User", "Group"}


@pytest.mark.parametrize("body", [
    {},
    {"objects": [{"id": "nobody", "set": {"jobTitle": "x"}}]},
    {"objects": [{"id": USERS[0]["id"], "action": "purge"}]},
    {"objects": [{"id": USERS[0]["id"], "action": "restore"}]},  # not in a bin
    {"objects": [{"id": USERS[0]["id"], "set": {"jobTitle": "x"}}],
     "links": [{"link": "members", "source": GROUP["id"], "target": "nobody"}]},
])
def test_a_bad_job_changes_nothing(tenant: Tenant, body: dict[str, object]) -> None:
    before = dict(tenant.stores["users"].objects[USERS[0]["id"]])
    with pytest.raises(ValueError):
        native_recovery(tenant, body)
    assert tenant.stores["users"].objects[USERS[0]["id"]] == before
    assert tenant.audit.events == []
