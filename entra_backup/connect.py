"""One way from settings to live parts: the snapshot store, the job history and Graph.

Both doors call `connect()`: the CLI with its flags folded into the settings, the Functions
activities with the app settings alone. Nothing is contacted here; the first use of a part
fails with a StoreError / AuthenticationError naming what is wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Final, TypeVar
from urllib.parse import urlsplit

from entra_backup.graph.auth import StaticTokenProvider, TokenProvider, token_provider
from entra_backup.graph.pacing import RATES
from entra_backup.graph.session import GraphSession
from entra_backup.recover.jobs import JobStore, open_job_store
from entra_backup.settings import Settings, SettingsError
from entra_backup.store.snapshots import SnapshotStore, open_store

# A Graph on loopback is graphsim, which takes any bearer token: no credential is needed.
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
SIMULATOR_TOKEN: Final = "app:entra-backup"
T = TypeVar("T")


@dataclass
class Connection:
    """The parts one run works with; `store` and `jobs` open on first use."""

    settings: Settings

    @cached_property
    def store(self) -> SnapshotStore:
        days = self.settings.retention_days if self.settings.worm == "locked" else None
        return _open(lambda address: open_store(address, immutability_days=days), self.settings)

    @cached_property
    def archive(self) -> SnapshotStore | None:
        """The long-term archive (ENTRA_BACKUP_ARCHIVE), or None when none is configured."""
        address = self.settings.archive
        if address is None:
            return None
        days = self.settings.archive_days if self.settings.worm == "locked" else None
        try:
            return open_store(address, immutability_days=days)
        except ValueError as exc:
            raise SettingsError(f"ENTRA_BACKUP_ARCHIVE: {exc}") from None

    @cached_property
    def jobs(self) -> JobStore:
        return _open(open_job_store, self.settings)

    def tokens(self, tenant_id: str | None) -> TokenProvider:
        host = urlsplit(self.settings.graph_url).hostname or ""
        if self.settings.graph_token is None and host in LOOPBACK_HOSTS:
            return StaticTokenProvider(SIMULATOR_TOKEN)
        return token_provider(static_token=self.settings.graph_token, tenant_id=tenant_id)

    @contextlib.asynccontextmanager
    async def graph(self, tenant_id: str | None) -> AsyncIterator[GraphSession]:
        """A Graph session for one tenant; closes the session and the credential it made.
        Sessions share the process's learned refill rates (graph/pacing.py `RATES`): each
        activity gets a new session, the tenant's budget stays known."""
        tokens = self.tokens(tenant_id)
        try:
            async with GraphSession(base_url=self.settings.graph_url, tokens=tokens,
                                    tenant=tenant_id, rate_memory=RATES) as session:
                yield session
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                await close()


def connect(settings: Settings | None = None) -> Connection:
    """The live parts for `settings` (default: the environment's app settings)."""
    return Connection(settings if settings is not None else Settings.from_env())


def _open(opener: Callable[[str], T], settings: Settings) -> T:
    try:
        return opener(settings.require_store())
    except SettingsError:
        raise
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
