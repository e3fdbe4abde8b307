"""The operations (retry, requeue, cancel, prune, failed jobs, status, pausing schedules) and
their model methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from redis.client import Pipeline
from rq import Worker
from rq.job import Job as RQJob
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from jobman import JobmanJob, operations, queues, schedules, stops
from jobman.dashboard import readmodel
from jobman.models import FailedJob, JobBatch, Jobman, JobSchedule, JobStatus
from jobman.testing import capture_dispatches
from tests.support import services
from tests.support.helpers import (
    WorkerProcess,
    manage,
    run_command,
    start_worker,
    stop_worker,
    wait_for,
    work,
)
from tests.support.rows import UNREACHABLE, make_failed, make_row, start_manage
from tests.testapp.jobs import AlwaysFailingJob, FailsUntilJob, GivesUpJob, HelloJob
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)

OLD = timedelta(days=200)


def failed_registry(queue: str = "default") -> FailedJobRegistry:
    registry: FailedJobRegistry = queues.get_queue(queue).failed_job_registry
    return registry


def status_of(row: Jobman) -> str:
    return str(Jobman.objects.values_list("status", flat=True).get(pk=row.pk))


def runs(row: Jobman, kind: str = "handle") -> list[int]:
    """The attempts of ``row`` that ran ``handle()`` (or ``failed()``), in order."""
    found = Execution.objects.filter(jobman_id=row.pk, kind=kind).order_by("attempt")
    return list(found.values_list("attempt", flat=True))


# The model's state changes


def test_retry_failed__reopens_with_a_fresh_budget_and_drops_the_failed_jobs_row() -> None:
    failed = make_failed(attempts=2)
    row = failed.jobman
    failed_at = row.failed_at

    assert Jobman.objects.retry_failed(row.pk, tries=3)

    row.refresh_from_db()
    assert row.status == JobStatus.PENDING
    assert (row.attempts, row.max_tries) == (2, 5)
    assert row.failed_at == failed_at  # kept as a record
    assert row.error_message == "ValueError: this job always fails"
    assert not FailedJob.objects.exists()


def test_retry_failed__changes_nothing_on_a_row_that_is_not_failed() -> None:
    row = make_row(JobStatus.RUNNING, attempts=1, max_tries=1)

    assert not Jobman.objects.retry_failed(row.pk, tries=3)

    row.refresh_from_db()
    assert (row.status, row.max_tries) == (JobStatus.RUNNING, 1)


def test_retry_failed__a_worker_receiving_it_before_the_push_is_recorded_claims_it() -> None:
    row = make_failed().jobman
    Jobman.objects.retry_failed(row.pk, tries=1)

    claimed = Jobman.objects.claim(row.pk, worker="early")

    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (JobStatus.RUNNING, 3)
    assert Jobman.objects.mark_pushed([row.pk]) == 0  # the late bookkeeping leaves it running


def test_mark_unpushed__puts_back_only_rows_no_worker_has_taken() -> None:
    pushed_at = timezone.now()
    untouched = make_row(JobStatus.QUEUED, pushed_at=pushed_at)
    running = make_row(JobStatus.RUNNING, attempts=1, pushed_at=pushed_at)
    tried = make_row(JobStatus.QUEUED, attempts=1, pushed_at=pushed_at)  # released after a retry

    assert Jobman.objects.mark_unpushed([untouched.pk, running.pk, tried.pk]) == 1

    found = dict(Jobman.objects.values_list("pk", "status"))
    assert found == {
        untouched.pk: JobStatus.PENDING,
        running.pk: JobStatus.RUNNING,
        tried.pk: JobStatus.QUEUED,
    }
    assert Jobman.objects.get(pk=untouched.pk).pushed_at is None


def test_unpushed__pending_rows_past_the_grace_period_only() -> None:
    old_pending = make_row(JobStatus.PENDING, age=timedelta(minutes=5))
    make_row(JobStatus.PENDING)  # just dispatched: its own push may still come
    make_row(JobStatus.QUEUED, age=timedelta(minutes=5))

    found = Jobman.objects.unpushed(timezone.now() - timedelta(seconds=60))

    assert list(found) == [old_pending]


def test_prunable__finished_rows_created_before_only() -> None:
    old = [make_row(status, age=OLD) for status in JobStatus.finished()]
    for status in JobStatus.waiting():
        make_row(status, age=OLD)
    make_row(JobStatus.RUNNING, age=OLD)
    make_row(JobStatus.COMPLETED)

    found = Jobman.objects.prunable(timezone.now() - timedelta(days=180))

    assert sorted(row.pk for row in found) == sorted(row.pk for row in old)


# Retry


@pytest.mark.worker
def test_retry__reruns_through_full_tries_and_files_one_failed_job_again() -> None:
    row = AlwaysFailingJob.dispatch({"n": 1})  # tries 2
    work()
    failed = FailedJob.objects.get(jobman=row)
    assert row.rq_job_id in failed_registry()

    result = operations.retry([failed.pk])

    assert result.ok
    assert [
        (job.failed_job_id, job.jobman_id, job.max_tries, job.pushed) for job in result.done
    ] == [(failed.pk, row.pk, 4, True)]
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED
    assert not FailedJob.objects.exists()
    assert row.rq_job_id not in failed_registry()  # RQ's tools agree it runs again

    work()

    row.refresh_from_db()
    assert (row.status, row.attempts, row.max_tries) == (JobStatus.FAILED, 4, 4)
    assert FailedJob.objects.filter(jobman=row).count() == 1
    assert runs(row) == [1, 2, 3, 4]
    assert runs(row, "failed") == [2, 4]  # once per final failure
    assert row.rq_job_id in failed_registry()


@pytest.mark.worker
def test_retry__a_later_try_succeeds() -> None:
    row = FailsUntilJob.dispatch({"succeed_on": 4})  # tries 2, no backoff
    work()
    failed = FailedJob.objects.get(jobman=row)

    operations.retry([failed.pk])
    work()

    row.refresh_from_db()
    assert (row.status, row.attempts, row.completed_code) == (JobStatus.COMPLETED, 4, "success")
    assert row.failed_at is not None
    assert not FailedJob.objects.exists()
    assert runs(row) == [1, 2, 3, 4]
    assert runs(row, "failed") == [2]
    assert (
        RQJob.fetch(
            row.rq_job_id, connection=queues.get_connection("default"), serializer=JSONSerializer
        ).get_status()
        == "finished"
    )


@pytest.mark.worker
def test_retry_all__of_one_type_reruns_those_only() -> None:
    failing = [AlwaysFailingJob.dispatch({"n": n}) for n in range(2)]
    gives_up = GivesUpJob.dispatch({})
    work()
    assert FailedJob.objects.count() == 3

    result = operations.retry_all(job_type="test.always_fails")

    assert sorted(job.jobman_id for job in result.done) == sorted(row.pk for row in failing)
    assert result.ok
    work()
    for row in failing:
        row.refresh_from_db()
        assert (row.status, row.attempts) == (JobStatus.FAILED, 4)
        assert FailedJob.objects.filter(jobman=row).count() == 1
        assert runs(row, "failed") == [2, 4]
    assert runs(gives_up) == [1]
    assert FailedJob.objects.filter(jobman=gives_up).count() == 1


def test_retry__unknown_ids_are_named_and_the_others_retried() -> None:
    failed = make_failed()

    result = operations.retry([999_001, failed.pk, 999_002, failed.pk])

    assert result.unknown == [999_001, 999_002]
    assert [job.failed_job_id for job in result.done] == [failed.pk]
    assert not result.ok
    assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.QUEUED


def test_retry__a_failed_job_whose_row_is_not_failed_is_skipped_and_kept() -> None:
    failed = make_failed()
    Jobman.objects.filter(pk=failed.jobman_id).update(status=JobStatus.COMPLETED)

    result = operations.retry([failed.pk])

    assert result.skipped == [
        operations.Skipped(failed.pk, f"jobman #{failed.jobman_id} is completed, not failed")
    ]
    assert FailedJob.objects.filter(pk=failed.pk).exists()


def test_retry__a_job_of_a_queue_no_longer_configured_is_skipped() -> None:
    failed = make_failed(queue="retired")

    result = operations.retry([failed.pk])

    assert result.skipped == [
        operations.Skipped(
            failed.pk, f"jobman #{failed.jobman_id}'s queue 'retired' is not in settings.RQ_QUEUES"
        )
    ]
    assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.FAILED


def test_retry__redis_unreachable_leaves_the_row_pending_for_requeue() -> None:
    failed = make_failed()

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = operations.retry([failed.pk])

    assert [job.pushed for job in result.done] == [False]
    assert not result.ok
    assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.PENDING

    requeued = operations.requeue_unpushed(older_than=timedelta(0))
    assert [job.jobman_id for job in operations.pushed(requeued)] == [failed.jobman_id]
    assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.QUEUED


# Requeue


@pytest.mark.worker
def test_requeue_unpushed__jobs_dispatched_offline_run_once_with_two_runs_at_once(
    redis_db: redis.Redis, workers: list[WorkerProcess]
) -> None:
    with override_settings(RQ_QUEUES=UNREACHABLE):
        rows = HelloJob.dispatch_many([{"name": str(n)} for n in range(20)])
    assert Jobman.objects.filter(status=JobStatus.PENDING).count() == 20
    assert redis_db.llen("rq:queue:default") == 0

    # Redis is back. Workers already run while two requeues start together.
    workers.append(start_worker("--worker-class", "simple"))
    workers.append(start_worker("--worker-class", "fork"))
    requeues = [start_manage("jobman_requeue_unpushed", "--older-than", "0") for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in requeues]

    assert [process.returncode for process in requeues] == [0, 0], outputs
    pushed_lines = sum(out.count("Pushed jobman #") for out, _ in outputs)
    assert 20 <= pushed_lines <= 40  # each row by one run, or by both
    wait_for(lambda: Jobman.objects.filter(status=JobStatus.COMPLETED).count() == 20, timeout=60)
    wait_for(lambda: redis_db.llen("rq:queue:default") == 0, timeout=30)
    for worker in workers:
        stop_worker(worker)
    workers.clear()
    work()  # whatever copies remain are delivered, and do nothing

    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.attempts) == (JobStatus.COMPLETED, 1)
        assert runs(row) == [1]  # one Execution per attempt: none ran twice


@pytest.mark.worker
def test_requeue_unpushed__check_redis_pushes_queued_jobs_lost_with_redis(
    redis_db: redis.Redis,
) -> None:
    rows = HelloJob.dispatch_many([{"name": str(n)} for n in range(10)])
    assert Jobman.objects.filter(status=JobStatus.QUEUED).count() == 10
    redis_db.flushdb()  # Redis restarted without persistence
    redis_db.set(services.SENTINEL_KEY, services.OWNER)

    result = operations.requeue_unpushed(check_redis=True)

    assert result.ok
    assert sorted(job.jobman_id for job in operations.pushed(result)) == sorted(
        row.pk for row in rows
    )
    assert {job.reason for job in operations.pushed(result)} == {"queued but missing from Redis"}
    work()
    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.attempts) == (JobStatus.COMPLETED, 1)
        assert runs(row) == [1]


@pytest.mark.worker
def test_requeue_unpushed__check_redis_pushes_a_dispatch_whose_process_died_before_its_push(
    redis_db: redis.Redis,
) -> None:
    """A dispatch saves its row as queued. If its process dies between the COMMIT and the
    push, the row says queued but Redis never had it: --check-redis finds and pushes it."""
    died = manage(
        "shell",
        "-c",
        "import os\n"
        "from django.db import transaction\n"
        "from tests.testapp.jobs import HelloJob\n"
        "with transaction.atomic():\n"
        "    transaction.on_commit(lambda: os._exit(3))  # runs before the push\n"
        "    print(HelloJob.dispatch({'name': 'Ada'}).pk, flush=True)\n",
    )
    assert died.code == 3, died.err
    row = Jobman.objects.get(pk=int(died.out.split()[-1]))
    assert (row.status, row.pushed_at is not None) == (JobStatus.QUEUED, True)
    assert not redis_db.exists(RQJob.key_for(row.rq_job_id))
    assert operations.requeue_unpushed(older_than=timedelta(0)).done == []  # it is not pending

    result = run_command("jobman_requeue_unpushed", "--check-redis")

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Pushed jobman #{row.pk} (test.hello, queue default): queued but missing from Redis.\n"
    )
    work()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (JobStatus.COMPLETED, 1)
    assert runs(row) == [1]


def test_requeue_unpushed__check_redis_asks_with_one_pipeline_per_batch(
    redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = HelloJob.dispatch_many([{"name": str(n)} for n in range(25)])
    lost = [row.pk for row in rows[::2]]
    redis_db.delete(*(f"rq:job:{Jobman(pk=pk).rq_job_id}" for pk in lost))
    monkeypatch.setattr(operations.rows, "BATCH_SIZE", 10)
    executed: list[list[str]] = []
    real_execute = Pipeline.execute

    def counting_execute(self: Pipeline, *args: Any, **kwargs: Any) -> object:
        executed.append([str(command[0][0]) for command in self.command_stack])
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counting_execute)

    result = operations.requeue_unpushed(check_redis=True, dry_run=True)

    checks = [commands for commands in executed if set(commands) == {"HGETALL"}]
    assert [len(commands) for commands in checks] == [10, 10, 5]
    assert len(executed) == 3  # a dry run pushes nothing
    assert [job.jobman_id for job in result.done] == lost
    assert not operations.pushed(result)


def test_requeue_unpushed__grace_period_leaves_a_fresh_dispatch_alone() -> None:
    make_row(JobStatus.PENDING)
    old = make_row(JobStatus.PENDING, age=timedelta(minutes=2))

    result = operations.requeue_unpushed()

    assert [job.jobman_id for job in operations.pushed(result)] == [old.pk]
    assert operations.pushed(result)[0].pending_since == old.updated_at


def test_requeue_unpushed__limit_and_dry_run(redis_db: redis.Redis) -> None:
    rows = [make_row(JobStatus.PENDING, age=timedelta(minutes=2)) for _ in range(3)]

    dry = operations.requeue_unpushed(limit=2, dry_run=True)
    assert [job.jobman_id for job in dry.done] == [rows[0].pk, rows[1].pk]
    assert dry.ok
    assert not operations.pushed(dry)
    assert redis_db.llen("rq:queue:default") == 0
    assert Jobman.objects.filter(status=JobStatus.PENDING).count() == 3

    pushed = operations.requeue_unpushed(limit=2)
    assert [job.jobman_id for job in operations.pushed(pushed)] == [rows[0].pk, rows[1].pk]
    assert redis_db.llen("rq:queue:default") == 2


def test_requeue_unpushed__retrying_row_lost_with_redis_is_scheduled_for_its_time(
    redis_db: redis.Redis,
) -> None:
    due = timezone.now() + timedelta(minutes=5)
    row = make_row(JobStatus.RETRYING, attempts=1, max_tries=3, available_at=due)

    result = operations.requeue_unpushed(check_redis=True)

    assert [(job.jobman_id, job.reason) for job in operations.pushed(result)] == [
        (row.pk, "retrying but missing from Redis")
    ]
    assert redis_db.llen("rq:queue:default") == 0
    assert redis_db.zscore("rq:scheduled:default", row.rq_job_id) is not None
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.RETRYING


def test_requeue_unpushed__check_redis_leaves_jobs_that_are_there() -> None:
    HelloJob.dispatch({})

    result = operations.requeue_unpushed(check_redis=True)

    assert result.done == []
    assert result.ok


def test_requeue_unpushed__redis_unreachable_is_reported() -> None:
    row = make_row(JobStatus.PENDING, age=timedelta(minutes=2))
    make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = operations.requeue_unpushed(check_redis=True)

    assert [job.jobman_id for job in result.unpushed] == [row.pk]
    assert len(result.errors) == 1
    assert result.errors[0].startswith(
        "Could not check Redis at redis://127.0.0.1:1/0 for missing jobs: Error 111"
    )
    assert not result.ok
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.PENDING


def test_requeue_unpushed__row_of_an_unconfigured_queue_is_skipped() -> None:
    row = make_row(JobStatus.PENDING, queue="retired", age=timedelta(minutes=2))

    result = operations.requeue_unpushed()

    assert result.skipped == [
        operations.Skipped(
            row.pk, f"jobman #{row.pk}'s queue 'retired' is not in settings.RQ_QUEUES"
        )
    ]


def test_requeue__named_rows_pushed_when_they_need_it(redis_db: redis.Redis) -> None:
    fresh_pending = make_row(JobStatus.PENDING)  # no grace period for a row a person names
    lost = make_row(JobStatus.QUEUED)  # never pushed: as after Redis lost it
    in_redis = HelloJob.dispatch({})
    running = make_row(JobStatus.RUNNING, attempts=1)

    result = operations.requeue([fresh_pending.pk, lost.pk, in_redis.pk, running.pk, 999_999])

    assert [(job.jobman_id, job.reason.split(" ")[0]) for job in operations.pushed(result)] == [
        (fresh_pending.pk, "pending"),
        (lost.pk, "queued"),
    ]
    assert result.skipped == [
        operations.Skipped(
            running.pk,
            f"jobman #{running.pk} is running; only pending jobs, and queued or retrying ones "
            "missing from Redis, are pushed again",
        ),
        operations.Skipped(
            in_redis.pk, f"jobman #{in_redis.pk} is queued and its RQ job is in Redis"
        ),
    ]
    assert result.unknown == [999_999]
    assert not result.ok
    assert status_of(fresh_pending) == JobStatus.QUEUED
    assert redis_db.llen("rq:queue:default") == 3


def test_requeue__redis_unreachable_is_reported_once() -> None:
    pending = make_row(JobStatus.PENDING)
    queued = make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = operations.requeue([pending.pk, queued.pk])

    assert [job.jobman_id for job in result.unpushed] == [pending.pk]
    assert len(result.errors) == 1
    assert result.skipped == []
    assert status_of(queued) == JobStatus.QUEUED


# Cancel


@pytest.mark.worker
def test_cancel__queued_job_leaves_its_rq_queue_and_never_runs(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({})
    kept = HelloJob.dispatch({})

    result = operations.cancel([row.pk])

    assert result.ok
    assert [(job.jobman_id, job.status) for job in result.done] == [(row.pk, "queued")]
    assert redis_db.lrange("rq:queue:default", 0, -1) == [kept.rq_job_id.encode()]
    rq_job = RQJob.fetch(row.rq_job_id, connection=redis_db, serializer=JSONSerializer)
    assert rq_job.get_status() == "canceled"
    work()
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.CANCELLED
    assert runs(row) == []
    assert Jobman.objects.get(pk=kept.pk).status == JobStatus.COMPLETED


@pytest.mark.worker
def test_cancel__a_job_delivered_anyway_does_not_run(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({})
    operations.cancel([row.pk])
    redis_db.rpush("rq:queue:default", row.rq_job_id)  # a copy the cancel could not see

    work()

    assert Jobman.objects.get(pk=row.pk).status == JobStatus.CANCELLED
    assert runs(row) == []


def test_cancel__delayed_job_leaves_the_scheduled_registry(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({}, delay=300)
    assert redis_db.zscore("rq:scheduled:default", row.rq_job_id) is not None

    operations.cancel([row.pk])

    assert redis_db.zscore("rq:scheduled:default", row.rq_job_id) is None


def test_cancel__finished_rows_are_refused_running_ones_asked_to_stop_the_others_cancelled(
    redis_db: redis.Redis,
) -> None:
    running = make_row(JobStatus.RUNNING, attempts=1)
    completed = make_row(JobStatus.COMPLETED, attempts=1)
    pending = make_row(JobStatus.PENDING)
    retrying = make_row(JobStatus.RETRYING, attempts=1, max_tries=2)

    result = operations.cancel(
        [running.pk, pending.pk, completed.pk, 999_999, retrying.pk], who="ada"
    )

    assert [(job.jobman_id, job.stopping) for job in result.done] == [
        (running.pk, True),
        (pending.pk, False),
        (retrying.pk, False),
    ]
    assert [item.id for item in result.skipped] == [completed.pk]
    assert result.skipped[0].reason == (
        f"jobman #{completed.pk} (test.hello) is completed; only jobs that have not "
        "finished can be cancelled"
    )
    assert result.unknown == [999_999]
    assert not result.ok
    # The running one ends when its attempt next looks; until then it runs.
    assert Jobman.objects.get(pk=running.pk).status == JobStatus.RUNNING
    assert stops.asked(redis_db, running.pk).startswith("stopped by ada at ")
    assert Jobman.objects.get(pk=completed.pk).status == JobStatus.COMPLETED


def test_cancel__redis_unreachable_still_cancels_the_row() -> None:
    row = make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = operations.cancel([row.pk])

    assert result.ok
    assert len(result.warnings) == 1
    assert f"#{row.pk}" in result.warnings[0]
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.CANCELLED


def test_cancel_batches__waiting_jobs_leave_redis_finished_batches_are_refused(
    redis_db: redis.Redis,
) -> None:
    batch = JobmanJob.batch([HelloJob({}) for _ in range(3)], name="import").dispatch()
    running, *waiting = batch.jobs.order_by("pk")
    Jobman.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, attempts=1)
    finished = JobBatch.objects.create(total=1, finished_at=timezone.now())

    result = operations.cancel_batches([batch.pk, finished.pk, 999_999])

    assert result.done == [operations.CancelledBatch(batch.pk, "import", 2, 1)]
    assert [item.id for item in result.skipped] == [finished.pk]
    assert result.unknown == [999_999]
    assert not result.ok
    assert redis_db.lrange("rq:queue:default", 0, -1) == [running.rq_job_id.encode()]
    for row in waiting:
        assert Jobman.objects.get(pk=row.pk).status == JobStatus.CANCELLED
        rq_job = RQJob.fetch(row.rq_job_id, connection=redis_db, serializer=JSONSerializer)
        assert rq_job.get_status() == "canceled"
    batch.refresh_from_db()
    assert (batch.pending, batch.cancelled_at is not None) == (1, True)
    assert JobBatch.objects.get(pk=finished.pk).cancelled_at is None


# Prune


def make_prune_table() -> tuple[list[Jobman], list[Jobman]]:
    """Old and recent rows in every state; returns (the old finished ones, all the others)."""
    old_finished = [make_row(status, age=OLD) for status in JobStatus.finished()]
    make_failed(age=OLD)
    old_finished.append(Jobman.objects.latest("pk"))
    kept = [make_row(status, age=OLD) for status in (*JobStatus.waiting(), JobStatus.RUNNING)]
    kept += [make_row(status, age=timedelta(days=179)) for status in JobStatus.values]
    make_failed(age=timedelta(days=1))
    kept.append(Jobman.objects.latest("pk"))
    return old_finished, kept


def test_prune__deletes_exactly_the_old_finished_rows_and_their_failed_jobs() -> None:
    _, kept = make_prune_table()

    result = operations.prune()

    assert (result.jobs, result.failed_jobs) == (4, 1)
    assert result.by_status == {"cancelled": 1, "completed": 1, "failed": 2}
    assert sorted(Jobman.objects.values_list("pk", flat=True)) == sorted(row.pk for row in kept)
    assert list(FailedJob.objects.values_list("jobman_id", flat=True)) == [kept[-1].pk]


def test_prune__batches_read_ids_only_and_report_each_batch() -> None:
    old_finished, _ = make_prune_table()
    batches: list[operations.PruneBatch] = []

    with CaptureQueriesContext(connection) as queries:
        result = operations.prune(batch_size=3, on_batch=batches.append)

    assert result.jobs == 4
    assert [len(batch.jobman_ids) for batch in batches] == [3, 1]
    assert sorted(pk for batch in batches for pk in batch.jobman_ids) == sorted(
        row.pk for row in old_finished
    )
    assert sum(batch.failed_jobs for batch in batches) == 1
    # Never the heavy columns: a batch reads ids and statuses, then deletes by id.
    assert not [q for q in queries.captured_queries if "attribs" in q["sql"]]


def test_prune__dry_run_counts_and_deletes_nothing() -> None:
    make_prune_table()
    before = Jobman.objects.count()

    result = operations.prune(older_than=timedelta(days=180), dry_run=True)

    assert (result.jobs, result.failed_jobs) == (4, 1)
    assert result.by_status == {"cancelled": 1, "completed": 1, "failed": 2}
    assert Jobman.objects.count() == before
    assert FailedJob.objects.count() == 2


def make_batches() -> dict[str, JobBatch]:
    """Batches old and new, finished, cancelled and running, with and without jobs."""
    old = timezone.now() - OLD

    def batch(name: str, **fields: Any) -> JobBatch:
        return JobBatch.objects.create(name=name, created_at=old, **fields)

    found = {
        "old finished, jobs pruned": batch("a", finished_at=old),
        "old cancelled, jobs pruned": batch("b", cancelled_at=old),
        "old finished, a recent job": batch("c", finished_at=old),
        "old finished, an old job": batch("d", finished_at=old),
        "recently finished": batch("e", finished_at=timezone.now() - timedelta(days=1)),
        "old, not finished": batch("f"),
    }
    make_row(JobStatus.COMPLETED, age=OLD, batch=found["old finished, jobs pruned"])
    make_row(JobStatus.COMPLETED, age=timedelta(days=1), batch=found["old finished, a recent job"])
    make_row(JobStatus.QUEUED, age=OLD, batch=found["old finished, an old job"])
    return found


def test_prune__deletes_old_finished_batches_with_no_job_left() -> None:
    found = make_batches()

    counted = operations.prune(dry_run=True)
    result = operations.prune(batch_size=1)

    assert counted.batches == result.batches == 2
    assert set(JobBatch.objects.values_list("name", flat=True)) == {"c", "d", "e", "f"}
    assert Jobman.objects.filter(batch=found["old finished, a recent job"]).exists()


def test_prune__command_says_the_batches_it_deleted() -> None:
    make_batches()
    result = run_command("jobman_prune", "--days", "180")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1].startswith(
        "Deleted 2 finished batches with no job left, finished before "
    )
    assert run_command("jobman_prune").out.startswith("No finished jobs created before ")


def test_prune__batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size must be 1 or more, found 0"):
        operations.prune(batch_size=0)


# Failed jobs


def test_failed_jobs__most_recent_first_with_the_first_line_of_the_error() -> None:
    older = make_failed(age=timedelta(hours=2), error="KeyError: 'sku'\nmore detail")
    newer = make_failed(job_type="test.gives_up", queue="high", error="blog not found")

    listed = readmodel.failed_jobs()

    assert [(info.id, info.jobman_id, info.type, info.queue, info.error) for info in listed] == [
        (newer.pk, newer.jobman_id, "test.gives_up", "high", "blog not found"),
        (older.pk, older.jobman_id, "test.always_fails", "default", "KeyError: 'sku'"),
    ]
    assert listed[0].failed_at == newer.failed_at


def test_failed_jobs__filters_and_limit() -> None:
    make_failed(age=timedelta(hours=2))
    wanted = make_failed()
    make_failed(job_type="test.gives_up")
    make_failed(queue="high")

    listed = readmodel.failed_jobs(job_type="test.always_fails", queue="default", limit=1)

    assert [info.id for info in listed] == [wanted.pk]


def test_failed_jobs__without_a_message_the_traceback_names_the_error() -> None:
    failed = make_failed()
    Jobman.objects.filter(pk=failed.jobman_id).update(error_message=None)

    assert readmodel.failed_jobs()[0].error == "ValueError: this job always fails"


def test_forget__deletes_the_failed_jobs_rows_and_keeps_the_jobs_failed() -> None:
    first, second = make_failed(), make_failed()

    result = operations.forget([first.pk, 999_999])

    assert (result.done, result.unknown) == ([first.pk], [999_999])
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [second.pk]
    assert Jobman.objects.get(pk=first.jobman_id).status == JobStatus.FAILED


def test_flush__all_or_those_older_than() -> None:
    make_failed(age=timedelta(hours=3))
    recent = make_failed(age=timedelta(minutes=30))

    assert operations.flush(older_than=timedelta(hours=1)).deleted == 1
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [recent.pk]
    assert operations.flush().deleted == 1
    assert not FailedJob.objects.exists()


# Status


def test_status__redis_and_database_for_each_queue() -> None:
    HelloJob.dispatch_many([{}, {}])
    HelloJob.dispatch({}, delay=300)
    make_row(JobStatus.RUNNING, queue="high")
    make_failed()
    make_failed(age=timedelta(hours=2))

    report = readmodel.status()

    assert report.redis_ok
    by_name = {queue.name: queue for queue in report.queues}
    assert list(by_name) == ["default", "high", "low"]
    default = by_name["default"]
    assert (default.waiting, default.scheduled) == (2, 1)
    assert default.oldest_wait is not None
    assert 0 <= default.oldest_wait < 30
    assert default.jobs[JobStatus.QUEUED] == 3
    assert default.jobs[JobStatus.FAILED] == 2
    assert by_name["high"].jobs[JobStatus.RUNNING] == 1
    assert (by_name["low"].waiting, by_name["low"].oldest_wait) == (0, None)
    assert report.jobs[JobStatus.QUEUED] == 3
    assert report.failed_last_hour == 1
    assert report.workers == []


def test_status__redis_unreachable_still_reports_the_database() -> None:
    make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        report = readmodel.status()

    assert not report.redis_ok
    assert len(report.redis_errors) == 1
    assert all(queue.waiting is None and queue.redis_error for queue in report.queues)
    assert report.jobs[JobStatus.QUEUED] == 1


def test_status__rows_of_a_queue_no_longer_configured_are_counted() -> None:
    make_row(JobStatus.PENDING, queue="retired")

    report = readmodel.status()

    assert report.queues[-1].name == "retired"
    assert report.queues[-1].redis_error == "not in settings.RQ_QUEUES"
    assert report.jobs[JobStatus.PENDING] == 1


@pytest.mark.worker
def test_status__lists_the_workers_of_the_configured_queues(
    redis_db: redis.Redis, workers: list[WorkerProcess]
) -> None:
    workers.append(start_worker("high", "default", "--name", "status-test-worker"))
    wait_for(lambda: Worker.all(connection=redis_db), timeout=30)

    report = readmodel.status()

    assert [(w.name, w.queues) for w in report.workers] == [
        ("status-test-worker", ["high", "default"])
    ]
    assert report.workers[0].state in ("idle", "busy", "started")


def test_requeue__a_chain_step_waits_for_the_step_before_it(redis_db: redis.Redis) -> None:
    first, second, third = JobmanJob.chain(
        [HelloJob({"name": "one"}), HelloJob({"name": "two"}), HelloJob({"name": "three"})]
    ).dispatch()
    redis_db.delete("rq:queue:default")  # only what requeue pushes is counted below

    result = operations.requeue([second.pk, third.pk])

    assert operations.pushed(result) == []
    assert result.skipped == [
        operations.Skipped(
            second.pk,
            f"jobman #{second.pk} is step 2 of a chain whose step 1 (jobman #{first.pk}) is "
            "queued; it is pushed when that one completes",
        ),
        operations.Skipped(
            third.pk,
            f"jobman #{third.pk} is step 3 of a chain whose step 2 (jobman #{second.pk}) is "
            "pending; it is pushed when that one completes",
        ),
    ]
    assert redis_db.llen("rq:queue:default") == 0

    Jobman.objects.filter(pk=first.pk).update(status=JobStatus.COMPLETED)
    result = operations.requeue([second.pk])
    assert [job.jobman_id for job in operations.pushed(result)] == [second.pk]
    assert status_of(second) == JobStatus.QUEUED


def test_retry_rows__maps_jobman_ids_to_their_failed_jobs_and_names_the_rest() -> None:
    failure = make_failed(job_type="test.hello")
    waiting = make_row(JobStatus.QUEUED)
    forgotten = make_row(JobStatus.FAILED)

    result = operations.retry_rows([failure.jobman_id, waiting.pk, forgotten.pk, 987654])

    assert [job.jobman_id for job in result.done] == [failure.jobman_id]
    assert [item.reason for item in result.skipped] == [
        f"#{waiting.pk} is queued, not failed",
        f"#{forgotten.pk} has no failed_jobs row (it was forgotten), so it cannot be retried",
    ]
    assert result.unknown == [987654]
    assert Jobman.objects.get(pk=failure.jobman_id).status == JobStatus.QUEUED


# Pausing and resuming schedules

HOURLY = {"type": "test.hello", "cron": "0 * * * *"}


def with_schedules(**specs: dict[str, Any]) -> Any:
    return override_settings(JOBMAN={"SCHEDULES": specs, "SCHEDULE_TIME_ZONE": "UTC"})


def fired_hours(name: str) -> list[int]:
    slots = Jobman.objects.filter(schedule=name).order_by("scheduled_for")
    return [slot.hour for slot in slots.values_list("scheduled_for", flat=True)]


def test_pause__a_paused_schedule_fires_nothing_and_resumed_fires_again() -> None:
    def hour(h: int) -> datetime:
        return datetime(2026, 6, 1, h, 0, 5, tzinfo=UTC)

    with with_schedules(hourly=HOURLY), capture_dispatches():
        schedules.fire_due(hour(10))
        paused = operations.pause_schedules(["hourly"])
        assert schedules.fire_due(hour(11)) == []
        assert schedules.fire_due(hour(12)) == []
        resumed = operations.resume_schedules(["hourly"])
        schedules.fire_due(hour(13))

    assert paused.ok
    assert resumed.ok
    assert [entry.name for entry in paused.done] == ["hourly"]
    assert resumed.done == [operations.ResumedSchedule("hourly", paused.done[0].paused_at)]
    assert fired_hours("hourly") == [10, 13]
    state = JobSchedule.objects.get(name="hourly")
    assert (state.paused_at, state.missed) == (None, 0)  # slots paused through are not missed


def test_pause__a_schedule_no_scheduler_has_seen_starts_paused() -> None:
    with with_schedules(hourly=HOURLY), capture_dispatches():
        result = operations.pause_schedules(["hourly"])
        assert schedules.fire_due(timezone.now() + timedelta(hours=3)) == []

    assert result.ok
    assert JobSchedule.objects.get(name="hourly").paused_at == result.done[0].paused_at
    assert not Jobman.objects.exists()


def test_pause_and_resume__each_name_once_the_others_refused_by_name() -> None:
    with with_schedules(hourly=HOURLY, broken={**HOURLY, "type": "nope"}):
        first = operations.pause_schedules(
            ["hourly", "hourly", "gone", "", "a\x00b", "x" * 300, "broken"]
        )
        again = operations.pause_schedules(["hourly"])
        resumed = operations.resume_schedules(["hourly", "gone"])
        not_paused = operations.resume_schedules(["hourly"])

    assert (first.of, [entry.name for entry in first.done]) == ("schedule", ["hourly"])
    assert first.unknown == ["gone"]
    assert [item.reason for item in first.skipped] == [
        "'' is not a schedule's name (1 to 255 characters, without NUL)",
        "'a\\x00b' is not a schedule's name (1 to 255 characters, without NUL)",
        f"{'x' * 40!r}... (300 characters) is not a schedule's name "
        "(1 to 255 characters, without NUL)",
        "schedule 'broken': no job class is registered with type 'nope'. It is never fired",
    ]
    assert not first.ok
    assert [item.id for item in again.skipped] == ["hourly"]
    assert again.skipped[0].reason.startswith("schedule 'hourly' is paused since 20")
    assert ([entry.name for entry in resumed.done], resumed.unknown) == (["hourly"], ["gone"])
    assert [item.reason for item in not_paused.skipped] == ["schedule 'hourly' is not paused"]
    assert not JobSchedule.objects.filter(name__in=["gone", "broken"]).exists()
