"""Start and stop the real servers the tests talk to: Azurite (npm) and graphsim.

`python -m tests.support.servers -- CMD...` starts Azurite on free loopback ports, exports
`ENTRA_BACKUP_TEST_STORAGE` (an Azurite connection string) to CMD, runs it and stops the
server whatever happens. The pytest fixtures use the same functions when the variable is unset,
so `pytest` alone works too. graphsim is started per test worker by the fixtures, because its
state is mutable and tests reset it, through `graphsim.launch` (the launcher the benchmarks
and demos use too).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from graphsim import launch
from graphsim.launch import Server

ROOT = Path(__file__).resolve().parents[2]
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STORAGE_ENV = "ENTRA_BACKUP_TEST_STORAGE"


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Block until something accepts connections on `port`, or fail with the server's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port} within {timeout:.0f}s")


def azurite_connection_string(blob: int, queue: int, table: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue}/{AZURITE_ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table}/{AZURITE_ACCOUNT};"
    )


def start_azurite() -> Server:
    """Start Azurite from node_modules on three free ports with a throwaway data folder."""
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise RuntimeError("Azurite is not installed: run `make setup` (npm ci) first")
    workdir = Path(tempfile.mkdtemp(prefix="azurite-"))
    blob, queue, table = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [
            str(binary), "--silent", "--skipApiVersionCheck", "--loose",
            "--location", str(workdir),
            "--blobHost", "127.0.0.1", "--blobPort", str(blob),
            "--queueHost", "127.0.0.1", "--queuePort", str(queue),
            "--tableHost", "127.0.0.1", "--tablePort", str(table),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for port in (blob, queue, table):
        wait_for_port(port, proc=proc)
    return Server(proc, azurite_connection_string(blob, queue, table), workdir)


def start_graphsim(*args: str) -> Server:
    """Start `graphsim serve` on a free port; extra CLI arguments are passed through."""
    return launch.start(*args, quiet=True, cwd=ROOT)


def main(argv: list[str]) -> int:
    """Run a command with Azurite started for it (the `make test` entry point)."""
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.support.servers -- COMMAND...", file=sys.stderr)
        return 2
    azurite = start_azurite()
    try:
        return subprocess.call(argv, env=dict(os.environ, **{STORAGE_ENV: azurite.url}))
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
