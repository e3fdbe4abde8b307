"""What a person can do to jobs: retry, requeue, cancel, prune, forget, and ask for status.

This is the one service layer: the management commands, the admin actions and the
dashboard call these functions and report what they return. Each function returns a small
result saying what it did and what it skipped, and why. Every change of state is a
conditional UPDATE on the model, so an operation run twice, or while workers run, never
makes the same move twice and never starts an attempt itself: only a worker's claim does.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import router, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import InvalidJobOperation
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.serializers import JSONSerializer

from jobman import conf, followups, queues, registry
from jobman.models import FailedJob, JobBatch, Jobman, JobStatus

logger = logging.getLogger("jobman")

# Rows per query, and jobs per Redis pipeline: short locks, bounded memory, and well under
# SQLite's limit on query parameters.
BATCH_SIZE = 500

# Columns that can be large and that pushing a row does not need.
HEAVY_FIELDS = ("attribs", "logs", "error_message", "exception")

T = TypeVar("T")


@dataclass(frozen=True)
class Skipped:
    """Something an operation was asked to act on and left alone, and why."""

    id: int
    reason: str


# Retry


@dataclass(frozen=True)
class RetriedJob:
    failed_job_id: int
    jobman_id: int
    type: str
    queue: str
    max_tries: int
    # False when Redis could not take it: the row waits as ``pending`` for
    # ``requeue_unpushed``.
    pushed: bool


@dataclass
class RetryResult:
    retried: list[RetriedJob] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # ids are failed_jobs ids
    unknown: list[int] = field(default_factory=list)  # failed_jobs ids that do not exist

    @property
    def unpushed(self) -> list[RetriedJob]:
        return [job for job in self.retried if not job.pushed]

    @property
    def ok(self) -> bool:
        return not (self.skipped or self.unknown or self.unpushed)


def retry(failed_job_ids: Iterable[int]) -> RetryResult:
    """Run the jobs of failed_jobs rows ``failed_job_ids`` again, each with a fresh budget of tries.

    Ids that are not in failed_jobs are listed in ``unknown``; the others are still retried.
    """
    wanted = _unique(failed_job_ids)
    result = RetryResult()
    found: set[int] = set()
    for chunk in _chunks(wanted, BATCH_SIZE):
        failures = list(_failure_rows(FailedJob.objects.filter(pk__in=chunk)))
        found.update(failure[0] for failure in failures)
        _retry_batch(failures, result)
    result.unknown = [pk for pk in wanted if pk not in found]
    return result


def retry_rows(jobman_ids: Iterable[int]) -> RetryResult:
    """Retry the failed jobs of jobman rows ``jobman_ids``, as the admin's action does.

    A row that is not failed, or whose failed_jobs row was forgotten, is skipped with the
    reason (its ``Skipped.id`` a jobman id), before those ``retry`` skips itself.
    """
    wanted = _unique(jobman_ids)
    statuses: dict[int, str] = {}
    failures: dict[int, list[int]] = {}  # jobman id -> its failed_jobs ids
    for chunk in _chunks(wanted, BATCH_SIZE):
        statuses.update(Jobman.objects.filter(pk__in=chunk).values_list("pk", "status"))
        found = FailedJob.objects.filter(jobman_id__in=chunk).order_by("pk")
        for failed_id, jobman_id in found.values_list("pk", "jobman_id"):
            failures.setdefault(jobman_id, []).append(failed_id)
    failed = [pk for pk in wanted if statuses.get(pk) == JobStatus.FAILED]
    skipped = [
        Skipped(
            pk,
            f"#{pk} is {statuses[pk]}, not failed" if pk in statuses else f"#{pk} no longer exists",
        )
        for pk in wanted
        if statuses.get(pk) != JobStatus.FAILED
    ]
    skipped += [
        Skipped(pk, f"#{pk} has no failed_jobs row (it was forgotten), so it cannot be retried")
        for pk in failed
        if pk not in failures
    ]
    result = retry(failed_id for pk in failed for failed_id in failures.get(pk, []))
    result.skipped[:0] = skipped
    return result


def retry_all(*, job_type: str | None = None, queue: str | None = None) -> RetryResult:
    """Retry every failed job, or those of one type and/or queue."""
    failures = FailedJob.objects.all()
    if job_type is not None:
        failures = failures.filter(jobman__type=job_type)
    if queue is not None:
        failures = failures.filter(jobman__queue=queue)
    result = RetryResult()
    last = 0
    while batch := list(_failure_rows(failures.filter(pk__gt=last))[:BATCH_SIZE]):
        last = batch[-1][0]
        _retry_batch(batch, result)
    return result


def _failure_rows(
    failures: QuerySet[FailedJob],
) -> QuerySet[FailedJob, tuple[int, int, str, str]]:
    """Each failed job as (failed_jobs id, jobman id, type, queue), by id."""
    return failures.order_by("pk").values_list("pk", "jobman_id", "jobman__type", "jobman__queue")


def _retry_batch(failures: list[tuple[int, int, str, str]], result: RetryResult) -> None:
    configured = queues.configured_queues()
    reopened: dict[int, int] = {}  # jobman id -> failed_jobs id
    for failed_id, jobman_id, job_type, queue in failures:
        if queue not in configured:
            reason = f"jobman #{jobman_id}'s queue {queue!r} is not in settings.RQ_QUEUES"
        elif jobman_id in reopened:
            reason = f"jobman #{jobman_id} is retried with failed job {reopened[jobman_id]}"
        elif Jobman.objects.retry_failed(jobman_id, _tries_for(job_type)):
            reopened[jobman_id] = failed_id
            continue
        else:
            reason = f"jobman #{jobman_id} is {_status_of(jobman_id)}, not failed"
        result.skipped.append(Skipped(failed_id, reason))
    if not reopened:
        return

    found = Jobman.objects.filter(pk__in=reopened).defer(*HEAVY_FIELDS)
    rows = {row.pk: row for row in found}
    ordered = [rows[pk] for pk in reopened if pk in rows]
    _forget_rq_failures(ordered)
    pushed = {row.pk for row in queues.push(ordered)}
    result.retried.extend(
        RetriedJob(
            failed_job_id=reopened[row.pk],
            jobman_id=row.pk,
            type=row.type,
            queue=row.queue,
            max_tries=row.max_tries,
            pushed=row.pk in pushed,
        )
        for row in ordered
    )


def _tries_for(job_type: str) -> int:
    job_class = registry.find(job_type)
    return job_class.max_tries() if job_class is not None else int(conf.get("DEFAULT_TRIES"))


def _forget_rq_failures(rows: Sequence[Jobman]) -> None:
    """Take the rows' RQ jobs out of RQ's FailedJobRegistry, so RQ's tools agree they run again."""
    for connection, group in _by_connection(rows):
        try:
            with connection.pipeline() as pipeline:
                for row in group:
                    queues.get_queue(row.queue).failed_job_registry.remove(
                        row.rq_job_id, pipeline=pipeline
                    )
                pipeline.execute()
        except RedisError as error:
            logger.warning(
                "jobman: could not remove %d retried job(s) from RQ's failed registry: %s",
                len(group),
                error,
            )


