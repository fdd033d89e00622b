"""Every app setting the engine reads, parsed once, in one place, for both doors.

The CLI and the Functions app read the same environment variables (the Functions host turns
app settings into them), so a value means the same thing whether an operator types a command
or a timer fires. A bad value is a `SettingsError` naming the variable, raised when the
settings are read, before anything is written or contacted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from entra_backup.ids import DEFAULT_KEEP_DAYS, DEFAULT_RETENTION_DAYS

DEFAULT_GRAPH_URL: Final = "https://graph.microsoft.com"

STORE_ENV: Final = "ENTRA_BACKUP_STORE"
GRAPH_URL_ENV: Final = "ENTRA_BACKUP_GRAPH_URL"
GRAPH_TOKEN_ENV: Final = "ENTRA_BACKUP_GRAPH_TOKEN"
TENANTS_ENV: Final = "ENTRA_BACKUP_TENANTS"
RETENTION_ENV: Final = "ENTRA_BACKUP_RETENTION_DAYS"
HISTORY_DAYS_ENV: Final = "ENTRA_BACKUP_HISTORY_DAYS"
BREAK_GLASS_ENV: Final = "ENTRA_BACKUP_BREAK_GLASS"
DRIFT_WEBHOOK_ENV: Final = "ENTRA_BACKUP_DRIFT_WEBHOOK"
WORM_ENV: Final = "ENTRA_BACKUP_WORM"
ARCHIVE_ENV: Final = "ENTRA_BACKUP_ARCHIVE"
ARCHIVE_DAYS_ENV: Final = "ENTRA_BACKUP_ARCHIVE_DAYS"
DEFAULT_ARCHIVE_DAYS: Final = 365
WORM_MODES: Final = ("off", "locked")


class SettingsError(ValueError):
    """An app setting (or the command-line value standing in for it) is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """What the engine needs to know about its deployment. Secrets are never shown in repr."""

    store: str | None = None
    graph_url: str = DEFAULT_GRAPH_URL
    graph_token: str | None = field(default=None, repr=False)
    tenants: tuple[str, ...] = ()
    retention_days: int = DEFAULT_RETENTION_DAYS
    history_days: int = DEFAULT_KEEP_DAYS
    break_glass: tuple[str, ...] = ()
    drift_webhook: str | None = field(default=None, repr=False)
    # "locked": every blob version is written with its own locked immutability policy until
    # its retention ends, so nobody - not an Owner, not us - can shorten or delete it sooner
    # (needs version-level immutability on the container: real Azure, not Azurite).
    worm: str = "off"
    archive: str | None = None  # the long-term archive's store address; None = no archive
    archive_days: int = DEFAULT_ARCHIVE_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        values = os.environ if env is None else env

        def text(name: str) -> str:
            return values.get(name, "").strip()

        webhook = text(DRIFT_WEBHOOK_ENV) or None
        if webhook is not None:
            webhook = _url(webhook, DRIFT_WEBHOOK_ENV)
        return cls(
            store=text(STORE_ENV) or None,
            graph_url=graph_base_url(text(GRAPH_URL_ENV) or DEFAULT_GRAPH_URL, GRAPH_URL_ENV),
            graph_token=text(GRAPH_TOKEN_ENV) or None,
            tenants=_listed(text(TENANTS_ENV)),
            retention_days=_days(text(RETENTION_ENV), RETENTION_ENV, DEFAULT_RETENTION_DAYS),
            history_days=_days(text(HISTORY_DAYS_ENV), HISTORY_DAYS_ENV, int(DEFAULT_KEEP_DAYS)),
            break_glass=_listed(text(BREAK_GLASS_ENV)),
            drift_webhook=webhook,
            worm=_choice(text(WORM_ENV).lower() or "off", WORM_ENV, WORM_MODES),
            archive=text(ARCHIVE_ENV) or None,
            archive_days=_days(text(ARCHIVE_DAYS_ENV), ARCHIVE_DAYS_ENV, DEFAULT_ARCHIVE_DAYS),
        )

    def require_store(self) -> str:
        if not self.store:
            raise SettingsError(f"no store given: pass --store or set {STORE_ENV}")
        return self.store


def graph_base_url(url: str, what: str = "--graph-url") -> str:
    """Graph's base URL without a version segment (the session adds /v1.0 or /beta)."""
    url = url.strip().rstrip("/")
    for suffix in ("/v1.0", "/beta"):
        url = url.removesuffix(suffix)
    return _url(url, what)


def _url(url: str, what: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise SettingsError(f"bad {what} {url!r}: it must start with http:// or https://")
    return url


def _choice(text: str, name: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {text!r}")
    return text


def _listed(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _days(text: str, name: str, default: int) -> int:
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"{name} must be a whole number of days >= 1, not {text!r}")
    return int(text)
