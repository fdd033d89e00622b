"""The snapshot store: the same scenarios on a folder and on real Azurite (no mocks)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import stat
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from entra_backup.errors import SnapshotExistsError, SnapshotNotFoundError, StoreError
from entra_backup.store.snapshots import (
    AREAS,
    DEFAULT_RETENTION_DAYS,
    BlobStore,
    FolderStore,
    SnapshotStore,
    apply_retention,
    area_container,
    new_snapshot_id,
    open_store,
    snapshot_time,
    validate_snapshot_id,
)
from tests.support.servers import AZURITE_ACCOUNT, AZURITE_KEY

TENANT = "0f2c5a4e-7d1b-4c39-9a6e-2b8f1d3c4e5a"
NOW = datetime(2026, 11, 26, 17, 30, 0, 123000, tzinfo=UTC)
SNAP = new_snapshot_id(NOW)
MIB = 1024 * 1024


def _settings(connection_string: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in connection_string.split(";") if part)
    return {key: value for key, value in pairs}


def _blob_endpoint(connection_string: str) -> str:
    return _settings(connection_string)["BlobEndpoint"].rstrip("/")


@pytest.fixture
def container_name(storage_connection_string: str) -> Iterator[str]:
    """A fresh container name on the shared Azurite, removed after the test with the
    containers of its areas."""
    name = f"test-{uuid.uuid4().hex[:40]}"
    yield name
    service = BlobServiceClient.from_connection_string(storage_connection_string)
    for container in (name, *(area_container(name, area) for area in sorted(AREAS))):
        with contextlib.suppress(ResourceNotFoundError):  # not every test creates them
            service.delete_container(container)


@pytest.fixture(params=["folder", "blob"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SnapshotStore:
    """Each scenario runs once per backend."""
    if request.param == "folder":
        return open_store(str(tmp_path / "store"))
    connection = request.getfixturevalue("storage_connection_string")
    name = request.getfixturevalue("container_name")
    return open_store(f"{connection};Container={name}")


class PatternStream(io.RawIOBase):
    """A non-seekable source of `size` pseudo-random bytes that never holds them all."""

    def __init__(self, size: int, *, fail_after: int | None = None) -> None:
        self.remaining = size
        self.fail_after = fail_after
        self.sent = 0
        self.sha256 = hashlib.sha256()
        self.block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise OSError("source broke mid-stream")
        count = min(len(buffer), self.remaining, len(self.block))
        piece = (self.sent.to_bytes(8, "big") + self.block)[:count]  # every block differs
        buffer[:count] = piece
        self.sha256.update(piece)
        self.remaining -= count
        self.sent += count
        return count


def _peak_during(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _write_manifest(store: SnapshotStore, snapshot_id: str, tenant: str = TENANT) -> None:
    store.write(tenant, snapshot_id, "users.ndjson.gz", b"users")
    store.write(tenant, snapshot_id, "manifest.json", b'{"kinds": ["users"]}')


# --- round trips and write-once -------------------------------------------------------------

def test_round_trip_bytes_and_stream(store: SnapshotStore) -> None:
    store.write(TENANT, SNAP, "manifest.json", b'{"a": 1}')
    store.write(TENANT, SNAP, "users.ndjson.gz", io.BytesIO(b"x" * 1000), length=1000)
    assert store.read_bytes(TENANT, SNAP, "manifest.json") == b'{"a": 1}'
    with store.open(TENANT, SNAP, "users.ndjson.gz") as stream:
        assert stream.read(10) == b"x" * 10
        assert stream.read() == b"x" * 990
    assert store.exists(TENANT, SNAP, "users.ndjson.gz")
    assert not store.exists(TENANT, SNAP, "groups.ndjson.gz")
    assert store.list_files(TENANT, SNAP) == ["manifest.json", "users.ndjson.gz"]
    assert store.list_files(TENANT, new_snapshot_id(NOW - timedelta(days=1))) == []


def test_large_file_streams_in_bounded_memory(store: SnapshotStore) -> None:
    size = 30 * MIB
    source = PatternStream(size)
    peak_write = _peak_during(lambda: store.write(TENANT, SNAP, "users.ndjson.gz", source))
    assert source.sent == size

    digest = hashlib.sha256()

    def read_all() -> None:
        with store.open(TENANT, SNAP, "users.ndjson.gz") as stream:
            while piece := stream.read(MIB):
                digest.update(piece)

    peak_read = _peak_during(read_all)
    assert digest.hexdigest() == source.sha256.hexdigest()
    assert peak_write < 10 * MIB, f"write peak {peak_write / MIB:.1f} MiB"
    assert peak_read < 10 * MIB, f"read peak {peak_read / MIB:.1f} MiB"

    # A second multi-block write is refused at commit and the first content survives.
    with pytest.raises(SnapshotExistsError):
        store.write(TENANT, SNAP, "users.ndjson.gz", PatternStream(9 * MIB))
    again = hashlib.sha256()
    with store.open(TENANT, SNAP, "users.ndjson.gz") as stream:
        while piece := stream.read(MIB):
            again.update(piece)
    assert again.hexdigest() == source.sha256.hexdigest()


def test_write_once(store: SnapshotStore) -> None:
    store.write(TENANT, SNAP, "manifest.json", b"first")
    with pytest.raises(SnapshotExistsError):
        store.write(TENANT, SNAP, "manifest.json", b"second")
    with pytest.raises(SnapshotExistsError):
        store.write(TENANT, SNAP, "manifest.json", io.BytesIO(b"third"))
    assert store.read_bytes(TENANT, SNAP, "manifest.json") == b"first"


def test_failed_write_leaves_no_file(store: SnapshotStore) -> None:
    with pytest.raises(OSError, match="mid-stream"):
        store.write(TENANT, SNAP, "users.ndjson.gz", PatternStream(6 * MIB, fail_after=5 * MIB))
    assert not store.exists(TENANT, SNAP, "users.ndjson.gz")
    assert store.list_files(TENANT, SNAP) == []
    store.write(TENANT, SNAP, "users.ndjson.gz", b"retry")
    assert store.read_bytes(TENANT, SNAP, "users.ndjson.gz") == b"retry"


def test_blocks_left_by_a_killed_writer_do_not_block_the_retry(
        storage_connection_string: str, container_name: str) -> None:
    store = open_store(f"{storage_connection_string};Container={container_name}")
    store.write(TENANT, SNAP, "manifest.json", b"{}")
    service = BlobServiceClient.from_connection_string(storage_connection_string)
    blob = service.get_blob_client(container_name, f"{TENANT}/{SNAP}/users.ndjson.gz")
    blob.stage_block("YmxvY2stMDAwMDAx", b"staged but never committed")  # a killed writer
    try:
        store.write(TENANT, SNAP, "users.ndjson.gz", b"users")
    except StoreError as error:  # Azurite: the staged blocks count as a blob; they are dropped
        assert not isinstance(error, SnapshotExistsError)
        store.write(TENANT, SNAP, "users.ndjson.gz", b"users")
    assert store.read_bytes(TENANT, SNAP, "users.ndjson.gz") == b"users"
    with pytest.raises(SnapshotExistsError):
        store.write(TENANT, SNAP, "users.ndjson.gz", b"other")


def test_length_mismatch_is_refused(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    with pytest.raises(ValueError, match="ended after 3 of 5"):
        store.write(TENANT, SNAP, "users.ndjson.gz", io.BytesIO(b"abc"), length=5)
    assert not store.exists(TENANT, SNAP, "users.ndjson.gz")


def test_folder_files_are_read_only(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    store.write(TENANT, SNAP, "manifest.json", b"{}")
    snapshot_dir = tmp_path / TENANT / SNAP
    assert stat.S_IMODE(os.stat(snapshot_dir / "manifest.json").st_mode) == 0o444
    assert [p.name for p in snapshot_dir.iterdir()] == ["manifest.json"]  # no temp files left


# --- listing --------------------------------------------------------------------------------

def test_list_snapshots_newest_first_with_manifest_only(store: SnapshotStore) -> None:
    ids = [new_snapshot_id(NOW - timedelta(hours=hours)) for hours in (5, 1, 30)]
    for snapshot_id in ids:
        _write_manifest(store, snapshot_id)
    half_written = new_snapshot_id(NOW + timedelta(minutes=1))
    store.write(TENANT, half_written, "users.ndjson.gz", b"partial")
    assert store.list_snapshots(TENANT) == sorted(ids, reverse=True)
    assert store.list_snapshots(TENANT, include_incomplete=True) == [half_written, *sorted(
        ids, reverse=True)]
    assert store.list_snapshots("11111111-2222-3333-4444-555555555555") == []


def test_list_tenants(store: SnapshotStore) -> None:
    assert store.list_tenants() == []
    _write_manifest(store, SNAP, tenant="contoso.onmicrosoft.com")
    _write_manifest(store, SNAP)
    assert store.list_tenants() == sorted([TENANT, "contoso.onmicrosoft.com"])


def test_open_missing_raises_not_found(store: SnapshotStore) -> None:
    with pytest.raises(SnapshotNotFoundError):
        store.open(TENANT, SNAP, "manifest.json")
    _write_manifest(store, SNAP)
    with pytest.raises(SnapshotNotFoundError):
        store.read_bytes(TENANT, SNAP, "groups.ndjson.gz")


def test_delete_snapshot(store: SnapshotStore) -> None:
    older = new_snapshot_id(NOW - timedelta(days=1))
    _write_manifest(store, older)
    _write_manifest(store, SNAP)
    store.delete_snapshot(TENANT, older)
    assert store.list_snapshots(TENANT, include_incomplete=True) == [SNAP]
    assert store.list_files(TENANT, older) == []
    store.delete_snapshot(TENANT, older)  # already gone: fine
    _write_manifest(store, older)  # the name is free again after a retention delete
    assert store.list_snapshots(TENANT) == [SNAP, older]


def test_retention(store: SnapshotStore) -> None:
    ages = {days: new_snapshot_id(NOW - timedelta(days=days)) for days in (10, 6, 4, 1)}
    for snapshot_id in ages.values():
        _write_manifest(store, snapshot_id)
    abandoned = new_snapshot_id(NOW - timedelta(days=7, minutes=1))
    store.write(TENANT, abandoned, "users.ndjson.gz", b"partial")

    deleted = apply_retention(store, TENANT, days=DEFAULT_RETENTION_DAYS, now=NOW)
    assert deleted == [ages[6], abandoned, ages[10]]  # newest first
    assert store.list_snapshots(TENANT, include_incomplete=True) == [ages[1], ages[4]]

    much_later = NOW + timedelta(days=60)
    assert apply_retention(store, TENANT, days=5, now=much_later, keep_latest=2) == []
    assert apply_retention(store, TENANT, days=5, now=much_later, keep_latest=1) == [ages[4]]
    assert store.list_snapshots(TENANT) == [ages[1]]  # the latest is always kept
    assert apply_retention(store, TENANT, days=5, now=much_later) == []


def test_retention_rejects_bad_arguments(tmp_path: Path) -> None:
    for kwargs in ({"days": 0}, {"days": 5, "keep_latest": 0}):
        with pytest.raises(ValueError):
            apply_retention(FolderStore(tmp_path), TENANT, now=NOW, **kwargs)  # type: ignore[arg-type]


# --- ids and names --------------------------------------------------------------------------

def test_snapshot_ids() -> None:
    assert SNAP == "20261126T173000.123Z"
    assert snapshot_time(SNAP) == NOW
    assert validate_snapshot_id(SNAP) == SNAP
    later = new_snapshot_id(NOW + timedelta(milliseconds=1))
    assert later > SNAP
    for bad in ("", "20261126T173000Z", "../20261126T173000.123Z", "20261326T173000.123Z",
                "20261126T173000.123Z/..", "20261126t173000.123z"):
        with pytest.raises(ValueError, match="bad snapshot id"):
            validate_snapshot_id(bad)
    with pytest.raises(ValueError):
        new_snapshot_id(datetime(2026, 1, 1))  # naive: which zone?


@pytest.mark.parametrize(("tenant", "snapshot", "name"), [
    ("../etc", SNAP, "manifest.json"),
    ("a/b", SNAP, "manifest.json"),
    ("", SNAP, "manifest.json"),
    (TENANT, "..", "manifest.json"),
    (TENANT, SNAP, "../manifest.json"),
    (TENANT, SNAP, ".hidden"),
    (TENANT, SNAP, "a/b.json"),
    (TENANT, SNAP, ""),
])
def test_unsafe_parts_are_refused(store: SnapshotStore, tenant: str, snapshot: str,
                                  name: str) -> None:
    with pytest.raises(ValueError):
        store.write(tenant, snapshot, name, b"x")
    with pytest.raises(ValueError):
        store.open(tenant, snapshot, name)


# --- addresses ------------------------------------------------------------------------------

def test_open_store_folder_addresses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(str(tmp_path / "abs"))
    assert isinstance(absolute, FolderStore)
    assert absolute.location == str(tmp_path / "abs")

    from_url = open_store((tmp_path / "via-url").as_uri())
    assert isinstance(from_url, FolderStore)
    from_url.write(TENANT, SNAP, "manifest.json", b"{}")
    assert (tmp_path / "via-url" / TENANT / SNAP / "manifest.json").is_file()

    monkeypatch.chdir(tmp_path)
    relative = open_store("backups")
    relative.write(TENANT, SNAP, "manifest.json", b"{}")
    assert (tmp_path / "backups" / TENANT / SNAP / "manifest.json").is_file()


def test_open_store_connection_strings(storage_connection_string: str,
                                       container_name: str) -> None:
    store = open_store(f"{storage_connection_string};Container={container_name}")
    assert isinstance(store, BlobStore)
    assert store.location == f"{_blob_endpoint(storage_connection_string)}/{container_name}"
    store.write(TENANT, SNAP, "manifest.json", b"{}")  # creates the container
    assert store.list_snapshots(TENANT) == [SNAP]

    default = open_store(storage_connection_string)
    assert default.location.endswith("/snapshots")

    dev = open_store("UseDevelopmentStorage=true")  # not contacted: nothing listens on 10000
    assert dev.location == "http://127.0.0.1:10000/devstoreaccount1/snapshots"
    dev_named = open_store("UseDevelopmentStorage=true;Container=backups")
    assert dev_named.location.endswith("/devstoreaccount1/backups")
    for opened in (store, default, dev, dev_named):
        assert AZURITE_KEY not in opened.location
        assert AZURITE_KEY not in repr(opened)


def test_open_store_container_urls(storage_connection_string: str,
                                   container_name: str) -> None:
    cloud = open_store("https://acct.blob.core.windows.net/backups")  # DefaultAzureCredential
    assert cloud.location == "https://acct.blob.core.windows.net/backups"
    account = open_store("https://acct.blob.core.windows.net/")  # the contract's app setting
    assert account.location == "https://acct.blob.core.windows.net/snapshots"
    azurite_account = open_store(_blob_endpoint(storage_connection_string),
                                 credential=AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY))
    assert azurite_account.location == f"{_blob_endpoint(storage_connection_string)}/snapshots"

    url = f"{_blob_endpoint(storage_connection_string)}/{container_name}"
    keyed = open_store(url, credential=AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY))
    keyed.write(TENANT, SNAP, "manifest.json", b"{}")

    sas = generate_container_sas(
        AZURITE_ACCOUNT, container_name, account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1))
    with_sas = open_store(f"{url}?{sas}")
    assert with_sas.location == url
    assert "sig=" not in with_sas.location and "sig=" not in repr(with_sas)
    assert with_sas.list_snapshots(TENANT) == [SNAP]
    with_sas.write(TENANT, SNAP, "users.ndjson.gz", b"users")
    assert keyed.read_bytes(TENANT, SNAP, "users.ndjson.gz") == b"users"


@pytest.mark.parametrize("address", [
    "", "   ", "ftp://host/folder", "Foo=bar;Baz=1", "https:///snapshots",
    "https://acct.blob.core.windows.net/Bad_Name", "https://acct.blob.core.windows.net/a/b",
    "http://127.0.0.1:10000", "file://remote-host/share",
    "UseDevelopmentStorage=true;Container=NO",
])
def test_open_store_garbage(address: str) -> None:
    with pytest.raises(ValueError, match=r"^bad store address: ") as caught:
        open_store(address)
    assert "\n" not in str(caught.value)


def test_malformed_connection_string_does_not_echo_the_key() -> None:
    with pytest.raises(ValueError, match="bad store address") as caught:
        open_store(f"AccountName=x;AccountKey={AZURITE_KEY};broken")
    assert AZURITE_KEY not in str(caught.value)


# --- failures on first use ------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_raises_store_error() -> None:
    port = _closed_port()
    address = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
               f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
    store = open_store(address, retry_total=0, connection_timeout=2)
    started = time.monotonic()
    for action in (store.list_tenants,
                   lambda: store.write(TENANT, SNAP, "manifest.json", b"{}"),
                   lambda: store.open(TENANT, SNAP, "manifest.json")):
        with pytest.raises(StoreError) as caught:
            action()
        assert not isinstance(caught.value, SnapshotNotFoundError)
        message = str(caught.value)
        assert "\n" not in message and AZURITE_KEY not in message
        assert f"127.0.0.1:{port}" in message
    assert time.monotonic() - started < 10


def test_wrong_key_raises_store_error(storage_connection_string: str,
                                      container_name: str) -> None:
    settings = _settings(storage_connection_string)
    wrong = "A" * 86 + "=="
    address = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={wrong};"
               f"BlobEndpoint={settings['BlobEndpoint']};Container={container_name}")
    store = open_store(address, retry_total=0)
    with pytest.raises(StoreError) as caught:
        store.write(TENANT, SNAP, "manifest.json", b"{}")
    assert not isinstance(caught.value, SnapshotExistsError | SnapshotNotFoundError)
    assert wrong not in str(caught.value)
    with pytest.raises(StoreError):
        store.list_snapshots(TENANT)


# --- areas ----------------------------------------------------------------------------------

def test_areas_are_subfolders_of_a_folder_store(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    for area in sorted(AREAS):
        store.area(area).write(TENANT, SNAP, "summary.json", b"{}")
        assert (tmp_path / area / TENANT / SNAP / "summary.json").is_file()
    assert store.list_tenants() == []  # an area is never mistaken for a tenant
    with pytest.raises(ValueError, match="unknown store area"):
        store.area("jobs")


def test_blob_areas_are_sibling_containers(storage_connection_string: str,
                                           container_name: str) -> None:
    store = open_store(f"{storage_connection_string};Container={container_name}")
    store.write(TENANT, SNAP, "manifest.json", b"{}")
    store.reports().write(TENANT, SNAP, "summary.json", b"report")
    store.staging().write(TENANT, SNAP, "users.00000.ndjson.gz", b"run")
    service = BlobServiceClient.from_connection_string(storage_connection_string)
    listed = {c.name for c in service.list_containers(name_starts_with=container_name)}
    assert listed == {container_name, f"{container_name}-reports", f"{container_name}-staging"}
    assert [b.name for b in service.get_container_client(f"{container_name}-reports")
            .list_blobs()] == [f"{TENANT}/{SNAP}/summary.json"]
    assert store.list_files(TENANT, SNAP) == ["manifest.json"]  # nothing of the areas here
    assert store.reports().location.endswith(f"/{container_name}-reports")
    assert area_container("snapshots", "reports") == "reports"  # the deployed names
    assert area_container("snapshots", "staging") == "staging"
    with pytest.raises(ValueError, match="not a valid blob container name"):
        area_container("x" * 60, "recoveries")


def test_staging_overwrites_and_deletes_where_the_other_areas_refuse(
    store: SnapshotStore,
) -> None:
    """A retried stage rewrites its run; the merging stage deletes them all."""
    staging = store.staging()
    assert staging.overwrite and not store.overwrite and not store.reports().overwrite
    staging.write(TENANT, SNAP, "users.00000.ndjson.gz", b"first attempt")
    staging.write(TENANT, SNAP, "users.00000.ndjson.gz", io.BytesIO(b"retry"), length=5)
    assert staging.read_bytes(TENANT, SNAP, "users.00000.ndjson.gz") == b"retry"
    staging.write(TENANT, SNAP, "users.00001.ndjson.gz", b"next chunk")
    assert staging.list_files(TENANT, SNAP) == ["users.00000.ndjson.gz",
                                                "users.00001.ndjson.gz"]
    for write_once in (store, store.reports(), store.recoveries()):
        write_once.write(TENANT, SNAP, "summary.json", b"once")
        with pytest.raises(SnapshotExistsError):
            write_once.write(TENANT, SNAP, "summary.json", b"twice")
    staging.delete_snapshot(TENANT, SNAP)
    assert staging.list_files(TENANT, SNAP) == []
    assert store.reports().read_bytes(TENANT, SNAP, "summary.json") == b"once"


def test_staging_write_failure_keeps_the_previous_run(store: SnapshotStore) -> None:
    staging = store.staging()
    staging.write(TENANT, SNAP, "users.00000.ndjson.gz", b"complete run")
    with pytest.raises(OSError, match="source broke"):
        staging.write(TENANT, SNAP, "users.00000.ndjson.gz",
                      io.BufferedReader(PatternStream(3 * MIB, fail_after=MIB)))
    assert staging.read_bytes(TENANT, SNAP, "users.00000.ndjson.gz") == b"complete run"
