"""Agent identities: service principals of a blueprint, sponsored by users or groups."""

from entra_backup.kinds.base import Kind, Link, Permissions
from entra_backup.kinds.service_principals import OWNERS, READ_ONLY, SELECT

AGENT_IDENTITIES = Kind(
    name="agentIdentities",
    path="servicePrincipals/microsoft.graph.agentIdentity",
    # unlike a v1.0 servicePrincipal, an agent identity says when and by which app it was made
    select=(*SELECT, "agentIdentityBlueprintId", "createdByAppId", "createdDateTime"),
    links=(OWNERS, Link("sponsors", targets=("users", "groups"), read="per_object",
                        path="servicePrincipals/{id}/microsoft.graph.agentIdentity/"
                             "sponsors?$select=id", ref="sponsors/$ref")),
    read_only=READ_ONLY | {"createdByAppId", "createdDateTime"},
    create_only=frozenset({"agentIdentityBlueprintId"}),
    secret=frozenset({"secretText"}),
    odata_type="#microsoft.graph.agentIdentity",
    max_top=100,
    deleted_path="directory/deletedItems/microsoft.graph.agentIdentity",
    rank=52,
    permissions=Permissions(read="AgentIdentity.Read.All",
                            write="AgentIdentity.ReadWrite.All"),
)
