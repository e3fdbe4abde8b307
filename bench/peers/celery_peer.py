"""Celery 5 with django-celery-results: ``noop.delay()`` to the bench's Redis, one solo-pool
worker process, a ``TaskResult`` row a task (its start kept: ``task_track_started``).

Celery has no burst mode: the worker is stopped once every result is stored, and its
time is the time until then.
"""

from __future__ import annotations

from pathlib import Path

from bench.peers.base import Peer
from bench.peers.stamps import rows_span
from bench.peers.workers import time_until
from bench.queueing import Services

WORKER = [
    "-m",
    "celery",
    "-A",
    "bench.peers.celery_app",
    "worker",
    "--pool",
    "solo",
    "--concurrency",
    "1",
    "--loglevel",
    "WARNING",
    # One worker and no remote control wanted: skip talking to other workers at start
    # and while running.
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
    "--hostname",
    "bench-peers@%h",
]


class CeleryPeer(Peer):
    tables = ("django_celery_results.TaskResult",)

    def dispatch(self, services: Services, jobs: int) -> None:
        from bench.peers.celery_app import noop

        for _ in range(jobs):
            noop.delay()

    def drain(self, services: Services, jobs: int, workdir: Path, timeout: float) -> float:
        return time_until(WORKER, lambda: self.finished(services) >= jobs, workdir, timeout)

    def finished(self, services: Services) -> int:
        from django_celery_results.models import TaskResult

        count: int = TaskResult.objects.filter(status="SUCCESS").count()
        return count

    def stored_span(self, services: Services) -> tuple[float, float]:
        from django_celery_results.models import TaskResult

        return rows_span(TaskResult.objects.all(), "date_started", "date_done")
