"""Rescue rows left ``running`` by a process that died.

Three ways an attempt can lose its process, or its outcome:

- the forking worker's work-horse is killed (out of memory, SIGKILL): its parent sees the
  horse die and calls ``horse_lost`` at once;
- the whole worker dies: every live jobman worker keeps a key ``jobman:alive:<name>`` in
  Redis that expires ``LOST_AFTER`` seconds after its last heartbeat. ``reap`` finds
  ``running`` rows whose worker's key is gone. The key must stay gone for another
  ``LOST_AFTER`` seconds before the attempt is declared lost, so a Redis restart that wiped
  the keys of live workers cannot get an attempt run twice at once;
- a live worker ended the attempt but could not write its outcome to the row (the
  database was away for longer than the runner retried): RQ's record of the worker names
  another job, or none. ``reap`` finds such a row the same way, seen twice ``LOST_AFTER``
  seconds apart.

A worker can also die after taking a job from its queue and before its work-horse claimed
the row. The row still waits, while RQ holds the job as started by the dead worker until
its own cleanup, minutes later, files it as failed, and nothing would run it. ``reap``
drops such entries from RQ's started registries and pushes their waiting rows again.

A lost attempt is a failed attempt: it is retried after backoff, or fails for good,
exactly like an exception in ``handle()``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job as RQJob
from rq.utils import parse_composite_key
from rq.worker import BaseWorker

from jobman import conf, ids, queues, runner
from jobman.models import Jobman, JobStatus

logger = logging.getLogger("jobman")

ALIVE_KEY = "jobman:alive:{}"
SUSPECT_KEY = "jobman:suspect:{}"
LEFT_KEY = "jobman:left:{}:{}"  # row id, attempt
TAKEN_KEY = "jobman:taken:{}"  # RQ job id, seen in a queue's intermediate list


class WorkerLost(Exception):
    """The process running an attempt died before the attempt could finish."""


@dataclass(frozen=True)
class Reaped:
    jobman_id: int
    worker: str
    # "retrying", "failed", "requeued", "would reap" on a dry run, or "skipped" (with why)
    outcome: str
    reason: str = ""


def mark_alive(pipeline: object, worker_name: str, ttl: int) -> None:
    """Add the worker's liveness key to a heartbeat's pipeline."""
    pipeline.set(ALIVE_KEY.format(worker_name), 1, ex=max(1, ttl))  # type: ignore[attr-defined]


def mark_gone(connection: Redis, worker_name: str) -> None:
    """Drop a worker's liveness key when it stops cleanly."""
    connection.delete(ALIVE_KEY.format(worker_name))


def horse_lost(rq_job: RQJob, worker_name: str, reason: str) -> None:
    """Record the attempt a killed work-horse was running, and tell RQ what follows."""
    try:
        (jobman_id,) = rq_job.args
    except ValueError:
        return
    row = Jobman.objects.filter(pk=jobman_id).first()
    if row is None:
        return
    if row.status == JobStatus.RUNNING and row.worker == worker_name:
        message = f"Worker lost: {reason} during attempt {row.attempts}."
        runner.record_failed_attempt(
            row, WorkerLost(message), message, message, row.logs, rq_job, outcome="lost"
        )
    elif row.status in JobStatus.waiting():
        # Killed before it started, or after it scheduled a retry the horse could not
        # hand to RQ: bring the job back when the row says it is due.
        wait = (row.available_at - timezone.now()).total_seconds() if row.available_at else 0
        runner.steer_rq(rq_job, retry_in=math.ceil(wait) + 1 if wait > 0 else 0)


def reap(dry_run: bool = False) -> list[Reaped]:
    """Fail the attempts of ``running`` rows whose worker is gone; return what was reaped.

    Waiting rows whose job a lost worker took, and never started, are pushed again.
    """
    lost_after = conf.get("LOST_AFTER")
    reaped = _release_taken_jobs(lost_after, dry_run)
    running = list(Jobman.objects.running().exclude(worker=""))
    configured = queues.configured_queues()
    for worker_name in sorted({row.worker for row in running}):
        rows = [row for row in running if row.worker == worker_name]
        # The worker's heartbeat is on the Redis server of the queues it serves.
        served = next((row.queue for row in rows if row.queue in configured), None)
        try:
            if served is None:
                raise queues.unknown_queue_error(rows[0].queue)
            lost = _lost_rows(queues.get_connection(served), worker_name, rows, lost_after, dry_run)
        except (RedisError, ValueError) as error:
            reason = f"could not tell whether worker {worker_name} is alive: {error}"
            logger.warning(
                "jobman: rows %s skipped: %s", ", ".join(str(r.pk) for r in rows), reason
            )
            reaped += [Reaped(row.pk, worker_name, "skipped", reason) for row in rows]
            continue
        for row, what in lost:
            if dry_run:
                reaped.append(Reaped(row.pk, worker_name, "would reap"))
                continue
            message = f"Worker lost: worker {worker_name} {what} attempt {row.attempts}."
            try:
                outcome = runner.record_failed_attempt(
                    row, WorkerLost(message), message, message, row.logs, None, outcome="lost"
                )
                if outcome == JobStatus.RETRYING:
                    queues.push([row])
            except Exception as error:  # one row that cannot be reaped must not stop the rest
                logger.exception("jobman: row %s could not be reaped", row.pk)
                reaped.append(
                    Reaped(row.pk, worker_name, "skipped", f"{type(error).__name__}: {error}")
                )
                continue
            if outcome is not None:
                reaped.append(Reaped(row.pk, worker_name, outcome))
                logger.warning("jobman: row %s: %s It is now %s.", row.pk, message, outcome)
    return reaped


