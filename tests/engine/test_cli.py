"""The `entra-backup` command line as a user runs it: a real process, real servers."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from entra_backup.kinds import ALL_KINDS
from tests.conftest import TOKEN, Sim
from tests.engine.conftest import run
from tests.support.servers import free_port


def test_snapshot_json_list_and_verify(cli_env: dict[str, str], sim: Sim) -> None:
    first = run("snapshot", "--json", env=cli_env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert set(result) == {"snapshotId", "tenantId", "counts"}
    assert set(result["counts"]) == {kind.name for kind in ALL_KINDS}
    assert result["counts"]["users"] == sum(
        1 for u in sim.state()["objects"]["users"] if "@odata.type" not in u)
    second = json.loads(run("snapshot", "--json", env=cli_env).stdout)
    listed = run("backups", "list", "--json", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["snapshotId"] for r in rows] == [second["snapshotId"], result["snapshotId"]]
    assert set(rows[0]) == {"snapshotId", "takenAt", "counts"}
    assert rows[1]["counts"] == result["counts"]
    verified = run("verify", result["snapshotId"], env=cli_env)
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout


def test_global_options_work_after_the_command(sim: Sim, tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    done = run("snapshot", "--json", "--graph-url", sim.url, "--store", store,
               "--kind", "namedLocations", env={"ENTRA_BACKUP_GRAPH_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert list(json.loads(done.stdout)["counts"]) == ["namedLocations"]


def test_tampered_file_and_removed_snapshot_are_caught(cli_env: dict[str, str]) -> None:
    ids = [json.loads(run("snapshot", "--json", env=cli_env).stdout) for _ in range(3)]
    tenant = ids[0]["tenantId"]
    root = Path(cli_env["ENTRA_BACKUP_STORE"]) / tenant
    target = root / ids[1]["snapshotId"] / "groups.ndjson.gz"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    bad = run("verify", ids[1]["snapshotId"], env=cli_env)
    assert bad.returncode == 1
    assert "groups.ndjson.gz" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    # remove the oldest snapshot entirely: the next one's chain link reports it
    old = root / ids[0]["snapshotId"]
    for path in old.iterdir():
        path.chmod(0o644)
        path.unlink()
    old.rmdir()
    broken = run("verify", ids[1]["snapshotId"], "--json", env=cli_env)
    assert broken.returncode == 1
    problems = json.loads(broken.stdout)["problems"]
    # both faults are named: the tampered file and, through the chain, the missing predecessor
    assert f"{ids[1]['snapshotId']}/groups.ndjson.gz: SHA-256 differs from manifest" in problems
    assert any(p.startswith(f"{ids[0]['snapshotId']}: missing (snapshot {ids[1]['snapshotId']} "
                            "follows it") for p in problems), problems
    chain = run("verify", ids[2]["snapshotId"], "--json", env=cli_env)
    assert chain.returncode == 0, chain.stdout


def test_altered_manifest_is_caught_by_its_successor(cli_env: dict[str, str]) -> None:
    first = json.loads(run("snapshot", "--json", env=cli_env).stdout)
    run("snapshot", "--json", env=cli_env)
    manifest = (Path(cli_env["ENTRA_BACKUP_STORE"]) / first["tenantId"] / first["snapshotId"]
                / "manifest.json")
    manifest.chmod(0o644)
    body = json.loads(manifest.read_text())
    body["engineVersion"] = "forged"
    manifest.write_text(json.dumps(body))
    bad = run("verify", first["snapshotId"], env=cli_env)
    assert bad.returncode == 1
    assert "manifest.json" in bad.stderr


@pytest.mark.parametrize(
    ("args", "env_update", "expected"),
    [
        (("verify", "not-a-snapshot"), {}, "snapshot id"),
        (("verify", "20200101T000000.000Z"), {}, "no snapshot"),
        (("snapshot", "--kind", "robots"), {}, "unknown kind 'robots'"),
        (("snapshot",), {"ENTRA_BACKUP_STORE": "ftp://nowhere"}, "store"),
        (("snapshot",), {"ENTRA_BACKUP_GRAPH_URL": "http://127.0.0.1:{port}"}, "Graph"),
    ],
)
def test_bad_input_is_one_clear_line(cli_env: dict[str, str], args: tuple[str, ...],
                                     env_update: dict[str, str], expected: str) -> None:
    run("snapshot", "--kind", "organization", env=cli_env)
    env = dict(cli_env)
    for key, value in env_update.items():
        env[key] = value.format(port=free_port())
    done = run(*args, env=env, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("entra-backup: error:")
    assert expected.lower() in lines[0].lower()
    assert "Traceback" not in done.stderr


def test_missing_permission_names_the_graph_permission(cli_env: dict[str, str]) -> None:
    env = dict(cli_env, ENTRA_BACKUP_GRAPH_TOKEN=f"{TOKEN};deny=policies")
    done = run("snapshot", "--kind", "authorizationPolicy", env=env)
    assert done.returncode == 1
    assert "Policy.Read.All" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_snapshot_is_never_overwritten(cli_env: dict[str, str]) -> None:
    from entra_backup.errors import SnapshotExistsError
    from entra_backup.store.snapshots import FolderStore

    done = json.loads(run("snapshot", "--json", "--kind", "organization", env=cli_env).stdout)
    store = FolderStore(Path(cli_env["ENTRA_BACKUP_STORE"]))
    with pytest.raises(SnapshotExistsError):
        store.write(done["tenantId"], done["snapshotId"], "manifest.json", b"{}")


def test_graphsim_on_loopback_needs_no_token(sim: Sim, tmp_path: Path) -> None:
    done = run("--graph-url", f"{sim.url}/v1.0", "--store", str(tmp_path / "s"), "snapshot",
               "--json", "--kind", "organization")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"organization": 1}


def _on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout piped, as when redirected)."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ENTRA_BACKUP_")}
    proc = subprocess.Popen([sys.executable, "-m", "entra_backup.cli", *args],
                            stdout=subprocess.PIPE, stderr=slave, env={**full_env, **env},
                            text=True)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_for_snapshot_and_diff(cli_env: dict[str, str]) -> None:
    code, out, terminal = _on_a_terminal("snapshot", env=cli_env)
    assert code == 0, terminal
    assert "objects (" in terminal and "users=" in terminal
    snapshot_id = out.split()[1]
    code, out, terminal = _on_a_terminal("diff", snapshot_id, "--no-delta", env=cli_env)
    assert code == 0, terminal
    assert "users=" in terminal  # the full read reports how far it has come
    assert json.loads(out)["entries"] == []  # stdout stays the clean JSON document
