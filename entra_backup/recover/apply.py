"""Execute a stored recovery plan one wave at a time: (plan, cursor, wave size) -> (results,
next cursor), so the CLI loops over it and a Durable orchestration can run one wave per
activity and survive a crash between any two.

Every step is idempotent: an operation whose target state already holds is `skipped` (already
a member, already removed, not deleted any more), so a wave run twice - a retried activity, a
resumed job - changes nothing more. Steps of one kind and action run concurrently (paced by
the session's pacer against Graph's write budget); kinds run in plan order, so dependencies
come before dependants inside a wave as they do across waves.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from entra_backup.diff.compare import compare
from entra_backup.errors import GraphError, GraphRequestError, GraphResponseError, NotFoundError
from entra_backup.graph.session import GraphSession
from entra_backup.kinds import KINDS_BY_NAME, Kind
from entra_backup.recover import ops as build
from entra_backup.recover.live_record import read_record
from entra_backup.recover.plan import iter_steps
from entra_backup.store.snapshots import SnapshotStore
from entra_backup.types import Json

STEP_CONCURRENCY = 16
OP_ATTEMPTS = 4
UNKNOWN_OUTCOME = frozenset({429, 500, 502, 503, 504})
APPLIED, SKIPPED, FAILED, PLANNED = "applied", "skipped", "failed", "planned"


@dataclass
class WaveResult:
    results: list[Json]
    next_cursor: int
    done: bool
    id_map: dict[str, str] = field(default_factory=dict)


class _Done(Exception):
    """An operation found its target state already in place."""


async def apply_wave(session: GraphSession, area: SnapshotStore, plan: Json, cursor: int,
                     wave_size: int, *, wave: int = 0, id_map: dict[str, str] | None = None,
                     concurrency: int = STEP_CONCURRENCY) -> WaveResult:
    """Apply steps [cursor, cursor + wave_size) of `plan`; one result per step."""
    stop = min(plan["steps"], cursor + max(1, wave_size))
    ids = dict(id_map or {})
    steps = list(iter_steps(area, plan, cursor, stop))
    results: list[Json] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(step: Json) -> Json:
        async with gate:
            return await _run_step(session, step, ids, wave)

    for _, group in itertools.groupby(steps, key=lambda s: (s["action"], s["kind"])):
        results.extend(await asyncio.gather(*(one(step) for step in group)))
    return WaveResult(results, stop, stop >= plan["steps"], ids)


def result_of(step: Json, outcome: str, detail: str | None, wave: int) -> Json:
    return {"step": step["step"], "kind": step["kind"], "id": step["id"],
            "action": step["action"],
            "outcome": outcome, "detail": detail, "wave": wave,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "before": step.get("before"), "after": step.get("after")}


async def _run_step(session: GraphSession, step: Json, ids: dict[str, str], wave: int) -> Json:
    kind = KINDS_BY_NAME[step["kind"]]
    notes = list(step.get("notes") or [])
    if not step["ops"]:
        return result_of(step, SKIPPED, "; ".join(notes) or None, wave)
    runner = _Runner(session, kind, step, ids)
    applied = False
    for op in step["ops"]:
        try:
            applied = await _with_retries(runner, op) or applied
        except _Done:
            continue
        except GraphError as exc:
            return result_of(step, FAILED, f"{op['op']}: {exc}", wave)
    notes += runner.notes
    return result_of(step, APPLIED if applied else SKIPPED, "; ".join(notes) or None, wave)


async def _with_retries(runner: _Runner, op: Json) -> bool:
    """Run one operation; after an answer that leaves it unknown whether Graph executed a
    write (a lost connection, 500/502/504 on a POST), run it again: every operation checks or
    tolerates the state it wants, so the repeat does nothing twice. Re-creation is the
    exception - a second POST would make a second object - so it is never repeated."""
    for attempt in range(1, OP_ATTEMPTS + 1):
        try:
            return await runner.run(op)
        except (GraphRequestError, GraphResponseError) as exc:
            status = getattr(exc, "status", None)
            if (attempt == OP_ATTEMPTS or op["op"] == "create"
                    or not (status is None or status in UNKNOWN_OUTCOME)):
                raise
            await asyncio.sleep(runner.session.backoff(attempt))
    raise AssertionError("unreachable")


class _Runner:
    """Runs the operations of one step against one object; each returns True if it wrote."""

    def __init__(self, session: GraphSession, kind: Kind, step: Json,
                 ids: dict[str, str]) -> None:
        self.session, self.kind, self.step, self.ids = session, kind, step, ids
        self.notes: list[str] = []

    @property
    def object_id(self) -> str:
        return str(self.ids.get(self.step["id"], self.step["id"]))

    @property
    def path(self) -> str:
        return self.kind.object_path(quote(self.object_id, safe=""))

    async def run(self, op: Json) -> bool:
        handler: Callable[[Json], Awaitable[bool]] = getattr(self, "_" + op["op"])
        return await handler(op)

    async def _restore(self, op: Json) -> bool:
        try:
            await self.session.request("POST", self.kind.restore_path(self.object_id),
                                       api_version=self.kind.restore_api_version)
        except GraphResponseError:
            if await self._exists():
                raise _Done() from None  # restored already (a resumed or repeated step)
            raise
        return True

    async def _exists(self) -> bool:
        try:
            await self.session.get_json(self.path, api_version=self.kind.api_version,
                                        params={"$select": "id"})
        except NotFoundError:
            return False
        return True

    async def _reconcile(self, op: Json) -> bool:
        """Compare the object as it is now with the snapshot and write the difference."""
        target = self.step["target"]
        live = await read_record(self.session, self.kind, self.object_id)
        entry = compare(self.kind, target, live) if live is not None else None
        if entry is None:
            return False
        ops, notes = build.update_ops(self.kind, entry, target)
        self.notes += notes
        wrote = False
        for inner in ops:
            try:
                wrote = await self.run(inner) or wrote
            except _Done:
                continue
        return wrote

    async def _patch(self, op: Json) -> bool:
        """PATCH the object; `embedded` also rewrites old ids inside longer strings (a
        rebuilt app's `api://{appId}` identifier URI names its new appId)."""
        body = self._rewritten(op["body"])
        if op.get("embedded"):
            body = embedded_ids(body, self.ids)
        await self.session.update_object(self.path, body, api_version=self.kind.api_version)
        return True

    async def _patchItem(self, op: Json) -> bool:
        await self.session.update_object(op["path"], self._rewritten(op["body"]),
                                         api_version=self.kind.api_version)
        return True

    async def _softDelete(self, op: Json) -> bool:
        if not await self.session.delete_object(self.path, api_version=self.kind.api_version):
            raise _Done()
        return True

    async def _removePassword(self, op: Json) -> bool:
        try:
            await self.session.request("POST", f"{self.path}/removePassword",
                                       json={"keyId": op["keyId"]})
        except GraphResponseError:
            current = await self.session.get_json(self.path,
                                                  params={"$select": "passwordCredentials"})
            if op["keyId"] not in build.key_ids(current.get("passwordCredentials")):
                raise _Done() from None
            raise
        return True

    async def _keyCredentials(self, op: Json) -> bool:
        current = await self.session.get_json(self.path, params={"$select": "keyCredentials"})
        live = [c for c in current.get("keyCredentials") or [] if isinstance(c, dict)]
        keep = set(op["keep"])
        desired = [c for c in live if c.get("keyId") in keep]
        have = {c.get("keyId") for c in desired}
        desired += [c for c in op["restore"] if c.get("keyId") not in have]
        missing = keep - {c.get("keyId") for c in desired}
        if missing:
            self.notes.append(f"{len(missing)} certificate(s) deleted since the snapshot: "
                              "the snapshot holds no key to restore; upload them again")
        if {c.get("keyId") for c in desired} == {c.get("keyId") for c in live}:
            raise _Done()
        await self.session.update_object(self.path, {"keyCredentials": desired})
        return True

    async def _addRefs(self, op: Json) -> bool:
        targets = [self.ids.get(t, t) for t in op["targets"]]
        link = self.kind.link(op["link"])
        if len(targets) > 1:
            base = f"{self.session.base_url}/v1.0/directoryObjects/"
            try:
                await self.session.update_object(
                    self.path, {f"{link.name}@odata.bind": [base + t for t in targets]})
                return True
            except GraphResponseError as exc:
                if exc.status != 400:
                    raise  # a duplicate in the batch fails it whole: add one by one
        wrote = False
        for target in targets:
            try:
                await self.session.add_link(self.path, link.name, target)
                wrote = True
            except NotFoundError as exc:
                await self._gone(target, exc)
            except GraphResponseError as exc:
                if exc.status != 400 or "already exist" not in str(exc):
                    raise
        if not wrote:
            raise _Done()
        return True

    async def _gone(self, target: str, error: NotFoundError) -> None:
        """A link target that no longer exists (hard-deleted since) is noted, not failed;
        anything else that answered 404 is the object itself: raise."""
        try:
            await self.session.get_json(f"directoryObjects/{quote(target, safe='')}",
                                        params={"$select": "id"})
        except NotFoundError:
            self.notes.append(f"{target} no longer exists: its link is not restored")
            return
        raise error

    async def _setRef(self, op: Json) -> bool:
        target = str(op["target"])
        await self.session.add_link(self.path, op["link"], self.ids.get(target, target))
        return True

    async def _removeRef(self, op: Json) -> bool:
        if not await self.session.remove_link(self.path, op["link"], op["target"]):
            raise _Done()
        return True

    async def _addObjectLink(self, op: Json) -> bool:
        value = {k: self.ids.get(v, v) if isinstance(v, str) else v
                 for k, v in op["value"].items() if k != "id"}
        if op["link"] == "appRoleAssignedTo":
            body = {"principalId": value.get("principalId"), "resourceId": self.object_id,
                    "appRoleId": value.get("appRoleId")}
            path = f"{self.path}/appRoleAssignedTo"
            existing = await self._assignments()
            if any(a.get("principalId") == body["principalId"]
                   and a.get("appRoleId") == body["appRoleId"] for a in existing):
                raise _Done()
        else:
            body = {k: value.get(k) for k in ("clientId", "consentType", "principalId",
                                               "resourceId", "scope")}
            if body.get("consentType") == "AllPrincipals":
                body.pop("principalId", None)
            path = "oauth2PermissionGrants"
            for grant in await self._grants(str(body["clientId"])):
                if (grant.get("resourceId"), grant.get("consentType"),
                        grant.get("principalId")) == (body["resourceId"], body["consentType"],
                                                      body.get("principalId")):
                    if grant.get("scope") == body["scope"]:
                        raise _Done()
                    await self.session.update_object(f"oauth2PermissionGrants/{grant['id']}",
                                                     {"scope": body["scope"]})
                    return True
        try:
            await self.session.create_object(path, body)
        except NotFoundError as exc:
            principal = body.get("principalId") or body.get("clientId")
            if not isinstance(principal, str):
                raise
            await self._gone(principal, exc)
            raise _Done() from None
        return True

    async def _assignments(self) -> list[Json]:
        return [item async for item in self.session.list_objects(
            f"{self.path}/appRoleAssignedTo", top=999)]

    async def _grants(self, client_id: str) -> list[Json]:
        return [item async for item in self.session.list_objects(
            "oauth2PermissionGrants", filter=f"clientId eq '{client_id}'")]

    async def _removeObjectLink(self, op: Json) -> bool:
        path = (f"{self.path}/appRoleAssignedTo/{op['id']}" if op["link"] == "appRoleAssignedTo"
                else f"oauth2PermissionGrants/{op['id']}")
        if not await self.session.delete_object(path):
            raise _Done()
        return True

    async def _patchGrant(self, op: Json) -> bool:
        await self.session.update_object(f"oauth2PermissionGrants/{op['id']}",
                                         {"scope": op["scope"]})
        return True

    async def _create(self, op: Json) -> bool:
        """Re-create a hard-deleted object from its snapshot record (a new id)."""
        old = self.step["id"]
        if old in self.ids:
            raise _Done()
        target = self.step["target"]
        body = build.create_body(self.kind, target.get("object") or {}, self.ids)
        upn = body.get("userPrincipalName")
        if isinstance(upn, str):  # a crash after the POST and before the job kept the id
            quoted = upn.replace("'", "''")
            async for found in self.session.list_objects(
                    self.kind.collection_path, select=["id"],
                    filter=f"userPrincipalName eq '{quoted}'"):
                self.ids[old] = str(found["id"])
                self.notes.append("found already re-created by an earlier run")
                return True
        if self.kind.collection_path == "users":  # Graph requires one for every user
            body["passwordProfile"] = {"password": _strong_password(),
                                       "forceChangePasswordNextSignIn": True}
        created = await self.session.create_object(self.kind.collection_path, body,
                                                   api_version=self.kind.api_version)
        self.ids[old] = str(created["id"])
        app_id = (target.get("object") or {}).get("appId")
        if app_id and created.get("appId") and created["appId"] != app_id:
            self.ids[app_id] = str(created["appId"])  # an app made again gets a new appId
        for name, values in (target.get("links") or {}).items():
            with_link = [link for link in self.kind.links if link.name == name]
            if not with_link or not values:
                continue
            link = with_link[0]
            if link.fields:
                for value in values:
                    await self._tolerant(self._addObjectLink({"link": name, "value": value}))
            elif link.single and link.ref:
                await self._tolerant(self._setRef({"link": name, "target": values[0]}))
            elif link.ref:
                for start in range(0, len(values), link.per_request):
                    chunk = values[start:start + link.per_request]
                    await self._tolerant(self._addRefs({"link": name, "targets": chunk}))
        return True

    async def _tolerant(self, call: Awaitable[bool]) -> None:
        try:
            await call
        except _Done:
            pass
        except GraphResponseError as exc:
            self.notes.append(f"a link of the re-created object could not be written: {exc}")

    def _rewritten(self, body: Any) -> Any:
        """Ids of re-created objects replaced by their new ids, anywhere in a body."""
        if not self.ids:
            return body
        if isinstance(body, dict):
            return {k: self._rewritten(v) for k, v in body.items()}
        if isinstance(body, list):
            return [self._rewritten(v) for v in body]
        if isinstance(body, str):
            return self.ids.get(body, body)
        return body


_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def embedded_ids(value: Any, ids: dict[str, str]) -> Any:
    """Old ids inside strings (`api://{old appId}`) replaced by their new ids."""
    if isinstance(value, dict):
        return {k: embedded_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [embedded_ids(v, ids) for v in value]
    if isinstance(value, str):
        return _GUID.sub(lambda m: ids.get(m.group(0), m.group(0)), value)
    return value


def _strong_password() -> str:
    """A password nobody knows (never stored or logged): the user must be reset."""
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*-_"
    while True:
        text = "".join(secrets.choice(alphabet) for _ in range(24))
        if (any(c.islower() for c in text) and any(c.isupper() for c in text)
                and any(c.isdigit() for c in text) and any(not c.isalnum() for c in text)):
            return text
