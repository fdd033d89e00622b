"""Records as captured - `{"id", "kind", "object", "links"}` - and the spill-and-merge sorter.

Graph returns objects in no particular order, and a group can come back several times with
successive chunks of `members@delta` (100 at a time; a dynamic "all users" group at a million
users arrives as ten thousand chunks). The sorter keeps at most `limit` records and
`link_limit` link values in memory, spills sorted runs to temporary files and merges them by
id, folding repeated ids into one record, so a kind of any size is written sorted with memory
that does not grow with it - only the largest single record must fit.

Folding appends and `normalized` sorts and dedupes once at the end: deduping on every chunk
would rebuild the seen-set of the whole accumulated list each time, quadratic in group size.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from entra_backup.types import Json

DEFAULT_SPILL_LIMIT = 10_000
DEFAULT_LINK_LIMIT = 250_000


def merge_into(target: Json, extra: Json) -> int:
    """Fold a repeated record into the first one: properties update, link lists concatenate.

    Duplicates are left for `normalized` to drop. Returns the number of link values added.
    """
    target["object"].update(extra["object"])
    if extra.get("keys"):
        target.setdefault("keys", {}).update(extra["keys"])
    links = target.setdefault("links", {})
    added = 0
    for name, values in extra.get("links", {}).items():
        links.setdefault(name, []).extend(values)
        added += len(values)
    return added


def _key(value: Any) -> str:
    """A link value's identity: the id itself, a row's id, or the whole row without one."""
    if isinstance(value, str):
        return value
    row_id = value.get("id")
    if row_id is not None:
        return str(row_id)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def normalized(record: Json) -> Json:
    """Sort and dedupe every link list so the same tenant always serializes to the same bytes.

    Of values sharing a key the first folded in is kept (the sort is stable).
    """
    links = record.get("links") or {}
    record["links"] = {name: _unique(sorted(values, key=_key))
                       for name, values in sorted(links.items())}
    return record


def _unique(ordered: list[Any]) -> list[Any]:
    out: list[Any] = []
    last: str | None = None
    for value in ordered:
        key = _key(value)
        if key != last:
            out.append(value)
            last = key
    return out


def _link_count(record: Json) -> int:
    return sum(len(values) for values in (record.get("links") or {}).values())


class RecordSorter:
    """Accepts records in any order; yields them once each, sorted by id, merged."""

    def __init__(
        self, *, limit: int = DEFAULT_SPILL_LIMIT, link_limit: int = DEFAULT_LINK_LIMIT,
        workdir: Path | None = None,
    ) -> None:
        self._limit = limit
        self._link_limit = link_limit
        self._workdir = workdir
        self._buffer: dict[str, Json] = {}
        self._links = 0
        self._runs: list[Path] = []
        self.spilled = 0

    def add(self, record: Json) -> None:
        existing = self._buffer.get(record["id"])
        if existing is not None:
            self._links += merge_into(existing, record)
        else:
            self._buffer[record["id"]] = record
            self._links += _link_count(record)
        if len(self._buffer) >= self._limit or self._links >= self._link_limit:
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
        self._links = 0

    def __iter__(self) -> Iterator[Json]:
        """Merge the runs and the buffer, records normalized; run files are deleted once read."""
        if not self._runs:
            buffer, self._buffer, self._links = self._buffer, {}, 0
            for object_id in sorted(buffer):
                yield normalized(buffer.pop(object_id))
            return
        if self._buffer:
            self._spill()
        handles = [path.open("rb") for path in self._runs]
        try:
            yield from merge_runs(read_run(h) for h in handles)
        finally:
            for handle in handles:
                handle.close()
            for path in self._runs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self._runs = []


def merge_runs(runs: Iterable[Iterator[Json]]) -> Iterator[Json]:
    """Merge id-sorted runs into one stream, folding repeated ids, records normalized.

    Records sharing an id fold in run order (heapq.merge is stable), so runs written in the
    order their pages were read give the same records as one sorter fed every page: a
    capture's chunks in the staging area merge to the bytes a one-shot capture writes.
    """
    current: Json | None = None
    for record in heapq.merge(*runs, key=lambda r: r["id"]):
        if current is not None and current["id"] == record["id"]:
            merge_into(current, record)
            continue
        if current is not None:
            yield normalized(current)
        current = record
    if current is not None:
        yield normalized(current)


def read_run(handle: Iterable[bytes]) -> Iterator[Json]:
    """The records of one NDJSON run, one line at a time."""
    for line in handle:
        yield orjson.loads(line)
