"""Django tasks as jobman rows: enqueue, run in a worker, and read back as a TaskResult.

A task's row is a plain jobman row: ``type`` is the task's module path, ``queue`` its
``queue_name``, ``available_at`` its ``run_after``, ``max_tries`` its tries. Its attribs hold
the arguments, and under the reserved key ``"_task"`` what a ``TaskResult`` needs that
the row has no column for::

    {
        "args": [2, 3],
        "kwargs": {},
        "_task": {
            "backend": "default",            # the TASKS alias it was enqueued through
            "run_after": "2031-...",         # only when deferred
            "started_at": "2031-...",        # when the first attempt started
            "worker_ids": ["host.41.a1b2c3"],  # one per attempt, the worker that ran it
            "errors": [{"attempt": 1, "exception_class_path": "...", "traceback": "..."}],
            "return_value": 5,               # once an attempt succeeded
        },
    }

A worker finds a row's task through ``registry.find``: ``job_class_for_path`` imports the
module path and, when it names a task, returns a ``TaskJob`` subclass that runs it. Such
classes stay out of the registry's list of job types. ``completed_code`` keeps its meaning
(empty: a task has no named outcomes); the return value is kept in attribs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal, receiver
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask, TaskException, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils.dateparse import parse_datetime
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from jobman import queues, signals
from jobman.jobs import JobmanJob
from jobman.jsonsafe import ensure_json
from jobman.models import Jobman, JobStatus
from jobman.tasks.options import backend_default

if TYPE_CHECKING:
    from jobman.tasks.backend import JobmanBackend

logger = logging.getLogger("jobman")

# The reserved attribs key of a task row.
TASK_KEY = "_task"

STATUSES = {
    JobStatus.PENDING: TaskResultStatus.READY,
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.RETRYING: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.COMPLETED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}

# A result id is a row id: a positive bigint, written plainly.
RESULT_ID = re.compile(r"[1-9][0-9]{0,18}")
MAX_ROW_ID = 2**63 - 1


class TaskJob(JobmanJob):
    """Runs one Django task; ``job_class_for_path`` makes a subclass per task.

    Options come from the task (``JobmanTask`` fields), else the ``OPTIONS`` of the
    backend it is declared with, else the ``JOBMAN`` settings, read when asked.
    """

    task: ClassVar[Task[..., Any]]

    def handle(self) -> None:
        row = self.jobman
        meta = _meta(self.attribs)
        # One worker id per attempt, this one's included, saved before the task runs: a
        # running result shows it, and it survives a worker that dies mid-attempt.
        earlier = [str(worker) for worker in meta.get("worker_ids", [])]
        earlier = (earlier + [""] * row.attempts)[: max(row.attempts - 1, 0)]
        meta["worker_ids"] = [*earlier, row.worker]
        if row.started_at is not None:
            meta.setdefault("started_at", row.started_at.isoformat())
        Jobman.objects.filter(pk=row.pk, status=JobStatus.RUNNING, attempts=row.attempts).update(
            attribs=self.attribs
        )

        task = task_for_row(row, self.task)
        result = task_result(row, task)
        send(task_started, result)
        args = list(self.attribs.get("args", []))
        kwargs = dict(self.attribs.get("kwargs", {}))
        if task.takes_context:
            value = task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        meta["return_value"] = to_json(value, "the task's return value")

    @classmethod
    def option(cls, name: str) -> Any:
        value = getattr(cls.task, name, None)
        if value is None:
            value = backend_default(cls.task.backend, name)
        return value

    @classmethod
    def max_tries(cls) -> int:
        tries = cls.option("tries")
        return int(tries) if tries is not None else super().max_tries()

    @classmethod
    def attempt_timeout(cls) -> int:
        timeout = cls.option("timeout")
        return int(timeout) if timeout is not None else super().attempt_timeout()

    @classmethod
    def backoff_for(cls, attempt: int) -> int:
        backoff = cls.option("backoff")
        if backoff is None:
            return super().backoff_for(attempt)
        if isinstance(backoff, int):
            return backoff
        steps = list(backoff)
        return int(steps[min(attempt, len(steps)) - 1])


_job_classes: dict[str, type[TaskJob]] = {}


def job_class_for_path(path: str) -> type[TaskJob] | None:
    """The job class running the task at module path ``path``; None when it names no task.

    Never raises: a module that fails to import is logged, and the row's type is unknown.
    """
    found = _job_classes.get(path)
    if found is not None:
        return found
    if not isinstance(path, str) or "." not in path:
        return None
    try:
        task = import_string(path)
    except ImportError:
        return None
    except Exception:
        logger.exception("jobman: importing %r, a job type no class is registered under", path)
        return None
    if not isinstance(task, Task) or task.module_path != path:
        return None
    namespace = {"__module__": __name__, "task": task}
    job_class = cast("type[TaskJob]", type(f"TaskJob[{path}]", (TaskJob,), namespace))
    # Set after the class is made, so that JobmanJob does not list it as a job type.
    job_class.type = path
    return _job_classes.setdefault(path, job_class)


# Enqueue and read


def enqueue(
    backend: JobmanBackend, task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]
) -> TaskResult[Any, Any]:
    job_class = job_class_for_path(task.module_path)
    if job_class is None or job_class.task.func is not task.func:
        raise InvalidTask(
            f"Task {task.module_path} cannot be found at its module path, which is how a "
            "worker finds it: declare it with @task at the top level of its module, under "
            "the name of its function."
        )
    if task.queue_name not in queues.configured_queues():
        raise InvalidTask(str(queues.unknown_queue_error(task.queue_name)))
    meta: dict[str, Any] = {"backend": backend.alias}
    if task.run_after is not None:
        meta["run_after"] = task.run_after.isoformat()
    attribs = {
        "args": to_json(args, "args"),
        "kwargs": to_json(kwargs, "kwargs"),
        TASK_KEY: meta,
    }
    row = job_class.dispatch(attribs, queue=task.queue_name, delay=task.run_after)
    result = task_result(row, task)
    send(task_enqueued, result)
    return result


def get_result(result_id: str) -> TaskResult[..., Any]:
    row = None
    if isinstance(result_id, str) and RESULT_ID.fullmatch(result_id):
        pk = int(result_id)
        if pk <= MAX_ROW_ID:
            row = Jobman.objects.filter(pk=pk).first()
    if row is None or not is_task_row(row):
        raise TaskResultDoesNotExist(result_id)
    job_class = job_class_for_path(row.type)
    if job_class is None:
        raise TaskResultDoesNotExist(
            f"{result_id}: the row's task {row.type!r} cannot be imported any more."
        )
    return task_result(row, task_for_row(row, job_class.task))


def is_task_row(row: Jobman) -> bool:
    return isinstance(row.attribs, dict) and isinstance(row.attribs.get(TASK_KEY), dict)


def task_for_row(row: Jobman, declared: Task[..., Any]) -> Task[..., Any]:
    """The task as it was enqueued: the declared one with the row's backend, queue, run_after."""
    meta = _stored(row.attribs)
    changes: dict[str, Any] = {}
    alias = meta.get("backend")
    if isinstance(alias, str) and alias != declared.backend:
        changes["backend"] = alias
    if row.queue != declared.queue_name:
        changes["queue_name"] = row.queue
    run_after = _datetime(meta.get("run_after"))
    if run_after is not None and run_after != declared.run_after:
        changes["run_after"] = run_after
    if not changes:
        return declared
    try:
        return declared.using(**changes)
    except (TaskException, ImproperlyConfigured):
        # The settings changed since (a backend or queue is gone): describe it as declared.
        return declared


