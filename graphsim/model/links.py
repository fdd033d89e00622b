"""References between objects (members, owners, manager, sponsors) held by id both ways.

Links are stored separately from objects so a soft-deleted object keeps its links (Graph
restores them) while lists hide them, and a hard delete can drop every link that names it.
"""

from __future__ import annotations

from collections import defaultdict


class LinkStore:
    def __init__(self) -> None:
        self._fwd: dict[str, dict[str, dict[str, None]]] = defaultdict(dict)
        self._rev: dict[str, dict[str, set[str]]] = defaultdict(dict)

    def add(self, nav: str, source: str, target: str) -> bool:
        """Add a link; False if it already existed."""
        targets = self._fwd[nav].setdefault(source, {})
        if target in targets:
            return False
        targets[target] = None
        self._rev[nav].setdefault(target, set()).add(source)
        return True

    def remove(self, nav: str, source: str, target: str) -> bool:
        targets = self._fwd[nav].get(source)
        if not targets or target not in targets:
            return False
        del targets[target]
        if not targets:
            del self._fwd[nav][source]
        sources = self._rev[nav].get(target)
        if sources is not None:
            sources.discard(source)
            if not sources:
                del self._rev[nav][target]
        return True

    def targets(self, nav: str, source: str) -> list[str]:
        return list(self._fwd[nav].get(source, ()))

    def has(self, nav: str, source: str, target: str) -> bool:
        return target in self._fwd[nav].get(source, ())

    def count(self, nav: str, source: str) -> int:
        return len(self._fwd[nav].get(source, ()))

    def sources(self, nav: str, target: str) -> list[str]:
        return sorted(self._rev[nav].get(target, ()))

    def drop(self, object_id: str) -> list[tuple[str, str, str]]:
        """Remove every link from or to an object; return them as (nav, source, target)."""
        dropped: list[tuple[str, str, str]] = []
        for nav in list(self._fwd):
            for target in self.targets(nav, object_id):
                self.remove(nav, object_id, target)
                dropped.append((nav, object_id, target))
            for source in self.sources(nav, object_id):
                self.remove(nav, source, object_id)
                dropped.append((nav, source, object_id))
        return dropped

    def navs(self) -> list[str]:
        return list(self._fwd)

    def items(self, nav: str) -> list[tuple[str, list[str]]]:
        return [(source, list(targets)) for source, targets in self._fwd[nav].items()]
