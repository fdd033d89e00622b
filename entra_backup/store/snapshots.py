"""Snapshot store: write-once files `{tenant}/{snapshot}/{name}` in Azure Blob or a local folder.

A snapshot is `manifest.json` plus one `{kind}.ndjson.gz` per kind; one without a manifest is
half-written and is not listed. `write` refuses an existing name atomically (hard link in a
folder, `If-None-Match: *` in Blob) and a failed write never leaves a partial file under the
final name. azure-core and OS errors become `StoreError` here, once, with the cause chained.

Areas beside the snapshots keep the same layout and promises: `reports`, `recoveries` and
`staging`. In a folder they are subfolders; in Blob storage sibling containers named after
the area (beside a container not named `snapshots`, `{container}-{area}`, so two deployments
or test runs sharing an account stay apart), so each can carry its own lifecycle and
immutability rules. `staging` alone is overwritable: the stages of a capture or a diff leave
their runs there, a retried stage rewrites its own file, and the stage that merges them
deletes them.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient, ImmutabilityPolicy

from entra_backup.errors import SnapshotExistsError, SnapshotNotFoundError, StoreError
from entra_backup.ids import DEFAULT_RETENTION_DAYS as DEFAULT_RETENTION_DAYS
from entra_backup.ids import NAME as _NAME
from entra_backup.ids import TENANT_ID as _TENANT_ID
from entra_backup.ids import is_snapshot_id as is_snapshot_id
from entra_backup.ids import new_snapshot_id as new_snapshot_id
from entra_backup.ids import snapshot_time as snapshot_time
from entra_backup.ids import validate_name as validate_name
from entra_backup.ids import validate_snapshot_id as validate_snapshot_id
from entra_backup.ids import validate_tenant_id as validate_tenant_id

log = logging.getLogger(__name__)

DEFAULT_CONTAINER = "snapshots"
REPORTS_AREA = "reports"  # reserved: never a tenant id
RECOVERIES_AREA = "recoveries"  # recovery plans, beside the reports
STAGING_AREA = "staging"  # stages' runs and drafts: overwritable, deleted once merged
AREAS = frozenset({REPORTS_AREA, RECOVERIES_AREA, STAGING_AREA})
OVERWRITABLE = frozenset({STAGING_AREA})
WORM_AREAS = frozenset({REPORTS_AREA})  # besides the snapshots themselves
JOBS_AREA = "jobs"  # a folder store's recovery history (entra_backup.recover.jobs)
RESERVED = AREAS | {JOBS_AREA}  # never tenant ids
MANIFEST = "manifest.json"
_MIB = 1024 * 1024
# Small transfers keep memory bounded (SDK defaults: 64 MiB single put, 32 MiB first get). Gets
# are smallest because the SDK joins each response with `list(response)`, which pre-sizes a
# pointer list from the body length: about 9x the chunk size, transiently.
_TRANSFER_OPTIONS = {"max_single_put_size": 2 * _MIB, "max_block_size": 2 * _MIB,
                     "max_single_get_size": _MIB // 2, "max_chunk_get_size": _MIB // 2}
_CONTAINER = re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]")
_SECRET = re.compile(r"(sig|AccountKey|SharedAccessSignature)=[^&;\s]+", re.IGNORECASE)
_Translate = Callable[[], AbstractContextManager[None]]


def _checked(tenant_id: str, snapshot_id: str, name: str | None = None) -> str:
    """Validate the parts and return the relative path `tenant/snapshot[/name]`."""
    path = f"{validate_tenant_id(tenant_id)}/{validate_snapshot_id(snapshot_id)}"
    return path if name is None else f"{path}/{validate_name(name)}"


def area_container(container: str, area: str) -> str:
    """The Blob container holding `area` beside the snapshot container `container`."""
    if area not in AREAS:
        raise ValueError(f"unknown store area {area!r}")
    return _container_name(area if container == DEFAULT_CONTAINER else f"{container}-{area}")


class SnapshotStore(ABC):
    """Where snapshots live; both backends keep the same layout and the same promises."""

    location: str  # human-readable, never containing a key or SAS
    overwrite: bool = False  # only the staging area replaces and deletes files at will

    @abstractmethod
    def write(self, tenant_id: str, snapshot_id: str, name: str, source: IO[bytes] | bytes,
              *, length: int | None = None) -> None:
        """Store a file once, streaming from `source`; SnapshotExistsError if it exists
        (in an overwritable area the new file replaces the old one, atomically)."""

    @abstractmethod
    def open(self, tenant_id: str, snapshot_id: str, name: str) -> BinaryIO:
        """Open a file for streaming reads; SnapshotNotFoundError if it is missing."""

    @abstractmethod
    def exists(self, tenant_id: str, snapshot_id: str, name: str) -> bool:
        """Whether the file exists."""

    @abstractmethod
    def list_snapshots(self, tenant_id: str, *, include_incomplete: bool = False) -> list[str]:
        """Snapshot ids, newest first; only those with a manifest unless include_incomplete."""

    @abstractmethod
    def list_files(self, tenant_id: str, snapshot_id: str) -> list[str]:
        """Names in a snapshot, sorted; empty if there is no such snapshot."""

    @abstractmethod
    def list_tenants(self) -> list[str]:
        """Tenant ids that have anything stored, sorted."""

    @abstractmethod
    def delete_snapshot(self, tenant_id: str, snapshot_id: str) -> None:
        """Remove a snapshot (retention only): manifest first; a missing snapshot is fine."""

    @abstractmethod
    def area(self, name: str) -> SnapshotStore:
        """The same store's `{name}` area, laid out `{tenantId}/{id}/...` (same promises,
        except that `staging` is overwritable)."""

    def reports(self) -> SnapshotStore:
        """Difference reports: `reports/{tenantId}/{reportId}/...`, also write-once."""
        return self.area(REPORTS_AREA)

    def recoveries(self) -> SnapshotStore:
        """Recovery plans: `recoveries/{tenantId}/{recoveryId}/...`, also write-once."""
        return self.area(RECOVERIES_AREA)

    def staging(self) -> SnapshotStore:
        """Stage runs and drafts: `staging/{tenantId}/{snapshotId or reportId}/...`,
        overwritable; `delete_snapshot` removes one stage's files."""
        return self.area(STAGING_AREA)

    def read_bytes(self, tenant_id: str, snapshot_id: str, name: str) -> bytes:
        """Return a whole file: for manifests and other small files only."""
        with self.open(tenant_id, snapshot_id, name) as stream:
            return stream.read()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


