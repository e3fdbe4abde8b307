"""Paused queues: no worker, on any machine, takes a job from one until it is resumed.

The names of paused queues are a Redis set on the queues' own server. A worker reads it
at most once a second (a busy worker adds no round trip per job) and never waits on its
queues longer than that, so it stops taking jobs from a paused queue within about a
second, and goes on serving its other queues. Jobs pushed to a paused queue wait in it;
dispatch is not affected.
"""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import DequeueTimeout

PAUSED_KEY = "jobman:paused"
# Seconds a worker goes on with what it last read of the set, and waits on its queues.
CHECK_EVERY = 1.0


def pause(connection: Redis, name: str) -> bool:
    """Pause queue ``name``; whether it was running."""
    return bool(connection.sadd(PAUSED_KEY, name))


def resume(connection: Redis, name: str) -> bool:
    """Resume queue ``name``; whether it was paused."""
    return bool(connection.srem(PAUSED_KEY, name))


def paused(connection: Redis) -> set[str]:
    """The paused queues of ``connection``'s server, read now."""
    return {_text(name) for name in connection.smembers(PAUSED_KEY)}  # type: ignore[union-attr]


class PausableQueue(Queue):
    """RQ's queue, whose workers leave paused queues alone."""

    # Redis server (by client) -> (when read, the paused names).
    _seen: dict[int, tuple[float, set[str]]] = {}

    @classmethod
    def dequeue_any(  # type: ignore[override]
        cls, queues: list[Queue], timeout: int | None, connection: Redis, **kwargs: Any
    ) -> tuple[Any, Queue] | None:
        stopped = cls._paused_now(connection)
        served = [queue for queue in queues if queue.name not in stopped]
        if not served:
            if timeout is None:  # a burst: nothing it may take
                return None
            time.sleep(min(timeout, CHECK_EVERY))
            raise DequeueTimeout(timeout, [queue.key for queue in queues])
        if timeout is not None:
            timeout = max(1, min(timeout, int(CHECK_EVERY)))
        return super().dequeue_any(served, timeout, connection, **kwargs)

    @classmethod
    def _paused_now(cls, connection: Redis) -> set[str]:
        now = time.monotonic()
        read_at, names = cls._seen.get(id(connection), (0.0, set()))
        if now - read_at >= CHECK_EVERY:
            names = paused(connection)
            cls._seen[id(connection)] = (now, names)
        return names


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
