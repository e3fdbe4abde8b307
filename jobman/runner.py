"""The function RQ calls: claim the row, run the job, record the attempt.

RQ carries only the row id. Everything the attempt needs is read from the row, and
everything it did is written back to it. The runner then tells RQ what it decided
(retry after backoff, or fail for good) through the running RQ job, so RQ's registries
say the same as the row.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone
from rq import get_current_job
from rq.job import Job as RQJob
from rq.timeouts import JobTimeoutException

from jobman import attempt as attempts
from jobman import conf, controls, followups, notes, options, queues, registry, signals, stops
from jobman.jobs import JobFailed, JobmanJob
from jobman.jsonsafe import ensure_json
from jobman.models import Jobman, JobStatus

logger = logging.getLogger("jobman")

T = TypeVar("T")

# Seconds an attempt's outcome keeps being written again when the database fails (a killed
# connection, a database locked by another writer): well inside the time RQ allows beyond
# handle()'s timeout. Past that the row stays `running` and the reaper repairs it.
FOOTPRINT_RETRY_SECONDS = queues.BOOKKEEPING_GRACE // 2


class UnknownJobType(Exception):
    """The row names a type no JobmanJob subclass is registered under."""


class AttemptTimedOut(JobTimeoutException):
    """``handle()`` ran past the job's ``timeout``."""


class NotYetAvailable(Exception):
    """The job arrived before its ``available_at``; RQ brings it back then."""


class Released(Exception):
    """The attempt was given back unrun (overlap lock or rate limit); RQ brings it back."""


class UnknownRow(Exception):
    """RQ carried a row id that is not in the jobmans table."""


def run(jobman_id: int) -> str | None:
    """Run one attempt of row ``jobman_id``. Returns the completed_code."""
    if not isinstance(jobman_id, int) or isinstance(jobman_id, bool):
        raise TypeError(f"jobman's runner takes a row id (int), found {jobman_id!r}")
    rq_job = get_current_job()
    attempt = attempts.of(rq_job)
    row = attempt.take_claimed(jobman_id)
    if row is None:
        row = Jobman.objects.claim(jobman_id, worker=_worker_name(rq_job))
    if row is None and _is_due(jobman_id, rq_job):
        # It became due between the claim and the look: claim again.
        row = Jobman.objects.claim(jobman_id, worker=_worker_name(rq_job))
    if row is None:
        logger.info("jobman: row %s is not waiting; this delivery does nothing.", jobman_id)
        return None

    job_class = registry.find(row.type)
    if job_class is None:
        error = UnknownJobType(
            f"Unknown job type {row.type!r}: no JobmanJob subclass is registered with it. "
            "Is its module an installed app's `jobs` module or listed in JOBMAN['JOBS']?"
        )
        message = error.args[0]
        record_failed_attempt(row, error, message, message, row.logs, rq_job)
        raise error

    misconfigured = options.problems(job_class)
    if misconfigured:
        # Changed since the dispatch, which checks them: running would strand the row.
        refused = JobFailed(
            "Refused to run: " + " ".join(problem.message for problem in misconfigured)
        )
        record_failed_attempt(row, refused, str(refused), str(refused), row.logs, rq_job)
        raise refused

    job = job_class(row)
    if row.unique_key is not None and job_class.unique_until == "processing":
        Jobman.objects.release_uniqueness(row.pk)
    held = None
    if controls.gated(job_class):
        held = _pass_gates(job, rq_job)
    signals.job_started.send(sender=job_class, jobman=row, attempt=row.attempts)
    timeout = job_class.attempt_timeout()
    try:
        with _time_limit(timeout):
            code = job.handle()
        if job.stop_reason is not None:
            raise stops.JobStopped(job.stop_reason)  # it looked, tidied up and returned
        if code is not None and not isinstance(code, str):
            raise TypeError(
                f"handle() returned {type(code).__name__} {code!r}; "
                "return None or a str (stored as completed_code)"
            )
        ensure_json(job.attribs, max_bytes=conf.get("MAX_ATTRIBS_BYTES"))
    except stops.JobStopped:
        record_stopped(row, job.stop_reason or "stopped", job.collected_logs, rq_job)
        return None
    except BaseException as error:
        # SystemExit, KeyboardInterrupt and the like are outcomes too: the attempt is
        # written first, and the worker then does what the exception asks (see
        # JobmanWorkerMixin.perform_job).
        if isinstance(error, AttemptTimedOut):
            message = (
                f"Timed out: the attempt ran longer than the job's timeout of {timeout} seconds."
            )
        elif isinstance(error, JobFailed):
            message = str(error)
        else:
            message = f"{type(error).__name__}: {error}"
        trace = traceback.format_exc()
        record_failed_attempt(row, error, message, trace, job.collected_logs, rq_job, job)
        raise
    finally:
        if held is not None:
            held.release()
    if attempt.hand_back is not None:
        attempt.hand_back(row, code, job.collected_logs)
    else:
        record_success(row, code, job.collected_logs)
    return code


