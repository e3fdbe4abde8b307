"""A function that is not a jobman job: a worker must never run it."""

from __future__ import annotations

import os
from pathlib import Path


def leave_a_mark(path: str) -> None:
    Path(path).write_text("ran")


def callback_mark(*args: object, **kwargs: object) -> None:
    """An RQ callback planted on a runner job: calling it leaves a mark."""
    Path(os.environ["JOBMAN_PLANTED_MARK"]).write_text("called")
