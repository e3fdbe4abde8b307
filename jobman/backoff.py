"""Backoff policies: how long to wait before each retry, with jitter to spread them.

A job class's ``backoff`` is seconds, a list of seconds (one per retry, the last
repeated), or one of these::

    backoff = jobman.exponential(first=10, factor=2, limit=3600, jitter=0.1)
    backoff = jobman.jittered([10, 60, 300], jitter=0.2)

Jitter spreads each wait over ``±jitter`` of it, so that jobs failing together (a
service that was down) do not all come back at the same second.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from jobman import bounds

# Longest a list of waits may be.
MAX_STEPS = 1000
# Largest growth factor of an exponential backoff.
MAX_FACTOR = 1000
# What a backoff must be, as the checks say it.
EXPECTED = (
    f"seconds (an int from 0 to {bounds.MAX_WAIT:,}), a non-empty list of them, or "
    "jobman.exponential(...) / jobman.jittered(...) with valid values"
)


@dataclass(frozen=True)
class Backoff:
    """Waits before each retry: ``steps`` (one per retry, the last repeated), or, without
    steps, ``first`` seconds growing by ``factor`` per retry up to ``limit``; each spread
    over ``±jitter`` of itself."""

    first: int = 0
    factor: float = 1
    limit: int = bounds.MAX_WAIT
    jitter: float = 0
    steps: Any = None  # a tuple of seconds; None for an exponential backoff

    def base(self, attempt: int) -> int:
        """The wait after failed attempt number ``attempt`` (1-based), before jitter."""
        if self.steps is not None:
            return int(self.steps[min(max(attempt, 1), len(self.steps)) - 1])
        exponent = max(attempt, 1) - 1
        if self.first == 0 or self.factor == 1:
            return min(self.first, self.limit)
        # first * factor ** exponent, without computing a power too large for a float.
        if exponent * math.log(self.factor) >= math.log(self.limit / self.first):
            return self.limit
        return min(round(self.first * self.factor**exponent), self.limit)

    def seconds(self, attempt: int, rng: random.Random | None = None) -> int:
        """The wait after failed attempt number ``attempt``, jitter applied."""
        wait = self.base(attempt)
        if not self.jitter:
            return wait
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0, min(round(wait * (1 + spread)), bounds.MAX_WAIT))

    def problem(self) -> str | None:
        """What is wrong with this backoff, or None."""
        if not _fraction(self.jitter):
            return f"jitter must be a number from 0 to 1, found {self.jitter!r}"
        if self.steps is not None:
            if not valid_steps(self.steps):
                return (
                    f"steps must be a non-empty list (at most {MAX_STEPS:,}) of seconds "
                    f"from 0 to {bounds.MAX_WAIT:,}"
                )
            return None
        if not bounds.is_whole(self.first, 0, bounds.MAX_WAIT):
            return f"first must be seconds from 0 to {bounds.MAX_WAIT:,}, found {self.first!r}"
        if not bounds.is_whole(self.limit, 1, bounds.MAX_WAIT) or self.limit < self.first:
            return f"limit must be seconds from first to {bounds.MAX_WAIT:,}, found {self.limit!r}"
        factor_ok = isinstance(self.factor, int | float) and not isinstance(self.factor, bool)
        if not factor_ok or not math.isfinite(self.factor) or not 1 <= self.factor <= MAX_FACTOR:
            return f"factor must be a number from 1 to {MAX_FACTOR:,}, found {self.factor!r}"
        return None


def exponential(
    first: int = 10, factor: float = 2, limit: int = 3600, jitter: float = 0
) -> Backoff:
    """``first`` seconds before the first retry, ``factor`` times longer before each next
    one, never more than ``limit``; each spread over ``±jitter`` (0.1: ten per cent)."""
    return Backoff(first=first, factor=factor, limit=limit, jitter=jitter)


def jittered(steps: Any, jitter: float) -> Backoff:
    """A list of waits (one per retry, the last repeated), each spread over ``±jitter``."""
    return Backoff(steps=tuple(steps) if isinstance(steps, list | tuple) else steps, jitter=jitter)


def valid_steps(steps: Any) -> bool:
    return (
        isinstance(steps, list | tuple)
        and 0 < len(steps) <= MAX_STEPS
        and all(bounds.is_whole(step, 0, bounds.MAX_WAIT) for step in steps)
    )


def valid(value: Any) -> bool:
    """Whether ``value`` is a backoff: seconds, a list of them, or a valid ``Backoff``."""
    if isinstance(value, Backoff):
        return value.problem() is None
    if isinstance(value, list | tuple):
        return valid_steps(value)
    return bounds.is_whole(value, 0, bounds.MAX_WAIT)


def seconds(backoff: Any, attempt: int) -> int:
    """The wait after failed attempt ``attempt`` of a valid ``backoff``, of any form."""
    if isinstance(backoff, Backoff):
        return backoff.seconds(attempt)
    if isinstance(backoff, int):
        return backoff
    return Backoff(steps=tuple(backoff)).base(attempt)


def _fraction(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )
