"""The engine as the API sees it: the snapshot store, the job store and the protected tenants,
built once per configuration from the app settings (ENTRA_BACKUP_*)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from api.errors import bad_request, not_found
from entra_backup.jobs import JobStore, open_job_store
from entra_backup.store import SnapshotStore, open_store, validate_tenant_id


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
    return _engine(os.environ.get("ENTRA_BACKUP_STORE", ""),
                   os.environ.get("ENTRA_BACKUP_TENANTS", ""))


@functools.lru_cache(maxsize=4)
def _engine(address: str, tenants: str) -> Engine:
    return Engine(store=open_store(address), jobs=open_job_store(address),
                  tenants=frozenset(t.strip() for t in tenants.split(",") if t.strip()))