# Requeue


@dataclass(frozen=True)
class RequeuedJob:
    jobman_id: int
    type: str
    queue: str
    status: str  # the row's status when it was found
    # For a pending row: when it became pending. None for a row missing from Redis.
    pending_since: datetime | None
    pushed: bool  # False on a dry run, or when Redis could not take it

    @property
    def reason(self) -> str:
        if self.pending_since is not None:
            return f"pending since {self.pending_since.isoformat(timespec='seconds')}"
        return f"{self.status} but missing from Redis"


@dataclass
class RequeueResult:
    dry_run: bool = False
    jobs: list[RequeuedJob] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # ids are jobman ids
    unknown: list[int] = field(default_factory=list)  # named jobman ids that do not exist
    errors: list[str] = field(default_factory=list)  # what could not be checked at all

    @property
    def pushed(self) -> list[RequeuedJob]:
        return [job for job in self.jobs if job.pushed]

    @property
    def unpushed(self) -> list[RequeuedJob]:
        return [] if self.dry_run else [job for job in self.jobs if not job.pushed]

    @property
    def ok(self) -> bool:
        return not (self.skipped or self.unknown or self.errors or self.unpushed)


def requeue(jobman_ids: Iterable[int], *, dry_run: bool = False) -> RequeueResult:
    """Push the rows ``jobman_ids`` that should be in Redis and are not.

    A person names these rows, so a ``pending`` one is pushed whatever its age. A ``queued``
    or ``retrying`` one is pushed only when its RQ job is gone from Redis. Any other row is
    skipped with the reason; ids of no row are listed in ``unknown``.
    """
    wanted = _unique(jobman_ids)
    result = RequeueResult(dry_run=dry_run)
    down: set[int] = set()
    for chunk in _chunks(wanted, BATCH_SIZE):
        rows = {row.pk: row for row in Jobman.objects.filter(pk__in=chunk).defer(*HEAVY_FIELDS)}
        pending: list[Jobman] = []
        stranded: list[Jobman] = []
        for pk in chunk:
            row = rows.get(pk)
            if row is None:
                result.unknown.append(pk)
            elif row.status == JobStatus.PENDING:
                pending.append(row)
            elif row.status in (JobStatus.QUEUED, JobStatus.RETRYING):
                stranded.append(row)
            else:
                result.skipped.append(
                    Skipped(
                        pk,
                        f"jobman #{pk} is {row.status}; only pending jobs, and queued or "
                        "retrying ones missing from Redis, are pushed again",
                    )
                )
        waiting_for = _previous_steps_not_completed(pending)
        for row in pending:
            if row.pk in waiting_for:
                step, previous = waiting_for[row.pk]
                position = row.chain_position or 0
                result.skipped.append(
                    Skipped(
                        row.pk,
                        f"jobman #{row.pk} is step {position + 1} of a chain whose step "
                        f"{position} (jobman #{step}) is {previous}; it is pushed when that "
                        "one completes",
                    )
                )
        pending = [row for row in pending if row.pk not in waiting_for]
        _requeue(pending, result, None, missing=False)
        missing = set(_missing_from_redis(stranded, result, down))
        configured = queues.configured_queues()
        lost: list[Jobman] = []
        for row in stranded:
            if row.queue not in configured or row.pk in missing:
                lost.append(row)  # _requeue skips a row of an unconfigured queue, saying why
            elif id(queues.get_connection(row.queue)) not in down:
                result.skipped.append(
                    Skipped(row.pk, f"jobman #{row.pk} is {row.status} and its RQ job is in Redis")
                )
        _requeue(lost, result, None, missing=True)
    return result