def record_success(row: Jobman, code: str | None, logs: str) -> None:
    """Write a completed attempt, then tell receivers and start what follows it."""
    if _persist(lambda: row.record_success(code, logs)):
        signals.job_completed.send(sender=registry.find(row.type), jobman=row)
        followups.after_finish(row)


def record_stopped(row: Jobman, reason: str, logs: str, rq_job: RQJob | None) -> None:
    """Write an attempt a person stopped: the row ends cancelled, and is not retried."""
    steer_rq(rq_job, retry_in=None)
    if _persist(lambda: row.record_stop(reason, logs)):
        followups.after_finish(row)
    stops.forget(queues.get_connection(row.queue), row.pk)


def _persist(write: Callable[[], T]) -> T:
    """Run ``write``, an attempt's footprint; when the database fails, reconnect and retry.

    The attempt's work is done by now: losing its outcome to a brief database failure
    would leave the row `running` under a live worker, and running the work again would
    repeat its side effects. Errors other than a failing connection or lock are raised
    at once, and so is any error inside a transaction the caller holds.
    """
    deadline = time.monotonic() + FOOTPRINT_RETRY_SECONDS
    pause = 0.25
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as error:
            in_transaction = any(
                db.in_atomic_block for db in connections.all(initialized_only=True)
            )
            if in_transaction or time.monotonic() + pause > deadline:
                raise
            logger.warning(
                "jobman: writing an attempt's outcome failed (%s); reconnecting, and trying "
                "again in %.2f s",
                error,
                pause,
            )
            for db in connections.all(initialized_only=True):
                with contextlib.suppress(DatabaseError):
                    db.close()  # the next query opens a fresh connection
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _pass_gates(job: JobmanJob, rq_job: RQJob | None) -> controls.Held:
    """Hold the job's overlap lock and rate-limit slot, or give the attempt back unrun."""
    held, wait, why = controls.enter(job)
    if held is not None:
        return held
    row = job.jobman
    reason = f"released for {wait} s: {why}"
    note = notes.line(reason, row.attempts)
    if row.record_release(timezone.now() + timedelta(seconds=wait), note, reason):
        steer_rq(rq_job, retry_in=wait + 1)
    raise Released(f"jobman #{row.pk} released for {wait} s: {why}")


def _worker_name(rq_job: RQJob | None) -> str:
    if rq_job is not None and rq_job.worker_name:
        return str(rq_job.worker_name)
    return f"{socket.gethostname()}.{os.getpid()}"


