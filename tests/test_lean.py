"""A jobman worker's lighter bookkeeping in Redis (``jobman.lean``): fewer round trips per
job than RQ's own worker, and RQ still knowing all it knew."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq import SimpleWorker, Worker
from rq.job import Job as RQJob
from rq.job import JobStatus as RQStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.suspension import resume, suspend

from jobman import ids, lean, queues
from jobman.models import Jobman, JobStatus
from jobman.worker import JobmanSimpleWorker, JobmanWorker
from tests.support.helpers import WorkerProcess, start_worker, wait_for
from tests.testapp.jobs import AlwaysFailingJob, HelloJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts what this process sends Redis: one send is one round trip (a pipeline is one)."""
    sent = [0]
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(connection: Any, command: Any, check_health: bool = True) -> Any:
        sent[0] += 1
        return send(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


def per_job(run: Callable[[int], None], sent: list[int], jobs: int = 10) -> float:
    """Round trips of one job: a run of ``2 * jobs`` less a run of ``jobs``, over ``jobs``."""
    counts = []
    for n in (jobs, 2 * jobs):
        before = sent[0]
        run(n)
        counts.append(sent[0] - before)
    return (counts[1] - counts[0]) / jobs


def bare_rq_jobs(n: int) -> None:
    queue = queues.get_queue("default")
    for _ in range(n):
        queue.enqueue("builtins.len", "abc")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def jobman_jobs(n: int) -> None:
    HelloJob.dispatch_many([{"name": str(i)} for i in range(n)])
    queue = queues.get_queue("default")
    JobmanSimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_job_costs_far_fewer_round_trips_than_in_rqs_own_worker(
    round_trips: list[int],
) -> None:
    rq_trips = per_job(bare_rq_jobs, round_trips)
    jobman_trips = per_job(jobman_jobs, round_trips)

    assert rq_trips >= 15  # what the counter sees of RQ's SimpleWorker
    # Dequeue, fetch, the two pipelines before the job, PERSIST, and one pipeline after:
    # the dispatch's own pipeline (one per dispatch_many) is all that is added here.
    assert jobman_trips <= 7, jobman_trips
    assert Jobman.objects.filter(status=JobStatus.COMPLETED).count() == 30


@pytest.mark.parametrize("worker_class", [JobmanSimpleWorker, JobmanWorker])
def test_rq_still_records_each_job_its_result_and_the_workers_counts(
    worker_class: type[Worker],
) -> None:
    rows = HelloJob.dispatch_many([{"name": str(i)} for i in range(3)])
    queue = queues.get_queue("default")
    worker = worker_class([queue], connection=queue.connection)
    worker.work(burst=True)

    finished = set(FinishedJobRegistry(queue=queue).get_job_ids())
    for row in rows:
        row.refresh_from_db()
        assert row.status == JobStatus.COMPLETED
        job = RQJob.fetch(ids.rq_job_id(row.pk), connection=queue.connection)
        assert job.get_status() == RQStatus.FINISHED
        assert job.id in finished
        result = job.latest_result()
        assert result is not None
        assert result.type == Result.Type.SUCCESSFUL
    assert StartedJobRegistry(queue=queue).get_job_ids() == []
    worker.refresh()
    assert worker.successful_job_count == 3
    assert worker.total_working_time > 0


def test_a_failing_job_still_gets_rqs_own_failure_handling() -> None:
    row = AlwaysFailingJob.dispatch({})
    queue = queues.get_queue("default")
    JobmanSimpleWorker([queue], connection=queue.connection).work(burst=True)

    row.refresh_from_db()
    assert row.status in (JobStatus.RETRYING, JobStatus.FAILED)
    assert StartedJobRegistry(queue=queue).get_job_ids() == []


def test_rq_suspend_still_holds_a_running_worker(workers: list[WorkerProcess]) -> None:
    """As in RQ, a worker looks for ``rq suspend`` between jobs (here at most once a
    second): one idle when it came takes one job more, then holds the rest."""
    connection = queues.get_connection("default")
    workers.append(start_worker("default", "--worker-class", "simple"))
    warm = HelloJob.dispatch({"name": "warm"})
    wait_for(lambda: Jobman.objects.get(pk=warm.pk).status == JobStatus.COMPLETED, timeout=30)

    suspend(connection)
    try:
        time.sleep(lean.EVERY + 0.5)  # its last look is older than a second
        held = HelloJob.dispatch_many([{"name": f"held {n}"} for n in range(3)])
        time.sleep(3)
        statuses = [Jobman.objects.get(pk=row.pk).status for row in held]
        assert statuses.count(JobStatus.COMPLETED) <= 1, statuses
        assert statuses.count(JobStatus.QUEUED) >= 2, statuses
    finally:
        resume(connection)
    wait_for(
        lambda: all(Jobman.objects.get(pk=row.pk).status == JobStatus.COMPLETED for row in held),
        timeout=30,
    )