def _previous_steps_not_completed(rows: list[Jobman]) -> dict[int, tuple[int, str]]:
    """Of the chain steps among ``rows``, those whose previous step has not completed:
    row id -> (previous step's id, its status). One query."""
    steps = [row for row in rows if row.chain_id is not None and row.chain_position]
    if not steps:
        return {}
    wanted = Q()
    for row in steps:
        wanted |= Q(chain_id=row.chain_id, chain_position=(row.chain_position or 0) - 1)
    previous = {
        (chain_id, position): (pk, status)
        for pk, chain_id, position, status in Jobman.objects.filter(wanted).values_list(
            "pk", "chain_id", "chain_position", "status"
        )
    }
    found = {}
    for row in steps:
        pk, status = previous.get((row.chain_id, (row.chain_position or 0) - 1), (0, "gone"))
        if status != JobStatus.COMPLETED:
            found[row.pk] = (pk, status)
    return found


def requeue_unpushed(
    *,
    older_than: timedelta = timedelta(seconds=60),
    check_redis: bool = False,
    limit: int | None = None,
    dry_run: bool = False,
) -> RequeueResult:
    """Push rows that should be in Redis and are not.

    Rows still ``pending`` for longer than ``older_than`` (the grace period keeps this from
    racing the push a dispatch makes on commit). With ``check_redis``, also ``queued`` and
    ``retrying`` rows whose RQ job is gone from Redis, checked with one pipeline of EXISTS
    per batch. At most ``limit`` rows are pushed.

    Pushing a job twice is harmless: a worker's claim starts each attempt once, so this
    is safe to run while workers run, and twice at once.
    """
    result = RequeueResult(dry_run=dry_run)
    left = limit

    before = timezone.now() - older_than
    pending = Jobman.objects.unpushed(before).defer(*HEAVY_FIELDS)
    for batch in _walk(pending):
        if left is not None and left <= 0:
            break
        left = _requeue(batch, result, left, missing=False)

    if not check_redis:
        return result
    stranded = Jobman.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RETRYING))
    down: set[int] = set()  # Redis servers that did not answer: asked once only
    for batch in _walk(stranded.defer(*HEAVY_FIELDS)):
        if left is not None and left <= 0:
            break
        missing = _missing_from_redis(batch, result, down)
        if not missing:
            continue
        # Only rows still waiting: one a worker has finished meanwhile stays as it is.
        still = list(stranded.filter(pk__in=missing).order_by("pk").defer(*HEAVY_FIELDS))
        left = _requeue(still, result, left, missing=True)
    return result


