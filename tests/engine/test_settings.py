"""App settings are read once, the same way for the CLI and the Functions app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from entra_backup.connect import SIMULATOR_TOKEN, connect
from entra_backup.graph.auth import CredentialTokenProvider, StaticTokenProvider
from entra_backup.settings import Settings, SettingsError
from entra_backup.store.snapshots import new_snapshot_id


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings.store is None
    assert settings.graph_url == "https://graph.microsoft.com"
    assert (settings.retention_days, settings.history_days) == (5, 365)
    assert settings.tenants == () and settings.break_glass == ()


def test_every_variable_is_read() -> None:
    settings = Settings.from_env({
        "ENTRA_BACKUP_STORE": " backups ", "ENTRA_BACKUP_GRAPH_URL": "http://127.0.0.1:9/v1.0/",
        "ENTRA_BACKUP_GRAPH_TOKEN": "app:x", "ENTRA_BACKUP_TENANTS": "a, b,,",
        "ENTRA_BACKUP_RETENTION_DAYS": "7", "ENTRA_BACKUP_HISTORY_DAYS": "30",
        "ENTRA_BACKUP_BREAK_GLASS": "u1,u2", "ENTRA_BACKUP_DRIFT_WEBHOOK": "https://h/x"})
    assert settings.store == "backups"
    assert settings.graph_url == "http://127.0.0.1:9"
    assert settings.tenants == ("a", "b") and settings.break_glass == ("u1", "u2")
    assert (settings.retention_days, settings.history_days) == (7, 30)
    assert settings.drift_webhook == "https://h/x" and settings.graph_token == "app:x"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("ENTRA_BACKUP_RETENTION_DAYS", "0", "ENTRA_BACKUP_RETENTION_DAYS"),
    ("ENTRA_BACKUP_HISTORY_DAYS", "a year", "ENTRA_BACKUP_HISTORY_DAYS"),
    ("ENTRA_BACKUP_GRAPH_URL", "graph.microsoft.com", "ENTRA_BACKUP_GRAPH_URL"),
    ("ENTRA_BACKUP_DRIFT_WEBHOOK", "ftp://x", "ENTRA_BACKUP_DRIFT_WEBHOOK"),
    ("ENTRA_BACKUP_WORM", "unlocked", "ENTRA_BACKUP_WORM"),
])
def test_a_bad_value_names_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env({name: value})


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({"ENTRA_BACKUP_GRAPH_TOKEN": "s3cret-token",
                                  "ENTRA_BACKUP_DRIFT_WEBHOOK": "https://h/x?sig=s3cret"})
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(connect(settings))


def test_no_store_is_one_clear_error() -> None:
    with pytest.raises(SettingsError, match="ENTRA_BACKUP_STORE"):
        assert connect(Settings.from_env({})).store is None
    with pytest.raises(SettingsError, match="bad store address"):
        assert connect(Settings.from_env({"ENTRA_BACKUP_STORE": "ftp://x;y"})).jobs is None


async def test_tokens_follow_the_settings() -> None:
    local = connect(Settings.from_env({"ENTRA_BACKUP_GRAPH_URL": "http://127.0.0.1:9"}))
    given = connect(Settings.from_env({"ENTRA_BACKUP_GRAPH_TOKEN": "app:t"}))
    cloud = connect(Settings.from_env({}))
    simulator, static, managed = local.tokens(None), given.tokens(None), cloud.tokens("t")
    assert isinstance(simulator, StaticTokenProvider) and isinstance(static, StaticTokenProvider)
    assert await simulator.token() == SIMULATOR_TOKEN
    assert await static.token() == "app:t"
    assert isinstance(managed, CredentialTokenProvider)
    await managed.close()


def test_locked_worm_gives_blob_versions_their_own_locked_retention() -> None:
    base = {"ENTRA_BACKUP_STORE": "UseDevelopmentStorage=true", "ENTRA_BACKUP_RETENTION_DAYS": "9"}
    plain = connect(Settings.from_env(base)).store
    locked = connect(Settings.from_env({**base, "ENTRA_BACKUP_WORM": "Locked"})).store
    taken = datetime.now(UTC).replace(microsecond=0)
    snapshot = new_snapshot_id(taken)
    assert plain._immutability_policy(snapshot) == {}  # type: ignore[attr-defined]
    policy = locked._immutability_policy(snapshot)["immutability_policy"]  # type: ignore[attr-defined]
    assert policy.policy_mode == "Locked"
    assert policy.expiry_time == taken + timedelta(days=9)
