"""How operations walk rows: named ids once each, in bounded chunks, grouped by Redis server."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from django.db.models import QuerySet
from redis import Redis

from jobman import queues
from jobman.models import Jobman

# Rows per query, and jobs per Redis pipeline: short locks, bounded memory, and well under
# SQLite's limit on query parameters.
BATCH_SIZE = 500

# Columns that can be large and that pushing a row does not need.
HEAVY_FIELDS = ("attribs", "logs", "error_message", "exception")

T = TypeVar("T")


def unique(ids: Iterable[T]) -> list[T]:
    """The ids (or names) in the order given, each once."""
    return list(dict.fromkeys(ids))


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    """``items``, ``BATCH_SIZE`` at a time."""
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]


def walk(rows: QuerySet[Jobman]) -> Iterator[list[Jobman]]:
    """Walk ``rows`` by id, ``BATCH_SIZE`` at a time, each batch a fresh query."""
    last = 0
    while batch := list(rows.filter(pk__gt=last).order_by("pk")[:BATCH_SIZE]):
        last = batch[-1].pk
        yield batch


def by_connection(rows: Iterable[Jobman]) -> list[tuple[Redis, list[Jobman]]]:
    """Group rows by the Redis server of their queue; rows of unconfigured queues are left out."""
    configured = queues.configured_queues()
    groups: dict[int, tuple[Redis, list[Jobman]]] = {}
    for row in rows:
        if row.queue not in configured:
            continue
        connection = queues.get_connection(row.queue)
        groups.setdefault(id(connection), (connection, []))[1].append(row)
    return list(groups.values())


def status_of(jobman_id: int) -> str:
    """A row's status now, or ``gone``."""
    found = Jobman.objects.filter(pk=jobman_id).values_list("status", flat=True).first()
    return str(found) if found is not None else "gone"


def unconfigured(jobman_id: int, queue: str) -> str:
    """Why a row of a queue no longer configured is skipped."""
    return f"jobman #{jobman_id}'s queue {queue!r} is not in settings.RQ_QUEUES"