def _requeue(
    rows: list[Jobman], result: RequeueResult, left: int | None, *, missing: bool
) -> int | None:
    """Push ``rows`` (at most ``left`` of them) unless on a dry run; returns what is left."""
    configured = queues.configured_queues()
    ready: list[Jobman] = []
    for row in rows:
        if left is not None and len(ready) >= left:
            break
        if row.queue in configured:
            ready.append(row)
        else:
            reason = f"jobman #{row.pk}'s queue {row.queue!r} is not in settings.RQ_QUEUES"
            result.skipped.append(Skipped(row.pk, reason))
    # Read before the push, which moves pending rows to queued.
    found = [(row, str(row.status), None if missing else row.updated_at) for row in ready]
    pushed = set() if result.dry_run else {row.pk for row in queues.push(ready)}
    result.jobs.extend(
        RequeuedJob(row.pk, row.type, row.queue, status, since, row.pk in pushed)
        for row, status, since in found
    )
    return None if left is None else left - len(ready)


def _missing_from_redis(rows: list[Jobman], result: RequeueResult, down: set[int]) -> list[int]:
    """Return the ids of ``rows`` whose RQ job is not in Redis as jobman pushed it: gone,
    replaced by another, refused or finished. One pipeline per server.

    A server that does not answer is reported once, added to ``down`` and not asked again.
    """
    missing: list[int] = []
    for connection, group in _by_connection(rows):
        if id(connection) in down:
            continue
        try:
            with connection.pipeline(transaction=False) as pipeline:
                for row in group:
                    pipeline.hgetall(RQJob.key_for(row.rq_job_id))
                found = pipeline.execute(raise_on_error=False)
        except RedisError as error:
            down.add(id(connection))
            result.errors.append(
                f"Could not check Redis at {queues.connection_label(group[0].queue)} "
                f"for missing jobs: {error}"
            )
            continue
        missing.extend(
            row.pk
            for row, saved in zip(group, found, strict=True)
            if not queues.as_pushed_for(row, _restored(row.rq_job_id, saved, connection))
        )
    return missing


def _restored(job_id: str, saved: object, connection: Redis) -> RQJob | None:
    """The RQ job a hash holds, or None when there is none or it cannot be read."""
    if not isinstance(saved, dict) or not saved:
        return None  # no key, or (an error) a key of another type
    job = RQJob(job_id, connection=connection, serializer=JSONSerializer)
    try:
        job.restore(saved)
    except Exception:  # a hash written by hand can hold anything
        return None
    return job


# Cancel


