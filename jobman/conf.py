"""The ``JOBMAN`` setting: one dict, read when asked, with every default in one place."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from jobman import backoff, bounds

DEFAULTS: dict[str, Any] = {
    # Queue a job class uses when it names none; it must be a key of RQ_QUEUES.
    "DEFAULT_QUEUE": "default",
    # Attempts in all, when a job class does not set ``tries``.
    "DEFAULT_TRIES": 1,
    # Seconds before each retry, when a job class does not set ``backoff``.
    "DEFAULT_BACKOFF": 0,
    # Seconds one attempt of ``handle()`` may take, when a job class does not set ``timeout``.
    "DEFAULT_TIMEOUT": 180,
    # Extra modules (or job classes) to import besides every installed app's ``jobs`` module.
    "JOBS": [],
    # Seconds RQ keeps a finished job's hash and a failed one in its FailedJobRegistry.
    # The jobman row is the lasting record; these only feed RQ's own tools.
    "RESULT_TTL": 600,
    "FAILURE_TTL": 7 * 24 * 3600,
    # Seconds without a heartbeat after which a worker counts as gone; its running attempts
    # are failed ("worker lost") once it has stayed gone this long again. Workers send
    # heartbeats at least every third of it, so a live worker is never taken for dead.
    "LOST_AFTER": 60,
    # Seconds between two looks for rows whose worker is gone, across all workers.
    "REAP_INTERVAL": 30,
    # Named rate limits, "<count>/<second|minute|hour|day>", for job classes' rate_limit.
    "RATE_LIMITS": {},
    # Caps on what one row stores, so a chatty or hostile job cannot bloat the table.
    "MAX_LOG_CHARS": 64 * 1024,
    "MAX_ERROR_CHARS": 2000,
    "MAX_EXCEPTION_CHARS": 64 * 1024,
    # Bytes of JSON a job's attribs may take, at dispatch and when an attempt changes them.
    "MAX_ATTRIBS_BYTES": 1024 * 1024,
    # PostgreSQL only: the start and the end of each attempt commit without waiting for the
    # write-ahead log to reach the disk (synchronous_commit off, for those writes alone).
    # Faster workers; a crash of the database server may lose the last moments of them.
    "ASYNC_COMMIT": False,
    # Periodic jobs besides those job classes declare with ``schedule``: name -> {"type",
    # "cron", and optionally "attribs", "queue", "catch_up", "overlap"}.
    "SCHEDULES": {},
    # The time zone schedules' cron expressions are read in; None: settings.TIME_ZONE.
    "SCHEDULE_TIME_ZONE": None,
    # Seconds after its slot a run may still be fired on time; a slot later than that
    # without a run is a missed run (fired or not as its schedule's ``catch_up`` says).
    "SCHEDULE_GRACE": 60,
    # Queue name -> seconds: past it, a queue's oldest waiting job sets off an alert
    # (signals.queue_wait_exceeded, and queue_wait_cleared once it clears).
    "WAIT_ALERTS": {},
    # Also mail the alerts to settings.ADMINS.
    "ALERT_ADMINS": False,
}


def _positive_int(value: Any) -> bool:
    return bounds.is_whole(value, 1, bounds.MAX_ID)


PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(value: Any) -> tuple[int, int] | None:
    """Read "10/minute" as (10, 60); None when it is not a rate."""
    if not isinstance(value, str) or "/" not in value:
        return None
    count, _, period = value.partition("/")
    if not count.strip().isdigit() or int(count) < 1 or period.strip() not in PERIODS:
        return None
    return int(count), PERIODS[period.strip()]


def _known_zone(value: Any) -> bool:
    if not isinstance(value, str) or not value or "\x00" in value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def valid_backoff(value: Any) -> bool:
    """Whether ``value`` is a backoff: seconds, a list of them, or a ``jobman.backoff``."""
    return backoff.valid(value)


VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "DEFAULT_QUEUE": (lambda v: isinstance(v, str) and bool(v), "a queue name"),
    "DEFAULT_TRIES": (
        lambda v: bounds.is_whole(v, 1, bounds.MAX_TRIES),
        f"a whole number of attempts, 1 to {bounds.MAX_TRIES:,}",
    ),
    "DEFAULT_BACKOFF": (
        valid_backoff,
        backoff.EXPECTED,
    ),
    "DEFAULT_TIMEOUT": (
        lambda v: bounds.is_whole(v, 1, bounds.MAX_WAIT),
        f"seconds, an int from 1 to {bounds.MAX_WAIT:,} (a year)",
    ),
    "JOBS": (
        lambda v: isinstance(v, list | tuple) and all(isinstance(i, str) for i in v),
        "a list of dotted module paths",
    ),
    "RESULT_TTL": (lambda v: isinstance(v, int) and v >= -1, "seconds, or -1 to keep forever"),
    "FAILURE_TTL": (_positive_int, "seconds, an int of 1 or more"),
    "LOST_AFTER": (lambda v: _positive_int(v) and v >= 3, "seconds, an int of 3 or more"),
    "REAP_INTERVAL": (_positive_int, "seconds, an int of 1 or more"),
    "RATE_LIMITS": (
        lambda v: isinstance(v, dict) and all(parse_rate(rate) for rate in v.values()),
        'a dict of names to rates such as "10/minute" (per second, minute, hour or day)',
    ),
    "MAX_LOG_CHARS": (_positive_int, "a number of characters, 1 or more"),
    "MAX_ERROR_CHARS": (_positive_int, "a number of characters, 1 or more"),
    "MAX_EXCEPTION_CHARS": (_positive_int, "a number of characters, 1 or more"),
    "MAX_ATTRIBS_BYTES": (_positive_int, "a number of bytes, 1 or more"),
    "ASYNC_COMMIT": (lambda v: isinstance(v, bool), "True or False"),
    "SCHEDULES": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and k for k in v),
        "a dict of schedule names to schedules",
    ),
    "SCHEDULE_TIME_ZONE": (
        lambda v: v is None or _known_zone(v),
        "a time zone name such as 'Europe/Paris', or None",
    ),
    "SCHEDULE_GRACE": (
        lambda v: bounds.is_whole(v, 1, bounds.MAX_WAIT),
        f"seconds, an int from 1 to {bounds.MAX_WAIT:,}",
    ),
    "WAIT_ALERTS": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(k, str) and k and _seconds(limit) for k, limit in v.items())
        ),
        f"a dict of queue names to seconds, each a number from 1 to {bounds.MAX_WAIT:,}",
    ),
    "ALERT_ADMINS": (lambda v: isinstance(v, bool), "True or False"),
}


def _seconds(value: Any) -> bool:
    """A finite number of seconds from 1 to a year; ``True`` is not one."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 1 <= value <= bounds.MAX_WAIT
    )


def user_settings() -> Any:
    return getattr(settings, "JOBMAN", {})


def get(key: str) -> Any:
    """Return the value of ``JOBMAN[key]``, or its default."""
    configured = user_settings()
    if isinstance(configured, dict) and key in configured:
        return configured[key]
    return DEFAULTS[key]


def problems() -> list[str]:
    """Describe every way the ``JOBMAN`` setting is wrong; empty when it is right."""
    configured = user_settings()
    if not isinstance(configured, dict):
        return [f"settings.JOBMAN must be a dict, found {type(configured).__name__}."]
    found = []
    for key, value in configured.items():
        if key not in DEFAULTS:
            found.append(
                f"settings.JOBMAN[{key!r}] is not a jobman setting; "
                f"known keys: {', '.join(sorted(DEFAULTS))}."
            )
            continue
        is_valid, expected = VALIDATORS[key]
        if not is_valid(value):
            found.append(f"settings.JOBMAN[{key!r}] must be {expected}, found {value!r}.")
    return found
