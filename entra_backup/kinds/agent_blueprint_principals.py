"""Agent identity blueprint principals: service principals of a blueprint (not auto-created)."""

from entra_backup.kinds.base import Kind, Permissions
from entra_backup.kinds.service_principals import OWNERS, READ_ONLY, SELECT

AGENT_BLUEPRINT_PRINCIPALS = Kind(
    name="agentIdentityBlueprintPrincipals",
    path="servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal",
    select=SELECT,
    links=(OWNERS,),
    read_only=READ_ONLY,
    create_only=frozenset({"appId"}),
    secret=frozenset({"secretText"}),
    odata_type="#microsoft.graph.agentIdentityBlueprintPrincipal",
    max_top=100,
    deleted_path="directory/deletedItems/microsoft.graph.agentIdentityBlueprintPrincipal",
    rank=51,
    permissions=Permissions(read="AgentIdentityBlueprintPrincipal.Read.All",
                            write="AgentIdentityBlueprintPrincipal.ReadWrite.All"),
)
