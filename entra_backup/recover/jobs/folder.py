"""Recovery history in a local folder: the CLI's air-gapped twin of the Table store.

Layout under the root (`<store folder>/jobs/`):

    {tenantId}/{jobId}/job.json                 replaced atomically on every update
    {tenantId}/{jobId}/results/{seq:08d}.ndjson one segment per record_results call

Segments are immutable and each is sorted by step; a reader merges them (bounded: one line per
open segment) and keeps the last-written row of a step. Segment sizes are kept halving from
oldest to newest by merging a new segment into its predecessor while that one is not at least
twice as big, so a job has O(log n) segments and every row is rewritten O(log n) times. A
merged segment takes the newest sequence number of what it merged, so "last wins" still holds,
and a crash between publishing it and unlinking its inputs leaves only redundant rows. One
process writes a job's results at a time (the CLI runs one recovery); readers may run alongside.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import IO

import orjson

from entra_backup.errors import StoreError
from entra_backup.recover.jobs.base import (
    DEFAULT_KEEP_DAYS,
    JobStore,
    StoredResult,
    checked_job,
    is_expired,
    list_key,
    merged_job,
    not_found,
    purge_cutoff,
    validate_job_id,
)
from entra_backup.store.snapshots import _publish, validate_tenant_id
from entra_backup.types import Json

JOB_FILE = "job.json"
RESULTS = "results"
_PREFIX = b'{"step":'
_Line = tuple[int, int, bytes]  # step, segment sequence, raw line


class FolderJobStore(JobStore):
    """Jobs and results as files; fsynced and renamed into place, never half written."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root)
        self.location = str(self.root)

    def _errors(self, action: str, where: str) -> AbstractContextManager[None]:
        return _os_errors(f"cannot {action} {where} in {self.location}")

    def _folder(self, tenant_id: str, job_id: str) -> Path:
        return self.root / validate_tenant_id(tenant_id) / validate_job_id(job_id)

    def create_job(self, job: Json) -> None:
        checked, data = checked_job(job)
        folder = self._folder(checked["tenantId"], checked["jobId"])
        with self._errors("create job", checked["jobId"]):
            folder.mkdir(parents=True, exist_ok=True)
            temp = _write_temp(folder, data)
            try:
                _publish(temp, folder / JOB_FILE)
            except FileExistsError:
                raise ValueError(f"job {checked['jobId']} already exists for tenant "
                                 f"{checked['tenantId']}") from None
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(temp)

    def get_job(self, tenant_id: str, job_id: str) -> Json:
        path = self._folder(tenant_id, job_id) / JOB_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise not_found(tenant_id, job_id, self.location) from None
        except OSError as exc:
            raise StoreError(f"cannot read job {job_id} in {self.location}: {exc}") from exc
        return dict(orjson.loads(data))

    def update_job(self, tenant_id: str, job_id: str, changes: Json) -> Json:
        job, data = merged_job(self.get_job(tenant_id, job_id), changes)
        folder = self._folder(tenant_id, job_id)
        with self._errors("update job", job_id):
            temp = _write_temp(folder, data)
            os.replace(temp, folder / JOB_FILE)
        return job

    def list_jobs(self, tenant_id: str, *, job_type: str | None = None) -> list[Json]:
        tenant = self.root / validate_tenant_id(tenant_id)
        with self._errors("list jobs of", tenant_id):
            folders = list(tenant.iterdir()) if tenant.is_dir() else []
        jobs = []
        for folder in folders:
            with suppress(FileNotFoundError, NotADirectoryError):  # purged meanwhile
                job = dict(orjson.loads((folder / JOB_FILE).read_bytes()))
                if job_type is None or job.get("jobType") == job_type:
                    jobs.append(job)
        return sorted(jobs, key=list_key)

    def purge(self, *, now: datetime, keep_days: int = DEFAULT_KEEP_DAYS) -> int:
        cutoff = purge_cutoff(now, keep_days)
        with self._errors("list", "tenants"):
            tenants = [p for p in self.root.iterdir() if p.is_dir()] if self.root.is_dir() else []
        purged = 0
        for tenant in tenants:
            if not _is_tenant_id(tenant.name):  # a stray folder is not ours to judge
                continue
            for job in self.list_jobs(tenant.name):
                if is_expired(job, cutoff):
                    self._delete_job(tenant.name, job["jobId"])
                    purged += 1
        return purged

    def _delete_job(self, tenant_id: str, job_id: str) -> None:
        folder = self._folder(tenant_id, job_id)
        with self._errors("purge job", job_id):
            for segment in _segments(folder / RESULTS):
                segment.unlink()
            with suppress(FileNotFoundError):
                (folder / RESULTS).rmdir()
            (folder / JOB_FILE).unlink()
            for leftover in folder.iterdir():  # temp files of a crashed write
                leftover.unlink()
            folder.rmdir()
        self._forget(tenant_id, job_id)

    def _write_results(self, tenant_id: str, job_id: str, rows: list[StoredResult]) -> None:
        results = self._folder(tenant_id, job_id) / RESULTS
        with self._errors("record results of", job_id):
            results.mkdir(exist_ok=True)
            segments = _segments(results)
            temp = _write_temp(results, b"".join(map(_line, rows)))
            try:
                _publish_next(temp, results, _seq(segments[-1]) + 1 if segments else 1)
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(temp)
            _compact(results)

    def _read_results(self, tenant_id: str, job_id: str) -> Iterator[Json]:
        results = self._folder(tenant_id, job_id) / RESULTS
        with ExitStack() as stack:
            with self._errors("read results of", job_id):
                handles = _open_all(results, stack)
            for *_key, line in _latest(handles):
                yield dict(orjson.loads(line))


