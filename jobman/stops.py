"""Stopping a running job: who asked, and the running attempt's look at whether it was.

``jobman_cancel`` (and the admin's Cancel) asks, by a key on the job's Redis server
holding who asked and when. The attempt looks at its next ``self.log()``,
``self.progress()`` or ``self.stopping()``, at most once a second: ``log`` and
``progress`` then raise ``JobStopped``, ``stopping`` returns True for the job to tidy up
and return. On the forking worker RQ's stop-job command also ends the work-horse at once.
Either way the row ends ``cancelled``, saying who stopped it and when, and is not retried.
"""

from __future__ import annotations

import contextlib
import json
import time

from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError

STOP_KEY = "jobman:stop:{}"  # row id
# Seconds a request to stop is kept: a job that never looks is stopped by no one.
KEPT = 24 * 3600
# Seconds between two looks of a running attempt.
LOOK_EVERY = 1.0


class JobStopped(BaseException):
    """The job was asked to stop; raised at its next ``log()`` or ``progress()``.

    A ``BaseException``, so that a job's own ``except Exception`` does not swallow it.
    """


def ask(connection: Redis, row_id: int, who: str) -> None:
    """Ask the running attempt of row ``row_id`` to stop, on behalf of ``who``."""
    asked = {"who": who, "at": timezone.now().isoformat(timespec="seconds")}
    connection.set(STOP_KEY.format(row_id), json.dumps(asked), ex=KEPT)


def asked(connection: Redis, row_id: int) -> str | None:
    """Why row ``row_id`` should stop (``stopped by <who> at <when>``), or None."""
    try:
        raw = connection.get(STOP_KEY.format(row_id))
    except RedisError:
        return None  # Redis away: the job goes on, and is asked again at its next look
    if raw is None:
        return None
    try:
        found = json.loads(raw)
        return f"stopped by {found['who'] or 'someone'} at {found['at']}"
    except (ValueError, KeyError, TypeError):
        return "stopped"


def forget(connection: Redis, row_id: int) -> None:
    with contextlib.suppress(RedisError):  # else it expires on its own
        connection.delete(STOP_KEY.format(row_id))


class Looker:
    """One attempt's looks at whether it was asked to stop, at most one a second."""

    def __init__(self, connection: Redis | None, row_id: int) -> None:
        self.connection, self.row_id = connection, row_id
        self.last = time.monotonic()  # a job that ends within a second is not looked up
        self.reason: str | None = None

    def look(self) -> str | None:
        if self.reason is None and self.connection is not None:
            now = time.monotonic()
            if now - self.last >= LOOK_EVERY:
                self.last = now
                self.reason = asked(self.connection, self.row_id)
        return self.reason
