"""The `snapshot` orchestrator's control flow through the replay harness (the SDK's own replay
code), with stand-in activities of the same names over an in-memory tenant: kinds captured
in chunks from cursors, continue_as_new across waves, a crash before every commit, the drift
check's failure kept apart from the snapshot's. The engine-backed activities are exercised
against graphsim and Azurite once the engine's stages exist (CONTRACT-9)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrators import snapshot as snapshot_module
from orchestrators.snapshot import bp as snapshot_bp
from tests.support.durable_harness import Harness
from tests.support.durable_workers import run_concurrently

app = df.DFApp()
app.register_functions(snapshot_bp)

TENANT = {"users": 5, "groups": 3, "applications": 0}  # objects per kind
CHUNK = 2
BEGUN: list[str] = []  # takenAt of every begin_snapshot run
CHUNKS: Counter[tuple[str, int]] = Counter()  # (kind, offset) -> runs
MANIFESTS: list[dict[str, Any]] = []
DRIFT: dict[str, Any] = {}


def _snapshot_id(taken_at: str) -> str:
    return taken_at.replace("-", "").replace(":", "")


@app.activity_trigger(input_name="request")
def begin_snapshot(request: dict[str, Any]) -> dict[str, Any]:
    BEGUN.append(request["takenAt"])
    kinds = [k for k in TENANT if not request["kinds"] or k in request["kinds"]]
    return {"tenantId": request["tenantId"], "snapshotId": _snapshot_id(request["takenAt"]),
            "takenAt": request["takenAt"], "previousSnapshotId": "20260301T080000.000Z",
            "kinds": kinds}


@app.activity_trigger(input_name="request")
def capture_kind(request: dict[str, Any]) -> dict[str, Any]:
    kind, offset = request["kind"], (request["cursor"] or {}).get("offset", 0)
    CHUNKS[(kind, offset)] += 1
    stop = min(TENANT[kind], offset + CHUNK)
    done = stop >= TENANT[kind]
    return {"kind": kind, "done": done, "cursor": None if done else {"offset": stop},
            "count": stop - offset}


@app.activity_trigger(input_name="request")
def finish_kind(request: dict[str, Any]) -> dict[str, Any]:
    kind = request["kind"]
    return {"kind": kind, "file": f"{kind}.ndjson.gz", "count": TENANT[kind],
            "sha256": "0" * 64, "bytes": 10, "deltaLink": f"https://graph/{kind}/delta"}


@app.activity_trigger(input_name="request")
def finish_snapshot(request: dict[str, Any]) -> dict[str, Any]:
    begun = request["begun"]
    manifest = {"snapshotId": begun["snapshotId"],
                "kinds": {k["kind"]: k["count"] for k in request["kinds"]}}
    if manifest not in MANIFESTS:  # write-once: a repeat finds the manifest written
        MANIFESTS.append(manifest)
    return {"tenantId": begun["tenantId"], "snapshotId": begun["snapshotId"],
            "counts": manifest["kinds"]}


@app.activity_trigger(input_name="request")
def drift_check(request: dict[str, Any]) -> dict[str, Any]:
    if DRIFT.get("fail"):
        raise RuntimeError("previous snapshot unreadable")
    return {"snapshotId": request["snapshotId"],
            "previousSnapshotId": request["previousSnapshotId"], "total": 1}


@pytest.fixture
def harness() -> Harness:
    BEGUN.clear()
    CHUNKS.clear()
    MANIFESTS.clear()
    DRIFT.clear()
    return Harness(app)


def start(harness: Harness, instance_id: str = "snap-1", **extra: Any) -> None:
    harness.start("snapshot", instance_id, {"tenantId": "contoso", "trigger": "timer", **extra})


def test_waves_continue_as_new_and_capture_every_chunk_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_module, "WAVES_PER_EXECUTION", 1)
    start(harness)
    seen = []
    while harness.step() is not None:
        seen.append(harness.status("snap-1")["runtimeStatus"])
    status = harness.status("snap-1")
    assert status["runtimeStatus"] == "Completed", status
    snapshot_id = _snapshot_id(BEGUN[0])
    assert status["output"] == {
        "tenantId": "contoso", "snapshotId": snapshot_id,
        "counts": {"users": 5, "groups": 3, "applications": 0},
        "drift": {"snapshotId": snapshot_id, "previousSnapshotId": "20260301T080000.000Z",
                  "total": 1}}
    # users need 3 chunks: one wave per execution, so two continue_as_new
    assert "ContinuedAsNew" in seen
    assert harness.instances["snap-1"].execution == 2
    assert max(harness.instances["snap-1"].finished_histories) < 40
    assert dict(CHUNKS) == {("users", 0): 1, ("users", 2): 1, ("users", 4): 1,
                            ("groups", 0): 1, ("groups", 2): 1, ("applications", 0): 1}
    assert len(BEGUN) == 1 and len(MANIFESTS) == 1
    assert status["customStatus"]["stage"] == "done"
    assert status["customStatus"]["objects"] == 8
    assert harness.replay_checks == 3  # each execution replayed from scratch: same actions


def test_crash_before_every_commit_begins_one_snapshot_and_writes_one_manifest(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_module, "WAVES_PER_EXECUTION", 2)
    harness.crash_every_commit()
    start(harness)
    harness.run_until_idle()
    status = harness.status("snap-1")
    assert status["runtimeStatus"] == "Completed", status
    assert harness.crashes > 10
    # a retried activity ran again, but every replay asked for the same snapshot
    assert len(set(BEGUN)) == 1 and len(BEGUN) == 2
    assert set(CHUNKS.values()) == {2}  # each chunk: the crashed run and its retry
    assert [{"snapshotId": _snapshot_id(BEGUN[0]),
                          "kinds": {"users": 5, "groups": 3, "applications": 0}}] == MANIFESTS


def test_a_failed_drift_check_leaves_the_snapshot_completed(harness: Harness) -> None:
    DRIFT["fail"] = True
    start(harness)
    harness.run_until_idle()
    status = harness.status("snap-1")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["counts"] == {"users": 5, "groups": 3, "applications": 0}
    assert "previous snapshot unreadable" in status["output"]["drift"]["error"]


def test_kinds_asked_for_are_the_only_ones_captured(harness: Harness) -> None:
    start(harness, kinds=["groups"])
    harness.run_until_idle()
    assert harness.status("snap-1")["output"]["counts"] == {"groups": 3}
    assert {kind for kind, _ in CHUNKS} == {"groups"}


def test_taken_at_is_the_orchestration_clock_not_the_machine_clock(harness: Harness) -> None:
    start(harness)
    harness.run_until_idle()
    # the first episode's OrchestratorStarted: the harness's start plus its one-second tick
    assert BEGUN == ["2026-03-02T08:00:01.000Z"]


def _queued(harness: Harness) -> list[tuple[str, str, int | None]]:
    """The work queue as (activity, kind, cursor offset)."""
    inputs = [(item.name, json.loads(item.input)) for item in harness.work]
    return [(name, value["kind"], (value.get("cursor") or {}).get("offset"))
            for name, value in inputs]


def test_a_kind_goes_on_without_waiting_for_the_others(harness: Harness) -> None:
    """A kind's next chunk is scheduled as its last one ends, and its merge as soon as it
    is read, while other kinds' chunks are still queued (no wave waits for its slowest)."""
    start(harness)
    for _ in range(3):  # the first episode, begin_snapshot, the episode that fans out
        harness.step()
    assert _queued(harness) == [("capture_kind", "users", None),
                                ("capture_kind", "groups", None),
                                ("capture_kind", "applications", None)]
    assert harness.step() == "activity capture_kind #1 of snap-1"  # users' first chunk
    assert harness.step(activities=False) == "episode of snap-1"
    assert _queued(harness) == [("capture_kind", "groups", None),
                                ("capture_kind", "applications", None),
                                ("capture_kind", "users", 2)]
    harness.work.insert(0, harness.work.pop(1))  # the hub hands out applications next
    harness.step()  # applications: one chunk, read
    assert harness.step(activities=False) == "episode of snap-1"
    assert _queued(harness) == [("capture_kind", "groups", None),
                                ("capture_kind", "users", 2),
                                ("finish_kind", "applications", None)]
    harness.run_until_idle()
    assert harness.status("snap-1")["output"]["counts"] == {"users": 5, "groups": 3,
                                                           "applications": 0}
    assert len(MANIFESTS) == 1


def test_activities_side_by_side_with_a_crash_before_every_commit(
        harness: Harness) -> None:
    """Four activity slots, completions committed in any order, each completion lost once:
    one begin, every chunk run twice (once lost, once kept), one manifest."""
    harness.crash_every_commit()
    start(harness)
    run_concurrently(harness, slots=4)
    status = harness.status("snap-1")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["counts"] == {"users": 5, "groups": 3, "applications": 0}
    assert set(CHUNKS.values()) == {2}
    assert sorted(CHUNKS) == [("applications", 0), ("groups", 0), ("groups", 2),
                              ("users", 0), ("users", 2), ("users", 4)]
    assert len(set(BEGUN)) == 1 and len(MANIFESTS) == 1
