"""Per-kind waves shared by the `snapshot` and `diff_report` orchestrators: pure bookkeeping.

Both orchestrations walk every kind of a `begun` stage result chunk by chunk: one activity per
unfinished kind per wave, each continuing its kind's cursor, until every kind says `done`.
The progress between waves is a small JSON object, carried across `continue_as_new`:
  {"begun": begun, "cursors": {kind: cursor}, "done": {kind: last chunk result},
   "counts": {kind: int}, "waves": int}
Nothing here reads a clock or does I/O; the orchestrators own the yields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.durable_functions as df

Json = dict[str, Any]

# A wave never schedules more than this many activities (issue 9: "waves of at most a few
# hundred"); the catalog has far fewer kinds, so in practice a wave is every unfinished kind.
MAX_PER_WAVE = 200


def started(begun: Json) -> Json:
    """The progress before the first wave."""
    return {"begun": begun, "cursors": {}, "done": {}, "counts": {}, "waves": 0}


def pending(progress: Json, limit: int = MAX_PER_WAVE) -> list[str]:
    """The next wave's kinds, in the begun order (deterministic), at most `limit`."""
    kinds: list[str] = progress["begun"]["kinds"]
    return [kind for kind in kinds if kind not in progress["done"]][:limit]


def wave(context: df.DurableOrchestrationContext, activity: str, progress: Json,
         kinds: list[str]) -> Any:
    """The task of one wave: `activity` for each kind from its cursor, all awaited together."""
    begun = progress["begun"]
    return context.task_all([
        context.call_activity(activity, {"begun": begun, "kind": kind,
                                         "cursor": progress["cursors"].get(kind)})
        for kind in kinds])


def absorbed(progress: Json, results: list[Json], count_field: str) -> Json:
    """Progress after a wave: cursors moved on, `count_field` of each chunk added to its
    kind's count, a finished kind kept as its last result carrying the kind's total."""
    cursors, done = dict(progress["cursors"]), dict(progress["done"])
    counts = dict(progress["counts"])
    for result in results:
        kind = result["kind"]
        counts[kind] = counts.get(kind, 0) + int(result.get(count_field) or 0)
        if result["done"]:
            done[kind] = {**result, count_field: counts[kind]}  # the kind's total
            cursors.pop(kind, None)
        else:
            cursors[kind] = result["cursor"]
    return {**progress, "cursors": cursors, "done": done, "counts": counts,
            "waves": progress["waves"] + 1}


def in_batches(kinds: list[str], limit: int = MAX_PER_WAVE) -> list[list[str]]:
    """`kinds` cut into fan-outs of at most `limit` activities."""
    return [kinds[start:start + limit] for start in range(0, len(kinds), limit)]


def status(stage: str, progress: Json, **extra: Any) -> Json:
    """Custom status: a handful of numbers (the 16 KB cap is far away)."""
    return {"stage": stage, "kinds": len(progress["begun"]["kinds"]),
            "kindsDone": len(progress["done"]), "objects": sum(progress["counts"].values()),
            "wave": progress["waves"], **extra}


def iso(context: df.DurableOrchestrationContext) -> str:
    """The orchestration's replay-safe now, as the ISO text the stages take."""
    now: datetime = context.current_utc_datetime
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