class FolderStore(SnapshotStore):
    """A local folder with the Blob layout: the air-gapped copy; files are made read-only."""

    def __init__(self, root: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.overwrite = overwrite

    @contextmanager
    def _errors(self, action: str, where: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise SnapshotNotFoundError(f"{where} not found in {self.location}") from exc
        except FileExistsError as exc:
            raise SnapshotExistsError(f"{where} already exists in {self.location}") from exc
        except OSError as exc:
            raise StoreError(f"cannot {action} {where} in {self.location}: {exc}") from exc

    def write(self, tenant_id: str, snapshot_id: str, name: str, source: IO[bytes] | bytes,
              *, length: int | None = None) -> None:
        where = _checked(tenant_id, snapshot_id, name)
        final = self.root / where
        with self._errors("write", where):
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists() and not self.overwrite:  # fail before reading the source;
                raise FileExistsError(where)  # _publish is the real guard
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as out:  # errors of the source itself pass untranslated
                _copy(source, out, length, lambda: self._errors("write", where))
            with self._errors("write", where):
                if self.overwrite:
                    os.replace(temp, final)  # atomic: a reader sees the old or the new run
                else:
                    os.chmod(temp, 0o444)
                    _publish(temp, final)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(temp)

    def open(self, tenant_id: str, snapshot_id: str, name: str) -> BinaryIO:
        where = _checked(tenant_id, snapshot_id, name)
        with self._errors("read", where):
            return (self.root / where).open("rb")

    def exists(self, tenant_id: str, snapshot_id: str, name: str) -> bool:
        return (self.root / _checked(tenant_id, snapshot_id, name)).is_file()

    def _entries(self, where: str) -> list[Path]:
        with self._errors("list", where or "tenants"):
            folder = self.root / where
            return list(folder.iterdir()) if folder.is_dir() else []

    def list_snapshots(self, tenant_id: str, *, include_incomplete: bool = False) -> list[str]:
        entries = self._entries(validate_tenant_id(tenant_id))
        return sorted((e.name for e in entries if is_snapshot_id(e.name)
                       and (include_incomplete or (e / MANIFEST).is_file())), reverse=True)

    def list_files(self, tenant_id: str, snapshot_id: str) -> list[str]:
        entries = self._entries(_checked(tenant_id, snapshot_id))
        return sorted(e.name for e in entries if _NAME.fullmatch(e.name))  # not temp files

    def list_tenants(self) -> list[str]:
        return sorted(e.name for e in self._entries("")
                      if e.is_dir() and _TENANT_ID.fullmatch(e.name) and e.name not in RESERVED)

    def area(self, name: str) -> FolderStore:
        if name not in AREAS:
            raise ValueError(f"unknown store area {name!r}")
        return FolderStore(self.root / name, overwrite=name in OVERWRITABLE)

    def delete_snapshot(self, tenant_id: str, snapshot_id: str) -> None:
        where = _checked(tenant_id, snapshot_id)
        with self._errors("delete", where):
            for path in sorted(self._entries(where), key=lambda path: path.name != MANIFEST):
                os.chmod(path, 0o644)  # read-only files: make them writable, then remove
                path.unlink()
            with suppress(FileNotFoundError):
                (self.root / where).rmdir()


def _copy(source: IO[bytes] | bytes, out: BinaryIO, length: int | None,
          translate: _Translate) -> None:
    """Copy `source` to `out` in 1 MiB pieces and fsync; `length`, if given, must match."""
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(source)
    copied = 0
    while length is None or copied < length:
        piece = source.read(_MIB if length is None else min(_MIB, length - copied))
        if not piece:
            break
        with translate():
            out.write(piece)
        copied += len(piece)
    if length is not None and copied != length:
        raise ValueError(f"source ended after {copied} of {length} bytes")
    with translate():
        out.flush()
        os.fsync(out.fileno())


def _publish(temp: str, final: Path) -> None:
    """Give the finished temp file its final name; FileExistsError rather than replace."""
    try:
        os.link(temp, final)  # atomic, and unlike rename it never replaces
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some shares): claim the name, then swap in
        os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444))
        os.replace(temp, final)


