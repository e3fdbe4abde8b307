"""jobman: ``NoopJob.dispatch``, one row a job, drained by ``JobmanSimpleWorker`` or the
forking ``JobmanWorker`` (the bench's protocol worker, system ``jobman``)."""

from __future__ import annotations

from pathlib import Path

from bench.peers.base import Peer
from bench.peers.stamps import rows_span
from bench.peers.workers import time_bench_worker
from bench.queueing import Services, dispatch_one_by_one


class JobmanRows(Peer):
    def dispatch(self, services: Services, jobs: int) -> None:
        dispatch_one_by_one(services, "jobman", jobs)

    def drain(self, services: Services, jobs: int, workdir: Path, timeout: float) -> float:
        return time_bench_worker(["jobman", self.worker_class], workdir, timeout)

    def finished(self, services: Services) -> int:
        from jobman.models import Jobman, JobStatus

        return Jobman.objects.filter(status=JobStatus.COMPLETED).count()

    def stored_span(self, services: Services) -> tuple[float, float]:
        from jobman.models import Jobman

        return rows_span(Jobman.objects.all(), "started_at", "completed_at")
