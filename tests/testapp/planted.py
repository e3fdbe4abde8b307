"""A function that is not a jobman job: a worker must never run it."""

from __future__ import annotations

from pathlib import Path


def leave_a_mark(path: str) -> None:
    Path(path).write_text("ran")