@contextmanager
def _os_errors(message: str) -> Iterator[None]:
    """OSError becomes StoreError with `message`, the cause chained."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"{message}: {exc}") from exc


def _line(row: StoredResult) -> bytes:
    fields = row.result.to_json()
    fields["before"] = None if row.before is None else orjson.Fragment(row.before)
    fields["after"] = None if row.after is None else orjson.Fragment(row.after)
    return orjson.dumps(fields) + b"\n"


def _write_temp(folder: Path, data: bytes | Iterable[bytes]) -> str:
    """Write `data` to a fsynced temp file in `folder` and return its path."""
    fd, temp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in [data] if isinstance(data, bytes) else data:
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(temp)
        raise
    return temp


def _is_tenant_id(name: str) -> bool:
    with suppress(ValueError):
        return bool(validate_tenant_id(name))
    return False


def _segments(results: Path) -> list[Path]:
    """Published segments, oldest first (temp files start with '.' and are not listed)."""
    if not results.is_dir():
        return []
    return sorted(p for p in results.iterdir() if p.suffix == ".ndjson" and p.stem.isdigit())


def _seq(segment: Path) -> int:
    return int(segment.stem)


def _publish_next(temp: str, results: Path, seq: int) -> None:
    """Give the temp file the first free sequence number from `seq` on."""
    while True:
        try:
            _publish(temp, results / f"{seq:08d}.ndjson")
            return
        except FileExistsError:
            seq += 1


def _open_all(results: Path, stack: ExitStack) -> list[tuple[int, IO[bytes]]]:
    """Open every segment; list again if one vanished (a merge replaced it meanwhile)."""
    for _attempt in range(20):
        handles: list[tuple[int, IO[bytes]]] = []
        try:
            for segment in _segments(results):
                handles.append((_seq(segment), stack.enter_context(segment.open("rb"))))
            return handles
        except FileNotFoundError:
            for _, handle in handles:
                handle.close()
    raise OSError(f"segments in {results} kept changing while being opened")


def _rows(seq: int, handle: IO[bytes]) -> Iterator[_Line]:
    for line in handle:
        if not line.startswith(_PREFIX):
            raise StoreError(f"corrupt results segment {handle.name}: a line lacks its step")
        yield int(line[len(_PREFIX):line.index(b",")]), seq, line


def _latest(handles: Sequence[tuple[int, IO[bytes]]]) -> Iterator[_Line]:
    """Merge segments by (step, sequence) and keep the newest row of each step."""
    pending: _Line | None = None
    for row in heapq.merge(*(_rows(seq, handle) for seq, handle in handles)):
        if pending is not None and pending[0] != row[0]:
            yield pending
        pending = row
    if pending is not None:
        yield pending


def _compact(results: Path) -> None:
    """Merge the newest segment into its predecessor while that is not twice its size."""
    segments = _segments(results)
    while len(segments) > 1:
        older, newer = segments[-2], segments[-1]
        if older.stat().st_size >= 2 * newer.stat().st_size:
            return
        with ExitStack() as stack:
            handles = [(_seq(p), stack.enter_context(p.open("rb"))) for p in (older, newer)]
            temp = _write_temp(results, (line for _, _, line in _latest(handles)))
        os.replace(temp, newer)  # the merge keeps the newer sequence number: last still wins
        older.unlink()
        segments = _segments(results)
