"""What each option of a job class may hold, each checked under its own stable check id.

``manage.py check`` reports every problem (see ``checks``); ``dispatch()`` refuses a class
with any, before a row is written; the runner fails an attempt for good rather than run a
class whose options changed since its dispatch. So no option can strand a row later: a
timeout too long for the alarm, a backoff past ``datetime``'s range, a ``True`` for tries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from jobman import backoff, bounds, conf

if TYPE_CHECKING:
    from jobman.jobs import JobmanJob

# Longest a deadline or a uniqueness may last, in seconds.
MAX_SPAN = int(bounds.MAX_DURATION.total_seconds())
MAX_WAIT, MAX_TRIES = bounds.MAX_WAIT, bounds.MAX_TRIES


def whole(low: int, high: int) -> Callable[[Any], bool]:
    """A check for an int from ``low`` to ``high``; a bool is not one."""
    return lambda value: bounds.is_whole(value, low, high)


def _type_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and _storable_name(value)


def _queue(value: Any) -> bool:
    return value is None or (isinstance(value, str) and bool(value) and _storable_name(value))


def _storable_name(value: str) -> bool:
    try:
        bounds.text(value, "a name")
    except ValueError:
        return False
    return True


def _retry_until(value: Any) -> bool:
    if isinstance(value, timedelta):
        return timedelta(0) < value <= bounds.MAX_DURATION
    return whole(1, MAX_SPAN)(value)


def _rate_limit(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
        and value[0] in conf.get("RATE_LIMITS")
    )


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


@dataclass(frozen=True)
class Option:
    name: str
    check_id: str
    valid: Callable[[Any], bool]
    expected: str


OPTIONS = (
    Option("type", "jobman.E010", _type_name, "a non-empty str of at most 255 characters"),
    Option("queue", "jobman.E011", _queue, "a queue name (a non-empty str), or None"),
    Option(
        "tries", "jobman.E012", _optional(whole(1, MAX_TRIES)), f"an int from 1 to {MAX_TRIES:,}"
    ),
    Option(
        "timeout",
        "jobman.E013",
        _optional(whole(1, MAX_WAIT)),
        f"seconds, an int from 1 to {MAX_WAIT:,} (a year)",
    ),
    Option(
        "backoff",
        "jobman.E014",
        _optional(conf.valid_backoff),
        backoff.EXPECTED,
    ),
    Option(
        "retry_until",
        "jobman.E015",
        _optional(_retry_until),
        f"seconds (an int from 1 to {MAX_SPAN:,}) or a positive timedelta as long at most",
    ),
    Option(
        "max_exceptions",
        "jobman.E016",
        _optional(whole(1, MAX_TRIES)),
        f"an int from 1 to {MAX_TRIES:,}",
    ),
    Option(
        "unique_for",
        "jobman.E017",
        _optional(whole(1, MAX_SPAN)),
        f"seconds, an int from 1 to {MAX_SPAN:,}",
    ),
    Option(
        "unique_until",
        "jobman.E018",
        lambda value: value in ("completed", "processing"),
        "'completed' or 'processing'",
    ),
    Option(
        "release_after",
        "jobman.E019",
        whole(1, MAX_WAIT),
        f"seconds, an int from 1 to {MAX_WAIT:,}",
    ),
    Option(
        "expire_after", "jobman.E020", whole(1, MAX_WAIT), f"seconds, an int from 1 to {MAX_WAIT:,}"
    ),
    Option(
        "rate_limit",
        "jobman.E021",
        _optional(_rate_limit),
        "a (name, key) pair of strs whose name is in settings.JOBMAN['RATE_LIMITS'], or None",
    ),
)


@dataclass(frozen=True)
class Problem:
    check_id: str
    message: str


def problems(job_class: type[JobmanJob]) -> list[Problem]:
    """Every option of ``job_class`` that holds what it may not; empty when all is well."""
    found = []
    for option in OPTIONS:
        value = getattr(job_class, option.name)
        if not option.valid(value):
            name = f"{job_class.__module__}.{job_class.__qualname__}.{option.name}"
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            found.append(
                Problem(option.check_id, f"{name} must be {option.expected}, found {shown}.")
            )
    return found


def ensure_valid(job_class: type[JobmanJob]) -> None:
    """Raise ImproperlyConfigured naming every problem of ``job_class``'s options."""
    found = problems(job_class)
    if found:
        raise ImproperlyConfigured(" ".join(problem.message for problem in found))
