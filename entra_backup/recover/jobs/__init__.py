"""Recovery history: every write a recovery makes, and each job's summary, kept for a year.

`open_job_store(address)` takes the snapshot store's address: a folder keeps history under
`<folder>/jobs/` (the CLI's air-gapped mode); a connection string or URL of the storage account
keeps it in Azure Table storage. See base.py for the vocabulary (Microsoft's recovery API words).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AzureSasCredential
from azure.core.utils import parse_connection_string
from azure.data.tables import TableServiceClient

from entra_backup.recover.jobs.base import (
    ACTIONS,
    DEFAULT_KEEP_DAYS,
    FINAL_STATUSES,
    JOB_STATUSES,
    JOB_TYPES,
    MAX_DETAIL_CHARS,
    MAX_JOB_BYTES,
    MAX_STATE_BYTES,
    OUTCOMES,
    JobStore,
    RecoveryResult,
    validate_job_id,
)
from entra_backup.recover.jobs.folder import FolderJobStore
from entra_backup.recover.jobs.table import DEFAULT_TABLE_PREFIX, TableJobStore
from entra_backup.store.snapshots import JOBS_AREA, FolderStore, open_store

__all__ = [
    "ACTIONS",
    "DEFAULT_KEEP_DAYS",
    "DEFAULT_TABLE_PREFIX",
    "FINAL_STATUSES",
    "JOB_STATUSES",
    "JOB_TYPES",
    "MAX_DETAIL_CHARS",
    "MAX_JOB_BYTES",
    "MAX_STATE_BYTES",
    "OUTCOMES",
    "FolderJobStore",
    "JobStore",
    "RecoveryResult",
    "TableJobStore",
    "open_job_store",
    "validate_job_id",
]

JOBS_FOLDER = JOBS_AREA
_CONNECTION = re.compile(r"(^|;)\s*(AccountName|TableEndpoint|UseDevelopmentStorage)=", re.I)
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,40}")
_OPTIONS: dict[str, Any] = {"retry_total": 3, "connection_timeout": 20.0}


def open_job_store(address: str, *, credential: Any | None = None,
                   table_prefix: str = DEFAULT_TABLE_PREFIX) -> JobStore:
    """Open the job store beside the snapshot store an address names.

    A folder or file:// URL → FolderJobStore under `<folder>/jobs/`. A connection string →
    its table endpoint (`;Container=` is the blob store's and is ignored). A URL → a table
    account URL as given, or a blob container URL `https://{account}.blob.…/{container}` moved
    to `https://{account}.table.…`; a path-style (Azurite) URL must name the table endpoint.
    `table_prefix` names the tables (`{prefix}Jobs`, `{prefix}Results`). Nothing is contacted
    here; failures are StoreError on first use.
    """
    text = address.strip() if isinstance(address, str) else ""
    if not _PREFIX.fullmatch(table_prefix):
        raise ValueError(f"bad table prefix {table_prefix!r}: a letter, then letters or digits")
    if _CONNECTION.search(text):
        text = ";".join(part for part in text.split(";")  # the blob store's Container=
                        if part.strip() and part.split("=")[0].strip().lower() != "container")
        return TableJobStore(_service_from_connection_string(text, credential),
                             prefix=table_prefix)
    if urlsplit(text).scheme.lower() in ("http", "https"):
        return TableJobStore(_service_from_url(text, credential), prefix=table_prefix)
    snapshots = open_store(text)  # the same folder forms and the same refusals
    if not isinstance(snapshots, FolderStore):  # pragma: no cover - URLs are handled above
        raise ValueError(f"bad store address: {snapshots.location}")
    return FolderJobStore(snapshots.root / JOBS_FOLDER)


def _service_from_connection_string(text: str, credential: Any | None) -> TableServiceClient:
    """The SDK takes the key or SAS from the string; a separate credential needs the endpoint."""
    try:
        if credential is None:
            return TableServiceClient.from_connection_string(text, **_OPTIONS)
        settings = parse_connection_string(text)
        endpoint = settings.get("tableendpoint") or (
            f"{settings.get('defaultendpointsprotocol', 'https')}://{settings['accountname']}"
            f".table.{settings.get('endpointsuffix', 'core.windows.net')}")
    except (ValueError, KeyError) as exc:  # the SDK's message never repeats the key
        raise ValueError(f"bad store address: malformed connection string ({exc!r})") from None
    return TableServiceClient(endpoint, credential=credential, **_OPTIONS)


def _service_from_url(text: str, credential: Any | None) -> TableServiceClient:
    url = urlsplit(text)
    host = url.hostname or ""
    segments = [s for s in url.path.split("/") if s]
    try:
        path_style = host == "localhost" or ipaddress.ip_address(host) is not None
    except ValueError:
        path_style = False
    query = url.query
    if ".blob." in host and len(segments) == 1:
        netloc, path, query = url.netloc.replace(".blob.", ".table.", 1), "", ""  # blob SAS
    elif host and len(segments) == (1 if path_style else 0):
        netloc, path = url.netloc, url.path.rstrip("/")
    else:
        raise ValueError(f"bad store address: {url.scheme}://{url.netloc}{url.path} is neither "
                         "a table account URL nor a blob container URL on *.blob.*")
    if credential is None and "sig=" in query:
        credential = AzureSasCredential(query)
    elif credential is None:
        from azure.identity import DefaultAzureCredential  # slow import, needed only here

        credential = DefaultAzureCredential()
    return TableServiceClient(f"{url.scheme}://{netloc}{path}", credential=credential,
                              **_OPTIONS)
