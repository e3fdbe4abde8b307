"""The lines jobman itself writes into a row's ``logs``, in one format:
``[2026-12-02T10:00:00+00:00] [attempt 2] text``, the attempt left out when none applies.
"""

from __future__ import annotations

from django.utils import timezone


def line(text: str, attempt: int | None = None) -> str:
    """One log line, stamped now, with its newline."""
    stamp = timezone.now().isoformat(timespec="seconds")
    where = f" [attempt {attempt}]" if attempt is not None else ""
    return f"[{stamp}]{where} {text}\n"


def chain_cancel(position: int, pk: int, status: str) -> str:
    """Why a later step of a chain is cancelled: its step ``position`` (row ``pk``) ended
    ``status`` without completing. Kept in the step's ``cancel_reason``, and as a note."""
    return f"cancelled: step {position} of the chain (jobman #{pk}) ended {status}"
