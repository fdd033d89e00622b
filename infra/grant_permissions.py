"""Grant the app's managed identity its Microsoft Graph application permissions, and the
runbook's identity the API's Backup.Administrator role.

The permissions are computed from the kinds catalog (`entra_backup.kinds.required_permissions`),
so the deployment and the engine never drift apart:
  --mode read      capture and diff only (the read-only deployment): the catalog's "read" list;
  --mode recovery  recovery enabled: "read" plus "write".
The identity ends up holding exactly the chosen mode's Graph permissions: missing ones are
added and Graph permissions of the other mode are removed, so going back to read-only takes
the write permissions away. Run it again at any time; it changes only what differs.

Needs a Graph token of someone allowed to grant application permissions (Privileged Role
Administrator, or AppRoleAssignment.ReadWrite.All + Application.Read.All):
    python3 -m infra.grant_permissions --azd --mode read
`--azd` reads APP_PRINCIPAL_ID, RUNBOOK_PRINCIPAL_ID and API_CLIENT_ID from `azd env get-values`.
Graph call: https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignments
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from entra_backup.kinds import required_permissions
from infra.graph_rest import GRAPH_APP_ID, Graph

RUNBOOK_ROLE = "Backup.Administrator"


def wanted_permissions(mode: str) -> list[str]:
    """The Graph application permissions a deployment in `mode` holds."""
    catalog = required_permissions()
    if mode == "read":
        return list(catalog["read"])
    if mode == "recovery":
        return sorted(set(catalog["read"]) | set(catalog["write"]))
    raise ValueError(f"unknown mode {mode!r} (read or recovery)")


@dataclass
class Change:
    """What one sync did: role values added and removed, and those already held."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def sync_app_roles(graph: Graph, principal_id: str, resource_app_id: str,
                   values: list[str], *, dry_run: bool = False) -> Change:
    """Make `principal_id` hold exactly the app roles `values` of the resource `resource_app_id`.

    Only assignments on that resource are touched; an unknown value is an error before any
    change is made.
    """
    resource = graph.service_principal(resource_app_id)
    if resource is None:
        raise SystemExit(f"no service principal for appId {resource_app_id} in this tenant")
    by_value = {role["value"]: role["id"] for role in resource.get("appRoles", [])
                if "Application" in role.get("allowedMemberTypes", ["Application"])}
    unknown = sorted(set(values) - set(by_value))
    if unknown:
        raise SystemExit(f"{resource_app_id} offers no application role {', '.join(unknown)}")
    wanted = {by_value[value]: value for value in values}
    names = {role_id: value for value, role_id in by_value.items()}
    held: dict[str, str] = {}
    for assignment in graph.list(f"servicePrincipals/{principal_id}/appRoleAssignments"):
        if assignment.get("resourceId") == resource["id"]:
            held[assignment["appRoleId"]] = assignment["id"]
    change = Change()
    for role_id, value in sorted(wanted.items(), key=lambda item: item[1]):
        if role_id in held:
            change.kept.append(value)
            continue
        change.added.append(value)
        if not dry_run:
            graph.call("POST", f"servicePrincipals/{principal_id}/appRoleAssignments",
                       {"principalId": principal_id, "resourceId": resource["id"],
                        "appRoleId": role_id})
    for role_id, assignment_id in sorted(held.items()):
        if role_id not in wanted:
            change.removed.append(names.get(role_id, role_id))
            if not dry_run:
                graph.call("DELETE",
                           f"servicePrincipals/{principal_id}/appRoleAssignments/{assignment_id}")
    return change


def azd_values() -> dict[str, str]:
    """The current azd environment's values (Bicep outputs and `azd env set` values)."""
    text = subprocess.run(["azd", "env", "get-values"], check=True, capture_output=True,
                          text=True).stdout
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def main(argv: list[str] | None = None, graph: Any | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("read", "recovery"), default="read")
    parser.add_argument("--principal-id", help="object id of the app's managed identity")
    parser.add_argument("--runbook-principal-id", help="object id of the runbook's identity")
    parser.add_argument("--api-client-id", help="appId of the API's app registration")
    parser.add_argument("--azd", action="store_true", help="read the ids from `azd env`")
    parser.add_argument("--dry-run", action="store_true", help="show, change nothing")
    args = parser.parse_args(argv)
    if args.azd:
        env = azd_values()
        args.principal_id = args.principal_id or env.get("APP_PRINCIPAL_ID")
        args.runbook_principal_id = args.runbook_principal_id or env.get("RUNBOOK_PRINCIPAL_ID")
        args.api_client_id = args.api_client_id or env.get("API_CLIENT_ID")
    if not args.principal_id:
        parser.error("--principal-id (or --azd) is required")
    graph = graph or Graph()
    change = sync_app_roles(graph, args.principal_id, GRAPH_APP_ID,
                            wanted_permissions(args.mode), dry_run=args.dry_run)
    print(f"Microsoft Graph ({args.mode}): added {change.added or '-'}, "
          f"removed {change.removed or '-'}, already held {len(change.kept)}")
    if args.runbook_principal_id and args.api_client_id:
        change = sync_app_roles(graph, args.runbook_principal_id, args.api_client_id,
                                [RUNBOOK_ROLE], dry_run=args.dry_run)
        print(f"runbook on the API: added {change.added or '-'}, removed {change.removed or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
