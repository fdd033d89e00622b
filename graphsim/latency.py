"""How long Graph takes to answer, as a delay the HTTP layer awaits (so requests overlap).

Two knobs, both settable by flag and `/_sim/config`:

- `latency_ms`: a flat delay added to every request (the original meaning, kept).
- `latency_model`: "off" or "graph". "graph" adds a per-request cost shaped like Graph's:
  reads pay a base plus a share per object returned, writes pay more and vary.

The figures are estimates, not Microsoft numbers: Graph publishes no latency figures. They
are chosen from commonly reported directory timings (a small GET in the tens of milliseconds
from inside Azure, directory writes a few hundred, a 999-row page around a second with every
property) and are written here as constants so a benchmark can say what it assumed.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

MODELS = ("off", "graph")
READ_BASE_MS = 60.0
READ_PER_OBJECT_MS = 0.05
WRITE_MIN_MS = 150.0
WRITE_MAX_MS = 250.0
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class LatencyModel:
    """Seconds to wait before answering one request (or one `$batch` envelope)."""

    def __init__(self, *, flat_ms: float = 0.0, model: str = "off", random_seed: int = 0) -> None:
        if model not in MODELS:
            raise ValueError(f"latency model must be one of {MODELS}, not {model!r}")
        self.flat_ms = flat_ms
        self.model = model
        self._rng = random.Random(random_seed)

    def delay(self, method: str, status: int, body: Any,
              batch_methods: dict[str, str] | None = None) -> float:
        """The wait for an answer with this method, status and (unrendered) body.

        For a `$batch` envelope, `batch_methods` maps entry ids to their methods.
        """
        ms = self.flat_ms
        if self.model == "graph":
            if batch_methods is not None and isinstance(body, dict) and isinstance(
                    body.get("responses"), list):
                # Graph runs a batch's entries side by side: the slowest one sets the pace.
                ms += max((self._entry_ms(r, batch_methods) for r in body["responses"]),
                          default=READ_BASE_MS)
            else:
                ms += self._one_ms(method, status, body)
        return ms / 1000.0

    def _entry_ms(self, entry: Any, methods: dict[str, str]) -> float:
        if not isinstance(entry, dict):
            return READ_BASE_MS
        method = methods.get(str(entry.get("id", "")).lower(), "GET")
        return self._one_ms(method, int(entry.get("status", 200)), entry.get("body"))

    def _one_ms(self, method: str, status: int, body: Any) -> float:
        # A refused write is answered at read speed: nothing was replicated.
        if method.upper() in WRITE_METHODS and status < 400 and not _is_read_action(body):
            return self._rng.uniform(WRITE_MIN_MS, WRITE_MAX_MS)
        count = len(body["value"]) if isinstance(body, dict) and isinstance(
            body.get("value"), list) else 1
        return READ_BASE_MS + READ_PER_OBJECT_MS * count


def _is_read_action(body: Any) -> bool:
    """POST queries (getByIds) answer a `value` list: they cost like reads."""
    return isinstance(body, dict) and isinstance(body.get("value"), list)


def batch_methods(raw: bytes) -> dict[str, str]:
    """Entry id -> method of a `$batch` request body (empty when it does not parse)."""
    try:
        requests = orjson.loads(raw).get("requests")
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    if not isinstance(requests, list):
        return {}
    return {str(r.get("id", "")).lower(): str(r.get("method", "GET")).upper()
            for r in requests if isinstance(r, dict)}
