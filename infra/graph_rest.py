"""A minimal Microsoft Graph client for the deployment scripts: stdlib only, so the azd hook
runs on any python3 without the app's dependencies.

The token comes from GRAPH_TOKEN when set (tests against graphsim) or else from the Azure
CLI of whoever runs the script (`az account get-access-token`); it is never printed.
GRAPH_URL points elsewhere than https://graph.microsoft.com/v1.0 (tests: graphsim).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

GRAPH_URL = "https://graph.microsoft.com/v1.0"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's appId in every tenant


class GraphCallError(RuntimeError):
    """Graph refused a call; carries the status and Graph's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Graph {status} {code}: {message}")
        self.status = status
        self.code = code


def cli_token() -> str:
    """A Graph token for the signed-in Azure CLI user (`az login` / `azd auth login`)."""
    answer = subprocess.run(
        ["az", "account", "get-access-token", "--resource", "https://graph.microsoft.com",
         "--query", "accessToken", "--output", "tsv"],
        check=True, capture_output=True, text=True)
    return answer.stdout.strip()


class Graph:
    """GET/POST/PATCH/DELETE against Graph with one bearer token, following nextLink pages."""

    def __init__(self, base_url: str | None = None, token: str | None = None) -> None:
        self.base_url = (base_url or os.environ.get("GRAPH_URL") or GRAPH_URL).rstrip("/")
        self._token = token or os.environ.get("GRAPH_TOKEN") or cli_token()

    def call(self, method: str, path: str, body: Any | None = None) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                error = json.loads(raw).get("error", {})
            except ValueError:
                error = {}
            raise GraphCallError(exc.code, str(error.get("code", "")),
                                 str(error.get("message", raw[:200]))) from None
        return json.loads(text) if text.strip() else None

    def list(self, path: str) -> list[dict[str, Any]]:
        """Every item of a collection, all pages."""
        items: list[dict[str, Any]] = []
        page: Any = self.call("GET", path)
        while True:
            items.extend(page.get("value", []))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return items
            page = self.call("GET", next_link)

    def service_principal(self, app_id: str) -> dict[str, Any] | None:
        """The service principal of an appId in this tenant, with its app roles."""
        query = urllib.parse.quote(f"appId eq '{app_id}'")
        found = self.list(f"servicePrincipals?$filter={query}&$select=id,appId,appRoles")
        return found[0] if found else None
