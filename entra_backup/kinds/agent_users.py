"""Agent users: users bound 1:1 to an agent identity (`identityParentId`)."""

from entra_backup.kinds.base import Kind, Link, Permissions
from entra_backup.kinds.users import READ_ONLY, SELECT, VOLATILE

AGENT_USERS = Kind(
    name="agentUsers",
    path="users/microsoft.graph.agentUser",
    select=(*SELECT, "identityParentId"),
    links=(
        Link("manager", targets=("users",), read="per_object",
             path="users/{id}/manager?$select=id", ref="manager/$ref", single=True),
        Link("sponsors", targets=("users", "groups"), read="per_object",
             path="users/{id}/microsoft.graph.agentUser/sponsors?$select=id",
             ref="sponsors/$ref"),
    ),
    read_only=READ_ONLY,
    create_only=frozenset({"identityParentId"}),
    volatile=VOLATILE,
    odata_type="#microsoft.graph.agentUser",
    max_top=100,
    deleted_path="directory/deletedItems/microsoft.graph.agentUser",
    rank=53,
    permissions=Permissions(read="AgentIdUser.Read.All", write="AgentIdUser.ReadWrite.All"),
)
