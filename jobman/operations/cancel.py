"""Cancel: jobs that have not started, and the waiting jobs of batches; Redis is told too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.serializers import JSONSerializer

from jobman import followups, ids, queues, stops
from jobman.models import JobBatch, Jobman, JobStatus
from jobman.models.transitions import CANCEL
from jobman.operations.results import Result, Skipped
from jobman.operations.rows import by_connection, chunks, status_of, unique


@dataclass(frozen=True)
class CancelledJob:
    jobman_id: int
    type: str
    queue: str
    status: str  # the status it was cancelled from; "running": asked to stop

    @property
    def stopping(self) -> bool:
        return self.status == JobStatus.RUNNING


@dataclass(frozen=True)
class CancelledBatch:
    batch_id: int
    name: str
    cancelled: int  # its jobs cancelled now
    unfinished: int  # its jobs still running (or not yet counted), which finish on their own


def cancel(jobman_ids: Iterable[int], who: str = "") -> Result[CancelledJob]:
    """Cancel rows that have not finished; a finished one is skipped.

    A waiting row (pending, queued, retrying) is cancelled now, and its RQ job taken out of
    its queue or scheduled registry, so it is not even delivered; should one be delivered
    anyway, the runner refuses to start a cancelled row. When Redis cannot be told, the
    rows are cancelled all the same, with a warning. A running row is asked to stop, on
    behalf of ``who`` (see ``jobman.stops``): a forking worker ends its work-horse at once,
    a ``SimpleWorker``'s job stops at its next ``log()``, ``progress()`` or ``stopping()``;
    the row then ends cancelled, saying who stopped it, and is not retried.
    """
    wanted = unique(jobman_ids)
    result: Result[CancelledJob] = Result("jobman")
    for chunk in chunks(wanted):
        found = Jobman.objects.filter(pk__in=chunk).only(
            "id", "type", "queue", "status", "chain_id", "chain_position", "batch_id"
        )
        rows = {row.pk: row for row in found}
        cancelled = []
        for pk in chunk:
            row = rows.get(pk)
            if row is None:
                result.unknown.append(pk)
            elif Jobman.objects.filter(pk=pk).move(CANCEL, unique_key=None):
                cancelled.append(row)
                result.done.append(CancelledJob(pk, row.type, row.queue, row.status))
                row.status = JobStatus.CANCELLED
                followups.after_finish(row)  # its chain stops, its batch counts it
            elif status_of(pk) == JobStatus.RUNNING and _ask_to_stop(row, who, result.errors):
                result.done.append(CancelledJob(pk, row.type, row.queue, JobStatus.RUNNING))
            elif status_of(pk) != JobStatus.RUNNING:
                result.skipped.append(
                    Skipped(
                        pk,
                        f"jobman #{pk} ({row.type}) is {status_of(pk)}; only jobs that have "
                        "not finished can be cancelled",
                    )
                )
        withdraw(cancelled, result.warnings)
    return result


def _ask_to_stop(row: Jobman, who: str, errors: list[str]) -> bool:
    """Ask the running attempt of ``row`` to stop; False, said in ``errors``, when Redis
    cannot be told."""
    try:
        connection = queues.get_connection(row.queue)
        stops.ask(connection, row.pk, who)
    except (RedisError, ValueError) as error:
        errors.append(f"jobman #{row.pk} runs, and could not be asked to stop: {error}")
        return False
    # The forking worker's work-horse ends at once; a SimpleWorker has none, and its job
    # stops at its next look.
    with contextlib.suppress(RedisError, InvalidJobOperation, NoSuchJobError):
        send_stop_job_command(connection, ids.rq_job_id(row.pk), serializer=JSONSerializer)
    return True


def cancel_batches(batch_ids: Iterable[int]) -> Result[CancelledBatch]:
    """Cancel the batches ``batch_ids``: their jobs that have not started, as ``cancel`` does.

    Through ``followups.cancel_batch``, so the batch counts them and sends its callbacks as
    when its jobs end; their RQ jobs are then taken out of Redis. Running jobs finish. A
    batch that has already finished is skipped: there is nothing left to cancel.
    """
    wanted = unique(batch_ids)
    result: Result[CancelledBatch] = Result("batch")
    for chunk in chunks(wanted):
        batches = {batch.pk: batch for batch in JobBatch.objects.filter(pk__in=chunk)}
        for pk in chunk:
            batch = batches.get(pk)
            if batch is None:
                result.unknown.append(pk)
                continue
            if batch.finished_at is not None:
                finished = batch.finished_at.isoformat(timespec="seconds")
                result.skipped.append(
                    Skipped(pk, f"batch {pk} finished at {finished}; nothing is left to cancel")
                )
                continue
            waiting = list(
                batch.jobs.filter(status__in=JobStatus.waiting()).values_list("pk", flat=True)
            )
            cancelled = followups.cancel_batch(batch)
            for some in chunks(waiting):
                # Whoever cancelled them, cancelled rows have no business in Redis.
                rows = Jobman.objects.filter(pk__in=some, status=JobStatus.CANCELLED)
                withdraw(list(rows.only("id", "queue")), result.warnings)
            unfinished = JobBatch.objects.filter(pk=pk).values_list("pending", flat=True).first()
            result.done.append(CancelledBatch(pk, batch.name, cancelled, unfinished or 0))
    return result


def withdraw(rows: list[Jobman], warnings: list[str]) -> None:
    """Take cancelled rows' jobs out of RQ's queues and scheduled registries, marked canceled."""
    for connection, group in by_connection(rows):
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
            warnings.append(
                "Could not take job(s) "
                + ", ".join(f"#{row.pk}" for row in group)
                + f" out of Redis ({error}); they are cancelled and workers will skip them."
            )
