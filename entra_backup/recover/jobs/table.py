"""Recovery history in Azure Table storage (tables `{prefix}Jobs` and `{prefix}Results`).

Jobs table, PartitionKey = tenantId, two rows per job written in one transaction:

    RowKey "j:{jobId}"                 the job, for get/update by id (a point read)
    RowKey "t:{inverted ms}_{jobId}"   the same job, so newest-first listing is one range query
                                       and purge is one range query over every tenant

Results table: PartitionKey = "{tenantId}_{jobId}" (tenant ids hold no '_'), RowKey = the step
in ten digits, so a partition query streams a job's results in step order. Pages are 250 rows,
not the service's 1,000: a row may carry two states of up to 240 KB, and the SDK holds a page
several times over while parsing it.
Re-recording a step is an upsert in REPLACE mode: the row is wholly the last write.

Entity limits (https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model):
a string property holds at most 64 KiB (32K UTF-16 units) and an entity 1 MiB, so JSON texts
are split over numbered properties of 16,000 characters (at most 32,000 units each), and a
state too big for the entity is dropped by the shared caps in base.py. A transaction holds at
most 100 entities of one partition and 4 MiB of payload
(https://learn.microsoft.com/en-us/rest/api/storageservices/performing-entity-group-transactions),
so batches are cut by count and by an upper bound of their escaped size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.data.tables import (
    TableClient,
    TableServiceClient,
    UpdateMode,
)

from entra_backup.errors import StoreError
from entra_backup.recover.jobs.base import (
    DEFAULT_KEEP_DAYS,
    JobStore,
    StoredResult,
    checked_job,
    inverted_millis,
    list_key,
    merged_job,
    not_found,
    purge_cutoff,
    validate_job_id,
)
from entra_backup.store.snapshots import validate_tenant_id
from entra_backup.types import Json

DEFAULT_TABLE_PREFIX: Final = "recovery"
_CHUNK: Final = 16_000  # characters; even all astral, 32,000 UTF-16 units < 64 KiB
_BATCH_ROWS: Final = 100
_BATCH_BYTES: Final = 3 * 1024 * 1024  # of 4 MiB, after the escaping bound below
# JSON text inside the JSON body, non-ASCII as \uXXXX: at most 3 bytes per UTF-8 byte (6 per
# character of the short texts, counted whole)
_ESCAPE_BOUND: Final = 3
_JOB_ROW: Final = "j:"
_LIST_ROW: Final = "t:"
_LIST_END: Final = "t;"  # ';' follows ':' in ASCII: the end of the "t:" range
_UPDATE_ATTEMPTS: Final = 5
_SUBMIT_ATTEMPTS: Final = 3
_Operation = tuple[str, Mapping[str, Any], Mapping[str, Any]]  # verb, entity, options
_IN_FLIGHT: Final = 4  # concurrent transactions per record_results call


class TableJobStore(JobStore):
    """The Functions app's history store; build it with `open_job_store`."""

    def __init__(self, service: TableServiceClient, *, prefix: str = DEFAULT_TABLE_PREFIX,
                 page_size: int = 250) -> None:
        super().__init__()
        self._jobs = service.get_table_client(f"{prefix}Jobs")
        self._results = service.get_table_client(f"{prefix}Results")
        self._page_size = page_size
        self._ready = False
        url = urlsplit(service.url)
        self.location = f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}/{prefix}*"

    @contextmanager
    def _errors(self, action: str, where: str) -> Iterator[None]:
        try:
            yield
        except AzureError as exc:
            message = (str(getattr(exc, "message", "") or "").splitlines() or [""])[0]
            raise StoreError(f"cannot {action} {where} in {self.location}: "
                             f"{message or type(exc).__name__}") from exc

    def _ensure_tables(self) -> None:
        """Create the tables on first write; a SAS or role may forbid that, which is fine."""
        if not self._ready:
            for table in (self._jobs, self._results):
                with self._errors("create", table.table_name), suppress(ResourceExistsError):
                    try:
                        table.create_table()
                    except HttpResponseError as exc:
                        if exc.status_code != 403:
                            raise
            self._ready = True

    def create_job(self, job: Json) -> None:
        checked, data = checked_job(job)
        self._ensure_tables()
        try:
            with self._errors("create job", checked["jobId"]):
                self._jobs.submit_transaction(
                    [("create", row, {}) for row in _job_rows(checked, data)])
        except StoreError as exc:
            if _status(exc) == 409:
                raise ValueError(f"job {checked['jobId']} already exists for tenant "
                                 f"{checked['tenantId']}") from None
            raise

    def _job_row(self, tenant_id: str, job_id: str) -> tuple[Json, str]:
        key = _JOB_ROW + validate_job_id(job_id)
        try:
            with self._errors("read job", job_id):
                entity = self._jobs.get_entity(validate_tenant_id(tenant_id), key)
        except StoreError as exc:
            if isinstance(exc.__cause__, ResourceNotFoundError):
                raise not_found(tenant_id, job_id, self.location) from None
            raise
        return dict(orjson.loads(_joined(entity, "job"))), str(entity.metadata["etag"])

    def get_job(self, tenant_id: str, job_id: str) -> Json:
        return self._job_row(tenant_id, job_id)[0]

    def update_job(self, tenant_id: str, job_id: str, changes: Json) -> Json:
        """Read, merge, write back if nobody wrote in between (ETag); else merge again."""
        for _attempt in range(_UPDATE_ATTEMPTS):
            old, etag = self._job_row(tenant_id, job_id)
            job, data = merged_job(old, changes)
            own, listed = _job_rows(job, data)
            operations: list[_Operation] = [
                ("update", own, {"mode": UpdateMode.REPLACE, "etag": etag,
                                 "match_condition": MatchConditions.IfNotModified}),
                ("upsert", listed, {"mode": UpdateMode.REPLACE})]
            try:
                with self._errors("update job", job_id):
                    self._jobs.submit_transaction(operations)
                return job
            except StoreError as exc:
                if _status(exc) not in (412, 404):  # 404: purged meanwhile, read says so
                    raise
        raise StoreError(f"job {job_id} kept changing during {_UPDATE_ATTEMPTS} updates")

    def list_jobs(self, tenant_id: str, *, job_type: str | None = None) -> list[Json]:
        query = "PartitionKey eq @tenant and RowKey ge @low and RowKey lt @high"
        parameters = {"tenant": validate_tenant_id(tenant_id), "low": _LIST_ROW,
                      "high": _LIST_END}
        if job_type is not None:
            query += " and jobType eq @type"
            parameters["type"] = job_type
        return [dict(orjson.loads(_joined(row, "job")))
                for row in self._query(self._jobs, query, parameters, what=tenant_id)]

    def purge(self, *, now: datetime, keep_days: int = DEFAULT_KEEP_DAYS) -> int:
        low = _LIST_ROW + inverted_millis(purge_cutoff(now, keep_days) - 1)  # created before
        rows = list(self._query(self._jobs, "RowKey ge @low and RowKey lt @high",
                                {"low": low, "high": _LIST_END}, what="expired jobs",
                                select=["PartitionKey", "RowKey", "jobId"]))
        for row in rows:
            tenant_id, job_id = row["PartitionKey"], row["jobId"]
            self._delete_results(tenant_id, job_id)
            with self._errors("purge job", job_id):
                self._jobs.submit_transaction([
                    ("delete", {"PartitionKey": tenant_id, "RowKey": _JOB_ROW + job_id}, {}),
                    ("delete", {"PartitionKey": tenant_id, "RowKey": row["RowKey"]}, {})])
            self._forget(tenant_id, job_id)
        return len(rows)

    def _delete_results(self, tenant_id: str, job_id: str) -> None:
        partition = f"{tenant_id}_{job_id}"
        keys = self._query(self._results, "PartitionKey eq @p", {"p": partition},
                           what=partition, select=["PartitionKey", "RowKey"])
        batch: list[_Operation] = []
        for key in keys:
            batch.append(("delete", {"PartitionKey": partition, "RowKey": key["RowKey"]}, {}))
            if len(batch) == _BATCH_ROWS:
                self._submit(self._results, batch, partition)
                batch = []
        if batch:
            self._submit(self._results, batch, partition)

    def _write_results(self, tenant_id: str, job_id: str, rows: list[StoredResult]) -> None:
        """Upsert in transactions, a few in flight: the SDK's multipart code is the bottleneck.

        Steps are distinct, so concurrent transactions never touch the same row; if one fails
        the call raises and recording the same results again is harmless.
        """
        partition = f"{tenant_id}_{job_id}"
        self._ensure_tables()
        batches: list[list[_Operation]] = [[]]
        size = 0
        for row in rows:
            entity, bound = _result_entity(partition, row)
            if batches[-1] and (len(batches[-1]) == _BATCH_ROWS or size + bound > _BATCH_BYTES):
                batches.append([])
                size = 0
            batches[-1].append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            size += bound
        if len(batches) == 1:
            self._submit(self._results, batches[0], partition)
            return
        with ThreadPoolExecutor(min(_IN_FLIGHT, len(batches))) as pool:
            for done in [pool.submit(self._submit, self._results, batch, partition)
                         for batch in batches]:
                done.result()

    def _read_results(self, tenant_id: str, job_id: str) -> Iterator[Json]:
        partition = f"{tenant_id}_{job_id}"
        for entity in self._query(self._results, "PartitionKey eq @p", {"p": partition},
                                  what=partition):
            yield _result_json(entity)

    def _submit(self, table: TableClient, batch: list[_Operation],
                where: str) -> None:
        """Submit a transaction of upserts or deletes; again if the answer was lost.

        azure-core retries a POST only when nothing was sent; a connection reset while reading
        the answer (a server closing an idle keep-alive connection) surfaces. Upserts are
        idempotent, and a lost delete transaction retried finds its rows gone: 404, done.
        """
        for attempt in range(1, _SUBMIT_ATTEMPTS + 1):
            try:
                with self._errors("write", where):
                    table.submit_transaction(batch)
                return
            except StoreError as exc:
                if _status(exc) == 404 and attempt > 1 and batch[0][0] == "delete":
                    return
                if not isinstance(exc.__cause__, ServiceResponseError) \
                        or attempt == _SUBMIT_ATTEMPTS:
                    raise

    def _query(self, table: TableClient, query: str, parameters: dict[str, Any], *,
               what: str, select: list[str] | None = None) -> Iterator[Json]:
        """Stream matching entities page by page; nothing when the table does not exist yet."""
        with self._errors("query", what), suppress(ResourceNotFoundError):
            yield from table.query_entities(query, parameters=parameters, select=select,
                                            results_per_page=self._page_size)


