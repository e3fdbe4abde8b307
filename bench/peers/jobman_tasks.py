"""jobman's backend of Django's tasks framework: ``noop.enqueue()`` through
``jobman.tasks.JobmanBackend`` (a row a task), drained by ``JobmanSimpleWorker``."""

from __future__ import annotations

from django.tasks import task

from bench.peers.jobman_rows import JobmanRows
from bench.queueing import Services


@task(backend="jobman")
def noop() -> None:
    """Does nothing."""


class JobmanTasks(JobmanRows):
    """The same rows and worker as ``JobmanRows``; only the way in differs."""

    def dispatch(self, services: Services, jobs: int) -> None:
        for _ in range(jobs):
            noop.enqueue()
