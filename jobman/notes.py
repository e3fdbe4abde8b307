"""The lines jobman itself writes into a row's ``logs``, in one format:
``[2026-12-02T10:00:00+00:00] [attempt 2] text``, the attempt left out when none applies.

Built here, and read back here (the admin shows why the chain cancelled a step).
"""

from __future__ import annotations

from django.utils import timezone

# What the chain's note on a step it cancels begins with.
CHAIN_CANCEL = "cancelled: step "


def line(text: str, attempt: int | None = None) -> str:
    """One log line, stamped now, with its newline."""
    stamp = timezone.now().isoformat(timespec="seconds")
    where = f" [attempt {attempt}]" if attempt is not None else ""
    return f"[{stamp}]{where} {text}\n"


def chain_cancel(position: int, pk: int, status: str) -> str:
    """The note on a later step of a chain whose step ``position`` (row ``pk``) ended
    ``status`` without completing."""
    return line(f"{CHAIN_CANCEL}{position} of the chain (jobman #{pk}) ended {status}")


def chain_cancel_reason(logs: str) -> str:
    """The last chain-cancel note in ``logs``, without its time stamp; empty when none."""
    for logged in reversed(logs.splitlines()):
        at = logged.find(CHAIN_CANCEL)
        if at >= 0:
            return logged[at:]
    return ""