def task_result(row: Jobman, task: Task[..., Any]) -> TaskResult[..., Any]:
    """Build the TaskResult that row ``row`` of ``task`` stands for."""
    meta = _stored(row.attribs)
    status = STATUSES[JobStatus(row.status)]
    finished_at = {
        JobStatus.COMPLETED: row.completed_at,
        JobStatus.FAILED: row.failed_at,
        JobStatus.CANCELLED: row.updated_at,
    }.get(JobStatus(row.status))
    alias = meta.get("backend")
    result: TaskResult[..., Any] = TaskResult(
        task=task,
        id=str(row.pk),
        status=status,
        enqueued_at=row.created_at,
        started_at=_datetime(meta.get("started_at")) or row.started_at,
        finished_at=finished_at,
        last_attempted_at=row.started_at,
        args=list(row.attribs.get("args", [])),
        kwargs=dict(row.attribs.get("kwargs", {})),
        backend=alias if isinstance(alias, str) else task.backend,
        errors=_errors(row, meta),
        worker_ids=_worker_ids(row, meta),
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", meta.get("return_value"))
    return result


# The exception a history entry's outcome stands for, where the task's own errors do not
# name the attempt (a stopped attempt sends no signal, a receiver's write may fail).
OUTCOME_EXCEPTIONS = {
    "failed": "builtins.Exception",
    "timed out": "jobman.runner.AttemptTimedOut",
    "lost": "jobman.reaper.WorkerLost",
    "stopped": "jobman.stops.JobStopped",
}


def _attempts_in_history(row: Jobman) -> dict[int, dict[str, Any]]:
    """The row's ``history`` entries by attempt: the attempts that used a try and did not
    complete (a released attempt used none, and the marker of left-out entries is none)."""
    return {
        entry["attempt"]: entry
        for entry in row.history or []
        if isinstance(entry, dict)
        and type(entry.get("attempt")) is int
        and entry.get("outcome") in OUTCOME_EXCEPTIONS
    }


def _worker_ids(row: Jobman, meta: dict[str, Any]) -> list[str]:
    """One worker per attempt: from the row's history, the last attempt's from ``worker``;
    an attempt history no longer holds, from what the task saved, else the last worker."""
    ended = _attempts_in_history(row)
    saved = [str(worker) for worker in meta.get("worker_ids", [])]
    worker_ids = []
    for attempt in range(1, row.attempts + 1):
        if attempt in ended:
            worker_ids.append(str(ended[attempt].get("worker", "")))
        elif attempt < row.attempts and attempt <= len(saved):
            worker_ids.append(saved[attempt - 1])
        else:
            worker_ids.append(row.worker)
    return worker_ids


def _errors(row: Jobman, meta: dict[str, Any]) -> list[TaskError]:
    """One error per failed attempt: the task's own record of it (exception class and
    traceback), else the row's history entry of it."""
    recorded: dict[int, TaskError] = {}
    unnumbered = []
    for error in meta.get("errors", []):
        if not isinstance(error, dict):
            continue
        found = TaskError(
            exception_class_path=str(error.get("exception_class_path", "")),
            traceback=str(error.get("traceback", "")),
        )
        attempt = error.get("attempt")
        if type(attempt) is int and attempt not in recorded:
            recorded[attempt] = found
        else:
            unnumbered.append(found)
    for attempt, entry in _attempts_in_history(row).items():
        recorded.setdefault(
            attempt,
            TaskError(
                exception_class_path=OUTCOME_EXCEPTIONS[entry["outcome"]],
                traceback=str(entry.get("error", "")),
            ),
        )
    return [recorded[attempt] for attempt in sorted(recorded)] + unnumbered


def to_json(value: Any, name: str) -> Any:
    """``value`` as JSON stores it (tuples become lists), or a TypeError naming what is not."""
    try:
        normalized = normalize_json(value)
    except (TypeError, ValueError) as error:
        ensure_json(value, name)  # names the part at fault, when it can
        raise TypeError(f"{name} cannot be stored as JSON: {error}") from None
    ensure_json(normalized, name)
    return normalized


def send(signal: Signal, result: TaskResult[..., Any]) -> None:
    """Send one of Django's task signals; a receiver that raises is logged, not propagated.

    The row has already moved on when these are sent: a receiver's error must not make an
    enqueue look failed, nor a finished attempt look unfinished.
    """
    # Django's backends send as their class; an alias gone from TASKS sends as the base.
    known = result.backend in task_backends.settings
    sender = type(task_backends[result.backend]) if known else BaseTaskBackend
    for handler, response in signal.send_robust(sender=sender, task_result=result):
        if isinstance(response, Exception):
            logger.error(
                "jobman: receiver %r of a task signal raised for task result %s",
                handler,
                result.id,
                exc_info=response,
            )


# What the runner reports about a task's attempts.


@receiver([signals.job_retrying, signals.job_failed], dispatch_uid="jobman.tasks.attempt_failed")
def _attempt_failed(
    sender: Any, jobman: Jobman, exception: BaseException, signal: Signal, **kwargs: Any
) -> None:
    """Add the failed attempt to the row's errors; send task_finished when it is final.

    Whatever ended the attempt (an exception, a timeout, a lost worker) comes through
    here, after the row was written and before any next attempt can start.
    """
    if not (isinstance(sender, type) and issubclass(sender, TaskJob)) or not is_task_row(jobman):
        return
    try:
        _record_error(jobman, exception)
        if signal is signals.job_failed:
            send(task_finished, task_result(jobman, task_for_row(jobman, sender.task)))
    except Exception:
        logger.exception("jobman: could not record the failed attempt of task row %s", jobman.pk)


def _record_error(row: Jobman, exception: BaseException) -> None:
    meta = _meta(row.attribs)
    errors = meta.setdefault("errors", [])
    if not any(isinstance(e, dict) and e.get("attempt") == row.attempts for e in errors):
        kind = type(exception)
        errors.append(
            {
                "attempt": row.attempts,
                "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
                "traceback": row.exception or str(exception),
            }
        )
    worker_ids = meta.setdefault("worker_ids", [])
    worker_ids.extend([row.worker] * (row.attempts - len(worker_ids)))
    if row.started_at is not None:
        meta.setdefault("started_at", row.started_at.isoformat())
    Jobman.objects.filter(pk=row.pk, attempts=row.attempts).update(attribs=row.attribs)


@receiver(signals.job_completed, dispatch_uid="jobman.tasks.completed")
def _completed(sender: Any, jobman: Jobman, **kwargs: Any) -> None:
    if not (isinstance(sender, type) and issubclass(sender, TaskJob)) or not is_task_row(jobman):
        return
    try:
        send(task_finished, task_result(jobman, task_for_row(jobman, sender.task)))
    except Exception:
        logger.exception("jobman: could not send task_finished for task row %s", jobman.pk)


def _stored(attribs: Any) -> dict[str, Any]:
    """The reserved part of a task row's attribs, to read."""
    meta = attribs.get(TASK_KEY) if isinstance(attribs, dict) else None
    return meta if isinstance(meta, dict) else {}


def _meta(attribs: Any) -> dict[str, Any]:
    """The reserved part of a task row's attribs, to write (made when missing)."""
    if not isinstance(attribs, dict):
        return {}
    meta = attribs.get(TASK_KEY)
    if not isinstance(meta, dict):
        meta = attribs[TASK_KEY] = {}
    return meta


def _datetime(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None
