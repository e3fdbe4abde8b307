"""Retry: run failed jobs again, each with a fresh budget of tries."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import QuerySet
from redis.exceptions import RedisError

from jobman import conf, queues, registry
from jobman.models import FailedJob, Jobman, JobStatus
from jobman.operations.results import Result, Skipped
from jobman.operations.rows import (
    BATCH_SIZE,
    HEAVY_FIELDS,
    by_connection,
    chunks,
    status_of,
    unconfigured,
    unique,
)

logger = logging.getLogger("jobman")


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


def retry(failed_job_ids: Iterable[int]) -> Result[RetriedJob]:
    """Run the jobs of failed_jobs rows ``failed_job_ids`` again, each with a fresh budget of tries.

    Ids that are not in failed_jobs are listed in ``unknown``; the others are still retried.
    """
    wanted = unique(failed_job_ids)
    result: Result[RetriedJob] = Result("failed job")
    found: set[int] = set()
    for chunk in chunks(wanted):
        failures = list(_failure_rows(FailedJob.objects.filter(pk__in=chunk)))
        found.update(failure[0] for failure in failures)
        _retry_batch(failures, result)
    result.unknown = [pk for pk in wanted if pk not in found]
    return result


def retry_rows(jobman_ids: Iterable[int]) -> Result[RetriedJob]:
    """Retry the failed jobs of jobman rows ``jobman_ids``, as the admin's action does.

    A row that is not failed, or whose failed_jobs row was forgotten, is skipped with the
    reason, before those ``retry`` skips itself; every id of the result is a jobman id.
    """
    wanted = unique(jobman_ids)
    statuses: dict[int, str] = {}
    failures: dict[int, list[int]] = {}  # jobman id -> its failed_jobs ids
    for chunk in chunks(wanted):
        statuses.update(Jobman.objects.filter(pk__in=chunk).values_list("pk", "status"))
        found = FailedJob.objects.filter(jobman_id__in=chunk).order_by("pk")
        for failed_id, jobman_id in found.values_list("pk", "jobman_id"):
            failures.setdefault(jobman_id, []).append(failed_id)
    result: Result[RetriedJob] = Result("jobman")
    result.unknown = [pk for pk in wanted if pk not in statuses]
    failed = [pk for pk in wanted if statuses.get(pk) == JobStatus.FAILED]
    result.skipped = [
        Skipped(pk, f"#{pk} is {statuses[pk]}, not failed")
        for pk in wanted
        if pk in statuses and statuses[pk] != JobStatus.FAILED
    ]
    result.skipped += [
        Skipped(pk, f"#{pk} has no failed_jobs row (it was forgotten), so it cannot be retried")
        for pk in failed
        if pk not in failures
    ]
    retried = retry(failed_id for pk in failed for failed_id in failures.get(pk, []))
    jobman_of: dict[int | str, int] = {job.failed_job_id: job.jobman_id for job in retried.done}
    result.done, result.unpushed = retried.done, retried.unpushed
    # A failed job skipped by ``retry`` is named by its row here, where ids are jobman ids.
    row_of: dict[int | str, int] = {
        failed_id: pk for pk, ids in failures.items() for failed_id in ids
    }
    result.skipped += [
        Skipped(row_of.get(item.id, jobman_of.get(item.id, 0)), item.reason)
        for item in retried.skipped
    ]
    return result


def retry_all(*, job_type: str | None = None, queue: str | None = None) -> Result[RetriedJob]:
    """Retry every failed job, or those of one type and/or queue."""
    failures = FailedJob.objects.all()
    if job_type is not None:
        failures = failures.filter(jobman__type=job_type)
    if queue is not None:
        failures = failures.filter(jobman__queue=queue)
    result: Result[RetriedJob] = Result("failed job")
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


def _retry_batch(failures: list[tuple[int, int, str, str]], result: Result[RetriedJob]) -> None:
    configured = queues.configured_queues()
    reopened: dict[int, int] = {}  # jobman id -> failed_jobs id
    for failed_id, jobman_id, job_type, queue in failures:
        if queue not in configured:
            reason = unconfigured(jobman_id, queue)
        elif jobman_id in reopened:
            reason = f"jobman #{jobman_id} is retried with failed job {reopened[jobman_id]}"
        elif Jobman.objects.retry_failed(jobman_id, _tries_for(job_type)):
            reopened[jobman_id] = failed_id
            continue
        else:
            reason = f"jobman #{jobman_id} is {status_of(jobman_id)}, not failed"
        result.skipped.append(Skipped(failed_id, reason))
    if not reopened:
        return

    found = Jobman.objects.filter(pk__in=reopened).defer(*HEAVY_FIELDS)
    rows = {row.pk: row for row in found}
    ordered = [rows[pk] for pk in reopened if pk in rows]
    _forget_rq_failures(ordered)
    pushed = {row.pk for row in queues.push(ordered)}
    for row in ordered:
        job = RetriedJob(
            failed_job_id=reopened[row.pk],
            jobman_id=row.pk,
            type=row.type,
            queue=row.queue,
            max_tries=row.max_tries,
            pushed=row.pk in pushed,
        )
        result.done.append(job)
        if not job.pushed:
            result.unpushed.append(job)


def _tries_for(job_type: str) -> int:
    job_class = registry.find(job_type)
    return job_class.max_tries() if job_class is not None else int(conf.get("DEFAULT_TRIES"))


def _forget_rq_failures(rows: Sequence[Jobman]) -> None:
    """Take the rows' RQ jobs out of RQ's FailedJobRegistry, so RQ's tools agree they run again."""
    for connection, group in by_connection(rows):
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