class _ChunkReader(io.RawIOBase):
    """A raw stream over downloaded chunks, so a blob is read one chunk at a time."""

    def __init__(self, chunks: Iterator[bytes], translate: _Translate) -> None:
        self._chunks, self._translate = chunks, translate
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            with self._translate():
                chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class BlobStore(SnapshotStore):
    """An Azure Blob container. Build it with `open_store`, whose client options keep
    transfers bounded in memory; `immutability_days` adds version-level WORM (real Azure only).
    `overwrite` (the staging area) replaces existing blobs and never locks them.
    """

    def __init__(self, container: ContainerClient, *, immutability_days: int | None = None,
                 max_concurrency: int = 2, overwrite: bool = False) -> None:
        if immutability_days is not None and immutability_days < 1:
            raise ValueError("immutability_days must be at least 1")
        self._container = container
        self._immutability_days = None if overwrite else immutability_days
        self._max_concurrency = max_concurrency
        self._container_ready = False
        self.overwrite = overwrite
        url = urlsplit(container.url)
        self.location = f"{url.scheme}://{url.netloc}{url.path}".rstrip("/")

    @contextmanager
    def _errors(self, action: str, where: str) -> Iterator[None]:
        try:
            yield
        except ResourceNotFoundError as exc:
            raise SnapshotNotFoundError(f"{where} not found in {self.location}") from exc
        except (ResourceExistsError, ResourceModifiedError) as exc:  # If-None-Match: * refused
            raise SnapshotExistsError(f"{where} already exists in {self.location}") from exc
        except AzureError as exc:
            code = getattr(exc, "error_code", None) or type(exc).__name__
            detail = _SECRET.sub(r"\1=***", (str(exc).strip().splitlines() or [""])[0])
            message = f"cannot {action} {where} in {self.location}: {code}: {detail}"
            raise StoreError(message) from exc

    def _ensure_container(self) -> None:
        """Create the container on first write; a SAS or role may forbid that, which is fine."""
        if not self._container_ready:
            with suppress(SnapshotExistsError), \
                    self._errors("create container", self._container.container_name):
                try:
                    self._container.create_container()
                except HttpResponseError as exc:
                    if exc.status_code != 403:
                        raise
            self._container_ready = True

    def _immutability_policy(self, snapshot_id: str) -> dict[str, Any]:
        """Upload arguments locking the blob version until snapshot time + immutability_days.

        Needs version-level immutability on the container (functions.md §4.1); Azurite has none,
        so it is off by default and untested here. The policy `set_immutability_policy` would set
        rides on the upload itself, so no blob is ever visible unprotected. Mode Locked: a
        locked policy can be extended but never shortened or removed, by anyone, which is the
        promise (an unlocked one yields to any account with the right role).
        """
        if self._immutability_days is None:
            return {}
        expiry = snapshot_time(snapshot_id) + timedelta(days=self._immutability_days)
        if expiry <= datetime.now(UTC):
            return {}  # already past retention: nothing left to protect
        return {"immutability_policy": ImmutabilityPolicy(expiry_time=expiry,
                                                          policy_mode="Locked")}

    def write(self, tenant_id: str, snapshot_id: str, name: str, source: IO[bytes] | bytes,
              *, length: int | None = None) -> None:
        where = _checked(tenant_id, snapshot_id, name)
        self._ensure_container()
        blob = self._container.get_blob_client(where)
        try:
            with self._errors("write", where):
                blob.upload_blob(source, length=length, overwrite=self.overwrite,
                                 max_concurrency=self._max_concurrency,
                                 **self._immutability_policy(snapshot_id))
        except SnapshotExistsError as exc:
            if not _discard_uncommitted(blob):
                raise
            raise StoreError(f"discarded the blocks of an interrupted write of {where} in "
                             f"{self.location}; write it again") from exc
        except BaseException:
            _discard_uncommitted(blob)
            raise

    def open(self, tenant_id: str, snapshot_id: str, name: str) -> BinaryIO:
        where = _checked(tenant_id, snapshot_id, name)
        with self._errors("read", where):
            download = self._container.download_blob(where, max_concurrency=1)
        raw = _ChunkReader(iter(download.chunks()), lambda: self._errors("read", where))
        return io.BufferedReader(raw, buffer_size=256 * 1024)

    def exists(self, tenant_id: str, snapshot_id: str, name: str) -> bool:
        where = _checked(tenant_id, snapshot_id, name)
        with self._errors("check", where):
            return bool(self._container.get_blob_client(where).exists())

    def _names(self, prefix: str, *, walk: bool = False) -> list[str]:
        """Names under `prefix`, relative to it: folders only when `walk`; [] if no container."""
        with suppress(SnapshotNotFoundError), self._errors("list", prefix or "tenants"):
            if walk:
                items = self._container.walk_blobs(name_starts_with=prefix or None)
                names = [item.name for item in items if item.name.endswith("/")]
            else:
                names = list(self._container.list_blob_names(name_starts_with=prefix))
            return [full[len(prefix):].rstrip("/") for full in names]
        return []

    def list_snapshots(self, tenant_id: str, *, include_incomplete: bool = False) -> list[str]:
        # One flat listing finds every manifest: far cheaper than a request per snapshot folder.
        found = set()
        for rest in self._names(validate_tenant_id(tenant_id) + "/"):
            snapshot_id, _, name = rest.partition("/")
            if is_snapshot_id(snapshot_id) and (include_incomplete or name == MANIFEST):
                found.add(snapshot_id)
        return sorted(found, reverse=True)

    def list_files(self, tenant_id: str, snapshot_id: str) -> list[str]:
        return sorted(self._names(_checked(tenant_id, snapshot_id) + "/"))

    def list_tenants(self) -> list[str]:
        return sorted(name for name in self._names("", walk=True)
                      if _TENANT_ID.fullmatch(name) and name not in RESERVED)

    def area(self, name: str) -> BlobStore:
        """The sibling container `area_container` names, on the same account, credential and
        transfer options (the SDK's service client shares this container's pipeline)."""
        sibling = area_container(self._container.container_name, name)
        service = self._container._get_blob_service_client()
        # WORM for the evidence (snapshots, reports); plans and staging are working files, in
        # containers without version-level immutability, where a policy would be refused
        worm = self._immutability_days if name in WORM_AREAS else None
        return BlobStore(service.get_container_client(sibling), immutability_days=worm,
                         max_concurrency=self._max_concurrency, overwrite=name in OVERWRITABLE)

    def delete_snapshot(self, tenant_id: str, snapshot_id: str) -> None:
        prefix = _checked(tenant_id, snapshot_id) + "/"
        for name in sorted(self._names(prefix), key=lambda name: name != MANIFEST):
            with suppress(SnapshotNotFoundError), self._errors("delete", prefix + name):
                self._container.delete_blob(prefix + name,
                                            delete_snapshots="include")


