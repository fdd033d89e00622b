"""The tenant's authorization policy (guest access, user consent, default user permissions)."""

from entra_backup.kinds.base import Kind, Permissions

AUTHORIZATION_POLICY = Kind(
    name="authorizationPolicy",
    path="policies/authorizationPolicy",
    select=(),
    singleton=True,
    soft_delete=False,
    read_only=frozenset({"id"}),
    on_created="report",
    rank=5,
    permissions=Permissions(read="Policy.Read.All", write="Policy.ReadWrite.Authorization"),
)
