"""Talking to RQ: queues and connections from ``RQ_QUEUES``, and pushing rows onto them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from django_rq.connection_utils import filter_connection_params, get_redis_connection
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.queue import EnqueueData
from rq.serializers import JSONSerializer

from jobman import bounds, conf, registry
from jobman.models import Jobman, JobStatus
from jobman.pauses import PausableQueue

logger = logging.getLogger("jobman")

# The one function jobman puts in Redis. Its only argument is the row id.
RUNNER = "jobman.runner.run"

# Seconds an RQ job may outlive its handle() timeout, for jobman's own bookkeeping.
BOOKKEEPING_GRACE = 30

_connections: dict[str, Redis] = {}
_queues: dict[str, Queue] = {}
# What pushes rows instead of Redis, the last installed in charge (jobman.testing keeps
# dispatches out of Redis with one); none: Redis.
Pusher = Callable[[Sequence[Jobman], bool], list[Jobman]]
_pushers: list[Pusher] = []


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
    """Return RQ's queue ``name``, speaking JSON, whose workers leave it alone while it
    is paused."""
    if name not in _queues:
        _queues[name] = PausableQueue(
            name, connection=get_connection(name), serializer=JSONSerializer
        )
    return _queues[name]


def connection_label(queue_name: str) -> str:
    """Name the Redis server of a queue without its password, for the failed_jobs table."""
    kwargs = get_connection(queue_name).connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"


def runs(job: RQJob) -> str | None:
    """Name the function an RQ job calls; None when its payload is not readable JSON."""
    try:
        return str(job.func_name)
    except Exception:
        return None


def not_as_pushed(job: RQJob) -> str | None:
    """Say what a runner job carries that jobman's push never writes; None when nothing."""
    attached = [
        name
        for name, value in (
            ("an on_success callback", job._success_callback_name),
            ("an on_failure callback", job._failure_callback_name),
            ("an on_stopped callback", job._stopped_callback_name),
            ("webhooks", job.webhooks),
            ("dependencies", job._dependency_ids),
            ("a repeat", job.repeats_left),
        )
        if value
    ]
    if attached:
        return "it carries " + ", ".join(attached)
    try:
        args, kwargs = job.args, job.kwargs
    except Exception:
        return "its arguments are unreadable"
    if kwargs or len(args) != 1 or (isinstance(args[0], int) and not bounds.is_row_id(args[0])):
        # A non-int id is left to the runner, which names it.
        return f"its arguments are {_shown(args)} {_shown(kwargs)}, not one row id"
    return None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# RQ statuses of a job that is still to run, or running: a waiting row's job is one of them.
_WAITING_RQ_STATUSES = {
    RQStatus.QUEUED,
    RQStatus.SCHEDULED,
    RQStatus.DEFERRED,
    RQStatus.STARTED,
}


def as_pushed_for(row: Jobman, job: RQJob | None) -> bool:
    """Whether ``job`` (from Redis, under the row's RQ job id) is the row's own job, as
    jobman pushed it and still to run: not gone, replaced, refused or finished."""
    if job is None or runs(job) != RUNNER or not_as_pushed(job) is not None:
        return False
    status = job.get_status(refresh=False)
    return job.args == [row.pk] and job.origin == row.queue and status in _WAITING_RQ_STATUSES


def rq_timeout(job_type: str) -> int:
    job_class = registry.find(job_type)
    timeout = job_class.attempt_timeout() if job_class else conf.get("DEFAULT_TIMEOUT")
    return int(timeout) + BOOKKEEPING_GRACE


def _add_to_pipeline(rows: list[Jobman], pipeline: Any) -> list[Jobman]:
    """Add the RQ jobs of ``rows``, all on one Redis server, to ``pipeline``; return the
    rows that could not be written (each logged), so that they keep none of the others out."""
    # What every row shares is read once.
    now = timezone.now()
    result_ttl, failure_ttl = conf.get("RESULT_TTL"), conf.get("FAILURE_TTL")
    timeouts: dict[str, int] = {}  # by job type
    due: dict[str, list[EnqueueData]] = {}  # by queue: the jobs that may start now
    later: list[tuple[Queue, RQJob, datetime]] = []
    refused: list[Jobman] = []
    for row in rows:
        try:
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
            else:
                job = queue.create_job(RUNNER, status=RQStatus.SCHEDULED, **options)
                # RQ's scheduler counts whole seconds; rounding up keeps the job from coming
                # early. A row written by hand may hold any date: the latest RQ can schedule
                # is kept.
                at = min(available_at, _LATEST_SLOT).replace(microsecond=0) + timedelta(seconds=1)
                later.append((queue, job, at))
        except Exception as error:  # a row that cannot be pushed must not keep the rest out
            logger.warning("jobman: row %s cannot be pushed to Redis: %s", row.pk, error)
            refused.append(row)
            continue
        # A push writes the whole job: nothing left by an earlier push or by hand remains.
        pipeline.delete(RQJob.key_for(row.rq_job_id))
    for queue, job, at in later:
        queue.schedule_job(job, at, pipeline=pipeline)
    for name, datas in due.items():
        # What enqueue_job does job by job, but the queue's registration is sent once.
        get_queue(name).enqueue_many(datas, pipeline=pipeline)
    return refused


