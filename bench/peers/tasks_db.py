"""django-tasks-db: ``noop.enqueue()`` through its ``DatabaseBackend`` (a row a task),
drained by its ``db_worker`` in batch mode, which exits once no task is ready."""

from __future__ import annotations

from pathlib import Path

from django.tasks import task

from bench.peers.base import Peer
from bench.peers.stamps import rows_span
from bench.peers.workers import time_burst_command
from bench.queueing import Services

WORKER = [
    "-m",
    "django",
    "db_worker",
    "--backend",
    "tasksdb",
    "--queue-name",
    "default",
    "--batch",
    "--interval",
    "0",
    "--no-startup-delay",
    "--no-reload",
    "--skip-checks",
    "--verbosity",
    "0",
]


@task(backend="tasksdb")
def noop() -> None:
    """Does nothing."""


class TasksDB(Peer):
    tables = ("django_tasks_database.DBTaskResult",)

    def dispatch(self, services: Services, jobs: int) -> None:
        for _ in range(jobs):
            noop.enqueue()

    def drain(self, services: Services, jobs: int, workdir: Path, timeout: float) -> float:
        return time_burst_command(WORKER, workdir, timeout)

    def finished(self, services: Services) -> int:
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.filter(status="SUCCESSFUL").count()

    def stored_span(self, services: Services) -> tuple[float, float]:
        from django_tasks_db.models import DBTaskResult

        return rows_span(DBTaskResult.objects.all(), "started_at", "finished_at")
