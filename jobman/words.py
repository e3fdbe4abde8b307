"""How jobman counts things and time to a person, in the admin and the commands alike."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

# Items a listing names one by one; the rest are counted.
LISTED = 10

# The units a span of time is told in, largest first, with their length in seconds.
TIME_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def plural(count: int, singular: str, plural_: str | None = None) -> str:
    """``1 job``, ``2 jobs``; ``plural_`` for a word that takes more than an s."""
    return f"{count} {singular if count == 1 else (plural_ or singular + 's')}"


def listing(items: Sequence[str], limit: int = LISTED) -> str:
    """``#1, #2, #3``, naming at most ``limit`` and counting the rest: ``... and 5 more``."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def duration(seconds: float) -> str:
    """A number of seconds, rounded, in the largest unit of which it holds at least two:
    ``45 s``, ``12 min``, ``3 h``, ``2 d``."""
    for unit, size in TIME_UNITS[:-1]:
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def span(seconds: float) -> str:
    """A span of time to the second, in its two largest units: ``30 s``, ``4 min 05 s``,
    ``2 h 03 min``, ``3 d 04 h``."""
    whole = round(abs(seconds))
    for (unit, size), (smaller, smaller_size) in pairwise(TIME_UNITS):
        if whole >= size:
            return f"{whole // size} {unit} {whole % size // smaller_size:02d} {smaller}"
    return f"{whole} s"
