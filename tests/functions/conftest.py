"""Fixtures for the HTTP API tests: the Durable management API on loopback over a recording
backend, and app settings pointing the engine at Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.engine import Engine, engine
from entra_backup.connect import Connection, connect
from entra_backup.settings import Settings
from tests.conftest import TOKEN, Sim
from tests.functions.api_helpers import Api
from tests.support.durable_http import DurableHttpServer
from tests.support.durable_stub import StubBackend

_AUTH_SETTINGS = ("WEBSITE_AUTH_ENABLED", "ENTRA_BACKUP_API_AUDIENCE",
                  "ENTRA_BACKUP_API_TENANT_ID", "ENTRA_BACKUP_API_JWKS_URL",
                  "ENTRA_BACKUP_API_LOCAL_DEV")


@dataclass
class World:
    api: Api
    durable: StubBackend
    engine: Engine
    tenant: str


@pytest.fixture(scope="session")
def durable_server() -> Iterator[tuple[DurableHttpServer, StubBackend]]:
    backend = StubBackend()
    server = DurableHttpServer(backend)
    yield server, backend
    server.close()


@pytest.fixture
def world(storage_connection_string: str, durable_server: tuple[DurableHttpServer, StubBackend],
          monkeypatch: pytest.MonkeyPatch) -> World:
    """A protected tenant of its own on the shared Azurite, local-development auth (the auth
    tests replace it), and a backend emptied for the test."""
    server, backend = durable_server
    backend.started.clear()
    backend.signals.clear()
    backend.statuses.clear()
    backend.entities.clear()
    tenant = f"t{uuid.uuid4().hex[:12]}.example"
    monkeypatch.setenv("ENTRA_BACKUP_STORE", f"{storage_connection_string};Container=api-tests")
    monkeypatch.setenv("ENTRA_BACKUP_TENANTS", f"other.example,{tenant}")
    for name in _AUTH_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENTRA_BACKUP_API_LOCAL_DEV", "true")
    return World(Api(server), backend, engine(), tenant)


@pytest.fixture
def conn(sim: Sim, storage_connection_string: str,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    """App settings as the Functions host would give them (activities read them through
    `connect(Settings.from_env())`); a container of this test's own."""
    store = f"{storage_connection_string};Container=rec{uuid.uuid4().hex[:12]}"
    for name, value in {"ENTRA_BACKUP_STORE": store, "ENTRA_BACKUP_GRAPH_URL": sim.url,
                        "ENTRA_BACKUP_GRAPH_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    yield connect(Settings.from_env())
