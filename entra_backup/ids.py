"""Ids and names the stores accept, and the defaults every door shares - kept free of heavy
imports, so the HTTP API can check a request before it loads the storage SDKs.

Snapshot, report and recovery ids are one time form, `YYYYMMDDTHHMMSS.fffZ`: they sort by
time as text and keep '/' and '..' out of paths.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import UTC, datetime
from typing import Final

DEFAULT_RETENTION_DAYS: Final = 5  # snapshots, as the native service
DEFAULT_KEEP_DAYS: Final = 365  # job history: a year, where the native service keeps days
SNAPSHOT_ID: Final = re.compile(r"\d{8}T\d{6}\.\d{3}Z")
TENANT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,127}")
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def new_snapshot_id(now: datetime) -> str:
    """Return the id of a snapshot taken at `now`: `YYYYMMDDTHHMMSS.fffZ`, sortable as text."""
    if now.tzinfo is None:
        raise ValueError("new_snapshot_id needs a timezone-aware datetime")
    now = now.astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z"


def snapshot_time(snapshot_id: str) -> datetime:
    """Return the UTC instant a snapshot id names; ValueError for a malformed id."""
    if not isinstance(snapshot_id, str) or not SNAPSHOT_ID.fullmatch(snapshot_id):
        raise ValueError(f"bad snapshot id {snapshot_id!r}: expected YYYYMMDDTHHMMSS.fffZ")
    try:
        return datetime.strptime(snapshot_id[:-1] + "000", "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad snapshot id {snapshot_id!r}: not a real date and time") from None


def validate_snapshot_id(snapshot_id: str) -> str:
    """Return `snapshot_id` if well formed; the format also keeps '/' and '..' out of paths."""
    snapshot_time(snapshot_id)
    return snapshot_id


def validate_tenant_id(tenant_id: str) -> str:
    """Return `tenant_id` if it is a GUID or a safe token (letters, digits, '-', '.')."""
    if not isinstance(tenant_id, str) or not TENANT_ID.fullmatch(tenant_id):
        raise ValueError(f"bad tenant id {tenant_id!r}: use letters, digits, '-' and '.'")
    return tenant_id


def validate_name(name: str) -> str:
    """Return `name` if it is a safe file name (no '/', no leading '.')."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"bad file name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def is_snapshot_id(text: str) -> bool:
    """Whether `text` is a well-formed snapshot (or report, or recovery) id."""
    with suppress(ValueError):
        return bool(snapshot_time(text))
    return False
