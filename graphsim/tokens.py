"""Opaque paging and delta tokens: signed, so a client that edits one gets Graph's 400.

Graph's skiptokens and deltatokens are opaque; clients must use whole links. Encoding state
as signed base64 keeps the simulator stateless per cursor (no server-side cursor table to
grow with a 1,000,000-object tenant) while still refusing forged or truncated tokens.
"""

from __future__ import annotations

import base64
import hmac
import os
from typing import Any

import orjson

from graphsim.errors import BadRequest

_KEY = os.urandom(16)


def encode(state: dict[str, Any]) -> str:
    payload = orjson.dumps(state)
    mac = hmac.new(_KEY, payload, "blake2s").digest()[:8]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode(token: str, *, kind: str) -> dict[str, Any]:
    """Return the state in a token, or raise the 400 Graph gives for a bad page token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, payload = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, hmac.new(_KEY, payload, "blake2s").digest()[:8]):
            raise ValueError("bad signature")
        state = orjson.loads(payload)
        if not isinstance(state, dict) or state.get("k") != kind:
            raise ValueError("wrong token kind")
        return state
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "The specified page token value has expired and can no longer be included in "
            "your request.",
            code="Directory_ExpiredPageToken" if kind == "page" else "Request_BadRequest",
        ) from exc
