"""The engine as the API sees it: the snapshot store, the job store and the protected tenants,
from the one wiring both doors use (`entra_backup.connect`), built once per configuration."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.errors import bad_request, not_found
from entra_backup.ids import validate_tenant_id
from entra_backup.settings import Settings

if TYPE_CHECKING:  # the storage and Graph SDKs load on the first request, not at cold start
    from entra_backup.connect import Connection
    from entra_backup.recover.jobs import JobStore
    from entra_backup.store.snapshots import SnapshotStore


@dataclass(frozen=True)
class Engine:
    store: SnapshotStore
    jobs: JobStore
    tenants: frozenset[str]

    def tenant(self, tenant_id: str) -> str:
        """A protected tenant's id; 400 for a malformed id, 404 for one we do not protect."""
        try:
            validate_tenant_id(tenant_id)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        if tenant_id not in self.tenants:
            raise not_found(f"tenant {tenant_id} is not protected by this deployment")
        return tenant_id


def engine() -> Engine:
    """The engine for the current app settings (cached: clients are reused across calls)."""
    settings = Settings.from_env()
    connection = _connection(settings)
    return Engine(store=connection.store, jobs=connection.jobs,
                  tenants=frozenset(settings.tenants))


@functools.lru_cache(maxsize=4)
def _connection(settings: Settings) -> Connection:
    from entra_backup.connect import connect

    return connect(settings)
