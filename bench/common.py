"""What every part of the bench shares: where the project is, the queue and the two
systems measured, the environment of its processes, and its progress log."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "default"
SYSTEMS = ("rq", "jobman")


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process the bench starts: Django set up with ``bench.settings``
    and the project importable, plus ``extra``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONPATH": str(ROOT)}
    env.update(extra or {})
    return env


def log(message: str) -> None:
    """One progress line on stderr, stamped with the database and the time."""
    engine = os.environ.get("JOBMAN_BENCH_DB", "?")
    print(f"[bench {engine} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
