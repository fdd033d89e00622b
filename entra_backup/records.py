"""Records as captured - `{"id", "kind", "object", "links"}` - and the spill-and-merge sorter.

Graph returns objects in no particular order, and a group can come back several times with
successive chunks of `members@delta`. The sorter keeps at most `limit` records in memory,
spills sorted runs to temporary files and merges them by id, folding repeated ids into one
record, so a kind of any size is written sorted with memory that does not grow with it.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from entra_backup.types import Json

DEFAULT_SPILL_LIMIT = 10_000


def merge_into(target: Json, extra: Json) -> None:
    """Fold a repeated record into the first one: properties update, link lists union."""
    target["object"].update(extra["object"])
    links = target.setdefault("links", {})
    for name, values in extra.get("links", {}).items():
        if name not in links:
            links[name] = list(values)
            continue
        seen = {_key(v) for v in links[name]}
        links[name].extend(v for v in values if _key(v) not in seen)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else str(value.get("id"))


def normalized(record: Json) -> Json:
    """Sort every link list so the same tenant always serializes to the same bytes."""
    links = record.get("links") or {}
    record["links"] = {name: sorted(values, key=_key) for name, values in sorted(links.items())}
    return record


class RecordSorter:
    """Accepts records in any order; yields them once each, sorted by id, merged."""

    def __init__(self, *, limit: int = DEFAULT_SPILL_LIMIT, workdir: Path | None = None) -> None:
        self._limit = limit
        self._workdir = workdir
        self._buffer: dict[str, Json] = {}
        self._runs: list[Path] = []
        self.spilled = 0

    def add(self, record: Json) -> None:
        existing = self._buffer.get(record["id"])
        if existing is not None:
            merge_into(existing, record)
            return
        self._buffer[record["id"]] = record
        if len(self._buffer) >= self._limit:
            self._spill()

    def _spill(self) -> None:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, kept by path
            "wb", prefix="entra-backup-run-", suffix=".ndjson", dir=self._workdir, delete=False
        )
        with handle:
            for object_id in sorted(self._buffer):
                handle.write(orjson.dumps(self._buffer[object_id]))
                handle.write(b"\n")
        self.spilled += len(self._buffer)
        self._runs.append(Path(handle.name))
        self._buffer = {}

    def __iter__(self) -> Iterator[Json]:
        """Merge the runs and the buffer; each run file is deleted once read."""
        if not self._runs:
            for object_id in sorted(self._buffer):
                yield self._buffer[object_id]
            self._buffer = {}
            return
        if self._buffer:
            self._spill()
        handles = [path.open("rb") for path in self._runs]
        try:
            merged = heapq.merge(*(_read_run(h) for h in handles), key=lambda r: r["id"])
            current: Json | None = None
            for record in merged:
                if current is not None and current["id"] == record["id"]:
                    merge_into(current, record)
                    continue
                if current is not None:
                    yield current
                current = record
            if current is not None:
                yield current
        finally:
            for handle in handles:
                handle.close()
            for path in self._runs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self._runs = []


def _read_run(handle: IO[bytes]) -> Iterator[Json]:
    for line in handle:
        yield orjson.loads(line)
