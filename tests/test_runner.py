"""Each attempt's footprint on the row, written by real worker processes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.db import transaction
from django.utils import timezone
from rq.job import Job as RQJob
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

from jobman import operations, queues, runner
from jobman.models import FailedJob, Jobman, JobStatus
from tests.support.helpers import manage, wait_for, work
from tests.testapp.jobs import (
    AlwaysFailingJob,
    FlakyJob,
    GivesUpJob,
    HelloJob,
    SlowJob,
    UnsaveableResultJob,
    WrongReturnJob,
)
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER_CLASSES = ["fork", "simple"]


def rq_job(row: Jobman) -> RQJob:
    return RQJob.fetch(
        row.rq_job_id, connection=queues.get_connection(row.queue), serializer=JSONSerializer
    )


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_success__footprint_on_the_row(worker_class: str) -> None:
    row = HelloJob.dispatch({"name": "Ada", "code": "success"})

    work("--worker-class", worker_class)

    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert row.attempts == 1
    assert row.completed_at is not None
    assert row.started_at is not None
    assert row.started_at <= row.completed_at
    assert row.completed_code == "success"
    assert row.attribs == {"name": "Ada", "code": "success", "greeting": "hello Ada"}
    lines = row.logs.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("[attempt 1] saying hello")
    assert lines[1].endswith("[attempt 1] said hello")
    assert row.worker  # the RQ worker's name
    assert row.failed_at is None
    assert row.error_message is None
    assert not FailedJob.objects.exists()
    assert rq_job(row).get_status() == "finished"
    assert row.rq_job_id in FinishedJobRegistry(
        "default", connection=queues.get_connection("default")
    )


def test_success__none_returned_is_stored_as_null() -> None:
    row = HelloJob.dispatch({"name": "Bob"})

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert row.completed_code is None


def test_retry__fails_twice_then_succeeds_with_backoff_gaps() -> None:
    row = FlakyJob.dispatch({"succeed_on": 3})  # tries 3, backoff [1, 2]

    # Not burst: the retries wait in RQ's scheduler for their backoff first.
    result = manage("jobman_work", "--max-jobs", "3", timeout=60)
    assert result.code == 0, result.err

    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert row.attempts == 3
    assert row.completed_code == "success"
    assert row.failed_at is not None  # kept after the later success
    assert row.error_message == "RuntimeError: flaky failure on attempt 2"
    assert "RuntimeError: flaky failure on attempt 2" in (row.exception or "")
    assert "Traceback (most recent call last)" in (row.exception or "")
    assert [line.split("] ", 2)[2] for line in row.logs.splitlines()] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]
    runs = list(Execution.objects.filter(jobman_id=row.pk).order_by("attempt"))
    assert [run.attempt for run in runs] == [1, 2, 3]
    assert (runs[1].at - runs[0].at).total_seconds() >= 1
    assert (runs[2].at - runs[1].at).total_seconds() >= 2
    assert not FailedJob.objects.exists()
    assert rq_job(row).get_status() == "finished"


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_failure__tries_used_up_files_one_failed_job(worker_class: str) -> None:
    row = AlwaysFailingJob.dispatch({"n": 1})  # tries 2, no backoff

    work("--worker-class", worker_class)

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.attempts == 2
    assert row.failed_at is not None
    assert row.completed_at is None
    assert row.error_message == "ValueError: this job always fails"
    assert [line.split("] ", 2)[2] for line in row.logs.splitlines()] == [
        "about to fail",
        "about to fail",
    ]
    failed = FailedJob.objects.get()
    assert failed.jobman_id == row.pk
    assert failed.queue == "default"
    assert failed.connection.startswith("redis://")
    assert failed.payload == {
        "jobman_id": row.pk,
        "type": "test.always_fails",
        "queue": "default",
        "attribs": {"n": 1},
        "max_tries": 2,
    }
    assert "Traceback (most recent call last)" in failed.exception
    assert "ValueError: this job always fails" in failed.exception
    # failed() ran exactly once, after the last attempt.
    kinds = list(Execution.objects.filter(jobman_id=row.pk).values_list("kind", "attempt"))
    assert sorted(kinds) == [("failed", 2), ("handle", 1), ("handle", 2)]
    # RQ agrees: its job is failed and in the FailedJobRegistry.
    assert rq_job(row).get_status() == "failed"
    assert row.rq_job_id in FailedJobRegistry(
        "default", connection=queues.get_connection("default")
    )


def test_fail__fails_at_once_whatever_tries_says() -> None:
    row = GivesUpJob.dispatch({})  # tries 5

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.attempts == 1
    assert row.error_message == "blog not found, no point retrying"
    assert FailedJob.objects.filter(jobman=row).count() == 1
    assert Execution.objects.filter(jobman_id=row.pk, kind="failed").count() == 1


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_timeout__is_a_failed_attempt_that_says_so(worker_class: str) -> None:
    row = SlowJob.dispatch({"seconds": 10})  # timeout 1

    work("--worker-class", worker_class)

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.attempts == 1
    assert row.error_message == (
        "Timed out: the attempt ran longer than the job's timeout of 1 seconds."
    )
    assert "AttemptTimedOut" in (row.exception or "")
    assert FailedJob.objects.filter(jobman=row).count() == 1


def test_unknown_type__fails_with_a_message_naming_it() -> None:
    row = Jobman.objects.create(type="no.such.type", queue="default", attribs={})
    queues.push([row])

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.attempts == 1
    assert "Unknown job type 'no.such.type'" in (row.error_message or "")
    assert FailedJob.objects.filter(jobman=row).count() == 1
    assert rq_job(row).get_status() == "failed"


def test_duplicate_delivery__runs_handle_once(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({"name": "twice"})
    # The same RQ job delivered twice: a second entry in the queue's list.
    redis_db.rpush("rq:queue:default", row.rq_job_id)

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert row.attempts == 1
    assert Execution.objects.filter(jobman_id=row.pk).count() == 1


def test_duplicate_delivery__after_completion_does_nothing() -> None:
    row = HelloJob.dispatch({"name": "again"})
    work()
    row.refresh_from_db()
    completed_at = row.completed_at

    queues.push([row])  # delivered again, much later
    work()

    row.refresh_from_db()
    assert (row.status, row.attempts, row.completed_at) == (
        JobStatus.COMPLETED,
        1,
        completed_at,
    )
    assert Execution.objects.filter(jobman_id=row.pk).count() == 1


def test_unsaveable_attribs__failed_attempt_keeps_the_stored_attribs() -> None:
    row = UnsaveableResultJob.dispatch({"keep": "me"})

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert row.attribs == {"keep": "me"}
    assert "attribs['result'] is a set" in (row.error_message or "")


def test_wrong_return_type__is_a_failed_attempt_that_says_why() -> None:
    row = WrongReturnJob.dispatch({})

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert "handle() returned int 42; return None or a str" in (row.error_message or "")


def test_delay__job_does_not_run_before_available_at() -> None:
    row = HelloJob.dispatch({"name": "later"}, delay=2)

    work()  # burst: the scheduled job is not due yet
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED
    assert not Execution.objects.filter(jobman_id=row.pk).exists()

    # RQ's scheduler counts whole seconds: the job is due at the next one.
    due = row.available_at.replace(microsecond=0) + timedelta(seconds=1)
    wait_for(lambda: timezone.now() >= due, timeout=5)
    work()
    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    run = Execution.objects.get(jobman_id=row.pk)
    assert row.available_at is not None
    assert run.at >= row.available_at


def test_early_delivery__is_sent_back_until_available_at(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({"name": "early"}, delay=60)
    redis_db.rpush("rq:queue:default", row.rq_job_id)  # delivered long before its time

    work()

    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED
    assert row.attempts == 0
    assert not Execution.objects.filter(jobman_id=row.pk).exists()
    assert redis_db.zscore("rq:scheduled:default", row.rq_job_id) is not None


def test_run__signals_and_cancelled_rows_in_process() -> None:
    from jobman import signals

    seen: list[str] = []

    def receiver(signal: object, **kwargs: object) -> None:
        seen.append(str(kwargs["jobman"]))

    for signal in (signals.job_started, signals.job_completed):
        signal.connect(receiver, weak=False)
    try:
        with transaction.atomic():
            row = HelloJob.dispatch({"name": "here"})
            cancelled = HelloJob.dispatch({"name": "cancelled"})
        operations.cancel([cancelled.pk])
        assert runner.run(row.pk) is None
        assert runner.run(cancelled.pk) is None
    finally:
        for signal in (signals.job_started, signals.job_completed):
            signal.disconnect(receiver)

    assert seen == [f"test.hello #{row.pk} (running)", f"test.hello #{row.pk} (completed)"]
    assert Jobman.objects.get(pk=cancelled.pk).status == JobStatus.CANCELLED
    assert not Execution.objects.filter(jobman_id=cancelled.pk).exists()


def test_run__unknown_row_is_refused() -> None:
    with pytest.raises(runner.UnknownRow, match="No jobman row with id 987654"):
        runner.run(987654)
    with pytest.raises(TypeError, match="takes a row id"):
        runner.run("1; drop table")  # type: ignore[arg-type]
