"""The read model of jobman's state, for the dashboard and the commands that report it.

``status()`` asks Redis (each queue's length, scheduled jobs, oldest wait, and the workers)
and the database (rows by queue and status); ``failed_jobs()`` lists failures. Reading
changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from jobman import pauses, queues, schedules
from jobman.models import FailedJob, Jobman, JobSchedule, JobStatus


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: str
    queues: list[str]
    current_job: str | None  # the RQ job id, ``jobman-<row id>``


@dataclass(frozen=True)
class QueueInfo:
    name: str
    # From Redis; None when it could not be asked (see ``redis_error``).
    waiting: int | None
    scheduled: int | None
    oldest_wait: float | None  # seconds the oldest waiting job has waited
    redis_error: str | None
    # From the database: rows of this queue by status.
    jobs: dict[str, int]
    # Paused (jobman_pause): no worker takes its jobs; None when Redis could not be asked.
    paused: bool | None = None


@dataclass
class StatusReport:
    queues: list[QueueInfo]
    workers: list[WorkerInfo]
    jobs: dict[str, int]  # all rows by status
    failed_last_hour: int
    redis_errors: list[str] = field(default_factory=list)
    # Periodic jobs: how many schedules are configured, and the slots they missed in all.
    schedules: int = 0
    missed_runs: int = 0

    @property
    def redis_ok(self) -> bool:
        return not self.redis_errors

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status() -> StatusReport:
    """Report each queue of ``RQ_QUEUES`` from Redis and the database, and the workers.

    When Redis cannot be reached the database part is still reported, with the error.
    """
    names = list(queues.configured_queues())
    counts: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = dict.fromkeys(JobStatus.values, 0)
    grouped = Jobman.objects.values_list("queue", "status").annotate(n=Count("id")).order_by()
    for queue, job_status, n in grouped:
        counts.setdefault(queue, dict.fromkeys(JobStatus.values, 0))[job_status] = n
        totals[job_status] = totals.get(job_status, 0) + n
    an_hour_ago = timezone.now() - timedelta(hours=1)
    failed_last_hour = FailedJob.objects.filter(failed_at__gte=an_hour_ago).count()

    infos = []
    errors: dict[int, str] = {}  # id of a Redis client -> why it could not be asked
    for name in names:
        jobs = counts.get(name, dict.fromkeys(JobStatus.values, 0))
        connection = queues.get_connection(name)
        error = errors.get(id(connection))
        if error is None:
            try:
                waiting, scheduled, oldest_wait, paused = _redis_queue_status(name, connection)
            except RedisError as exc:
                error = errors[id(connection)] = str(exc) or type(exc).__name__
        if error is None:
            infos.append(QueueInfo(name, waiting, scheduled, oldest_wait, None, jobs, paused))
        else:
            infos.append(QueueInfo(name, None, None, None, error, jobs))
    # Rows of queues no longer configured are counted too, so the totals add up.
    for name in sorted(set(counts) - set(names)):
        infos.append(QueueInfo(name, None, None, None, "not in settings.RQ_QUEUES", counts[name]))

    workers = _workers(names, errors)
    configured = [schedule.name for schedule in schedules.configured()]
    stored = [name for name in configured if schedules.storable_name(name)]
    missed = JobSchedule.objects.filter(name__in=stored).aggregate(total=Sum("missed"))
    return StatusReport(
        queues=infos,
        workers=workers,
        jobs=totals,
        failed_last_hour=failed_last_hour,
        redis_errors=sorted(set(errors.values())),
        schedules=len(configured),
        missed_runs=missed["total"] or 0,
    )


def _redis_queue_status(name: str, connection: Redis) -> tuple[int, int, float | None, bool]:
    queue = queues.get_queue(name)
    with connection.pipeline(transaction=False) as pipeline:
        pipeline.llen(queue.key)
        pipeline.zcard(queue.scheduled_job_registry.key)
        pipeline.lindex(queue.key, 0)
        pipeline.sismember(pauses.PAUSED_KEY, name)
        waiting, scheduled, oldest_id, paused = pipeline.execute()
    oldest_wait = None
    if oldest_id is not None:
        job_id = oldest_id.decode() if isinstance(oldest_id, bytes) else str(oldest_id)
        oldest_wait = queues.seconds_waiting(connection, job_id)
    return int(waiting), int(scheduled), oldest_wait, bool(paused)


def _workers(names: list[str], errors: dict[int, str]) -> list[WorkerInfo]:
    """Workers serving any of queues ``names``, from RQ's worker registry of each server.

    Each worker's record is read as plain fields, one pipeline per server: a record that
    cannot be read (another type of key in its place) is listed as "unreadable", and
    spoils none of the others.
    """
    seen: dict[str, WorkerInfo] = {}
    asked: set[int] = set()
    prefix = Worker.redis_worker_namespace_prefix
    for name in names:
        connection = queues.get_connection(name)
        if id(connection) in errors or id(connection) in asked:
            continue
        asked.add(id(connection))
        try:
            keys = sorted(Worker.all_keys(connection=connection))
            with connection.pipeline(transaction=False) as pipeline:
                for key in keys:
                    pipeline.hmget(key, "state", "queues", "current_job")
                records = pipeline.execute(raise_on_error=False)
        except RedisError as error:
            errors[id(connection)] = str(error) or type(error).__name__
            continue
        for key, record in zip(keys, records, strict=True):
            worker_name = key.removeprefix(prefix)
            if worker_name in seen:
                continue
            if not isinstance(record, list):
                seen[worker_name] = WorkerInfo(worker_name, "unreadable", [], None)
                continue
            state, served_text, current = (_text(value) for value in record)
            if state is None:
                continue  # gone: its record expired after it was registered
            served = served_text.split(",") if served_text else []
            if set(served) & set(names):
                seen[worker_name] = WorkerInfo(worker_name, state, served, current or None)
    return sorted(seen.values(), key=lambda worker: worker.name)


def _text(value: object) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


@dataclass(frozen=True)
class FailedJobInfo:
    id: int
    jobman_id: int
    type: str
    queue: str
    failed_at: datetime
    error: str  # the first line of the final error


def failed_jobs(
    *, job_type: str | None = None, queue: str | None = None, limit: int | None = None
) -> list[FailedJobInfo]:
    """List failed jobs, the most recent first."""
    failures = FailedJob.objects.order_by("-failed_at", "-pk")
    if job_type is not None:
        failures = failures.filter(jobman__type=job_type)
    if queue is not None:
        failures = failures.filter(queue=queue)
    rows = failures.values_list(
        "pk", "jobman_id", "jobman__type", "queue", "failed_at", "jobman__error_message"
    )
    listed = list(rows[:limit] if limit is not None else rows)
    return [
        FailedJobInfo(
            pk, jobman_id, type_, queue_, failed_at, _first_line(message) or _last_line(pk)
        )
        for pk, jobman_id, type_, queue_, failed_at, message in listed
    ]


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _last_line(failed_job_id: int) -> str:
    """The last line of a traceback names the exception: the best line when no message was kept."""
    found = FailedJob.objects.filter(pk=failed_job_id).values_list("exception", flat=True)
    exception = found.first()
    lines = [line.strip() for line in (exception or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
