"""Create or update the API's app registration: the audience callers get tokens for, with
the two app roles the API checks (Backup.Reader for GET, Backup.Administrator for POST).

azd runs it before provisioning (`preprovision` hook, `--azd`): it stores the client id as
API_CLIENT_ID in the azd environment, which main.parameters.json hands to Bicep for platform
authentication and ENTRA_BACKUP_API_AUDIENCE. Idempotent: found again by API_CLIENT_ID, or by
its display name; role ids are derived from the role names, so they never change.
Access tokens are v2 (aud = client id). Registering an app needs the Application Developer
role, or the default user setting that lets users register apps.
https://learn.microsoft.com/graph/api/application-post-applications
https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.parse
import uuid
from typing import Any

from infra.graph_rest import Graph

ROLES = {
    "Backup.Reader": "Read backups, difference reports and recovery jobs (GET routes).",
    "Backup.Administrator": "Start snapshots, difference reports and recoveries; cancel them.",
}
_ROLE_NAMESPACE = uuid.UUID("0b6f8f3e-6f2a-4f55-9a3c-6d0c2b8e1a10")


def role_id(value: str) -> str:
    """A stable id per role name, so re-running never re-creates a role (and its grants)."""
    return str(uuid.uuid5(_ROLE_NAMESPACE, value))


def app_roles() -> list[dict[str, Any]]:
    return [{"id": role_id(value), "value": value, "displayName": value, "description": text,
             "allowedMemberTypes": ["User", "Application"], "isEnabled": True}
            for value, text in ROLES.items()]


def ensure_registration(graph: Graph, display_name: str, client_id: str | None) -> str:
    """The API's appId, after making its roles, identifier URI and token version as wanted."""
    app: dict[str, Any] | None = None
    if client_id:
        query = urllib.parse.quote(f"appId eq '{client_id}'")
        found = graph.list(f"applications?$filter={query}&$select=id,appId")
        app = found[0] if found else None
    if app is None:
        query = urllib.parse.quote(f"displayName eq '{display_name}'")
        found = graph.list(f"applications?$filter={query}&$select=id,appId")
        app = found[0] if found else None
    if app is None:
        app = graph.call("POST", "applications", {"displayName": display_name,
                                                  "signInAudience": "AzureADMyOrg"})
    assert app is not None
    graph.call("PATCH", f"applications/{app['id']}", {
        "identifierUris": [f"api://{app['appId']}"],
        "appRoles": app_roles(),
        "api": {"requestedAccessTokenVersion": 2},
    })
    query = urllib.parse.quote(f"appId eq '{app['appId']}'")
    if not graph.list(f"servicePrincipals?$filter={query}&$select=id"):
        graph.call("POST", "servicePrincipals", {"appId": app["appId"]})
    return str(app["appId"])


def main(argv: list[str] | None = None, graph: Any | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", help="display name (default entra-backup-api-<azd env>)")
    parser.add_argument("--client-id", help="an existing registration's appId")
    parser.add_argument("--azd", action="store_true",
                        help="read/write API_CLIENT_ID in the current azd environment")
    args = parser.parse_args(argv)
    env_name = ""
    if args.azd:
        values = subprocess.run(["azd", "env", "get-values"], check=True, capture_output=True,
                                text=True).stdout
        env = dict(line.split("=", 1) for line in values.splitlines() if "=" in line)
        env = {key: value.strip('"') for key, value in env.items()}
        env_name = env.get("AZURE_ENV_NAME", "")
        args.client_id = args.client_id or env.get("API_CLIENT_ID") or None
    name = args.name or f"entra-backup-api-{env_name or 'default'}"
    client_id = ensure_registration(graph or Graph(), name, args.client_id)
    print(f"API app registration {name}: client id {client_id}")
    if args.azd:
        subprocess.run(["azd", "env", "set", "API_CLIENT_ID", client_id], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
