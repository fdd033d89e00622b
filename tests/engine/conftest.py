"""Engine-test fixtures: the CLI run as a real process against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN, Sim


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ENTRA_BACKUP_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "entra_backup.cli", *args],
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          check=False)


@pytest.fixture
def cli_env(sim: Sim, tmp_path: Path) -> dict[str, str]:
    return {"ENTRA_BACKUP_GRAPH_URL": sim.graph, "ENTRA_BACKUP_GRAPH_TOKEN": TOKEN,
            "ENTRA_BACKUP_STORE": str(tmp_path / "store")}
