"""Who may call what: every role combination on every route, the platform's client-principal
header trusted only when App Service Authentication is on, bearer tokens validated for real
(signature, algorithm, issuer, audience, expiry), and nothing allowed when nothing is set up.

App Service strips a caller's own X-MS-CLIENT-PRINCIPAL only when its authentication runs
(https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-user-identities),
and says so through WEBSITE_AUTH_ENABLED
(https://learn.microsoft.com/en-us/azure/app-service/reference-app-settings). Entra ID token
issuers: v1 `https://sts.windows.net/{tid}/`, v2 `https://login.microsoftonline.com/{tid}/v2.0`
(https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.functions.api_helpers import Answer, http_routes
from tests.functions.conftest import World

ISSUER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AUDIENCE = "api://entra-backup-tests"
READER, ADMIN = "Backup.Reader", "Backup.Administrator"
ROLE_SETS = {"none": [], "reader": [READER], "administrator": [ADMIN], "both": [READER, ADMIN]}
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _routes(tenant: str) -> list[tuple[str, str]]:
    """One request per registered route (health aside), built so that a caller who gets past
    authorization is stopped by validation: nothing is started."""
    bad = "0" * 32
    samples = {
        "tenants/{tenantId}/backups": "tenants/{t}/backups",
        "tenants/{tenantId}/diff-reports": "tenants/{t}/diff-reports",
        "tenants/{tenantId}/diff-reports/{reportId}": f"tenants/{{t}}/diff-reports/{bad}",
        "tenants/{tenantId}/diff-reports/{reportId}/entries":
            f"tenants/{{t}}/diff-reports/{bad}/entries",
        "tenants/{tenantId}/recoveries": "tenants/{t}/recoveries",
        "tenants/{tenantId}/recoveries/{recoveryId}": f"tenants/{{t}}/recoveries/{bad}",
        "tenants/{tenantId}/recoveries/{recoveryId}/cancel":
            f"tenants/{{t}}/recoveries/{bad}/cancel",
    }
    routes = [(method, samples[template].format(t=tenant))
              for method, template, _, _ in http_routes() if template != "health"]
    assert len(routes) == 9
    return routes


def _send(world: World, method: str, path: str, headers: dict[str, str]) -> Answer:
    body = {"kinds": ["notAKind"]} if method == "POST" else None  # 400 once authorized
    return world.api.request(method, path, body=body, headers=headers)


def _principal(roles: list[str]) -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    claims.append({"typ": "name", "val": "runbook"})
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize("role_set", sorted(ROLE_SETS))
def test_every_role_combination_on_every_route(world: World, role_set: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_BACKUP_API_LOCAL_DEV")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    roles = ROLE_SETS[role_set]
    for method, path in _routes(world.tenant):
        answer = _send(world, method, path, {"X-MS-CLIENT-PRINCIPAL": _principal(roles)})
        allowed = ADMIN in roles or (method == "GET" and READER in roles)
        if allowed:
            assert answer.status in (200, 400, 404), (method, path, answer.body)
        else:
            assert answer.status == 403 and answer.error["code"] == "accessDenied", (method, path)
    assert world.durable.started == [] and world.durable.signals == []


def test_platform_auth_without_a_principal_is_401(world: World,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_BACKUP_API_LOCAL_DEV")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    for header in ({}, {"X-MS-CLIENT-PRINCIPAL": "not base64!"},
                   {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"[1]").decode()}):
        answer = world.api.get(f"tenants/{world.tenant}/recoveries", headers=header)
        assert answer.status == 401 and "WWW-Authenticate" in answer.headers


def test_a_spoofed_principal_header_is_refused_without_platform_auth(
        world: World, monkeypatch: pytest.MonkeyPatch, keys_url: str) -> None:
    spoof = {"X-MS-CLIENT-PRINCIPAL": _principal([READER, ADMIN])}
    monkeypatch.delenv("ENTRA_BACKUP_API_LOCAL_DEV")
    for method, path in _routes(world.tenant):  # nothing configured at all
        assert _send(world, method, path, spoof).status == 401, (method, path)
    _configure_bearer(monkeypatch, keys_url)
    for method, path in _routes(world.tenant):  # bearer configured: the header means nothing
        assert _send(world, method, path, spoof).status == 401, (method, path)
    assert world.durable.started == []


def test_fail_closed_when_nothing_is_configured(world: World,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_BACKUP_API_LOCAL_DEV")
    monkeypatch.setenv("ENTRA_BACKUP_API_AUDIENCE", AUDIENCE)  # half a configuration
    for method, path in _routes(world.tenant):
        answer = _send(world, method, path, {})
        assert answer.status == 401 and answer.error["code"] == "InvalidAuthenticationToken"
    assert world.api.get("health").status == 200  # the liveness probe stays open


class _KeysHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        data = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture(scope="module")
def keys_url() -> Iterator[str]:
    """The tenant's signing keys (JWKS) on loopback: PyJWKClient takes only http(s) URLs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeysHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{ISSUER_TENANT}/discovery/v2.0/keys"
    server.shutdown()
    server.server_close()


