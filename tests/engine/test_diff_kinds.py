"""M365DSC-style sweep: for every kind, a drift made through Graph is reported, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from entra_backup.kinds import ALL_KINDS, KINDS_BY_NAME
from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.test_capture import expected_objects
from tests.engine.test_diff import diff, snap


def _drift(sim: Sim, kind: str) -> tuple[str, str, str, Any, str]:
    """(object id, path to PATCH, property, new value, api version) for one kind."""
    state = sim.state()
    if kind == "organization":
        org = state["objects"]["organization"][0]
        return org["id"], f"organization/{org['id']}", "technicalNotificationMails", \
            ["soc@example.com"], "v1.0"
    if kind == "authorizationPolicy":
        return "authorizationPolicy", "policies/authorizationPolicy", "allowInvitesFrom", \
            "adminsAndGuestInviters", "v1.0"
    if kind == "authenticationMethodsPolicy":
        current = state["objects"]["authenticationMethodsPolicy"][0]["policyMigrationState"]
        other = next(v for v in ("migrationComplete", "migrationInProgress", "preMigration")
                     if v != current)
        return "authenticationMethodsPolicy", "policies/authenticationMethodsPolicy", \
            "policyMigrationState", other, "v1.0"
    objects = expected_objects(state, kind)
    candidates = [o for o in objects.values() if not o.get("onPremisesSyncEnabled")
                  and not o.get("isTrusted")]
    target = sorted(candidates, key=lambda o: o["id"])[0]
    path = KINDS_BY_NAME[kind].path.split("/microsoft.graph.")[0]
    return target["id"], f"{path}/{target['id']}", "displayName", "Drifted by test", "v1.0"


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.name)
async def test_a_drift_in_each_kind_is_reported_exactly(sim: Sim, tmp_path: Path, kind) -> None:  # type: ignore[no-untyped-def]
    store = FolderStore(tmp_path / "store")
    tenant, snapshot = await snap(sim, store)
    object_id, path, prop, value, version = _drift(sim, kind.name)
    body: dict[str, Any] = {prop: value}
    if kind.name == "namedLocations":
        body["@odata.type"] = next(o for o in sim.state()["objects"]["namedLocations"]
                                   if o["id"] == object_id)["@odata.type"]
    base = sim.graph if version == "v1.0" else sim.beta
    answer = sim.client.patch(f"{base}/{path}", json=body)
    assert answer.status_code == 204, answer.text
    header, entries = await diff(sim, store, tenant, snapshot)
    assert set(entries) == {(kind.name, object_id)}, entries
    entry = entries[(kind.name, object_id)]
    assert entry["change"] == "updated" and entry["recoverable"] is True
    assert [p["path"] for p in entry["properties"]] == [prop]
    assert entry["properties"][0]["after"] == value
    assert entry["changedBy"], "the audit log names who changed it"
    assert header["summary"]["total"] == 1
