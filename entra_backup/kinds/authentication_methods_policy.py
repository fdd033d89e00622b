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
    # method configurations are written one by one, with their @odata.type
    item_collections=(("authenticationMethodConfigurations",
                       "policies/authenticationMethodsPolicy/authenticationMethodConfigurations"),),
    on_created="report",
    rank=60,
    permissions=Permissions(read="Policy.Read.All",
                            write="Policy.ReadWrite.AuthenticationMethod"),
)
