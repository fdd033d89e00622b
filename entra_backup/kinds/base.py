"""What a kind declares: the data the generic engine reads. A kind module exports one `Kind`.

The engine learns everything about an object type from these rows - paths, the explicit
`$select` (never Graph's default projection), links and how to read them at scale, what diff
ignores, what restore may not write - so adding a kind touches no engine code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LinkRead = Literal["delta", "per_object", "tenant_list"]


@dataclass(frozen=True)
class Permissions:
    """Graph application permissions: least privilege to read, and to write back."""

    read: str
    write: str


@dataclass(frozen=True)
class Link:
    """A relationship held by id (or a small object, for assignments and grants).

    `read` says how capture gets it at scale: "delta" rides inline in the kind's delta stream
    (`members@delta`, `manager@delta`), "per_object" is a GET per object (batched 20 at a time,
    paged), "tenant_list" is one tenant-wide list grouped by `group_by`. Never `$expand`:
    Graph cuts expanded multi-valued links at 20.
    """

    name: str
    targets: tuple[str, ...]
    read: LinkRead
    path: str = ""  # per_object: relative URL with {id}; tenant_list: collection path
    ref: str | None = None  # write path relative to the object, e.g. "members/$ref"
    per_request: int = 1  # how many refs one write may carry (members@odata.bind: 20)
    single: bool = False  # manager: at most one target
    fields: tuple[str, ...] = ()  # object-shaped links keep these fields; empty = ids only
    group_by: str = ""  # tenant_list: the field naming the owning object
    key: str = "id"  # what the link's entries are sorted and compared by
    # Graph permissions the link needs beyond its kind's: a link kept by another API
    # (delegated grants, app role assignments) has its own read and write permissions
    permissions: Permissions | None = None


@dataclass(frozen=True)
class Kind:
    """One supported object type."""

    name: str
    path: str
    select: tuple[str, ...]
    permissions: Permissions
    rank: int  # restore order: lower first (named locations before CA policies, ...)
    api_version: str = "v1.0"
    links: tuple[Link, ...] = ()
    delta: bool = False
    singleton: bool = False  # one object, GET returns it directly (not a page)
    volatile: frozenset[str] = frozenset()  # diff ignores these (server clocks, counters)
    read_only: frozenset[str] = frozenset()  # never written back
    create_only: frozenset[str] = frozenset()  # written only when re-creating
    secret: frozenset[str] = frozenset()  # never stored even if Graph returned it
    # properties whose full value only a single-object GET with $select returns: capture reads
    # them per object (a certificate's public key, so a deleted certificate can be restored)
    single_get: tuple[str, ...] = ()
    soft_delete: bool = True
    synced_flag: str | None = None  # property that is true for on-premises mastered objects
    odata_type: str | None = None  # the derived type this kind captures from a base path
    exclude_types: frozenset[str] = frozenset()  # derived types in `path` owned by other kinds
    max_top: int = 999
    deleted_path: str | None = None  # where Graph lists its soft-deleted objects
    deleted_api_version: str = "v1.0"
    # dotted paths inside the object that hold ids of other kinds (CA conditions): path -> kind
    references: tuple[tuple[str, str], ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # named quirk hooks, rarely used
    # recovery: what may be written back, and how
    writable: frozenset[str] | None = None  # when set, only these properties are written
    write_whole: bool = False  # send every writable property on update (CA: merge or replace)
    item_collections: tuple[tuple[str, str], ...] = ()  # (property, path): PATCHed per item
    on_created: str = "softDelete"  # objects created since: softDelete | disable | report

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"

    @property
    def collection_path(self) -> str:
        """Where objects of this kind are written: the path without its OData cast."""
        return "/".join(p for p in self.path.split("/") if not p.startswith("microsoft.graph."))

    def object_path(self, object_id: str) -> str:
        return self.path if self.singleton else f"{self.collection_path}/{object_id}"

    def restore_path(self, object_id: str) -> str:
        """The recycle bin's restore action for one object (directory or the CA bin)."""
        bin_path = self.deleted_path or ""
        if bin_path.startswith("directory/deletedItems"):
            return f"directory/deletedItems/{object_id}/restore"
        return f"{bin_path}/{object_id}/restore"

    @property
    def restore_api_version(self) -> str:
        """The directory bin restores on v1.0; the CA bin only on its own (beta) version."""
        bin_path = self.deleted_path or ""
        return "v1.0" if bin_path.startswith("directory/") else self.deleted_api_version

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(f"{self.name} has no link {name!r}")


DIRECTORY_READ = "Directory.Read.All"
SERVER_STAMPS = frozenset({"createdDateTime", "modifiedDateTime", "deletedDateTime",
                           "lastModifiedDateTime"})
