"""How jobman counts things to a person, in the admin and the commands alike."""

from __future__ import annotations

from collections.abc import Sequence

# Items a listing names one by one; the rest are counted.
LISTED = 10


def plural(count: int, singular: str, plural_: str | None = None) -> str:
    """``1 job``, ``2 jobs``; ``plural_`` for a word that takes more than an s."""
    return f"{count} {singular if count == 1 else (plural_ or singular + 's')}"


def listing(items: Sequence[str], limit: int = LISTED) -> str:
    """``#1, #2, #3``, naming at most ``limit`` and counting the rest: ``... and 5 more``."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")
