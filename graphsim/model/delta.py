"""The change log behind `/delta`: what changed, in order, so a token can replay from a point.

Each write appends a `Change`. A delta round reads the entries after its token's position,
folds them per object (Graph returns an object once per round with what changed), and renders
each against the object's current state: live objects with their changed properties, removed
ones as `@removed` with reason `changed` (in the recycle bin) or `deleted` (gone for good).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Change:
    seq: int
    collection: str
    object_id: str
    props: frozenset[str] | None  # None: the whole object is new (created or restored)
    links: tuple[tuple[str, str, bool], ...] = ()  # (nav, target id, added?)
    removed: bool = False


@dataclass
class Folded:
    """All changes to one object within a delta round."""

    object_id: str
    whole: bool = False
    props: set[str] = field(default_factory=set)
    links: dict[str, dict[str, bool]] = field(default_factory=dict)
    removed: bool = False


class ChangeLog:
    def __init__(self) -> None:
        self._entries: list[Change] = []
        self._first_seq = 1

    @property
    def head(self) -> int:
        """Sequence number of the newest change (0 when none)."""
        return self._first_seq - 1 + len(self._entries)

    def record(
        self,
        collection: str,
        object_id: str,
        *,
        props: frozenset[str] | None = None,
        links: tuple[tuple[str, str, bool], ...] = (),
        removed: bool = False,
    ) -> None:
        self._entries.append(
            Change(self.head + 1, collection, object_id, props, links, removed)
        )

    def fold(self, collection: str, after: int, upto: int) -> list[Folded]:
        """Fold the changes in (after, upto] for one collection, in first-change order."""
        folded: dict[str, Folded] = {}
        start = max(after - self._first_seq + 1, 0)
        stop = upto - self._first_seq + 1
        for change in self._entries[start:stop]:
            if change.collection != collection:
                continue
            item = folded.get(change.object_id)
            if item is None:
                item = folded[change.object_id] = Folded(change.object_id)
            if change.removed:
                item.removed, item.whole = True, False
                item.props.clear()
                continue
            if change.props is None:
                item.whole, item.removed = True, False
            else:
                item.props |= change.props
            for nav, target, added in change.links:
                item.links.setdefault(nav, {})[target] = added
        return list(folded.values())
