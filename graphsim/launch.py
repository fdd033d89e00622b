"""Start `graphsim serve` as a child process and stop it: the one launcher tests, benchmarks and
the demos share.

`running(*args)` starts `python -m graphsim serve --host 127.0.0.1 --port 0 ARGS...`, reads the
first stdout line (`graphsim listening on http://HOST:PORT`, which `serve` prints once the port
is bound and the tenant loaded) for the URL, yields a `Server` and stops the process whatever
happens: SIGTERM, then SIGKILL after ten seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_READY = "listening on "


@dataclass
class Server:
    """A running server process, how to reach it, and a scratch folder to remove with it."""

    proc: subprocess.Popen[bytes]
    url: str
    workdir: Path | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:  # graphsim's address pipe; unclosed it warns
            self.proc.stdout.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def command(*args: str) -> list[str]:
    """The `graphsim serve` command line on a free loopback port, with extra CLI arguments."""
    return [sys.executable, "-m", "graphsim", "serve", "--host", "127.0.0.1", "--port", "0",
            *args]


def start(*args: str, quiet: bool = False, cwd: Path | None = None,
          on_spawn: Callable[[int], None] | None = None) -> Server:
    """Start graphsim and return once it listens; `quiet` drops its stderr, `on_spawn` gets
    the process id before the tenant is loaded (a benchmark samples memory from there)."""
    proc = subprocess.Popen(command(*args), stdout=subprocess.PIPE, cwd=cwd,
                            stderr=subprocess.DEVNULL if quiet else None)
    if on_spawn is not None:
        on_spawn(proc.pid)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if _READY not in line:
        Server(proc, "").stop()
        raise RuntimeError(f"graphsim did not start: {line!r}")
    return Server(proc, line.strip().rsplit(_READY, 1)[1])


@contextlib.contextmanager
def running(*args: str, quiet: bool = False, cwd: Path | None = None,
            on_spawn: Callable[[int], None] | None = None) -> Iterator[Server]:
    """`start(...)` for the length of a `with` block."""
    server = start(*args, quiet=quiet, cwd=cwd, on_spawn=on_spawn)
    try:
        yield server
    finally:
        server.stop()
