"""The functions bare RQ runs, and the memory probe both sides' no-op jobs share."""

from __future__ import annotations

import json
import os


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of process ``pid`` in KiB (Linux), or -1 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def sample_rss(path: str) -> None:
    """Write this process's RSS and its parent's to ``path`` (JSON).

    In a forking worker the job runs in the work-horse, whose parent is the worker; in a
    SimpleWorker the job runs in the worker itself.
    """
    sample = {
        "pid": os.getpid(),
        "rss_kib": rss_kib(),
        "ppid": os.getppid(),
        "parent_rss_kib": rss_kib(os.getppid()),
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(sample, out)


def noop(rss_to: str | None = None) -> None:
    """Bare RQ's no-op job."""
    if rss_to:
        sample_rss(rss_to)


def fail() -> None:
    """Bare RQ's always-failing job."""
    raise RuntimeError("bench: this job always fails")
