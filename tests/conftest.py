"""Shared fixtures: real servers on loopback (graphsim per worker, Azurite per run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import STORAGE_ENV, Server, start_azurite, start_graphsim

TOKEN = "app:entra-backup-tests"


class Sim:
    """A graphsim server plus the `/_sim/` controls tests use."""

    def __init__(self, server: Server) -> None:
        self.url = server.url
        self.graph = f"{server.url}/v1.0"
        self.beta = f"{server.url}/beta"
        self.control = httpx.Client(base_url=f"{server.url}/_sim", timeout=60)
        self.client = httpx.Client(
            base_url=self.graph, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )

    def reset(self, *, synthetic: int | None = None, random_seed: int = 0,
              seed: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if seed is not None:
            body["seed"] = seed
        elif synthetic is not None:
            body = {"synthetic": synthetic, "randomSeed": random_seed}
        answer = self.control.post("/reset", json=body)
        answer.raise_for_status()
        return dict(answer.json())

    def configure(self, **settings: Any) -> None:
        self.control.post("/config", json=settings).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(self.control.get("/stats").json())

    def state(self) -> dict[str, Any]:
        return dict(self.control.get("/state").json())

    def advance(self, seconds: float) -> None:
        self.control.post("/clock", json={"advanceSeconds": seconds}).raise_for_status()


@pytest.fixture(scope="session")
def graphsim_server() -> Iterator[Server]:
    server = start_graphsim("--synthetic", "400", "--random-seed", "7")
    yield server
    server.stop()


@pytest.fixture
def sim(graphsim_server: Server, request: pytest.FixtureRequest) -> Iterator[Sim]:
    """A graphsim with a fresh synthetic tenant (400 objects, seed 7, unless the test is
    marked `@pytest.mark.tenant(size, seed)`) and default settings."""
    marker = request.node.get_closest_marker("tenant")
    size, seed = marker.args if marker is not None else (400, 7)
    handle = Sim(graphsim_server)
    handle.configure(throttle="off", time_scale=1.0, latency_ms=0, fail_rate=0, drop_rate=0,
                     spurious_429_rate=0, ca_rate_per_second=1.0,
                     delta_token_ttl_seconds=7 * 24 * 3600, delta_reset_rate=0,
                     delta_replay=0, agent_cascade_seconds=60, replication_delay_ms=0)
    handle.reset(synthetic=size, random_seed=seed)
    yield handle
    handle.client.close()
    handle.control.close()


@pytest.fixture(scope="session")
def storage_connection_string() -> Iterator[str]:
    """An Azurite connection string: the run's shared Azurite, or one started here."""
    existing = os.environ.get(STORAGE_ENV)
    if existing:
        yield existing
        return
    server = start_azurite()
    yield server.url
    server.stop()
