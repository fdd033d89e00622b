"""Ordered object storage with stable cursors, so paging survives concurrent writes.

Objects sit in insertion order in an append-only id list. A cursor is a position in that
list; deleting an object leaves a tombstone instead of shifting later positions, so a client
paging through a million users while someone deletes one neither skips nor repeats objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Json = dict[str, Any]


class ObjectStore:
    """The live objects of one collection."""

    def __init__(self) -> None:
        self.objects: dict[str, Json] = {}
        self._order: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.objects)

    def __contains__(self, object_id: str) -> bool:
        return object_id in self.objects

    def get(self, object_id: str) -> Json | None:
        return self.objects.get(object_id)

    def put(self, obj: Json) -> None:
        """Add a new object (or a restored one, which Graph treats as new) at the end."""
        object_id = obj["id"]
        if object_id in self.objects:
            self.objects[object_id] = obj
            return
        self.objects[object_id] = obj
        self._pos[object_id] = len(self._order)
        self._order.append(object_id)

    def pop(self, object_id: str) -> Json | None:
        self._pos.pop(object_id, None)
        return self.objects.pop(object_id, None)

    def scan(self, start: int = 0) -> Iterator[tuple[int, Json]]:
        """Yield (position, object) for live objects from `start` on."""
        order, pos, objects = self._order, self._pos, self.objects
        for index in range(start, len(order)):
            object_id = order[index]
            if pos.get(object_id) == index:
                yield index, objects[object_id]

    def end(self) -> int:
        return len(self._order)
