"""The delta and the full live path give the same report, whatever was edited.

The delta path folds `users/delta`, `groups/delta`, ... into the snapshot and re-reads only
links delta does not carry; the full path reads everything again. They must agree on every
link kind - members, owners, manager, sponsors, appRoleAssignedTo, oauth2PermissionGrants,
CA references - after any sequence of edits, not only after the hand-picked ones of
test_diff.py. Each seed drives one random sequence through graphsim's Graph API
(random_edits.py); the same seed makes the same choices again (ids of objects created on
the way differ). Set DIFF_RANDOM_SEED=<n> to replay one seed, DIFF_RANDOM_EDITS=<n> to
change the sequence length. Seeds 104, 107 and 111 once found a deleted owner or assignee
the delta path missed on its holder.

Graph's delta semantics followed here: https://learn.microsoft.com/graph/delta-query-overview
and https://learn.microsoft.com/graph/api/user-delta (a `manager@delta` names the current
manager).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from entra_backup.store.snapshots import FolderStore
from tests.conftest import Sim
from tests.engine.random_edits import Editor
from tests.engine.test_diff import diff, snap

SEEDS = [int(os.environ["DIFF_RANDOM_SEED"])] if os.environ.get("DIFF_RANDOM_SEED") else [
    11, 37, 104, 107, 111]
EDITS = int(os.environ.get("DIFF_RANDOM_EDITS", "80"))
THIS = "tests/engine/test_diff_random.py"


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "store")


@pytest.mark.parametrize("seed", SEEDS)
async def test_delta_and_full_paths_agree_after_random_edits(
    sim: Sim, store: FolderStore, seed: int
) -> None:
    tenant, snapshot = await snap(sim, store)
    editor = Editor(sim, random.Random(seed))
    editor.run(EDITS)
    header, by_delta = await diff(sim, store, tenant, snapshot)
    live = header["summary"]["livePath"]
    assert {live[k] for k in ("users", "groups", "applications", "servicePrincipals")} == {
        "delta"}, live
    _, by_full = await diff(sim, store, tenant, snapshot, use_delta=False)
    if by_delta != by_full:
        pytest.fail(_explain(seed, editor.log, by_delta, by_full), pytrace=False)
    assert by_delta, "the edits changed nothing the diff could see"


def _explain(seed: int, log: list[str], by_delta: dict[Any, Any],
             by_full: dict[Any, Any]) -> str:
    lines = [f"delta and full paths disagree for seed {seed} after {len(log)} edits.",
             f"Replay: DIFF_RANDOM_SEED={seed} DIFF_RANDOM_EDITS={len(log)} "
             f".venv/bin/pytest {THIS} -q", "Edits:"]
    lines += [f"  {n:2}. {step}" for n, step in enumerate(log, 1)]
    for key in sorted(set(by_delta) | set(by_full)):
        if by_delta.get(key) != by_full.get(key):
            lines.append(f"{key}:\n  delta: {json.dumps(by_delta.get(key), sort_keys=True)}"
                         f"\n  full:  {json.dumps(by_full.get(key), sort_keys=True)}")
    return "\n".join(lines)


async def test_a_replaced_manager_is_a_replacement_on_the_delta_path(
    sim: Sim, store: FolderStore
) -> None:
    """users/delta names the new manager only (a single-valued link): the old one is gone."""
    users = [u for u in sim.state()["objects"]["users"]
             if not u.get("onPremisesSyncEnabled") and "@odata.type" not in u]
    links = sim.state()["links"]
    managed = [u for u in users if any(link["link"] == "manager" and link["source"] == u["id"]
                                       for link in links)]
    replaced, restored, dropped = managed[:3]
    old = {u["id"]: next(link["target"] for link in links
                         if link["link"] == "manager" and link["source"] == u["id"])
           for u in (replaced, restored, dropped)}
    new = next(u["id"] for u in users if u["id"] not in old.values()
               and u["id"] not in old)
    tenant, snapshot = await snap(sim, store)
    put = sim.client.put
    for user in (replaced, restored, dropped):
        ref = {"@odata.id": f"{sim.graph}/users/{new}"}
        assert put(f"/users/{user['id']}/manager/$ref", json=ref).status_code == 204
    back = {"@odata.id": f"{sim.graph}/users/{old[restored['id']]}"}
    assert put(f"/users/{restored['id']}/manager/$ref", json=back).status_code == 204
    assert sim.client.delete(f"/users/{dropped['id']}/manager/$ref").status_code == 204
    for use_delta in (True, False):
        _, entries = await diff(sim, store, tenant, snapshot, use_delta=use_delta)
        assert ("users", restored["id"]) not in entries, use_delta
        assert entries[("users", replaced["id"])]["links"] == [
            {"link": "manager", "targetKind": "users", "added": [new],
             "removed": [old[replaced["id"]]]}], use_delta
        assert entries[("users", dropped["id"])]["links"] == [
            {"link": "manager", "targetKind": "users", "added": [],
             "removed": [old[dropped["id"]]]}], use_delta
