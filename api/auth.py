"""Who is calling, and may they: the principal and its app roles, failing closed.

Three sources, tried in this order, and only one of them ever applies:

1. App Service Authentication. When the platform runs it, App Service injects
   `WEBSITE_AUTH_ENABLED` ("Read-only. Injected into a Windows or Linux app to indicate whether
   App Service authentication is enabled",
   https://learn.microsoft.com/en-us/azure/app-service/reference-app-settings) and strips any
   `X-MS-CLIENT-PRINCIPAL` a caller sends ("External requests aren't allowed to set these
   headers, so they're present only if set by App Service",
   https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-user-identities).
   Only then is that header trusted: without the platform it is just text anyone can send.
2. Otherwise the caller's Entra ID bearer token, validated here with PyJWT: RS256 only,
   signature against the tenant's published keys, issuer (v1 or v2 form), audience, expiry.
3. `ENTRA_BACKUP_API_LOCAL_DEV=true`: every role, for `func start` on a laptop only.

With none of them configured every request is refused. Tokens are never logged.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import azure.functions as func
import jwt
import orjson

from api.errors import ApiError

_log = logging.getLogger(__name__)

READER: Final = "Backup.Reader"
ADMINISTRATOR: Final = "Backup.Administrator"
ROLES: Final = (READER, ADMINISTRATOR)
PRINCIPAL_HEADER: Final = "x-ms-client-principal"
_LEEWAY_SECONDS: Final = 60
_MAX_HEADER_BYTES: Final = 64 * 1024
_JWKS_CLIENTS: Final = 4  # distinct key URLs kept (one per configuration in practice)
_KEYS_PER_CLIENT: Final = 16


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a display name for logs and job records, and its roles."""

    name: str
    roles: frozenset[str]

    def may(self, role: str) -> bool:
        """Administrator includes everything a Reader may do."""
        return role in self.roles or (role == READER and ADMINISTRATOR in self.roles)


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """The app settings this module reads, parsed once per request from the environment."""

    platform: bool
    audiences: tuple[str, ...]
    tenant_id: str
    jwks_url: str
    local_dev: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        env = os.environ if env is None else env
        tenant = env.get("ENTRA_BACKUP_API_TENANT_ID", "").strip()
        audiences = tuple(a.strip() for a in env.get("ENTRA_BACKUP_API_AUDIENCE", "").split(",")
                          if a.strip())
        jwks = env.get("ENTRA_BACKUP_API_JWKS_URL", "").strip() or (
            f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys" if tenant else "")
        return cls(platform=env.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true",
                   audiences=audiences, tenant_id=tenant, jwks_url=jwks,
                   local_dev=env.get("ENTRA_BACKUP_API_LOCAL_DEV", "").strip().lower() == "true")


def authorize(req: func.HttpRequest, role: str,
              settings: AuthSettings | None = None) -> Principal:
    """The caller, if authenticated and holding `role`; ApiError 401 or 403 otherwise."""
    principal = authenticate(req, settings or AuthSettings.from_env())
    if not principal.may(role):
        raise ApiError(403, "accessDenied", f"the caller lacks the app role {role}")
    return principal


def authenticate(req: func.HttpRequest, settings: AuthSettings) -> Principal:
    if settings.platform:
        return _from_platform(req.headers.get(PRINCIPAL_HEADER))
    if settings.audiences and settings.tenant_id:
        return _from_bearer(req.headers.get("authorization"), settings)
    if settings.local_dev:
        return Principal("local-development", frozenset(ROLES))
    raise _unauthenticated("API authentication is not configured: enable App Service "
                           "Authentication or set ENTRA_BACKUP_API_AUDIENCE and "
                           "ENTRA_BACKUP_API_TENANT_ID")


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "InvalidAuthenticationToken", message,
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _from_platform(header: str | None) -> Principal:
    """Decode App Service's client principal: `{"claims": [{"typ", "val"}], "role_typ"}`."""
    if not header or len(header) > _MAX_HEADER_BYTES:
        raise _unauthenticated("no authenticated principal")
    try:
        payload = orjson.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        raise _unauthenticated("malformed client principal") from None
    claims = payload.get("claims") if isinstance(payload, dict) else None
    if not isinstance(claims, list):
        raise _unauthenticated("malformed client principal")
    role_types = {"roles", payload.get("role_typ") or "roles"}
    name_type = payload.get("name_typ") or "name"
    roles, name = set(), "unknown"
    for claim in claims:
        if not isinstance(claim, dict) or not isinstance(claim.get("val"), str):
            continue
        if claim.get("typ") in role_types:
            roles.add(claim["val"])
        elif claim.get("typ") == name_type:
            name = claim["val"]
    return Principal(name, frozenset(roles & set(ROLES)))


def _from_bearer(header: str | None, settings: AuthSettings) -> Principal:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("a bearer token is required")
    claims = _validated_claims(token.strip(), settings)
    roles = claims.get("roles")
    held = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ()
    name = claims.get("oid") or claims.get("azp") or claims.get("appid") or "unknown"
    return Principal(str(name), frozenset(held) & frozenset(ROLES))


def _validated_claims(token: str, settings: AuthSettings) -> dict[str, Any]:
    """The token's claims once signature, algorithm, issuer, audience and times all hold."""
    tenant = settings.tenant_id
    issuers = [f"https://sts.windows.net/{tenant}/",
               f"https://login.microsoftonline.com/{tenant}/v2.0"]
    try:
        if jwt.get_unverified_header(token).get("alg") != "RS256":
            raise _unauthenticated("the token is not signed with RS256")
        key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=list(settings.audiences),
            issuer=issuers, leeway=_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"], "verify_signature": True})
    except jwt.PyJWKClientConnectionError:
        _log.warning("the token signing keys could not be fetched")
        raise ApiError(503, "serviceUnavailable", "the token signing keys could not be "
                       "fetched; retry later") from None
    except (jwt.PyJWTError, ValueError) as exc:
        _log.info("bearer token refused: %s", type(exc).__name__)
        raise _unauthenticated("the bearer token is not valid for this API") from None
    return claims


@functools.lru_cache(maxsize=_JWKS_CLIENTS)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    """One key client per keys URL, its key set cached for an hour and bounded in size."""
    return jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=3600,
                           max_cached_keys=_KEYS_PER_CLIENT, timeout=10)
