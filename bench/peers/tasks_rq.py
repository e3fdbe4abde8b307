"""django-tasks-rq: ``noop.enqueue()`` through its ``RQBackend`` (an RQ job, no row),
drained by django-rq's ``rqworker --burst`` with its job class, Simple or forking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django_tasks import task

from bench.common import QUEUE
from bench.peers.base import Peer
from bench.peers.stamps import rq_span
from bench.peers.workers import time_burst_command
from bench.queueing import Services

WORKER_CLASSES = {"simple": "rq.SimpleWorker", "fork": "rq.Worker"}


@task(backend="tasksrq")
def noop() -> None:
    """Does nothing."""


class TasksRQ(Peer):
    def dispatch(self, services: Services, jobs: int) -> None:
        for _ in range(jobs):
            noop.enqueue()

    def drain(self, services: Services, jobs: int, workdir: Path, timeout: float) -> float:
        worker = [
            "-m",
            "django",
            "rqworker",
            "--burst",
            "--job-class",
            "django_tasks_rq.backend.Job",
            "--worker-class",
            WORKER_CLASSES[self.worker_class],
            "--skip-checks",
            "--verbosity",
            "0",
            QUEUE,
        ]
        return time_burst_command(worker, workdir, timeout)

    def _queue(self) -> Any:
        import django_rq

        return django_rq.get_queue(QUEUE)

    def finished(self, services: Services) -> int:
        count: int = self._queue().finished_job_registry.get_job_count(cleanup=False)
        return count

    def stored_span(self, services: Services) -> tuple[float, float]:
        return rq_span(self._queue())
