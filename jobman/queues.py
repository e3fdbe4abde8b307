"""Talking to RQ: queues and connections from ``RQ_QUEUES``, and pushing rows onto them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from django_rq.connection_utils import filter_connection_params, get_redis_connection
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import JobStatus as RQStatus
from rq.queue import EnqueueData
from rq.serializers import JSONSerializer

from jobman import conf, registry
from jobman.models import Jobman, JobStatus

logger = logging.getLogger("jobman")

# The one function jobman puts in Redis. Its only argument is the row id.
RUNNER = "jobman.runner.run"

# Seconds an RQ job may outlive its handle() timeout, for jobman's own bookkeeping.
BOOKKEEPING_GRACE = 30

_connections: dict[str, Redis] = {}
_queues: dict[str, Queue] = {}
# While jobman.testing captures dispatches, pushed rows land here instead of in Redis.
captured: list[list[Jobman]] = []


@receiver(setting_changed)
def _forget_cached(setting: str, **kwargs: Any) -> None:
    if setting in ("RQ_QUEUES", "JOBMAN"):
        _connections.clear()
        _queues.clear()


def configured_queues() -> dict[str, dict[str, Any]]:
    queues = getattr(settings, "RQ_QUEUES", None)
    return queues if isinstance(queues, dict) else {}


def unknown_queue_error(name: str) -> ValueError:
    known = ", ".join(repr(q) for q in configured_queues()) or "none"
    return ValueError(f"Queue {name!r} is not in settings.RQ_QUEUES (configured: {known}).")


def get_connection(queue_name: str) -> Redis:
    """Return the Redis client of ``queue_name``, shared by queues on the same server."""
    config = configured_queues().get(queue_name)
    if config is None:
        raise unknown_queue_error(queue_name)
    key = repr(sorted(filter_connection_params(config).items()))
    if key not in _connections:
        _connections[key] = get_redis_connection(config)
    return _connections[key]


def get_queue(name: str) -> Queue:
    """Return RQ's queue ``name``, speaking JSON."""
    if name not in _queues:
        _queues[name] = Queue(name, connection=get_connection(name), serializer=JSONSerializer)
    return _queues[name]


def connection_label(queue_name: str) -> str:
    """Name the Redis server of a queue without its password, for the failed_jobs table."""
    kwargs = get_connection(queue_name).connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"


def rq_timeout(job_type: str) -> int:
    job_class = registry.find(job_type)
    timeout = job_class.attempt_timeout() if job_class else conf.get("DEFAULT_TIMEOUT")
    return int(timeout) + BOOKKEEPING_GRACE


def _add_to_pipeline(rows: list[Jobman], pipeline: Any) -> None:
    """Add the RQ jobs of ``rows``, all on one Redis server, to ``pipeline``."""
    # What every row shares is read once.
    now = timezone.now()
    result_ttl, failure_ttl = conf.get("RESULT_TTL"), conf.get("FAILURE_TTL")
    timeouts: dict[str, int] = {}  # by job type
    due: dict[str, list[EnqueueData]] = {}  # by queue: the jobs that may start now
    for row in rows:
        queue = get_queue(row.queue)
        timeout = timeouts.get(row.type)
        if timeout is None:
            timeout = timeouts[row.type] = rq_timeout(row.type)
        options: dict[str, Any] = {
            "args": (row.pk,),
            "job_id": row.rq_job_id,
            "timeout": timeout,
            "result_ttl": result_ttl,
            "failure_ttl": failure_ttl,
            "description": f"{row.type} #{row.pk}",
        }
        available_at = row.available_at
        if available_at is None or available_at <= now:
            due.setdefault(row.queue, []).append(queue.prepare_data(RUNNER, **options))
            continue
        job = queue.create_job(RUNNER, status=RQStatus.SCHEDULED, **options)
        # RQ's scheduler counts whole seconds; rounding up keeps the job from coming early.
        # A row written by hand may hold any date; the latest RQ can schedule is kept.
        at = min(available_at, _LATEST_SLOT).replace(microsecond=0) + timedelta(seconds=1)
        queue.schedule_job(job, at, pipeline=pipeline)
    for name, datas in due.items():
        # What enqueue_job does job by job, but the queue's registration is sent once.
        get_queue(name).enqueue_many(datas, pipeline=pipeline)


_LATEST_SLOT = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def push(rows: Sequence[Jobman], *, recorded: bool = False) -> list[Jobman]:
    """Put ``rows`` in Redis, one pipeline per server; return the rows Redis took.

    Rows saved ``pending`` are marked ``queued`` once Redis has them. ``recorded`` rows were
    saved ``queued`` already, as a dispatch saves the rows it pushes on commit, which spares
    that UPDATE. When Redis cannot be reached, the rows it did not take are ``pending``
    (``recorded`` ones are put back) and a warning says so; ``jobman_requeue_unpushed``
    pushes them later.
    """
    if captured:
        captured[-1].extend(rows)
        if recorded:  # the capture began after they were saved: they are in no queue
            _put_back(rows)
        return []
    groups: dict[int, tuple[Redis, list[Jobman]]] = {}
    by_queue: dict[str, list[Jobman]] = {}  # each queue's connection is looked up once
    for row in rows:
        group = by_queue.get(row.queue)
        if group is None:
            connection = get_connection(row.queue)
            group = by_queue[row.queue] = groups.setdefault(id(connection), (connection, []))[1]
        group.append(row)

    pushed: list[Jobman] = []
    unpushed: list[Jobman] = []
    for connection, group in groups.values():
        try:
            with connection.pipeline() as pipeline:
                # One MULTI for the whole group, begun here: RQ's enqueue_job begins one
                # itself when none is, which fails once a delayed job's commands are queued.
                pipeline.multi()
                _add_to_pipeline(group, pipeline)
                pipeline.execute()
        except RedisError as error:
            logger.warning(
                "jobman: could not push %d job(s) to Redis (%s); rows %s stay pending until "
                "`manage.py jobman_requeue_unpushed` pushes them.",
                len(group),
                error,
                ", ".join(str(row.pk) for row in group[:20]) + (" ..." if len(group) > 20 else ""),
            )
            unpushed.extend(group)
            continue
        pushed.extend(group)

    if recorded:
        if unpushed:
            _put_back(unpushed)
    elif pushed:
        Jobman.objects.mark_pushed(row.pk for row in pushed)
        now = timezone.now()
        for row in pushed:
            if row.status == JobStatus.PENDING:
                row.status, row.pushed_at = JobStatus.QUEUED, now
    return pushed


def _put_back(rows: Sequence[Jobman]) -> None:
    """Put rows saved ``queued`` but never pushed back to ``pending``: one UPDATE."""
    Jobman.objects.mark_unpushed(row.pk for row in rows)
    for row in rows:
        if row.status == JobStatus.QUEUED and not row.attempts:
            row.status, row.pushed_at = JobStatus.PENDING, None
