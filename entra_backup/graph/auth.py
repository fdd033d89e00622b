"""Access tokens for Microsoft Graph: a static one (graphsim, tests) or an Azure credential's.

A snapshot of a large tenant can outlive one access token (about an hour), so the credential
provider refreshes ahead of expiry, and the session (graph.py) asks for a forced refresh once
when Graph answers 401 InvalidAuthenticationToken. Token text never appears in a log record,
an exception message or a repr.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError

from entra_backup.errors import AuthenticationError

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TOKEN_ENV = "ENTRA_BACKUP_GRAPH_TOKEN"
REFRESH_MARGIN_SECONDS = 300.0


@runtime_checkable
class TokenProvider(Protocol):
    """Gives the bearer token for the next request; `force_refresh` skips any cache."""

    async def token(self, *, force_refresh: bool = False) -> str: ...


class StaticTokenProvider:
    """A fixed token, for graphsim and tests: nothing to refresh."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the static Graph token is empty")
        self._token = token

    async def token(self, *, force_refresh: bool = False) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(<redacted>)"


class CredentialTokenProvider:
    """Tokens from an Azure credential, cached and refreshed 5 minutes before `expires_on`.

    Concurrent callers share one fetch (a lock), so 16 requests at expiry cause one token
    request. Sync credentials run in a worker thread so they never block the event loop.
    `fetches` counts credential calls (for tests and diagnostics). The provider does not own
    the credential's lifetime unless `close()` is called.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential | TokenCredential,
        scope: str = GRAPH_SCOPE,
        *,
        tenant_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._tenant_id = tenant_id
        self._clock = clock
        self._cached: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self, *, force_refresh: bool = False) -> str:
        async with self._lock:
            cached = self._cached
            if (force_refresh or cached is None
                    or cached.expires_on - REFRESH_MARGIN_SECONDS <= self._clock()):
                cached = self._cached = await self._fetch()
            return cached.token

    async def _fetch(self) -> AccessToken:
        self.fetches += 1
        kwargs: dict[str, Any] = {"tenant_id": self._tenant_id} if self._tenant_id else {}
        get_token = self._credential.get_token
        try:
            if inspect.iscoroutinefunction(get_token):
                result = await get_token(self._scope, **kwargs)
            else:
                result = await asyncio.to_thread(get_token, self._scope, **kwargs)
        except ClientAuthenticationError as exc:
            # azure-identity messages name the credentials tried, never a token.
            raise AuthenticationError(f"no access token for {self._scope}: {exc.message}") from exc
        if inspect.isawaitable(result):  # a sync-looking wrapper around an async credential
            result = await result
        log.debug("obtained a Graph access token expiring at %s", result.expires_on)
        return AccessToken(str(result.token), int(result.expires_on))

    async def close(self) -> None:
        """Close the credential (async or sync) when this provider created or owns it."""
        close = getattr(self._credential, "close", None)
        if close is not None:
            outcome = close()
            if inspect.isawaitable(outcome):
                await outcome

    def __repr__(self) -> str:
        return f"CredentialTokenProvider({type(self._credential).__name__}, {self._scope!r})"


def token_provider_from_env(*, tenant_id: str | None) -> TokenProvider:
    """`ENTRA_BACKUP_GRAPH_TOKEN` if set (graphsim), else DefaultAzureCredential.

    DefaultAzureCredential covers managed identity in Azure Functions, workload identity,
    environment secrets and `az login` locally. `tenant_id` is passed on the token request
    (and allowed) so a developer signed in elsewhere still gets a token for the right tenant;
    managed identity ignores it.
    """
    return token_provider(static_token=os.environ.get(TOKEN_ENV, "").strip() or None,
                          tenant_id=tenant_id)


def token_provider(*, static_token: str | None, tenant_id: str | None) -> TokenProvider:
    """A fixed token when one is given (graphsim), else DefaultAzureCredential for `tenant_id`."""
    if static_token:
        return StaticTokenProvider(static_token)
    from azure.identity.aio import DefaultAzureCredential

    extra: dict[str, Any] = {"additionally_allowed_tenants": [tenant_id]} if tenant_id else {}
    return CredentialTokenProvider(DefaultAzureCredential(**extra), tenant_id=tenant_id)