def _configure_bearer(monkeypatch: pytest.MonkeyPatch, keys_url: str) -> None:
    monkeypatch.setenv("ENTRA_BACKUP_API_AUDIENCE", f"other-api,{AUDIENCE}")
    monkeypatch.setenv("ENTRA_BACKUP_API_TENANT_ID", ISSUER_TENANT)
    monkeypatch.setenv("ENTRA_BACKUP_API_JWKS_URL", keys_url)


def _token(*, key: Any = KEY, alg: str = "RS256", headers: dict[str, Any] | None = None,
           **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": f"https://login.microsoftonline.com/{ISSUER_TENANT}/v2.0", "aud": AUDIENCE,
              "iat": now, "nbf": now, "exp": now + 600, "oid": "runbook-oid",
              "roles": [ADMIN], "tid": ISSUER_TENANT}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1", **(headers or {})})


def _unsigned(**changes: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    claims = jwt.decode(_token(**changes), options={"verify_signature": False})
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}."


def test_bearer_tokens_are_validated(world: World, monkeypatch: pytest.MonkeyPatch,
                                     keys_url: str, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("ENTRA_BACKUP_API_LOCAL_DEV")
    _configure_bearer(monkeypatch, keys_url)
    path = f"tenants/{world.tenant}/diff-reports"
    public_pem = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    good = {
        "v2 issuer": _token(),
        "v1 issuer": _token(iss=f"https://sts.windows.net/{ISSUER_TENANT}/"),
    }
    bad = {
        "forged (another key)": _token(key=OTHER_KEY),
        "expired": _token(exp=now - 3600, nbf=now - 7200, iat=now - 7200),
        "not yet valid": _token(nbf=now + 3600),
        "wrong audience": _token(aud="api://someone-else"),
        "wrong issuer": _token(iss="https://login.microsoftonline.com/other-tenant/v2.0"),
        "no expiry": _token(exp=None),
        "alg none": _unsigned(),
        "HS256 keyed with the public key": _hs256(public_pem),
        "garbage": "abc.def.ghi",
    }
    caplog.set_level(logging.DEBUG)
    for name, token in good.items():
        answer = world.api.post(path, body={}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status == 400, (name, answer.body)  # authorized, then validated
    reader = _token(roles=[READER])
    answer = world.api.post(path, body={}, headers={"Authorization": f"Bearer {reader}"})
    assert answer.status == 403
    for name, token in bad.items():
        answer = world.api.post(path, body={}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status == 401, (name, answer.body)
    assert world.api.post(path, body={}, headers={"Authorization": good["v2 issuer"]}).status \
        == 401  # no scheme
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for token in [*good.values(), *bad.values()]:
        assert token not in logged
    assert world.durable.started == []


def _hs256(secret: bytes) -> str:
    """The key-confusion attack: HMAC over the token with the public key as the secret
    (signed by hand: PyJWT itself refuses a PEM as an HMAC key)."""
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    claims = jwt.decode(_token(), options={"verify_signature": False})
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
