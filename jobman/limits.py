"""When a worker should stop and be started afresh: after running for so long, or once its
memory has grown past so much (``jobman_work --max-time``, ``--max-memory``).

A worker stops between jobs, never during one; the process manager starts the next.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field


def rss_mb() -> float:
    """This process's resident memory now, in MB (its peak where /proc is not there)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class Limits:
    """``max_seconds`` of running, ``max_memory_mb`` of resident memory; None: no limit."""

    max_seconds: int | None = None
    max_memory_mb: int | None = None
    started: float = field(default_factory=time.monotonic)

    def passed(self, memory: bool = True) -> str | None:
        """Which limit the worker has passed, said for its log; None while it has not.
        Without ``memory``, time only: memory does not grow while a worker waits."""
        if self.max_seconds is not None:
            ran = time.monotonic() - self.started
            if ran >= self.max_seconds:
                return f"it has run {ran:.0f} s (--max-time {self.max_seconds})"
        if memory and self.max_memory_mb is not None:
            used = rss_mb()
            if used >= self.max_memory_mb:
                return f"its memory is {used:.0f} MB (--max-memory {self.max_memory_mb})"
        return None
