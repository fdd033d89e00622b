"""The simulator's clock: real UTC time plus an offset tests can move forward.

Soft-delete retention (30 days) and delta-token expiry (7 days) are measured on this clock, so
a test can age the tenant by a month in one call instead of waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self._offset = timedelta()


def iso(moment: datetime) -> str:
    """Graph's timestamp form: UTC, whole seconds, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