def _discard_uncommitted(blob: BlobClient) -> bool:
    """Drop blocks a failed or killed upload staged; True if there were some and no blob.

    Azurite counts a name with only uncommitted blocks as existing for `If-None-Match: *`, so
    without this the retry of a failed write would be refused as an overwrite.
    """
    with suppress(AzureError):
        if not blob.exists():
            blob.delete_blob()  # removes uncommitted blocks; 404 when there are none
            return True
    return False


def apply_retention(store: SnapshotStore, tenant_id: str, *, days: int, now: datetime,
                    keep_latest: int = 1) -> list[str]:
    """Delete snapshots older than `days`, never the newest `keep_latest`; return deleted ids.

    Half-written snapshots (no manifest) older than `days` were abandoned and go too.
    """
    if days < 1 or keep_latest < 1 or now.tzinfo is None:
        raise ValueError("retention needs days >= 1, keep_latest >= 1 and an aware `now`")
    kept = set(store.list_snapshots(tenant_id)[:keep_latest])
    cutoff = now - timedelta(days=days)
    deleted = []
    for snapshot_id in store.list_snapshots(tenant_id, include_incomplete=True):
        if snapshot_id not in kept and snapshot_time(snapshot_id) < cutoff:
            log.info("retention: deleting %s/%s from %s", tenant_id, snapshot_id, store.location)
            store.delete_snapshot(tenant_id, snapshot_id)
            deleted.append(snapshot_id)
    return deleted


