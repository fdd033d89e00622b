"""The long-term archive: one verified snapshot a week, copied into a store of its own.

Retention in the snapshot store is short (five days by default, as the native service), which
is its main weakness: an incident found after a week has nothing to go back to. The archive
keeps a weekly copy for months (its own container, cool tier, its own locked retention). A
copy is taken only from a snapshot that verifies, files first and manifest last, so an archive
manifest always names files that are there; a repeated run skips what is already archived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from entra_backup.capture.snapshot import MANIFEST
from entra_backup.errors import SnapshotIntegrityError
from entra_backup.store.snapshots import SnapshotStore, snapshot_time
from entra_backup.store.verify import verify_files, verify_snapshot

DEFAULT_EVERY_DAYS = 7


@dataclass(frozen=True)
class Archived:
    tenant_id: str
    snapshot_id: str | None  # None: nothing was due
    files: int = 0
    already: bool = False


def due_snapshot(source: SnapshotStore, archive: SnapshotStore, tenant_id: str, *,
                 now: datetime, every_days: int = DEFAULT_EVERY_DAYS) -> str | None:
    """The newest snapshot, if the archive's newest is `every_days` old or more (or absent)."""
    snapshots = source.list_snapshots(tenant_id)
    if not snapshots:
        return None
    archived = archive.list_snapshots(tenant_id)
    if archived and snapshot_time(archived[0]) > now - timedelta(days=every_days) + \
            timedelta(hours=1):  # a weekly timer that fires a little early still archives
        return None
    return snapshots[0] if snapshots[0] not in archived else None


def archive_snapshot(source: SnapshotStore, archive: SnapshotStore, tenant_id: str,
                     snapshot_id: str) -> Archived:
    """Copy one snapshot into the archive and check the copy; idempotent."""
    if archive.exists(tenant_id, snapshot_id, MANIFEST):
        return Archived(tenant_id, snapshot_id, already=True)
    checked = verify_snapshot(source, tenant_id, snapshot_id)
    if not checked.ok:
        raise SnapshotIntegrityError(f"snapshot {snapshot_id} failed verification, not "
                                     f"archived: {checked.problems[0]}")
    names = [name for name in source.list_files(tenant_id, snapshot_id) if name != MANIFEST]
    for name in [*names, MANIFEST]:  # the manifest last: it makes the copy visible
        if not archive.exists(tenant_id, snapshot_id, name):
            with source.open(tenant_id, snapshot_id, name) as stream:
                archive.write(tenant_id, snapshot_id, name, stream)
    copied, _ = verify_files(archive, tenant_id, snapshot_id)
    if not copied.ok:
        raise SnapshotIntegrityError(f"the archived copy of {snapshot_id} does not verify: "
                                     f"{copied.problems[0]}")
    return Archived(tenant_id, snapshot_id, files=len(names) + 1)
