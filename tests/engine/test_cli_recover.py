"""`entra-backup recover` and `history` as a user runs them: real processes, graphsim, a store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.conftest import Sim
from tests.engine.conftest import run
from tests.engine.test_diff import cloud_user


def _writes(sim: Sim) -> int:
    requests = sim.stats()["requests"]
    return sum(sum(kinds.values()) for method, kinds in requests.items() if method != "GET")


def _snapshot(env: dict[str, str]) -> str:
    done = run("snapshot", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["snapshotId"])


def _one_line_error(done: Any, code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("entra-backup: error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in done.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(sim: Sim, cli_env: dict[str, str]) -> None:
    snapshot = _snapshot(cli_env)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Evil"}).raise_for_status()
    writes = _writes(sim)
    done = run("recover", snapshot, "--dry-run", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["status"] == "planned"
    assert [(s["kind"], s["id"], s["action"]) for s in plan["plan"]] == [
        ("users", user["id"], "update")]
    [step] = plan["plan"]
    assert step["before"] == {"jobTitle": "Evil"}
    assert step["after"] == {"jobTitle": user.get("jobTitle")}
    assert plan["results"] == [{"kind": "users", "id": user["id"], "action": "update",
                                "outcome": "planned", "detail": None}]
    assert _writes(sim) == writes
    store = Path(cli_env["ENTRA_BACKUP_STORE"])
    assert not (store / "recoveries").exists() and not (store / "jobs").exists()
    now = sim.client.get(f"/users/{user['id']}?$select=jobTitle").json()
    assert now["jobTitle"] == "Evil"


def test_recover_applies_verifies_and_history_keeps_it(sim: Sim,
                                                       cli_env: dict[str, str]) -> None:
    snapshot = _snapshot(cli_env)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Evil"}).raise_for_status()
    sim.client.delete(f"/users/{user['id']}").raise_for_status()
    done = run("recover", snapshot, "--yes", "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"recoveryId", "status", "results", "verification"}
    assert result["status"] == "successful"
    assert result["results"] == [{"kind": "users", "id": user["id"], "action": "restore",
                                  "outcome": "applied", "detail": None}]
    assert result["verification"] == {"remaining": 0, "entries": []}
    restored = sim.client.get(f"/users/{user['id']}?$select=id,jobTitle").json()
    assert restored["jobTitle"] == user.get("jobTitle")
    history = run("history", "--json", env=cli_env)
    assert history.returncode == 0, history.stderr
    [job] = json.loads(history.stdout)
    assert job["jobId"] == result["recoveryId"] and job["status"] == "successful"
    assert job["snapshotId"] == snapshot
    assert [(r["id"], r["action"], r["outcome"]) for r in job["results"]] == [
        (user["id"], "restore", "applied")]


def test_without_a_terminal_and_without_yes_it_refuses(sim: Sim,
                                                       cli_env: dict[str, str]) -> None:
    snapshot = _snapshot(cli_env)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Evil"}).raise_for_status()
    writes = _writes(sim)
    done = run("recover", snapshot, env=cli_env)
    _one_line_error(done, 2, "--yes")
    assert _writes(sim) == writes


def test_bad_input_is_one_line_and_writes_nothing(sim: Sim, cli_env: dict[str, str]) -> None:
    snapshot = _snapshot(cli_env)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Evil"}).raise_for_status()
    writes = _writes(sim)
    _one_line_error(run("recover", "20200101T000000.000Z", "--yes", env=cli_env), 1,
                    "20200101T000000.000Z")
    _one_line_error(run("recover", "not-a-snapshot", "--yes", env=cli_env), 2)
    _one_line_error(run("recover", snapshot, "--kind", "widgets", "--yes", env=cli_env), 2,
                    "widgets")
    _one_line_error(run("recover", snapshot, "--object-id", "00000000-0000-0000-0000-"
                        "000000000001", "--yes", env=cli_env), 2, "not in report")
    _one_line_error(run("recover", snapshot, "--kind", "namedLocations", "--yes",
                        env=cli_env), 2, "selection matches no change")
    _one_line_error(run("recover", snapshot, "--report", "20200101T000000.000Z", "--yes",
                        env=cli_env), 1, "no report")
    _one_line_error(run("recover", snapshot, "--yes",
                        env={**cli_env, "ENTRA_BACKUP_HISTORY_DAYS": "soon"}), 2,
                    "ENTRA_BACKUP_HISTORY_DAYS")
    assert _writes(sim) == writes
    store = Path(cli_env["ENTRA_BACKUP_STORE"])
    assert not (store / "jobs").exists()


def test_a_tampered_snapshot_is_refused(sim: Sim, cli_env: dict[str, str]) -> None:
    snapshot = _snapshot(cli_env)
    store = Path(cli_env["ENTRA_BACKUP_STORE"])
    [users] = list(store.glob(f"*/{snapshot}/users.ndjson.gz"))
    os.chmod(users, 0o644)
    users.write_bytes(users.read_bytes()[:-8] + b"tampered")
    writes = _writes(sim)
    _one_line_error(run("recover", snapshot, "--yes", env=cli_env), 1, "verification")
    assert _writes(sim) == writes


def test_a_stale_report_is_refused(sim: Sim, cli_env: dict[str, str]) -> None:
    snapshot = _snapshot(cli_env)
    user = cloud_user(sim)
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Evil"}).raise_for_status()
    report = run("diff", snapshot, "--format", "json", env=cli_env)
    assert report.returncode == 0, report.stderr
    report_id = json.loads(report.stdout)["reportId"]
    sim.client.patch(f"/users/{user['id']}", json={"jobTitle": "Fixed by hand"}
                     ).raise_for_status()
    writes = _writes(sim)
    _one_line_error(run("recover", snapshot, "--report", report_id, "--yes", env=cli_env), 1,
                    "stale", user["id"])
    assert _writes(sim) == writes
    done = run("recover", snapshot, "--report", report_id, "--dry-run", "--json", env=cli_env)
    assert done.returncode != 0
