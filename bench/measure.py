"""What every benchmark measures the same way: the peak RSS of the process it runs in."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss() -> int:
    """Peak RSS of this process image in bytes (VmHWM; ru_maxrss could include the pre-exec
    parent of a child started with exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
