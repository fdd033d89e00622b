"""A loopback stand-in for the Durable extension's HTTP management API, as the real
`df.DurableOrchestrationClient` (azure-functions-durable 1.7.0) calls it, forwarding each call
to a `DurableBackend`.

The API code under test receives the SDK's own client, built from the `durableClient`
binding JSON that `binding()` returns; only the host behind `rpcBaseUrl` is ours. The URLs
and status codes are the ones the 1.7.0 client sends and switches on
(`models/DurableOrchestrationClient.py`, `models/RpcManagementOptions.py`):

    POST {rpc}orchestrators/{name}[/{instanceId}]   start_new       -> 202 {"id", ...}
    GET  {rpc}instances/{instanceId}?...             get_status      -> 200 final / 202 running /
                                                                        404 unknown (empty body)
    GET  {rpc}entities/{name}/{key}                  read_entity_state -> 200 state / 404
    POST {rpc}entities/{name}/{key}?op={operation}   signal_entity   -> 202

The client posts its payload through aiohttp's `json=` after serializing it itself, so a body
arrives as a JSON string holding the JSON text; `_payload` undoes both layers.

`call()` runs a registered function on one event loop kept for the whole process, as the
Functions worker does: the SDK keeps a module-level aiohttp session bound to the first loop
that used it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import uuid
from collections.abc import Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

RUNNING = frozenset({"Pending", "Running", "ContinuedAsNew", "Suspended"})
_PREFIX = "/durabletask/"  # the path of the host's rpcBaseUrl


class DurableBackend(Protocol):
    def start(self, name: str, instance_id: str, input: Any) -> None: ...

    def status(self, instance_id: str) -> dict[str, Any] | None: ...

    def entity_state(self, name: str, key: str) -> Any | None: ...

    def signal(self, name: str, key: str, operation: str, input: Any) -> None: ...


class DurableHttpServer:
    """The management API on 127.0.0.1 (a free port), serving one backend until `close()`."""

    def __init__(self, backend: DurableBackend) -> None:
        self.backend = backend
        handler = functools.partial(_Handler, backend)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}{_PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def binding(self, task_hub: str = "TestHub") -> str:
        """The `durableClient` binding JSON the host would hand the function."""
        management = {key: f"{self.base_url}instances/INSTANCEID{suffix}" for key, suffix in (
            ("id", ""), ("statusQueryGetUri", ""), ("sendEventPostUri", "/raiseEvent/{eventName}"),
            ("terminatePostUri", "/terminate?reason={text}"), ("rewindPostUri", "/rewind"),
            ("purgeHistoryDeleteUri", ""), ("restartPostUri", "/restart"))}
        return json.dumps({
            "taskHubName": task_hub,
            "creationUrls": {"createNewInstancePostUri": f"{self.base_url}orchestrators/"
                                                         "{functionName}[/{instanceId}]"},
            "managementUrls": management,
            "rpcBaseUrl": self.base_url,
        })

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, backend: DurableBackend, *args: Any) -> None:
        self.backend = backend
        super().__init__(*args)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        del format, args

    def _parts(self) -> tuple[list[str], dict[str, list[str]]]:
        url = urlsplit(self.path)
        if not url.path.startswith(_PREFIX):
            return [], {}
        return [unquote(p) for p in url.path[len(_PREFIX):].split("/") if p], parse_qs(url.query)

    def _payload(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        value = json.loads(raw)
        return json.loads(value) if isinstance(value, str) else value

    def _answer(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts, _ = self._parts()
        if len(parts) == 2 and parts[0] == "instances":
            status = self.backend.status(parts[1])
            if status is None:
                return self._answer(404)
            return self._answer(202 if status["runtimeStatus"] in RUNNING else 200, status)
        if len(parts) == 3 and parts[0] == "entities":
            state = self.backend.entity_state(parts[1], parts[2])
            return self._answer(404) if state is None else self._answer(200, state)
        return self._answer(404, {"Message": f"no route {self.path}"})

    def do_POST(self) -> None:
        parts, query = self._parts()
        payload = self._payload()
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3):
            instance_id = parts[2] if len(parts) == 3 else uuid.uuid4().hex
            self.backend.start(parts[1], instance_id, payload)
            return self._answer(202, {"id": instance_id,
                                      "statusQueryGetUri": f"instances/{instance_id}"})
        if len(parts) == 3 and parts[0] == "entities" and query.get("op"):
            self.backend.signal(parts[1], parts[2], query["op"][0], payload)
            return self._answer(202)
        return self._answer(404, {"Message": f"no route {self.path}"})


_LOOP = asyncio.new_event_loop()


def call(function: Any, /, **kwargs: Any) -> Any:
    """Run a registered function (a `get_functions()` entry) with the given bindings on the
    process-wide loop; coroutine results are awaited."""
    result = function.get_user_function()(**kwargs)
    if isinstance(result, Coroutine):
        return _LOOP.run_until_complete(result)
    return result
