"""The weekly long-term archive: a verified copy, manifest last, taken once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from entra_backup.capture.snapshot import MANIFEST
from entra_backup.errors import SnapshotIntegrityError
from entra_backup.store.archive import archive_snapshot, due_snapshot
from entra_backup.store.snapshots import FolderStore, open_store, snapshot_time
from entra_backup.store.verify import verify_files
from tests.conftest import Sim
from tests.engine.recover_helpers import snap

pytestmark = pytest.mark.tenant(60, 3)


async def test_the_newest_snapshot_is_copied_whole_once(sim: Sim, tmp_path: Path,
                                                        storage_connection_string: str) -> None:
    source = FolderStore(tmp_path / "store")
    archive = open_store(f"{storage_connection_string};Container=archive-{uuid.uuid4().hex[:12]}")
    tenant, first = await snap(sim, source)
    _, newest = await snap(sim, source)
    now = snapshot_time(newest)
    assert due_snapshot(source, archive, tenant, now=now) == newest
    done = archive_snapshot(source, archive, tenant, newest)
    assert done.files == len(source.list_files(tenant, newest)) and not done.already
    assert archive.list_files(tenant, newest) == source.list_files(tenant, newest)
    assert verify_files(archive, tenant, newest)[0].ok
    assert archive_snapshot(source, archive, tenant, newest).already
    assert archive.list_snapshots(tenant) == [newest]  # the older one was not due
    assert first not in archive.list_snapshots(tenant, include_incomplete=True)
    # a week later the next newest is due again; six days later it is not
    assert due_snapshot(source, archive, tenant, now=now + timedelta(days=6)) is None
    assert due_snapshot(source, archive, tenant, now=now + timedelta(days=7)) is None  # same
    _, later = await snap(sim, source)
    assert due_snapshot(source, archive, tenant, now=now + timedelta(days=7)) == later
    assert due_snapshot(source, archive, tenant, now=now + timedelta(days=3)) is None


async def test_a_snapshot_that_does_not_verify_is_not_archived(sim: Sim, tmp_path: Path) -> None:
    source, archive = FolderStore(tmp_path / "store"), FolderStore(tmp_path / "archive")
    tenant, snapshot = await snap(sim, source)
    victim = next(n for n in source.list_files(tenant, snapshot) if n != MANIFEST)
    path = tmp_path / "store" / tenant / snapshot / victim
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(SnapshotIntegrityError, match="not archived"):
        archive_snapshot(source, archive, tenant, snapshot)
    assert archive.list_snapshots(tenant, include_incomplete=True) == []