@dataclass(frozen=True)
class CancelledJob:
    jobman_id: int
    type: str
    queue: str
    status: str  # the status it was cancelled from


@dataclass
class CancelResult:
    cancelled: list[CancelledJob] = field(default_factory=list)
    refused: list[Skipped] = field(default_factory=list)  # ids are jobman ids
    unknown: list[int] = field(default_factory=list)
    # Redis could not be told; the rows are cancelled all the same and workers skip them.
    rq_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.refused or self.unknown)


def cancel(jobman_ids: Iterable[int]) -> CancelResult:
    """Cancel rows that have not started (pending, queued or retrying).

    A running or finished row is refused. A cancelled row's RQ job is also taken out of its
    queue or scheduled registry, so it is not even delivered; should one be delivered
    anyway, the runner refuses to start a cancelled row.
    """
    wanted = _unique(jobman_ids)
    result = CancelResult()
    for chunk in _chunks(wanted, BATCH_SIZE):
        found = Jobman.objects.filter(pk__in=chunk).only(
            "id", "type", "queue", "status", "chain_id", "chain_position", "batch_id"
        )
        rows = {row.pk: row for row in found}
        cancelled = []
        for pk in chunk:
            row = rows.get(pk)
            if row is None:
                result.unknown.append(pk)
            elif Jobman.objects.cancel([pk]):
                cancelled.append(row)
                result.cancelled.append(CancelledJob(pk, row.type, row.queue, row.status))
                row.status = JobStatus.CANCELLED
                followups.after_finish(row)  # its chain stops, its batch counts it
            else:
                result.refused.append(
                    Skipped(
                        pk,
                        f"jobman #{pk} ({row.type}) is {_status_of(pk)}; only pending, queued "
                        "or retrying jobs can be cancelled",
                    )
                )
        _withdraw_from_rq(cancelled, result.rq_errors)
    return result


@dataclass(frozen=True)
class CancelledBatch:
    batch_id: int
    name: str
    cancelled: int  # its jobs cancelled now
    unfinished: int  # its jobs still running (or not yet counted), which finish on their own


@dataclass
class BatchCancelResult:
    cancelled: list[CancelledBatch] = field(default_factory=list)
    refused: list[Skipped] = field(default_factory=list)  # ids are batch ids
    unknown: list[int] = field(default_factory=list)
    # Redis could not be told; the rows are cancelled all the same and workers skip them.
    rq_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.refused or self.unknown)


def cancel_batches(batch_ids: Iterable[int]) -> BatchCancelResult:
    """Cancel the batches ``batch_ids``: their jobs that have not started, as ``cancel`` does.

    Through ``followups.cancel_batch``, so the batch counts them and sends its callbacks as
    when its jobs end; their RQ jobs are then taken out of Redis. Running jobs finish. A
    batch that has already finished is refused: there is nothing left to cancel.
    """
    wanted = _unique(batch_ids)
    result = BatchCancelResult()
    for chunk in _chunks(wanted, BATCH_SIZE):
        batches = {batch.pk: batch for batch in JobBatch.objects.filter(pk__in=chunk)}
        for pk in chunk:
            batch = batches.get(pk)
            if batch is None:
                result.unknown.append(pk)
                continue
            if batch.finished_at is not None:
                finished = batch.finished_at.isoformat(timespec="seconds")
                result.refused.append(
                    Skipped(pk, f"batch {pk} finished at {finished}; nothing is left to cancel")
                )
                continue
            waiting = list(
                batch.jobs.filter(status__in=JobStatus.waiting()).values_list("pk", flat=True)
            )
            cancelled = followups.cancel_batch(batch)
            for ids in _chunks(waiting, BATCH_SIZE):
                # Whoever cancelled them, cancelled rows have no business in Redis.
                rows = Jobman.objects.filter(pk__in=ids, status=JobStatus.CANCELLED)
                _withdraw_from_rq(list(rows.only("id", "queue")), result.rq_errors)
            unfinished = JobBatch.objects.filter(pk=pk).values_list("pending", flat=True).first()
            result.cancelled.append(CancelledBatch(pk, batch.name, cancelled, unfinished or 0))
    return result


