"""`python -m graphsim.demo` (`make demo`): start graphsim and show it answering like Graph.

Starts `graphsim serve` on a free loopback port with a ~2,000-object synthetic tenant, walks
through reads, paging, Conditional Access, soft delete and restore and a delta round, prints
what it sees, and stops the server whatever happens.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import httpx

from graphsim import launch

TOTAL, SEED = 2000, 42


SERVE_ARGS = ("--synthetic", str(TOTAL), "--random-seed", str(SEED))


def step(title: str) -> None:
    print(f"\n== {title}")


def pages(graph: httpx.Client, url: str) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """Follow @odata.nextLink: (all items, page count, last page)."""
    items, count = [], 0
    while True:
        body = graph.get(url).raise_for_status().json()
        items += body["value"]
        count += 1
        if "@odata.nextLink" not in body:
            return items, count, body
        url = body["@odata.nextLink"]


def demo(base: str, sim: httpx.Client, graph: httpx.Client) -> None:
    print(f"graphsim is listening on {base} (synthetic tenant of ~{TOTAL} objects, seed {SEED})")

    step("Tenant contents (GET /_sim/stats)")
    objects = sim.get("/stats").json()["objects"]
    print("  " + ", ".join(f"{name} {n}" for name, n in objects.items() if n))

    step("First page of users (GET /v1.0/users?$top=5&$select=displayName,userPrincipalName)")
    first = graph.get("/users", params={"$top": 5, "$select": "displayName,userPrincipalName"})
    body = first.raise_for_status().json()
    for user in body["value"]:
        print(f"  {user['displayName']:<22} {user['userPrincipalName']}")
    print(f"  ... @odata.nextLink continues the list; x-ms-resource-unit: "
          f"{first.headers.get('x-ms-resource-unit')}")

    step("A group and its members (paging /groups/{id}/members?$select=id&$top=999)")
    group = graph.get("/groups", params={"$top": 1, "$select": "id,displayName,groupTypes,"
                                         "membershipRule"}).json()["value"][0]
    members, n_pages, _ = pages(graph, f"/groups/{group['id']}/members?$select=id&$top=999")
    print(f"  {group['displayName']!r} {group['groupTypes']} rule {group['membershipRule']!r}")
    print(f"  {len(members)} members in {n_pages} pages")

    step("Conditional Access policies (GET /v1.0/identity/conditionalAccess/policies)")
    policies, _, _ = pages(graph, "/identity/conditionalAccess/policies?$select=displayName,state")
    for policy in policies:
        print(f"  {policy['state']:<36} {policy['displayName']}")

    cloud = [u for u in graph.get("/users", params={
        "$top": 50, "$select": "id,displayName,userType,onPremisesSyncEnabled"}).json()["value"]
        if u["userType"] == "Member" and not u["onPremisesSyncEnabled"]]
    victim, changed = cloud[0], cloud[1]

    step(f"Soft delete and restore of {victim['displayName']}")
    victim_url = f"/users/{victim['id']}"
    graph.delete(victim_url).raise_for_status()
    print(f"  DELETE {victim_url} -> 204; GET now answers {graph.get(victim_url).status_code}")
    binned = graph.get("/directory/deletedItems/microsoft.graph.user").json()["value"]
    for item in binned:
        print(f"  in deletedItems: {item['displayName']} (deletedDateTime "
              f"{item['deletedDateTime']})")
    restored = graph.post(f"/directory/deletedItems/{victim['id']}/restore")
    print(f"  POST .../restore -> {restored.status_code} {restored.json()['@odata.type']}; "
          f"GET {victim_url} -> {graph.get(victim_url).status_code}")

    step("Delta round on users (GET /v1.0/users/delta?$select=displayName,jobTitle)")
    items, n_pages, last = pages(graph, "/users/delta?$select=displayName,jobTitle")
    print(f"  initial round: {len(items)} users in {n_pages} pages, then an @odata.deltaLink")
    graph.patch(f"/users/{changed['id']}", json={"jobTitle": "Chief Demo Officer"}
                ).raise_for_status()
    graph.delete(victim_url).raise_for_status()
    print(f"  PATCH jobTitle of {changed['displayName']}; DELETE {victim['displayName']} again")
    items, _, last = pages(graph, last["@odata.deltaLink"])
    print(f"  incremental round from the deltaLink: {len(items)} changes")
    for item in items:
        print(f"    {item}")

    step("Requests the simulator counted (GET /_sim/stats)")
    stats = sim.get("/stats").json()
    for method, kinds in stats["requests"].items():
        print(f"  {method:<6} " + ", ".join(f"{kind} {n}" for kind, n in kinds.items()))
    print(f"  resource units charged: {stats['throttle']['resource_units']}, throttled: "
          f"{stats['throttled']}, tenant counters: {stats['tenant']}")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with launch.running(*SERVE_ARGS) as server, httpx.Client(
                base_url=f"{server.url}/_sim", timeout=30) as sim, httpx.Client(
                base_url=f"{server.url}/v1.0", timeout=30,
                headers={"Authorization": "Bearer app:graphsim-demo"}) as graph:
            demo(server.url, sim, graph)
    except KeyboardInterrupt:
        print("\ninterrupted")
        return 130
    print("\ngraphsim stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
