"""Pause and resume queues, for every worker on every machine (see ``jobman.pauses``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from redis import Redis
from redis.exceptions import RedisError

from jobman import pauses, queues
from jobman.operations.results import NamedResult, Skipped
from jobman.operations.rows import unique


def pause_queues(names: Iterable[str]) -> NamedResult[str]:
    """Pause queues ``names``: within about a second no worker takes their jobs, which
    wait in them; dispatch goes on. One already paused is skipped; a name not in
    ``RQ_QUEUES`` is unknown."""
    return _switch(names, pauses.pause, "is paused already")


def resume_queues(names: Iterable[str]) -> NamedResult[str]:
    """Resume paused queues ``names``: workers take their jobs again within a second."""
    return _switch(names, pauses.resume, "is not paused")


def _switch(
    names: Iterable[str], switch: Callable[[Redis, str], bool], already: str
) -> NamedResult[str]:
    result: NamedResult[str] = NamedResult("queue")
    configured = queues.configured_queues()
    for name in unique(names):
        if name not in configured:
            result.unknown.append(name)
            continue
        try:
            changed = switch(queues.get_connection(name), name)
        except RedisError as error:
            result.errors.append(f"Redis at {queues.connection_label(name)}: {error}")
            continue
        if changed:
            result.done.append(name)
        else:
            result.skipped.append(Skipped(name, f"queue {name!r} {already}"))
    return result