def _lost_rows(
    connection: Redis, worker_name: str, rows: list[Jobman], lost_after: int, dry_run: bool
) -> list[tuple[Jobman, str]]:
    """The rows of a worker's to reap, each with what the worker failed to do."""
    if _gone_long_enough(connection, worker_name, lost_after, dry_run):
        return [(row, "stopped sending heartbeats during") for row in rows]
    left = _left_behind(connection, worker_name, rows, lost_after, dry_run)
    return [(row, "could not record the outcome of") for row in left]


def _gone_long_enough(connection: Redis, worker_name: str, lost_after: int, dry_run: bool) -> bool:
    """Whether the worker's liveness key has been missing for ``lost_after`` seconds."""
    suspect_key = SUSPECT_KEY.format(worker_name)
    with connection.pipeline() as pipeline:
        pipeline.exists(ALIVE_KEY.format(worker_name))
        pipeline.get(suspect_key)
        alive, suspected_since = pipeline.execute()
    if alive:
        if suspected_since is not None and not dry_run:
            connection.delete(suspect_key)
        return False
    now = time.time()
    if suspected_since is None:
        if not dry_run:
            connection.set(suspect_key, now, ex=lost_after * 10, nx=True)
        return False
    return now - float(suspected_since) >= lost_after


def _left_behind(
    connection: Redis, worker_name: str, rows: list[Jobman], lost_after: int, dry_run: bool
) -> list[Jobman]:
    """Rows a worker holds ``running`` while RQ's record of it names another job, or none.

    Such an attempt ended without its outcome reaching the row. Only a whole record counts:
    after a Redis restart a busy worker's record holds just its heartbeat until its next
    change of state. A row is left behind once seen so twice, ``lost_after`` seconds apart.
    """
    key = BaseWorker.redis_worker_namespace_prefix + worker_name
    state, current = connection.hmget(key, "state", "current_job")
    if state is None:
        return []
    current_job = current.decode() if isinstance(current, bytes) else current
    now = time.time()
    left = []
    for row in rows:
        if row.rq_job_id == current_job:
            continue
        left_key = LEFT_KEY.format(row.pk, row.attempts)
        since = connection.get(left_key)
        if since is None:
            if not dry_run:
                connection.set(left_key, now, ex=lost_after * 10, nx=True)
        elif now - float(since) >= lost_after:
            left.append(row)
    return left


def _release_taken_jobs(lost_after: int, dry_run: bool) -> list[Reaped]:
    """Drop jobman jobs held in RQ's started registries by lost workers; push waiting rows.

    An entry's worker is read from RQ's execution record; an entry whose record has
    expired has had no heartbeat for a minute and is dropped too. A row left ``running``
    is reaped by the caller; here only its stale entry goes, so that RQ's cleanup does not
    later file the job, pushed again meanwhile, as failed. A job left in a queue's
    intermediate list (taken, and the worker gone before it registered the job as
    started) is released once seen there ``lost_after`` seconds apart.
    """
    released: list[Reaped] = []
    seen: set[tuple[int, str]] = set()
    for name in queues.configured_queues():
        queue = queues.get_queue(name)
        if (id(queue.connection), queue.key) in seen:
            continue
        seen.add((id(queue.connection), queue.key))
        try:
            released += _release_taken_from(queue, lost_after, dry_run)
        except RedisError as error:
            logger.warning("jobman: could not look for jobs taken by lost workers: %s", error)
    return released


def _release_taken_from(queue: Queue, lost_after: int, dry_run: bool) -> list[Reaped]:
    """Release the jobs of one queue that lost workers took; see ``_release_taken_jobs``."""
    released: list[Reaped] = []
    connection = queue.connection
    registry_key = queue.started_job_registry.key
    started: set[str] = set()
    # Row id, RQ job id, worker, and the registry entry (None: none, only the list).
    stale: list[tuple[int, str, str, str | None]] = []
    for raw in connection.zrange(registry_key, 0, -1):
        entry = _text(raw)
        job_id, _ = parse_composite_key(entry)
        started.add(job_id)
        pk = ids.row_id(job_id)
        if pk is None:
            continue
        worker = connection.hget(f"rq:execution:{entry}", "worker_name")
        if worker is None or _gone_long_enough(connection, _text(worker), lost_after, dry_run):
            stale.append((pk, job_id, _text(worker) if worker else "(expired)", entry))
    now = time.time()
    for raw in connection.lrange(queue.intermediate_queue_key, 0, -1):
        job_id = _text(raw)
        pk = ids.row_id(job_id)
        if job_id in started or pk is None:
            continue
        taken_key = TAKEN_KEY.format(job_id)
        since = connection.get(taken_key)
        if since is None:
            if not dry_run:
                connection.set(taken_key, now, ex=lost_after * 10, nx=True)
        elif now - float(since) >= lost_after:
            stale.append((pk, job_id, "(unknown)", None))

    for pk, job_id, worker_name, held in stale:
        row = Jobman.objects.filter(pk=pk).first()
        waiting = row is not None and row.status in JobStatus.waiting()
        if dry_run:
            if row is not None and waiting:
                released.append(Reaped(row.pk, worker_name, "would reap"))
            continue
        with connection.pipeline() as pipeline:
            if held is not None:
                pipeline.zrem(registry_key, held)
                pipeline.delete(f"rq:execution:{held}")
            pipeline.lrem(queue.intermediate_queue_key, 0, job_id)
            pipeline.execute()
        if row is not None and waiting and queues.push([row]):
            released.append(Reaped(row.pk, worker_name, "requeued"))
            logger.warning(
                "jobman: row %s: worker %s took its job and was lost before starting it; "
                "pushed again.",
                row.pk,
                worker_name,
            )
    return released


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
