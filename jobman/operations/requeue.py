"""Requeue: push rows that should be in Redis and are not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from jobman import queues
from jobman.models import Jobman, JobStatus
from jobman.operations.results import Result, Skipped
from jobman.operations.rows import HEAVY_FIELDS, by_connection, chunks, unconfigured, unique, walk


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


def requeue(jobman_ids: Iterable[int], *, dry_run: bool = False) -> Result[RequeuedJob]:
    """Push the rows ``jobman_ids`` that should be in Redis and are not.

    A person names these rows, so a ``pending`` one is pushed whatever its age. A ``queued``
    or ``retrying`` one is pushed only when its RQ job is gone from Redis. Any other row is
    skipped with the reason; ids of no row are listed in ``unknown``.
    """
    wanted = unique(jobman_ids)
    result: Result[RequeuedJob] = Result("jobman", dry_run=dry_run)
    down: set[int] = set()
    for chunk in chunks(wanted):
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
) -> Result[RequeuedJob]:
    """Push rows that should be in Redis and are not.

    Rows still ``pending`` for longer than ``older_than`` (the grace period keeps this from
    racing the push a dispatch makes on commit). With ``check_redis``, also ``queued`` and
    ``retrying`` rows whose RQ job is gone from Redis, checked with one pipeline of reads
    per batch. At most ``limit`` rows are pushed.

    Pushing a job twice is harmless: a worker's claim starts each attempt once, so this
    is safe to run while workers run, and twice at once.
    """
    result: Result[RequeuedJob] = Result("jobman", dry_run=dry_run)
    left = limit

    before = timezone.now() - older_than
    pending = Jobman.objects.unpushed(before).defer(*HEAVY_FIELDS)
    for batch in walk(pending):
        if left is not None and left <= 0:
            break
        left = _requeue(batch, result, left, missing=False)

    if not check_redis:
        return result
    stranded = Jobman.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RETRYING))
    down: set[int] = set()  # Redis servers that did not answer: asked once only
    for batch in walk(stranded.defer(*HEAVY_FIELDS)):
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
    rows: list[Jobman], result: Result[RequeuedJob], left: int | None, *, missing: bool
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
            result.skipped.append(Skipped(row.pk, unconfigured(row.pk, row.queue)))
    # Read before the push, which moves pending rows to queued.
    found = [(row, str(row.status), None if missing else row.updated_at) for row in ready]
    taken = set() if result.dry_run else {row.pk for row in queues.push(ready)}
    for row, status, since in found:
        job = RequeuedJob(row.pk, row.type, row.queue, status, since, row.pk in taken)
        result.done.append(job)
        if not job.pushed and not result.dry_run:
            result.unpushed.append(job)
    return None if left is None else left - len(ready)


def _missing_from_redis(
    rows: list[Jobman], result: Result[RequeuedJob], down: set[int]
) -> list[int]:
    """Return the ids of ``rows`` whose RQ job is not in Redis as jobman pushed it: gone,
    replaced by another, refused or finished. One pipeline per server.

    A server that does not answer is reported once, added to ``down`` and not asked again.
    """
    missing: list[int] = []
    for connection, group in by_connection(rows):
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
