"""What RQ's worker sends Redis per job that a jobman worker can send less often, or in
one round trip instead of several.

RQ's ``SimpleWorker`` makes about 18 round trips to Redis per job; most of them are its
own bookkeeping: three heartbeats, a look for ``rq suspend``, the worker's state written
even when it has not changed, the job's heartbeat at its end, and a WATCH of the job's
dependents with a read of them and an UNWATCH around the success pipeline. A jobman job
has no RQ dependents, callbacks or repeats (the worker refuses an RQ job that carries
any, see ``queues.not_as_pushed``): its row holds its footprint. So here:

- heartbeats and the suspension look are sent at most once per ``EVERY`` second;
- the worker's state is written only when it changes, or in a pipeline;
- a job's success is one pipeline, with no WATCH, and in a ``SimpleWorker`` the idle
  state rides in it;
- the heartbeat RQ sends a job as it ends (for its callbacks) is not sent.

Everything RQ keeps in Redis is still kept: registries, the job's status and result,
the worker's counters and state; ``rq info`` and RQ's own clean-up read them as before.
"""

from __future__ import annotations

import time
from typing import Any

from rq.job import Job
from rq.queue import Queue
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

# Seconds a worker goes without repeating a heartbeat, or the look for ``rq suspend``.
EVERY = 1.0


class LeanBookkeepingMixin:
    """Less of RQ's per-job bookkeeping in Redis, as the module says."""

    _state: str
    execution: Any
    connection: Any
    default_result_ttl: int
    name: str

    _heartbeat_sent = 0.0
    _suspension_looked = 0.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        # One with a timeout or in a pipeline says something new: always sent.
        fresh = time.monotonic() - self._heartbeat_sent < EVERY
        if timeout is None and pipeline is None and fresh:
            return
        self._heartbeat_sent = time.monotonic()
        super().heartbeat(timeout, pipeline)  # type: ignore[misc]

    def check_for_suspension(self, burst: bool) -> None:
        if time.monotonic() - self._suspension_looked < EVERY:
            return
        super().check_for_suspension(burst)  # type: ignore[misc]
        self._suspension_looked = time.monotonic()

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)  # type: ignore[misc]

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        if _has_rq_extras(job):
            super().handle_execution_ended(job, queue, heartbeat_ttl)  # type: ignore[misc]
            return
        # RQ's job heartbeat here keeps the job alive for its callbacks: it has none.
        job.ended_at = now()

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any) -> None:
        if _has_rq_extras(job):
            super().handle_job_success(job, queue, started_job_registry)  # type: ignore[misc]
            return
        assert job.started_at is not None
        assert job.ended_at is not None
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)  # type: ignore[attr-defined]
            self.increment_total_working_time(  # type: ignore[attr-defined]
                job.ended_at - job.started_at, pipeline
            )
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            if result_ttl != 0:
                execution = self.execution
                job._handle_success(
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=execution.id if execution else None,
                    execution_started_at=execution.created_at if execution else None,
                    execution_ended_at=job.ended_at,
                )
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            self.cleanup_execution(job, pipeline=pipeline)  # type: ignore[attr-defined]
            if isinstance(self, SimpleWorker):
                # It sets this next, in a round trip of its own.
                self.set_state(WorkerStatus.IDLE, pipeline=pipeline)
            pipeline.execute()


def _has_rq_extras(job: Job) -> bool:
    """Whether the job asks RQ for more than running it: dependencies, callbacks, repeats.
    A jobman job never does, and has no dependents either: jobman enqueues nothing with
    ``depends_on``, and its workers refuse any job that is not jobman's. One that did would
    get RQ's own handling."""
    return bool(
        job._dependency_ids
        or job._success_callback_name
        or job._failure_callback_name
        or job.repeats_left
    )
