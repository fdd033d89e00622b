"""What the benchmarks measure the same way: peak RSS, and writes against Graph's budget."""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def peak_rss() -> int:
    """Peak RSS of this process image in bytes (VmHWM; ru_maxrss could include the pre-exec
    parent of a child started with exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


WRITES_PER_S, WRITE_BURST = 20.0, 3000  # Graph's per-app write budget: 3,000 / 150 s


@dataclass(frozen=True)
class WriteBudget:
    """Writes a run made, set against Graph's per-app write ceiling (graph.md §1.2)."""

    sent: int  # write requests, refused ones included
    refused: int  # answered 429 (sent again by the client)
    graph_seconds: float  # the run's duration on Graph's real windows

    @property
    def accepted(self) -> int:
        return self.sent - self.refused

    @property
    def minimum_seconds(self) -> float:
        """The least time the budget allows: everything after the burst at 20/s."""
        return max(self.accepted - WRITE_BURST, 0) / WRITES_PER_S

    @property
    def share(self) -> float:
        """How much of the ceiling the run used (1.0 = as fast as Graph allows)."""
        return self.minimum_seconds / self.graph_seconds if self.graph_seconds else 0.0

    def line(self) -> str:
        return (f"{self.sent:,} write requests, {self.refused:,} answered 429, "
                f"{self.accepted:,} accepted; budget minimum (accepted - {WRITE_BURST:,} burst)"
                f" / {WRITES_PER_S:g}/s = {self.minimum_seconds:,.0f} s -> {self.share:.1%} "
                "of the ceiling")


def writes_of(stats: dict[str, Any]) -> int:
    """Write requests in a graphsim `/_sim/stats` answer."""
    return sum(sum(kinds.values()) for method, kinds in stats["requests"].items()
               if method in ("POST", "PATCH", "PUT", "DELETE"))
