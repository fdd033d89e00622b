"""host.json's Durable settings and local.settings.example.json's list of app settings.

host.json cannot branch on a setting; the DTS shape is committed and the Azure Storage one is
made by the host's documented `AzureFunctionsJobHost__<path>` overrides (docs/functions.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = "AzureFunctionsJobHost__"
# CONTRACT-9's app settings: each must be listed and explained
CONTRACT_SETTINGS = {
    "ENTRA_BACKUP_STORE", "ENTRA_BACKUP_GRAPH_URL", "ENTRA_BACKUP_GRAPH_TOKEN",
    "ENTRA_BACKUP_TENANTS", "ENTRA_BACKUP_RETENTION_DAYS", "ENTRA_BACKUP_HISTORY_DAYS",
    "ENTRA_BACKUP_BREAK_GLASS", "ENTRA_BACKUP_DRIFT_WEBHOOK", "SNAPSHOT_SCHEDULE",
    "RETENTION_SCHEDULE", "DURABLE_BACKEND", "DURABLE_TASK_HUB",
    "DURABLE_TASK_SCHEDULER_CONNECTION", "AzureWebJobsStorage", "ENTRA_BACKUP_API_AUDIENCE",
    "ENTRA_BACKUP_API_TENANT_ID", "ENTRA_BACKUP_API_JWKS_URL", "ENTRA_BACKUP_API_LOCAL_DEV"}


def load(name: str) -> Any:
    return json.loads((ROOT / name).read_text())


def test_host_json_defaults_to_the_durable_task_scheduler() -> None:
    host = load("host.json")
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle",
                                       "version": "[4.*, 5.0.0)"}
    durable = host["extensions"]["durableTask"]
    assert durable["hubName"] == "%DURABLE_TASK_HUB%"
    assert durable["storageProvider"] == {
        "type": "azureManaged", "connectionStringName": "DURABLE_TASK_SCHEDULER_CONNECTION"}


def test_every_setting_is_listed_and_explained() -> None:
    example = load("local.settings.example.json")
    values, comments = example["Values"], example["_comments"]
    assert set(values) >= CONTRACT_SETTINGS
    assert set(values) == set(comments) - {"_"}
    assert all(len(text) > 20 for text in comments.values())


def test_local_overrides_switch_to_azure_storage_at_real_host_json_paths() -> None:
    """Each override names a path under host.json's durableTask.storageProvider (the host
    maps `__` to nesting), and together they make the Azure Storage shape."""
    values = load("local.settings.example.json")["Values"]
    provider = dict(load("host.json")["extensions"]["durableTask"]["storageProvider"])
    for name, value in values.items():
        if name.startswith(OVERRIDE):
            *path, key = name.removeprefix(OVERRIDE).split("__")
            assert path == ["extensions", "durableTask", "storageProvider"], name
            provider[key] = value
    assert values["DURABLE_BACKEND"] == "azureStorage"
    assert provider == {"type": "AzureStorage", "connectionStringName": "AzureWebJobsStorage",
                        "maxQueuePollingInterval": "00:00:10"}
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