def open_store(address: str, *, credential: Any | None = None,
               immutability_days: int | None = None, retry_total: int = 3,
               connection_timeout: float = 20.0) -> SnapshotStore:
    """Open the store an address names: a folder path, file:// URL, container or account URL
    (its `snapshots` container) or connection string (with an optional `;Container=name`,
    default 'snapshots').

    Nothing is contacted here; connection and auth failures are StoreError on first use.
    """
    text = address.strip() if isinstance(address, str) else ""
    if not text:
        raise ValueError("bad store address: empty")
    options: dict[str, Any] = {**_TRANSFER_OPTIONS, "retry_total": retry_total,
                               "connection_timeout": connection_timeout}
    url = urlsplit(text)
    if re.search(r"(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)=", text, re.I):
        client = _client_from_connection_string(text, credential, options)
    elif url.scheme.lower() in ("http", "https"):
        client = _client_from_url(text, credential, options)
    elif url.scheme.lower() == "file":
        if url.netloc not in ("", "localhost") or not url.path:
            raise ValueError(f"bad store address: {text!r} is not a local file:// URL")
        return FolderStore(url2pathname(url.path))
    elif len(url.scheme) > 1 or "=" in text or ";" in text:  # one letter: a Windows drive
        shown = text if "=" not in text else "a connection string without AccountName="
        raise ValueError(f"bad store address: {shown}; expected a folder, file:// URL, "
                         "container URL or connection string")
    else:
        return FolderStore(text)
    return BlobStore(client, immutability_days=immutability_days)


def _container_name(name: str) -> str:
    if not _CONTAINER.fullmatch(name):
        raise ValueError(f"bad store address: {name!r} is not a valid blob container name")
    return name


def _client_from_connection_string(text: str, credential: Any | None,
                                   options: dict[str, Any]) -> ContainerClient:
    container, kept = DEFAULT_CONTAINER, []
    for segment in filter(str.strip, text.split(";")):
        key, _, value = segment.partition("=")
        if key.strip().lower() == "container":
            container = value.strip()  # ours, not the SDK's: it would refuse the string
        else:
            kept.append(segment)
    try:
        service = BlobServiceClient.from_connection_string(";".join(kept), credential=credential,
                                                           **options)
    except ValueError as exc:  # the SDK's message never repeats the key
        raise ValueError(f"bad store address: malformed connection string ({exc})") from None
    return service.get_container_client(_container_name(container))


def _client_from_url(text: str, credential: Any | None,
                     options: dict[str, Any]) -> ContainerClient:
    """Container URL: one path segment, or two (account/container) on an IP host (Azurite);
    an account URL alone (no container segment) means its `snapshots` container."""
    url = urlsplit(text)
    host = url.hostname or ""
    try:
        path_style = host == "localhost" or ipaddress.ip_address(host) is not None
    except ValueError:
        path_style = False
    segments = [s for s in url.path.split("/") if s]
    account_segments = 1 if path_style else 0
    if host and len(segments) == account_segments:
        segments.append(DEFAULT_CONTAINER)
        text = url._replace(path="/" + "/".join(segments)).geturl()
    if not host or len(segments) != account_segments + 1:
        shown = f"{url.scheme}://{url.netloc}{url.path}"
        raise ValueError(f"bad store address: {shown} is not a blob container URL")
    _container_name(segments[-1])
    if credential is None and "sig=" not in url.query:
        from azure.identity import DefaultAzureCredential  # slow import, needed only here

        credential = DefaultAzureCredential()
    return ContainerClient.from_container_url(text, credential=credential, **options)