def _status(exc: StoreError) -> int | None:
    status = getattr(exc.__cause__, "status_code", None)
    return status if isinstance(status, int) else None


def _split(entity: Json, name: str, text: str) -> None:
    """Store `text` as properties name0, name1, ... and their count as {name}Parts."""
    parts = range(0, len(text), _CHUNK)
    entity[f"{name}Parts"] = len(parts)
    for number, start in enumerate(parts):
        entity[f"{name}{number}"] = text[start:start + _CHUNK]


def _joined(entity: Any, name: str) -> str:
    return "".join(entity[f"{name}{number}"] for number in range(entity[f"{name}Parts"]))


def _job_rows(job: Json, data: bytes) -> tuple[Json, Json]:
    own: Json = {"PartitionKey": job["tenantId"], "RowKey": _JOB_ROW + job["jobId"],
                 "jobId": job["jobId"], "jobType": job["jobType"], "status": job["status"],
                 "createdAt": job["createdAt"], "updatedAt": job["updatedAt"]}
    _split(own, "job", data.decode())
    return own, {**own, "RowKey": _LIST_ROW + list_key(job)}


def _result_entity(partition: str, row: StoredResult) -> tuple[Json, int]:
    """The entity for a result, and an upper bound of its bytes in a transaction body."""
    result = row.result
    entity: Json = {"PartitionKey": partition, "RowKey": f"{result.step:010d}",
                    "kind": result.kind, "objectId": result.id, "action": result.action,
                    "outcome": result.outcome, "detail": result.detail, "at": result.at,
                    "wave": result.wave, "truncated": ",".join(result.truncated) or None}
    bound = 1024 + (len(result.kind) + len(result.id) + len(result.detail or "")) * 6
    for name, data in (("before", row.before), ("after", row.after)):
        if data is not None:
            _split(entity, name, data.decode())
            bound += len(data) * _ESCAPE_BOUND
    return entity, bound


def _result_json(entity: Any) -> Json:
    states = {name: orjson.loads(_joined(entity, name)) if f"{name}Parts" in entity else None
              for name in ("before", "after")}
    truncated = entity.get("truncated")
    return {"step": int(entity["RowKey"]), "kind": entity["kind"], "id": entity["objectId"],
            "action": entity["action"], "outcome": entity["outcome"],
            "detail": entity.get("detail"), "at": entity["at"], "wave": entity["wave"],
            **states, "truncated": truncated.split(",") if truncated else []}
