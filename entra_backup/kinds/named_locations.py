"""Named locations (ip and country) used by Conditional Access; restored before policies.

Selected without `$select`: the list returns each derived type whole, and a `$select` on the
base collection cannot name derived-type properties without a cast per type.
"""

from entra_backup.kinds.base import Kind, Permissions

NAMED_LOCATIONS = Kind(
    name="namedLocations",
    path="identity/conditionalAccess/namedLocations",
    select=(),
    read_only=frozenset({"id", "createdDateTime", "modifiedDateTime"}),
    volatile=frozenset({"modifiedDateTime"}),
    deleted_path="identity/conditionalAccess/deletedItems/namedLocations",
    deleted_api_version="beta",
    write_whole=True,  # PATCH needs the derived @odata.type and the whole range list
    on_created="report",  # not deleted by recovery (policies may use it; no bin guaranteed)
    rank=10,
    permissions=Permissions(read="Policy.Read.All",
                            write="Policy.ReadWrite.ConditionalAccess"),
)