def _withdraw_from_rq(rows: list[Jobman], errors: list[str]) -> None:
    """Take cancelled rows' jobs out of RQ's queues and scheduled registries, marked canceled."""
    for connection, group in _by_connection(rows):
        try:
            jobs = RQJob.fetch_many(
                [row.rq_job_id for row in group], connection=connection, serializer=JSONSerializer
            )
            with connection.pipeline() as pipeline:
                for row, job in zip(group, jobs, strict=True):
                    queue = queues.get_queue(row.queue)
                    pipeline.lrem(queue.key, 0, row.rq_job_id)  # every copy in the list
                    queue.scheduled_job_registry.remove(row.rq_job_id, pipeline=pipeline)
                    # A job a worker has already taken is left to the runner, which refuses it.
                    if job is not None and job.get_status(refresh=False) in (
                        RQStatus.QUEUED,
                        RQStatus.SCHEDULED,
                    ):
                        with contextlib.suppress(InvalidJobOperation):
                            job.cancel(pipeline=pipeline)
                pipeline.execute()
        except RedisError as error:
            errors.append(
                "Could not take job(s) "
                + ", ".join(f"#{row.pk}" for row in group)
                + f" out of Redis ({error}); they are cancelled and workers will skip them."
            )


# Prune


@dataclass(frozen=True)
class PruneBatch:
    jobman_ids: list[int]
    failed_jobs: int


