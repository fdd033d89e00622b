"""Calling the registered HTTP functions as the host would: route matching from the bindings,
real `func.HttpRequest` objects, the durable client as its binding JSON string."""

from __future__ import annotations

import functools
import gzip
import io
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import orjson

from entra_backup.diff.reports import save_report
from entra_backup.recover.jobs import JobStore
from entra_backup.store.snapshots import SnapshotStore
from tests.support.durable_harness import app_functions
from tests.support.durable_http import DurableHttpServer, call

HOST = "https://backup.example.test"


@functools.cache
def registered() -> dict[str, Any]:
    """The app's functions by name (`get_functions()` runs once per app: a second call raises)."""
    import function_app

    return {f.get_function_name(): f for f in app_functions(function_app.app)}


@functools.cache
def http_routes() -> list[tuple[str, str, str, bool]]:
    """(method, route template, function name, takes a durable client) per HTTP function."""
    rows = []
    for name, function in registered().items():
        bindings = function.get_bindings_dict()["bindings"]
        trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
        if trigger is None:
            continue
        durable = any(b["type"] == "durableClient" for b in bindings)
        for method in trigger["methods"]:
            rows.append((str(getattr(method, "value", method)).upper(), trigger["route"], name,
                         durable))
    return rows


def _match(template: str, path: str) -> dict[str, str] | None:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    found = re.fullmatch(pattern, path)
    return found.groupdict() if found else None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    mimetype: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        data = self.json()
        assert set(data) == {"error"} and set(data["error"]) == {"code", "message"}, data
        return dict(data["error"])


@dataclass
class Api:
    durable: DurableHttpServer

    def request(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        """`path` below /api/, query string included; `body` is sent as JSON."""
        url = urlsplit(path)
        for verb, template, name, durable in http_routes():
            params = _match(template, url.path)
            if verb != method or params is None:
                continue
            data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
            req = func.HttpRequest(method, f"{HOST}/api/{path}", headers=headers or {},
                                   params=dict(parse_qsl(url.query, keep_blank_values=True)),
                                   route_params=params, body=data)
            kwargs: dict[str, Any] = {"req": req}
            if durable:
                kwargs["client"] = self.durable.binding()
            response = call(registered()[name], **kwargs)
            return Answer(response.status_code, dict(response.headers), response.get_body(),
                          response.mimetype)
        raise AssertionError(f"no function serves {method} {url.path}")

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.request("POST", path, **kwargs)


def seed_snapshot(store: SnapshotStore, tenant: str, snapshot_id: str) -> None:
    manifest = {"kinds": {"users": {"count": 3}, "groups": {"count": 2}},
                "takenAt": "2026-12-01T02:00:00Z"}
    store.write(tenant, snapshot_id, "manifest.json", orjson.dumps(manifest))


def entry(object_id: str, kind: str = "users", change: str = "updated") -> dict[str, Any]:
    return {"kind": kind, "id": object_id, "displayName": f"Name {object_id}", "change": change,
            "deletion": "soft" if change == "deleted" else None, "properties": [],
            "links": [], "recoverable": True, "reasons": [], "sourceOfAuthority": "cloud",
            "changedBy": []}


def seed_report(store: SnapshotStore, jobs: JobStore, tenant: str, job_id: str,
                entries: list[dict[str, Any]], *, report_id: str = "20261201T030000.000Z",
                snapshot_id: str = "20261201T020000.000Z", status: str = "successful",
                against: str = "live") -> None:
    """A finished difference report as the diff orchestration leaves it: the stored report
    and its job (whose reportId names the stored report)."""
    by_change = dict.fromkeys(("created", "updated", "deleted"), 0)
    by_kind: dict[str, dict[str, int]] = {}
    for item in entries:
        by_change[item["change"]] += 1
        by_kind.setdefault(item["kind"], dict.fromkeys(by_change, 0))[item["change"]] += 1
    header = {"reportId": report_id, "snapshotId": snapshot_id, "tenantId": tenant,
              "against": against, "createdAt": "2026-12-01T03:00:00Z",
              "filters": {"kinds": [], "objectIds": [], "changes": []},
              "summary": {"total": len(entries), "byKind": by_kind, "byChange": by_change,
                          "softDeleted": by_change["deleted"], "hardDeleted": 0,
                          "recoverable": len(entries), "notRecoverable": 0,
                          "durationSeconds": 1.0, "livePath": dict.fromkeys(by_kind, "full")}}
    data = gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    save_report(store, header, io.BytesIO(data), len(data))
    jobs.create_job({"jobId": job_id, "tenantId": tenant, "jobType": "diffReport",
                     "status": status, "createdAt": "2026-12-01T03:00:00Z",
                     "completedAt": "2026-12-01T03:01:00Z", "snapshotId": snapshot_id,
                     "reportId": report_id, "against": against})
