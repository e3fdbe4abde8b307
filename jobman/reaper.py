"""Rescue rows left ``running`` by a process that died.

Two ways an attempt can lose its process:

- the forking worker's work-horse is killed (out of memory, SIGKILL): its parent sees the
  horse die and calls ``horse_lost`` at once;
- the whole worker dies: every live jobman worker keeps a key ``jobman:alive:<name>`` in
  Redis that expires ``LOST_AFTER`` seconds after its last heartbeat. ``reap`` finds
  ``running`` rows whose worker's key is gone. The key must stay gone for another
  ``LOST_AFTER`` seconds before the attempt is declared lost, so a Redis restart that wiped
  the keys of live workers cannot get an attempt run twice at once.

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
from rq.job import Job as RQJob

from jobman import conf, queues, runner
from jobman.models import Jobman, JobStatus

logger = logging.getLogger("jobman")

ALIVE_KEY = "jobman:alive:{}"
SUSPECT_KEY = "jobman:suspect:{}"


class WorkerLost(Exception):
    """The process running an attempt died before the attempt could finish."""


@dataclass(frozen=True)
class Reaped:
    jobman_id: int
    worker: str
    outcome: str  # "retrying", "failed", or "would reap" on a dry run


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
        runner.record_failed_attempt(row, WorkerLost(message), message, message, row.logs, rq_job)
    elif row.status in JobStatus.waiting():
        # Killed before it started, or after it scheduled a retry the horse could not
        # hand to RQ: bring the job back when the row says it is due.
        wait = (row.available_at - timezone.now()).total_seconds() if row.available_at else 0
        runner.steer_rq(rq_job, retry_in=math.ceil(wait) + 1 if wait > 0 else 0)


def reap(dry_run: bool = False) -> list[Reaped]:
    """Fail the attempts of ``running`` rows whose worker is gone; return what was reaped."""
    running = list(Jobman.objects.running().exclude(worker=""))
    if not running:
        return []
    reaped = []
    lost_after = conf.get("LOST_AFTER")
    for worker_name in sorted({row.worker for row in running}):
        rows = [row for row in running if row.worker == worker_name]
        connection = queues.get_connection(rows[0].queue)
        if not _gone_long_enough(connection, worker_name, lost_after, dry_run):
            continue
        for row in rows:
            if dry_run:
                reaped.append(Reaped(row.pk, worker_name, "would reap"))
                continue
            message = (
                f"Worker lost: worker {worker_name} stopped sending heartbeats "
                f"during attempt {row.attempts}."
            )
            outcome = runner.record_failed_attempt(
                row, WorkerLost(message), message, message, row.logs, None
            )
            if outcome == JobStatus.RETRYING:
                queues.push([row])
            if outcome is not None:
                reaped.append(Reaped(row.pk, worker_name, outcome))
                logger.warning("jobman: row %s: %s It is now %s.", row.pk, message, outcome)
    return reaped


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
