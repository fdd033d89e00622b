"""The spill-and-merge sorter: sorted, folded, bounded."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

from entra_backup.capture.records import RecordSorter, normalized


def _record(object_id: str, members: list[str] | None = None, **props: object) -> dict:
    return {"id": object_id, "kind": "groups", "object": {"id": object_id, **props},
            "links": {"members": members} if members is not None else {}}


def test_sorts_and_folds_repeated_ids_across_spilled_runs(tmp_path: Path) -> None:
    sorter = RecordSorter(limit=7, workdir=tmp_path)
    ids = [f"{i:05d}" for i in range(100)]
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    for object_id in shuffled:
        sorter.add(_record(object_id, [f"m{object_id}-a"], displayName=object_id))
    # a group returned again later with its next chunk of members, as groups/delta does
    for object_id in shuffled[:30]:
        sorter.add(_record(object_id, [f"m{object_id}-b", f"m{object_id}-a"]))
    out = list(sorter)
    assert [r["id"] for r in out] == ids
    assert sorter.spilled > 0
    folded = {r["id"]: r for r in out}[shuffled[0]]
    assert sorted(folded["links"]["members"]) == [f"m{shuffled[0]}-a", f"m{shuffled[0]}-b"]
    assert folded["object"]["displayName"] == shuffled[0]
    assert list(tmp_path.iterdir()) == []  # runs are removed once merged


def test_memory_stays_bounded_for_many_records(tmp_path: Path) -> None:
    sorter = RecordSorter(limit=2_000, workdir=tmp_path)
    tracemalloc.start()
    for index in range(60_000):
        object_id = f"{(index * 7919) % 60_000:08d}"
        sorter.add(_record(object_id, displayName="x" * 200, department="Sales"))
    count = sum(1 for _ in sorter)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 60_000
    assert peak < 25 * 1024 * 1024, peak


def test_normalized_sorts_link_lists_for_stable_bytes() -> None:
    record = normalized(_record("a", ["c", "b"]))
    assert record["links"]["members"] == ["b", "c"]


def test_normalized_drops_duplicate_links_keeping_the_first() -> None:
    record = _record("g", [])
    record["links"]["appRoleAssignedTo"] = [{"id": "b", "v": 1}, {"id": "a"}, {"id": "b", "v": 2}]
    record["links"]["members"] = ["m2", "m1", "m2", "m1"]
    out = normalized(record)
    assert out["links"]["members"] == ["m1", "m2"]
    assert out["links"]["appRoleAssignedTo"] == [{"id": "a"}, {"id": "b", "v": 1}]


def test_big_groups_in_member_chunks_spill_by_link_count(tmp_path: Path) -> None:
    """Forty 25,000-member groups arriving in interleaved 100-member chunks, as groups/delta
    sends dynamic groups: the buffer must spill on links, not wait for 10,000 records."""
    sorter = RecordSorter(limit=10_000, link_limit=20_000, workdir=tmp_path)
    groups, size, chunk = 40, 25_000, 100
    tracemalloc.start()
    for start in range(0, size, chunk):
        for g in range(groups):
            members = [f"{g:02d}-{m:06d}" for m in range(start, start + chunk)]
            if start == chunk:  # a chunk repeated, as a re-sent delta page would be
                members += [f"{g:02d}-{0:06d}"]
            sorter.add(_record(f"g{g:02d}", members))
    counts = {r["id"]: len(r["links"]["members"]) for r in sorter}
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert counts == {f"g{g:02d}": size for g in range(groups)}
    assert sorter.spilled > groups
    # all 1,000,000 member ids held at once would be ~70 MiB; one group's worth is ~2 MiB
    assert peak < 16 * 1024 * 1024, peak


def test_rows_without_an_id_are_told_apart_by_content() -> None:
    record = _record("sp", [])
    record["links"]["rows"] = [{"scope": "b"}, {"scope": "a"}, {"scope": "b"}]
    assert normalized(record)["links"]["rows"] == [{"scope": "a"}, {"scope": "b"}]
