"""Agent identity blueprints: applications of a derived type (page size 100)."""

from entra_backup.kinds.applications import OWNERS, READ_ONLY, SELECT
from entra_backup.kinds.base import Kind, Link, Permissions

AGENT_BLUEPRINTS = Kind(
    name="agentIdentityBlueprints",
    path="applications/microsoft.graph.agentIdentityBlueprint",
    select=(*SELECT, "inheritablePermissions"),
    links=(OWNERS, Link("sponsors", targets=("users",), read="per_object",
                        path="applications/{id}/microsoft.graph.agentIdentityBlueprint/"
                             "sponsors?$select=id", ref="sponsors/$ref")),
    read_only=READ_ONLY,
    secret=frozenset({"secretText"}),
    odata_type="#microsoft.graph.agentIdentityBlueprint",
    max_top=100,
    deleted_path="directory/deletedItems/microsoft.graph.agentIdentityBlueprint",
    rank=41,
    permissions=Permissions(read="AgentIdentityBlueprint.Read.All",
                            write="AgentIdentityBlueprint.ReadWrite.All"),
)
