"""`entra-backup diff` as a user runs it: every export format, and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from entra_backup.diff.report_schema import validate_entry, validate_report
from tests.conftest import Sim
from tests.engine.conftest import run

ATTACKER = "user:mallory@contoso.example"


def incident(sim: Sim) -> dict[str, str]:
    """A user's title changed and another user deleted, as a named person."""
    users = [u for u in sim.state()["objects"]["users"]
             if not u.get("onPremisesSyncEnabled") and "@odata.type" not in u]
    headers = {"Authorization": f"Bearer {ATTACKER}"}
    sim.client.patch(f"/users/{users[0]['id']}", json={"jobTitle": "Owned"}, headers=headers
                     ).raise_for_status()
    sim.client.delete(f"/users/{users[1]['id']}", headers=headers).raise_for_status()
    return {"changed": users[0]["id"], "deleted": users[1]["id"]}


def test_diff_json_is_a_valid_report_with_attribution(cli_env: dict[str, str], sim: Sim
                                                      ) -> None:
    snapshot = json.loads(run("snapshot", "--json", env=cli_env).stdout)["snapshotId"]
    ids = incident(sim)
    done = run("diff", snapshot, env=cli_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    validate_report(report)
    assert report["snapshotId"] == snapshot and report["against"] == "live"
    by_id = {e["id"]: e for e in report["entries"]}
    assert set(by_id) == {ids["changed"], ids["deleted"]}
    assert by_id[ids["deleted"]]["deletion"] == "soft"
    assert by_id[ids["changed"]]["changedBy"][0]["by"]["userPrincipalName"] == \
        "mallory@contoso.example"
    assert report["summary"]["byChange"] == {"created": 0, "updated": 1, "deleted": 1}


def test_every_export_format(cli_env: dict[str, str], sim: Sim, tmp_path: Path
                             ) -> None:
    snapshot = json.loads(run("snapshot", "--json", env=cli_env).stdout)["snapshotId"]
    ids = incident(sim)
    lines = run("diff", snapshot, "--format", "ndjson", env=cli_env).stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        validate_entry(json.loads(line))
    out = tmp_path / "report.csv"
    done = run("diff", snapshot, "--format", "csv", "--out", str(out), env=cli_env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert {(r["id"], r["itemType"], r["path"]) for r in rows} >= {
        (ids["changed"], "property", "jobTitle"), (ids["deleted"], "object", "")}
    page = tmp_path / "report.html"
    run("diff", snapshot, "--format", "html", "--out", str(page), env=cli_env)
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and ids["changed"] in html
    assert "https://" not in html and "http://" not in html.replace(sim.url, "")
    only = run("diff", snapshot, "--change", "deleted", "--kind", "users", env=cli_env)
    assert [e["id"] for e in json.loads(only.stdout)["entries"]] == [ids["deleted"]]


@pytest.mark.parametrize(("args", "expected"), [
    (("diff", "20200101T000000.000Z"), "no snapshot"),
    (("diff", "{snapshot}", "--kind", "robots"), "unknown kind"),
    (("diff", "{snapshot}", "--object-id", "../../etc/passwd"), "malformed object id"),
    (("diff", "not-an-id"), "snapshot id"),
    (("diff", "{snapshot}", "--against", "yesterday"), "snapshot id"),
])
def test_bad_diff_input_is_one_line_and_writes_nothing(
    cli_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    snapshot = json.loads(run("snapshot", "--json", env=cli_env).stdout)["snapshotId"]
    out = tmp_path / "never.json"
    done = run(*(a.format(snapshot=snapshot) for a in args), "--out", str(out), env=cli_env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0].lower(), done.stderr
    assert not out.exists()
    store = Path(cli_env["ENTRA_BACKUP_STORE"])
    assert not (store / "reports").exists()


def test_diff_refuses_a_snapshot_that_fails_verification(cli_env: dict[str, str]
                                                         ) -> None:
    done = json.loads(run("snapshot", "--json", env=cli_env).stdout)
    target = (Path(cli_env["ENTRA_BACKUP_STORE"]) / done["tenantId"] / done["snapshotId"]
              / "groups.ndjson.gz")
    target.chmod(0o644)
    target.write_bytes(target.read_bytes() + b"x")
    failed = run("diff", done["snapshotId"], env=cli_env)
    assert failed.returncode == 1
    assert "failed verification" in failed.stderr and "groups.ndjson.gz" in failed.stderr
    assert failed.stdout == ""
