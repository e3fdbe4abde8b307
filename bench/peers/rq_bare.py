"""Bare RQ: ``Queue.enqueue`` of ``bench.tasks.noop``, drained by RQ's own ``SimpleWorker``
or forking ``Worker`` (the bench's protocol worker, system ``rq``); no row anywhere."""

from __future__ import annotations

from pathlib import Path

from bench.peers.base import Peer
from bench.peers.stamps import rq_span
from bench.peers.workers import time_bench_worker
from bench.queueing import Services, dispatch_one_by_one


class BareRQ(Peer):
    def dispatch(self, services: Services, jobs: int) -> None:
        dispatch_one_by_one(services, "rq", jobs)

    def drain(self, services: Services, jobs: int, workdir: Path, timeout: float) -> float:
        return time_bench_worker(["rq", self.worker_class], workdir, timeout)

    def finished(self, services: Services) -> int:
        count: int = services.rq_queue.finished_job_registry.get_job_count(cleanup=False)
        return count

    def stored_span(self, services: Services) -> tuple[float, float]:
        return rq_span(services.rq_queue)