_LATEST_SLOT = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def push(rows: Sequence[Jobman], *, recorded: bool = False) -> list[Jobman]:
    """Put ``rows`` in Redis, one pipeline per server; return the rows Redis took.

    Rows saved ``pending`` are marked ``queued`` once Redis has them. ``recorded`` rows were
    saved ``queued`` already, as a dispatch saves the rows it pushes on commit, which spares
    that UPDATE. When Redis cannot be reached, the rows it did not take are ``pending``
    (``recorded`` ones are put back) and a warning says so; ``jobman_requeue_unpushed``
    pushes them later. A row that cannot be pushed at all (its queue gone from
    ``RQ_QUEUES``, a key of another type in its place) is left ``pending`` the same way,
    and keeps none of the others out.
    """
    if _pushers:
        return _pushers[-1](rows, recorded)
    groups: dict[int, tuple[Redis, list[Jobman]]] = {}
    by_queue: dict[str, list[Jobman]] = {}  # each queue's connection is looked up once
    unpushed: list[Jobman] = []
    for row in rows:
        group = by_queue.get(row.queue)
        if group is None:
            try:
                connection = get_connection(row.queue)
            except ValueError as error:
                logger.warning("jobman: row %s cannot be pushed to Redis: %s", row.pk, error)
                unpushed.append(row)
                continue
            group = by_queue[row.queue] = groups.setdefault(id(connection), (connection, []))[1]
        group.append(row)

    pushed: list[Jobman] = []
    for connection, group in groups.values():
        try:
            taken = _push_group(connection, group)
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
        pushed.extend(taken)
        if len(taken) < len(group):
            took = {id(row) for row in taken}
            unpushed.extend(row for row in group if id(row) not in took)

    if recorded:
        if unpushed:
            put_back(unpushed)
    elif pushed:
        Jobman.objects.mark_pushed(row.pk for row in pushed)
        now = timezone.now()
        for row in pushed:
            if row.status == JobStatus.PENDING:
                row.status, row.pushed_at = JobStatus.QUEUED, now
    return pushed


def _push_group(connection: Redis, rows: list[Jobman]) -> list[Jobman]:
    """Push the rows of one Redis server in one MULTI; return those Redis took.

    Should Redis refuse a command of the MULTI (a key of another type where a job's hash
    goes), each row is pushed again alone, so that only the rows at fault stay out.
    """
    try:
        return _push_together(connection, rows)
    except ResponseError:
        if len(rows) == 1:
            raise
    taken = []
    for row in rows:
        try:
            taken += _push_together(connection, [row])
        except ResponseError as error:
            logger.warning("jobman: Redis refused the job of row %s: %s", row.pk, error)
    return taken


def _push_together(connection: Redis, rows: list[Jobman]) -> list[Jobman]:
    with connection.pipeline() as pipeline:
        # One MULTI for the whole group, begun here: RQ's enqueue_job begins one itself
        # when none is, which fails once a delayed job's commands are queued.
        pipeline.multi()
        refused = _add_to_pipeline(rows, pipeline)
        pipeline.execute()
    if not refused:
        return rows
    left_out = {id(row) for row in refused}
    return [row for row in rows if id(row) not in left_out]


@contextlib.contextmanager
def pushing_with(pusher: Pusher) -> Iterator[None]:
    """Within the block, ``push`` hands rows to ``pusher(rows, recorded)`` instead of
    Redis; it returns the rows it took."""
    _pushers.append(pusher)
    try:
        yield
    finally:
        _pushers.remove(pusher)


def pushes_to_redis() -> bool:
    """Whether ``push`` goes to Redis now, rather than to a pusher installed over it."""
    return not _pushers


def put_back(rows: Sequence[Jobman]) -> None:
    """Put rows saved ``queued`` but never pushed back to ``pending``: one UPDATE."""
    Jobman.objects.mark_unpushed(row.pk for row in rows)
    for row in rows:
        if row.status == JobStatus.QUEUED and not row.attempts:
            row.status, row.pushed_at = JobStatus.PENDING, None


def seconds_waiting(connection: Redis, job_id: str) -> float | None:
    """Seconds since RQ job ``job_id`` was enqueued; None when it is gone, or written by
    hand and unreadable."""
    try:
        enqueued_at = RQJob.fetch(
            job_id, connection=connection, serializer=JSONSerializer
        ).enqueued_at
    except Exception:
        return None
    if enqueued_at is None:
        return None
    return max((timezone.now() - enqueued_at).total_seconds(), 0.0)
