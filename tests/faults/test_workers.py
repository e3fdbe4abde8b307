"""Scenarios 2, 3 and 6: workers and work-horses killed while they run jobs, and many
workers on one queue.

Every job records each run of its handle() as an Execution row, committed on its own, so
a test can compare the side effects with what the rows say happened.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator

import pytest
from django.test.utils import override_settings
from rq import Queue
from rq.job import JobStatus as RQStatus

from jobman import queues
from jobman.models import FailedJob, Jobman, JobStatus
from jobman.testing import capture_dispatches
from jobman.worker import JobmanWorker
from tests.faults.support import (
    QUICK,
    Fleet,
    all_finished,
    outcome,
    quick_env,
    record,
    scaled,
)
from tests.support.helpers import wait_for
from tests.testapp.jobs import FaultJob, SleepyJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.faults]

SEED = int(os.environ.get("JOBMAN_FAULTS_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    fleet = Fleet(env=quick_env())
    yield fleet
    fleet.stop_all()


# Scenario 2


def test_worker_killed__at_random_points_while_others_run(fleet: Fleet) -> None:
    """Whole workers SIGKILLed at random moments; every row completes or fails for good,
    and a side effect repeats only for an attempt that really was cut off."""
    rng = random.Random(SEED)
    count = scaled(50, 50)
    kills = scaled(6, 6)
    rows = FaultJob.dispatch_many([{"seconds": rng.uniform(0.2, 0.8)} for _ in range(count)])
    pks = [row.pk for row in rows]

    fleet.start("--worker-class", "fork")
    fleet.start("--worker-class", "simple")
    killed_pids: set[int] = set()
    kinds = []
    started = time.monotonic()
    for number in range(kills):
        doomed = fleet.start("--worker-class", "fork" if number % 2 == 0 else "simple")
        time.sleep(rng.uniform(1.0, 2.5))  # start-up (about 1 s), then some work
        # Either a SIGKILL to the worker's process group, as a process manager sends it
        # (the work-horse, in a group of its own, must die with its worker), or every
        # process, horse included, as when the machine goes away.
        machine = number % 3 == 2
        kinds.append("machine" if machine else "group")
        killed_pids.update(fleet.kill(doomed) if machine else fleet.kill_group(doomed))
    last_kill = time.monotonic()

    try:
        wait_for(all_finished(pks), timeout=60)
    except AssertionError:
        raise AssertionError(
            f"seed {SEED}: {outcome(pks).figures()}\n{fleet.output()[-8000:]}"
        ) from None
    recovered = time.monotonic() - last_kill

    def cut_off(row: Jobman, attempt: int) -> bool:
        pids = Execution.objects.filter(jobman_id=row.pk, attempt=attempt, kind="handle")
        return all(pid in killed_pids for pid in pids.values_list("pid", flat=True))

    found = outcome(pks, cut_off)
    lost_attempts = Jobman.objects.filter(pk__in=pks, error_message__startswith="Worker lost")
    record(
        "worker_killed",
        seed=SEED,
        faults=f"{kills} SIGKILLs ({', '.join(kinds)}) among 2 steady workers",
        attempts_cut_off=lost_attempts.count(),
        seconds=round(last_kill - started, 1),
        recover_s=round(recovered, 1),
        **found.figures(),
    )
    assert found.stuck == []
    assert found.lost == []
    assert found.double_claims == []
    assert found.unjustified == [], (SEED, found.unjustified)
    failed = Jobman.objects.filter(pk__in=pks, status=JobStatus.FAILED)
    for row in failed:
        # Correctly failed: every try used up by a lost attempt, and filed.
        assert row.attempts == row.max_tries
        assert (row.error_message or "").startswith("Worker lost"), row.error_message
        assert FailedJob.objects.filter(jobman=row).count() == 1


def test_worker_group_killed__its_horse_dies_with_it(fleet: Fleet) -> None:
    """A SIGKILL to the worker's process group, as a process manager sends it, must not
    leave the work-horse (which RQ puts in a group of its own) running the attempt that
    the reaper then starts again: that would be two attempts of one row at once."""
    row = SleepyJob.dispatch({"sleep_on": [1], "seconds": 15})
    doomed = fleet.start("--worker-class", "fork")
    wait_for(lambda: Execution.objects.filter(jobman_id=row.pk).exists(), timeout=30)
    horse = Execution.objects.get(jobman_id=row.pk).pid

    killed = fleet.kill_group(doomed)
    killed_at = time.monotonic()
    fleet.start("--worker-class", "fork")
    wait_for(all_finished([row.pk]), timeout=30)

    row.refresh_from_db()
    first, second = Execution.objects.filter(jobman_id=row.pk).order_by("attempt")
    record(
        "worker_group_killed",
        faults="SIGKILL to the worker's process group during a 15 s attempt",
        horse_died_with_worker=horse in killed,
        recover_s=round(time.monotonic() - killed_at, 1),
        **outcome([row.pk]).figures(),
    )
    assert horse in killed
    assert fleet.strays == set()
    assert (row.status, row.attempts) == (JobStatus.COMPLETED, 2)
    assert (first.attempt, second.attempt) == (1, 2)
    # RQ's own cleanup of the dead worker's registry entry, when it comes, leaves the job
    # as the row says: finished, not failed.
    queue = queues.get_queue("default")
    queue.started_job_registry.cleanup(timestamp=time.time() + 10**6)
    assert _status_in_rq(queue, row) == "finished"
    assert row.rq_job_id not in queue.failed_job_registry


@pytest.mark.parametrize("died", ["after-registering", "before-registering"])
def test_worker_lost_after_taking_a_job__it_is_pushed_again(fleet: Fleet, died: str) -> None:
    """A worker that dies after taking a job from the queue, before its horse claimed the
    row: the row still waits, and RQ holds the job for the dead worker. The reaper gives
    the job back to the queue."""
    row = FaultJob.dispatch({})
    queue = queues.get_queue("default")
    with override_settings(JOBMAN=QUICK):
        doomed = JobmanWorker([queue], connection=queue.connection, name=f"doomed-{os.getpid()}")
        doomed.register_birth()  # type: ignore[no-untyped-call]
        if died == "after-registering":  # taken, and registered as started
            taken = doomed.dequeue_job_and_maintain_ttl(timeout=1)
            assert taken is not None
            doomed.prepare_execution(taken[0])
        else:  # taken only: moved to the queue's intermediate list
            queue.connection.lmove(queue.key, queue.intermediate_queue_key)
    assert queue.count == 0
    lost_at = time.monotonic()

    fleet.start()
    wait_for(all_finished([row.pk]), timeout=30)
    recovered = time.monotonic() - lost_at

    row.refresh_from_db()
    found = outcome([row.pk])
    record(
        f"worker_lost_after_taking[{died}]",
        faults="worker gone between taking a job and claiming its row",
        recover_s=round(recovered, 1),
        **found.figures(),
    )
    assert (row.status, row.attempts) == (JobStatus.COMPLETED, 1)
    assert found.run_twice == []
    assert queue.connection.llen(queue.intermediate_queue_key) == 0
    queue.started_job_registry.cleanup(timestamp=time.time() + 10**6)
    assert _status_in_rq(queue, row) == "finished"
    assert row.rq_job_id not in queue.failed_job_registry


def _status_in_rq(queue: Queue, row: Jobman) -> str | None:
    job = queue.fetch_job(row.rq_job_id)
    return None if job is None else RQStatus(job.get_status()).value


# Scenario 3


def test_horse_killed__attempt_recorded_at_once_and_retried(fleet: Fleet) -> None:
    """The work-horse SIGKILLed, as the out-of-memory killer does: the parent records the
    attempt at once, and the job is retried; on the last try it fails for good."""
    count = scaled(10, 6)
    retried = SleepyJob.dispatch_many([{"sleep_on": [1], "seconds": 30} for _ in range(count)])
    last_try = SleepyJob.dispatch({"sleep_on": [1, 2], "seconds": 30})
    fleet.start("--worker-class", "fork")
    fleet.start("--worker-class", "fork")

    latencies = []
    kills = 0
    pending = {row.pk: 1 for row in [*retried, last_try]}
    deadline = time.monotonic() + 90
    while pending:
        assert time.monotonic() < deadline, f"horses not all killed: {pending}"
        for execution in Execution.objects.filter(jobman_id__in=list(pending), kind="handle"):
            if execution.attempt != pending.get(execution.jobman_id):
                continue
            os.kill(execution.pid, signal.SIGKILL)
            kills += 1
            killed_at = time.monotonic()
            # Recorded once the row has left that attempt (the next may already run).
            wait_for(
                lambda pk=execution.jobman_id, attempt=execution.attempt: (
                    Jobman.objects.filter(  # type: ignore[misc]
                        pk=pk, status=JobStatus.RUNNING, attempts=attempt
                    ).count()
                    == 0
                ),
                timeout=10,
                interval=0.05,
            )
            latencies.append(time.monotonic() - killed_at)
            if execution.jobman_id == last_try.pk and execution.attempt == 1:
                pending[execution.jobman_id] = 2
            else:
                del pending[execution.jobman_id]
        time.sleep(0.05)

    pks = [row.pk for row in retried]
    wait_for(all_finished([*pks, last_try.pk]), timeout=30)
    found = outcome([*pks, last_try.pk])
    record(
        "horse_killed",
        faults=f"{kills} work-horses SIGKILLed",
        recorded_within_s=round(max(latencies), 2),
        **found.figures(),
    )
    assert max(latencies) < 5
    assert found.stuck == found.lost == found.unjustified == []
    for row in Jobman.objects.filter(pk__in=pks):
        assert (row.status, row.attempts, row.completed_code) == ("completed", 2, "woke up")
        assert row.error_message == (
            "Worker lost: the work-horse was killed by signal 9 (SIGKILL), perhaps for using "
            "too much memory during attempt 1."
        )
    last_try.refresh_from_db()
    assert (last_try.status, last_try.attempts) == (JobStatus.FAILED, 2)
    assert FailedJob.objects.filter(jobman=last_try).count() == 1
    assert Execution.objects.filter(jobman_id=last_try.pk, kind="failed").count() == 1


# Scenario 6


def test_four_workers__each_job_once(fleet: Fleet) -> None:
    """Four workers on one queue, every job delivered twice: each handle() runs once."""
    count = scaled(2000, 400)
    with capture_dispatches():  # saved, not pushed: the test pushes them below
        rows = FaultJob.dispatch_many([{} for _ in range(count)])
    pks = [row.pk for row in rows]
    # Every job twice, side by side in the queue, so that two workers take the same job at
    # the same moment: only the claim decides which of them runs it.
    queues.push([twice for row in rows for twice in (row, row)])
    queue = queues.get_queue("default")
    started = time.monotonic()
    for worker_class in ("fork", "simple", "fork", "simple"):
        fleet.start("--worker-class", worker_class)
    wait_for(all_finished(pks), timeout=60 + count / 10)
    took = time.monotonic() - started
    wait_for(
        lambda: queue.count == 0 and queue.started_job_registry.get_job_ids(cleanup=False) == [],
        timeout=30,
    )

    found = outcome(pks)
    output = fleet.output()
    refused = output.count("is not waiting; this delivery does nothing")
    record(
        "four_workers",
        faults=f"every job pushed twice ({2 * count} deliveries)",
        duplicate_deliveries_refused=refused,
        seconds=round(took, 1),
        jobs_per_second=round(count / took, 1),
        **found.figures(),
    )
    assert found.stuck == found.lost == found.run_twice == found.double_claims == []
    assert set(Jobman.objects.filter(pk__in=pks).values_list("attempts", flat=True)) == {1}
    assert Execution.objects.filter(jobman_id__in=pks).count() == count
    assert refused == count
