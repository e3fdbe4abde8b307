"""No row stays running when its process dies: the reaper and the killed work-horse."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import redis
from django.test.utils import override_settings

from jobman import reaper
from jobman.models import FailedJob, Jobman, JobStatus
from tests.support.helpers import WorkerProcess, run_command, start_worker, stop_worker, wait_for
from tests.testapp.jobs import SleepyJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

# Short enough for a test, and passed to the worker processes the tests start.
QUICK = {"LOST_AFTER": 3, "REAP_INTERVAL": 1}
QUICK_ENV = {"JOBMAN_TEST_JOBMAN": json.dumps(QUICK)}


def first_attempt_running(row: Jobman) -> Execution:
    wait_for(lambda: Execution.objects.filter(jobman_id=row.pk, attempt=1).exists(), timeout=30)
    return Execution.objects.get(jobman_id=row.pk, attempt=1)


def status_of(row: Jobman) -> str:
    return str(Jobman.objects.values_list("status", flat=True).get(pk=row.pk))


def test_horse_killed__attempt_recorded_at_once_and_retried(workers: list[WorkerProcess]) -> None:
    row = SleepyJob.dispatch({"sleep_on": [1], "seconds": 60})
    workers.append(start_worker("--worker-class", "fork"))
    horse = first_attempt_running(row)
    assert horse.pid != workers[0].pid  # the work-horse, not the worker

    os.kill(horse.pid, signal.SIGKILL)  # what the out-of-memory killer does
    killed_at = time.monotonic()
    wait_for(lambda: status_of(row) != JobStatus.RUNNING, timeout=10)
    left_running_after = time.monotonic() - killed_at

    wait_for(lambda: status_of(row) == JobStatus.COMPLETED, timeout=30)
    row.refresh_from_db()
    assert left_running_after < 5
    assert row.attempts == 2
    assert row.failed_at is not None
    assert row.error_message == (
        "Worker lost: the work-horse was killed by signal 9 (SIGKILL), perhaps for using "
        "too much memory during attempt 1."
    )
    assert list(Execution.objects.filter(jobman_id=row.pk).values_list("attempt", flat=True)) == [
        1,
        2,
    ]


def test_horse_killed__on_the_last_try_fails_the_job(workers: list[WorkerProcess]) -> None:
    row = SleepyJob.dispatch({"sleep_on": [1, 2], "seconds": 60})
    workers.append(start_worker())
    for attempt in (1, 2):
        wait_for(
            lambda a=attempt: Execution.objects.filter(jobman_id=row.pk, attempt=a).exists(),  # type: ignore[misc]
            timeout=30,
        )
        os.kill(Execution.objects.get(jobman_id=row.pk, attempt=attempt).pid, signal.SIGKILL)

    wait_for(lambda: status_of(row) == JobStatus.FAILED, timeout=15)
    row.refresh_from_db()
    assert row.attempts == 2
    failed = FailedJob.objects.get(jobman=row)
    assert "Worker lost: the work-horse was killed by signal 9" in failed.exception
    assert Execution.objects.filter(jobman_id=row.pk, kind="failed").count() == 1


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_worker_killed__row_leaves_running_and_completes_on_another_worker(
    worker_class: str, workers: list[WorkerProcess]
) -> None:
    row = SleepyJob.dispatch({"sleep_on": [1], "seconds": 60})
    doomed = start_worker("--worker-class", worker_class, env=QUICK_ENV)
    workers.append(doomed)
    running = first_attempt_running(row)

    # The whole machine goes: the worker, its scheduler and its work-horse.
    os.kill(running.pid, signal.SIGKILL)
    stop_worker(doomed, signal.SIGKILL)
    killed_at = time.monotonic()
    assert status_of(row) == JobStatus.RUNNING

    workers.append(start_worker("--worker-class", worker_class, env=QUICK_ENV))
    wait_for(lambda: status_of(row) != JobStatus.RUNNING, timeout=30)
    detected_after = time.monotonic() - killed_at
    wait_for(lambda: status_of(row) == JobStatus.COMPLETED, timeout=30)

    row.refresh_from_db()
    # Documented bound: LOST_AFTER for the heartbeat to lapse, as long again to be sure,
    # plus one REAP_INTERVAL (and start-up of the new worker here).
    assert detected_after < 2 * QUICK["LOST_AFTER"] + QUICK["REAP_INTERVAL"] + 5
    assert row.attempts == 2
    assert row.completed_code == "woke up"
    assert (row.error_message or "").startswith("Worker lost: worker ")
    assert "stopped sending heartbeats during attempt 1." in (row.error_message or "")
    assert row.worker != running.pid


@override_settings(JOBMAN=QUICK)
def test_reap__a_live_worker_whose_key_redis_lost_is_not_reaped(
    workers: list[WorkerProcess], redis_db: redis.Redis
) -> None:
    row = SleepyJob.dispatch({"sleep_on": [1], "seconds": 5})
    workers.append(start_worker(env=QUICK_ENV))
    first_attempt_running(row)

    for key in redis_db.scan_iter("jobman:alive:*"):  # as a Redis restart would
        redis_db.delete(key)
    deadline = time.monotonic() + 4  # more than LOST_AFTER, while the job still runs
    while time.monotonic() < deadline:
        assert reaper.reap() == []
        time.sleep(0.25)

    wait_for(lambda: status_of(row) == JobStatus.COMPLETED, timeout=20)
    row.refresh_from_db()
    assert row.attempts == 1
    assert Execution.objects.filter(jobman_id=row.pk).count() == 1


@override_settings(JOBMAN=QUICK)
def test_jobman_reap__dry_run_then_reap(redis_db: redis.Redis) -> None:
    row = SleepyJob.dispatch({})
    redis_db.delete("rq:queue:default")  # the worker that claimed it had popped it
    claimed = Jobman.objects.claim(row.pk, worker="gone-host.123.abcdef")
    assert claimed is not None

    first = run_command("jobman_reap", "--dry-run")
    assert (first.code, first.err) == (0, "")
    assert first.out.startswith("would reap 0 job(s).")  # suspected, not yet lost

    redis_db.set(reaper.SUSPECT_KEY.format("gone-host.123.abcdef"), time.time() - 10)
    dry = run_command("jobman_reap", "--dry-run")
    assert (
        dry.out.splitlines()[0] == f"jobman #{row.pk}: worker gone-host.123.abcdef lost: would reap"
    )
    assert status_of(row) == JobStatus.RUNNING

    real = run_command("jobman_reap")
    assert real.code == 0
    assert (
        real.out.splitlines()[0] == f"jobman #{row.pk}: worker gone-host.123.abcdef lost: retrying"
    )
    assert real.out.splitlines()[1].startswith("reaped 1 job(s).")
    assert status_of(row) == JobStatus.RETRYING
    assert redis_db.lrange("rq:queue:default", 0, -1) == [row.rq_job_id.encode()]
