"""The jobman worker: an RQ worker that speaks JSON, runs nothing but jobman's runner,
and never lets two processes share a database connection."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from django.db import close_old_connections, connections
from django.utils.module_loading import import_string
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import now

from jobman.queues import RUNNER

logger = logging.getLogger("jobman")

# Connections a work-horse inherited from its parent. They are kept referenced and never
# closed: closing would send PostgreSQL a terminate message on the parent's socket, and
# garbage collection would close them. The horse leaves through os._exit, which runs no
# finalizers.
_inherited_connections: list[Any] = []


def forget_inherited_connections() -> None:
    """In a forked child, drop the parent's database connections without closing them."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _inherited_connections.append(connection.connection)
            connection.connection = None


def default_worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


class JobmanWorkerMixin:
    """What jobman adds to any RQ worker class."""

    _is_horse: bool
    queues: list[Queue]

    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("name", default_worker_name())
        super().__init__(queues, *args, **kwargs)  # type: ignore[call-arg]

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        # The parent gives up its connections first, so the horse inherits none in use.
        connections.close_all()
        super().fork_work_horse(job, queue)  # type: ignore[misc]

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        forget_inherited_connections()
        super().main_work_horse(job, queue)  # type: ignore[misc]

    def perform_job(self, job: Job, queue: Queue) -> bool:
        try:
            func_name = job.func_name
        except Exception:  # a payload the JSON serializer cannot read
            func_name = None
        if func_name != RUNNER:
            return self._refuse(job, queue, func_name)
        if self._is_horse:
            try:
                return bool(super().perform_job(job, queue))  # type: ignore[misc]
            finally:
                # This process is about to os._exit(): say goodbye to the database properly.
                connections.close_all()
        close_old_connections()
        try:
            return bool(super().perform_job(job, queue))  # type: ignore[misc]
        finally:
            close_old_connections()

    def _refuse(self, job: Job, queue: Queue, func_name: str | None) -> bool:
        """Fail a job that is not jobman's without running any of it."""
        message = (
            f"Refused: a jobman worker runs only {RUNNER}, "
            f"and RQ job {job.id} calls {func_name or 'something unreadable'}."
        )
        logger.error("jobman: %s (queue %s)", message, queue.name)
        job.retries_left = None
        self.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)  # type: ignore[attr-defined]
        job.ended_at = now()
        self.handle_job_failure(job, queue, exc_string=message)  # type: ignore[attr-defined]
        return False


class JobmanWorker(JobmanWorkerMixin, Worker):
    """RQ's forking worker: each job runs in a fresh work-horse process."""


class JobmanSimpleWorker(JobmanWorkerMixin, SimpleWorker):
    """Runs each job in the worker process itself: faster, with no isolation between jobs."""


WORKER_CLASSES: dict[str, type[Worker]] = {"fork": JobmanWorker, "simple": JobmanSimpleWorker}


def resolve_worker_class(name: str) -> type[Worker]:
    """Return the worker class for ``fork``, ``simple`` or a dotted path to an RQ worker class."""
    if name in WORKER_CLASSES:
        return WORKER_CLASSES[name]
    try:
        cls = import_string(name)
    except ImportError as error:
        raise ValueError(
            f"Worker class {name!r} is neither 'fork', 'simple' nor an importable path: {error}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Worker | SimpleWorker)):
        raise ValueError(f"Worker class {name!r} is not an RQ worker class.")
    if issubclass(cls, JobmanWorkerMixin):
        return cls
    return type(f"Jobman{cls.__name__}", (JobmanWorkerMixin, cls), {})
