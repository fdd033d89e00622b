"""Shared type aliases: one place for the names every module uses."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
ObjectId = str
TenantId = str
SnapshotId = str
