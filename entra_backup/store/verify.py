"""Check a snapshot against its manifest and the manifest chain around it.

A snapshot holds if every file named in its manifest hashes and counts as recorded, no file
is missing or unexpected, its predecessor's manifest still hashes to what it recorded (unless
the predecessor aged out of retention), and its successor, if any, recorded this manifest's
hash. Altering or removing any snapshot therefore fails `verify` of it or of its neighbour.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from entra_backup.capture.snapshot import MANIFEST
from entra_backup.errors import SnapshotIntegrityError, SnapshotNotFoundError
from entra_backup.store.snapshots import DEFAULT_RETENTION_DAYS, SnapshotStore, snapshot_time
from entra_backup.types import Json

CHUNK = 1 << 20


@dataclass
class Verification:
    snapshot_id: str
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    records_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def load_manifest(store: SnapshotStore, tenant_id: str, snapshot_id: str) -> tuple[Json, str]:
    """The parsed manifest and the SHA-256 of its bytes."""
    raw = store.read_bytes(tenant_id, snapshot_id, MANIFEST)
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SnapshotIntegrityError(f"{snapshot_id}/{MANIFEST} is not valid JSON",
                                     snapshot_id=snapshot_id, name=MANIFEST) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("kinds"), dict):
        raise SnapshotIntegrityError(f"{snapshot_id}/{MANIFEST} is not a manifest",
                                     snapshot_id=snapshot_id, name=MANIFEST)
    return manifest, hashlib.sha256(raw).hexdigest()


def file_digest(store: SnapshotStore, tenant_id: str, snapshot_id: str,
                name: str) -> tuple[str, int]:
    """SHA-256 of the stored bytes and the number of records inside, streamed."""
    hasher = hashlib.sha256()
    with store.open(tenant_id, snapshot_id, name) as handle:
        tee = _Tee(handle, hasher)
        lines = 0
        try:
            # typeshed asks for seek(); a forward read never calls it
            with gzip.GzipFile(fileobj=tee, mode="rb") as unzipped:  # type: ignore[call-overload]
                for _ in unzipped:
                    lines += 1
        except (OSError, EOFError):
            lines = -1  # not a valid gzip stream: the hash will say so too
        while tee.read(CHUNK):
            pass
    return hasher.hexdigest(), lines


class _Tee:
    def __init__(self, source: Any, hasher: Any) -> None:
        self._source = source
        self._hasher = hasher

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._source.read(size)
        self._hasher.update(data)
        return data


def verify_snapshot(
    store: SnapshotStore, tenant_id: str, snapshot_id: str, *,
    retention_days: int = DEFAULT_RETENTION_DAYS, now: datetime | None = None,
) -> Verification:
    all_ids = store.list_snapshots(tenant_id)
    if snapshot_id not in all_ids:
        raise SnapshotNotFoundError(f"no snapshot {snapshot_id} for tenant {tenant_id}")
    result, loaded = verify_files(store, tenant_id, snapshot_id)
    if loaded is not None:
        manifest, manifest_hash = loaded
        _check_chain(store, tenant_id, snapshot_id, manifest, manifest_hash, all_ids, result,
                     retention_days, now or datetime.now(UTC))
    return result


def verify_files(store: SnapshotStore, tenant_id: str, snapshot_id: str
                 ) -> tuple[Verification, tuple[Json, str] | None]:
    """The files of one snapshot against its manifest, without the chain around it (an
    archive keeps one snapshot a week, so its neighbours are elsewhere by design). Returns
    the result and the manifest with its hash (None when the manifest is unreadable)."""
    result = Verification(snapshot_id)
    try:
        manifest, manifest_hash = load_manifest(store, tenant_id, snapshot_id)
    except SnapshotIntegrityError as exc:
        result.problems.append(str(exc))
        return result, None
    expected = {MANIFEST}
    for name, entry in sorted(manifest["kinds"].items()):
        file_name = entry.get("file", "")
        expected.add(file_name)
        try:
            digest, lines = file_digest(store, tenant_id, snapshot_id, file_name)
        except SnapshotNotFoundError:
            result.problems.append(f"{snapshot_id}/{file_name}: missing")
            continue
        result.files_checked += 1
        if digest != entry.get("sha256"):
            result.problems.append(f"{snapshot_id}/{file_name}: SHA-256 differs from manifest")
        elif lines != entry.get("count"):
            result.problems.append(
                f"{snapshot_id}/{file_name}: {lines} records, manifest says {entry.get('count')}"
            )
        else:
            result.records_checked += lines
        del name
    for extra in sorted(set(store.list_files(tenant_id, snapshot_id)) - expected):
        result.problems.append(f"{snapshot_id}/{extra}: not named in the manifest")
    return result, (manifest, manifest_hash)


def _check_chain(
    store: SnapshotStore, tenant_id: str, snapshot_id: str, manifest: Json, manifest_hash: str,
    all_ids: list[str], result: Verification, retention_days: int, now: datetime,
) -> None:
    previous_id = manifest.get("previousSnapshotId")
    if previous_id:
        if previous_id in all_ids:
            _, previous_hash = load_manifest(store, tenant_id, previous_id)
            if previous_hash != manifest.get("previousManifestSha256"):
                result.problems.append(
                    f"{previous_id}/{MANIFEST}: altered (its SHA-256 differs from the one "
                    f"{snapshot_id} recorded)"
                )
        elif snapshot_time(previous_id) > now - timedelta(days=retention_days):
            result.problems.append(
                f"{previous_id}: missing (snapshot {snapshot_id} follows it and it is within "
                f"the {retention_days}-day retention)"
            )
    older = [s for s in all_ids if s < snapshot_id]
    if older and older[0] != previous_id and not (previous_id is None and not older):
        result.problems.append(
            f"{older[0]}: not in the chain ({snapshot_id} names "
            f"{previous_id or 'no predecessor'} as its predecessor)"
        )
    newer = sorted(s for s in all_ids if s > snapshot_id)
    if newer:
        successor, _ = load_manifest(store, tenant_id, newer[0])
        if successor.get("previousSnapshotId") != snapshot_id:
            result.problems.append(
                f"{newer[0]}/{MANIFEST}: names {successor.get('previousSnapshotId')} as its "
                f"predecessor, not {snapshot_id}"
            )
        elif successor.get("previousManifestSha256") != manifest_hash:
            result.problems.append(
                f"{snapshot_id}/{MANIFEST}: altered (SHA-256 differs from the one {newer[0]} "
                "recorded)"
            )