def _is_due(jobman_id: int, rq_job: RQJob | None) -> bool:
    """Whether an unclaimed row still waits and is due now.

    A row that waits but is not due yet was delivered early (RQ's scheduler counts whole
    seconds): RQ is told to bring it back when it is due.
    """
    found = Jobman.objects.filter(pk=jobman_id).values_list("status", "available_at").first()
    if found is None:
        steer_rq(rq_job, retry_in=None)
        logger.error("jobman: refused RQ job for row %s: no such row in jobmans.", jobman_id)
        raise UnknownRow(f"No jobman row with id {jobman_id}.")
    status, available_at = found
    if status not in JobStatus.waiting():
        return False
    wait = (available_at - timezone.now()).total_seconds() if available_at else 0
    if wait > 0:
        steer_rq(rq_job, retry_in=math.ceil(wait) + 1)
        raise NotYetAvailable(f"jobman #{jobman_id} may not start before {available_at}.")
    return True


def record_failed_attempt(
    row: Jobman,
    error: BaseException,
    message: str,
    trace: str,
    logs: str,
    rq_job: RQJob | None,
    job: JobmanJob | None = None,
    outcome: str | None = None,
) -> JobStatus | None:
    """Write a failed attempt of a running row, then retry after backoff or fail for good.

    ``outcome`` is how the attempt ended, for ``history``: "lost" from the reaper, else
    "timed out" for a timeout and "failed" for the rest.

    Returns the row's new status, or None when the attempt had already been ended
    elsewhere (by the worker or the reaper, whichever came first).
    """
    if outcome is None:
        outcome = "timed out" if isinstance(error, JobTimeoutException) else "failed"
    try:
        ensure_json(row.attribs, max_bytes=conf.get("MAX_ATTRIBS_BYTES"))
    except (TypeError, ValueError):
        # What handle() left cannot be stored; keep what the row held before the attempt.
        row.attribs = _persist(
            lambda: Jobman.objects.values_list("attribs", flat=True).get(pk=row.pk)
        )
    job_class = registry.find(row.type)
    final = (
        job_class is None
        or isinstance(error, JobFailed)
        or row.attempts >= row.max_tries
        or bool(options.problems(job_class))  # no backoff or deadline to go by
    )
    giving_up = job_class.gives_up(row) if job_class is not None and not final else None
    if giving_up:
        final = True
        logs += notes.line(f"no further tries: {giving_up}", row.attempts)
    if not final and job_class is not None:
        delay = job_class.backoff_for(row.attempts)
        available_at = timezone.now() + timedelta(seconds=delay)
        if not _persist(lambda: row.record_retry(message, trace, logs, available_at, outcome)):
            return None
        # RQ's scheduler truncates to whole seconds: one more keeps it from coming early.
        steer_rq(rq_job, retry_in=delay + 1 if delay else 0)
        signals.job_retrying.send(
            sender=job_class, jobman=row, exception=error, available_at=available_at
        )
        return JobStatus.RETRYING

    steer_rq(rq_job, retry_in=None)
    label = queues.connection_label(row.queue)
    failed_job = _persist(lambda: row.record_failure(message, trace, logs, label, outcome))
    if failed_job is None:
        return None
    followups.after_finish(row)
    if job_class is not None:
        try:
            (job or job_class(row)).failed(error)
        except Exception:
            logger.exception(
                "jobman: %s.failed() raised for row %s", job_class.__qualname__, row.pk
            )
    signals.job_failed.send(sender=job_class, jobman=row, exception=error, failed_job=failed_job)
    return JobStatus.FAILED


def steer_rq(rq_job: RQJob | None, retry_in: int | None) -> None:
    """Tell RQ whether this failure is retried (and after how long) or final."""
    if rq_job is None:
        return
    if retry_in is None:
        rq_job.retries_left = None
        rq_job.retry_intervals = None
    else:
        rq_job.retries_left = 1
        rq_job.retry_intervals = [retry_in] if retry_in else None


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Bound ``handle()`` by the job's timeout, and give back RQ's own alarm afterwards.

    RQ's alarm covers the whole attempt, bookkeeping included, and is set a little
    longer; this one covers only the job's own code.
    """
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise AttemptTimedOut(f"Timed out after {seconds} seconds")

    previous_handler = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    outer_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if outer_delay:
            remaining = outer_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.01))
