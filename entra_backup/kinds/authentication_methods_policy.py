"""The tenant's authentication methods policy, with its per-method configurations inline."""

from entra_backup.kinds.base import Kind, Permissions

AUTHENTICATION_METHODS_POLICY = Kind(
    name="authenticationMethodsPolicy",
    path="policies/authenticationMethodsPolicy",
    select=(),
    singleton=True,
    soft_delete=False,
    read_only=frozenset({"id", "displayName", "description", "lastModifiedDateTime",
                         "policyVersion"}),
    volatile=frozenset({"lastModifiedDateTime"}),
    rank=60,
    permissions=Permissions(read="Policy.Read.All",
                            write="Policy.ReadWrite.AuthenticationMethod"),
)