@dataclass
class PruneResult:
    before: datetime
    dry_run: bool = False
    jobs: int = 0
    failed_jobs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def prune(
    *,
    older_than: timedelta = timedelta(days=180),
    batch_size: int = 1000,
    dry_run: bool = False,
    on_batch: Callable[[PruneBatch], None] | None = None,
) -> PruneResult:
    """Delete finished rows (completed, failed, cancelled) created more than ``older_than`` ago,
    with their failed_jobs rows.

    Works in batches: select up to ``batch_size`` ids (locking them), delete by id, commit,
    repeat, so no lock is held long. Rows that are not finished are never touched, even
    one retried while the prune runs. ``on_batch`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, found {batch_size!r}")
    before = timezone.now() - older_than
    result = PruneResult(before=before, dry_run=dry_run)
    prunable = Jobman.objects.prunable(before)

    if dry_run:
        counts = prunable.values_list("status").annotate(n=Count("id")).order_by()
        result.by_status = {status: n for status, n in counts}
        result.jobs = sum(result.by_status.values())
        result.failed_jobs = FailedJob.objects.filter(jobman__in=prunable).count()
        return result

    by_status: Counter[str] = Counter()
    using = router.db_for_write(Jobman)
    while True:
        with transaction.atomic(using=using):
            batch = list(
                prunable.select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "status")[:batch_size]
            )
            if not batch:
                break
            ids = [pk for pk, _ in batch]
            # Only the id is read: the delete cascades to failed_jobs in the same transaction.
            _, deleted = Jobman.objects.filter(pk__in=ids).only("id").delete()
        by_status.update(status for _, status in batch)
        failed_jobs = deleted.get(FailedJob._meta.label, 0)
        result.jobs += deleted.get(Jobman._meta.label, 0)
        result.failed_jobs += failed_jobs
        if on_batch is not None:
            on_batch(PruneBatch(ids, failed_jobs))
    result.by_status = dict(by_status)
    return result


# Failed jobs


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


@dataclass
class ForgetResult:
    forgotten: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unknown


def forget(failed_job_ids: Iterable[int]) -> ForgetResult:
    """Delete failed_jobs rows ``failed_job_ids``. Their jobman rows stay, ``failed``."""
    wanted = _unique(failed_job_ids)
    result = ForgetResult()
    for chunk in _chunks(wanted, BATCH_SIZE):
        found = set(FailedJob.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        FailedJob.objects.filter(pk__in=found).delete()
        result.forgotten.extend(pk for pk in chunk if pk in found)
        result.unknown.extend(pk for pk in chunk if pk not in found)
    return result


@dataclass(frozen=True)
class FlushResult:
    deleted: int
    before: datetime | None  # None: all of them


def flush(*, older_than: timedelta | None = None) -> FlushResult:
    """Delete every failed_jobs row, or those that failed more than ``older_than`` ago."""
    failures = FailedJob.objects.all()
    before = None
    if older_than is not None:
        before = timezone.now() - older_than
        failures = failures.filter(failed_at__lt=before)
    deleted, _ = failures.delete()
    return FlushResult(deleted=deleted, before=before)


# Status


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


@dataclass
class StatusReport:
    queues: list[QueueInfo]
    workers: list[WorkerInfo]
    jobs: dict[str, int]  # all rows by status
    failed_last_hour: int
    redis_errors: list[str] = field(default_factory=list)

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
                waiting, scheduled, oldest_wait = _redis_queue_status(name, connection)
            except RedisError as exc:
                error = errors[id(connection)] = str(exc) or type(exc).__name__
        if error is None:
            infos.append(QueueInfo(name, waiting, scheduled, oldest_wait, None, jobs))
        else:
            infos.append(QueueInfo(name, None, None, None, error, jobs))
    # Rows of queues no longer configured are counted too, so the totals add up.
    for name in sorted(set(counts) - set(names)):
        infos.append(QueueInfo(name, None, None, None, "not in settings.RQ_QUEUES", counts[name]))

    workers = _workers(names, errors)
    return StatusReport(
        queues=infos,
        workers=workers,
        jobs=totals,
        failed_last_hour=failed_last_hour,
        redis_errors=sorted(set(errors.values())),
    )


def _redis_queue_status(name: str, connection: Redis) -> tuple[int, int, float | None]:
    queue = queues.get_queue(name)
    with connection.pipeline(transaction=False) as pipeline:
        pipeline.llen(queue.key)
        pipeline.zcard(queue.scheduled_job_registry.key)
        pipeline.lindex(queue.key, 0)
        waiting, scheduled, oldest_id = pipeline.execute()
    oldest_wait = None
    if oldest_id is not None:
        job_id = oldest_id.decode() if isinstance(oldest_id, bytes) else str(oldest_id)
        try:
            job = RQJob.fetch(job_id, connection=connection, serializer=JSONSerializer)
            enqueued_at = job.enqueued_at
        except Exception:  # gone, or written by hand and unreadable: its wait is unknown
            enqueued_at = None
        if enqueued_at is not None:
            oldest_wait = max((timezone.now() - enqueued_at).total_seconds(), 0.0)
    return int(waiting), int(scheduled), oldest_wait


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


# Helpers


def _unique(ids: Iterable[int]) -> list[int]:
    """The ids in the order given, each once."""
    return list(dict.fromkeys(ids))


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _walk(rows: QuerySet[Jobman]) -> Iterator[list[Jobman]]:
    """Walk ``rows`` by id, ``BATCH_SIZE`` at a time, each batch a fresh query."""
    last = 0
    while batch := list(rows.filter(pk__gt=last).order_by("pk")[:BATCH_SIZE]):
        last = batch[-1].pk
        yield batch


def _by_connection(rows: Iterable[Jobman]) -> list[tuple[Redis, list[Jobman]]]:
    """Group rows by the Redis server of their queue; rows of unconfigured queues are left out."""
    configured = queues.configured_queues()
    groups: dict[int, tuple[Redis, list[Jobman]]] = {}
    for row in rows:
        if row.queue not in configured:
            continue
        connection = queues.get_connection(row.queue)
        groups.setdefault(id(connection), (connection, []))[1].append(row)
    return list(groups.values())


def _status_of(jobman_id: int) -> str:
    found = Jobman.objects.filter(pk=jobman_id).values_list("status", flat=True).first()
    return str(found) if found is not None else "gone"
