"""Scenarios 1, 4 and 7: Redis stopped, Redis restarted empty, and a slow push racing
``jobman_requeue_unpushed``.

Each test runs its own throwaway redis-server on a free loopback port, and points this
process (override_settings) and its worker processes (JOBMAN_TEST_RQ_URL) at it. The
run's shared Redis is never stopped.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from jobman import queues, reaper
from jobman.models import Jobman, JobStatus
from jobman.testing import capture_dispatches
from tests.faults.support import (
    Fleet,
    ThrowawayRedis,
    all_finished,
    outcome,
    quick_env,
    record,
    scaled,
    throwaway_redis,
)
from tests.support.helpers import (
    manage,
    run_command,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.testapp.jobs import BackoffJob, FaultJob, SleepyJob, WaitsForGoJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]

SEED = int(os.environ.get("JOBMAN_FAULTS_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)


# Scenario 1


@pytest.mark.worker
def test_redis_outage__during_a_burst_of_dispatches() -> None:
    """Redis stops in the middle of a burst of dispatches and comes back; the rows it
    missed wait as `pending` until `jobman_requeue_unpushed` pushes them. Every job runs,
    and its side effect is recorded once."""
    rng = random.Random(SEED)
    count = scaled(500, 200)
    stop_at = rng.randrange(count // 4, count // 2)
    outage = rng.uniform(1.5, 3.0)  # seconds, while dispatches go on
    with throwaway_redis(persistent=True) as server:
        fleet = Fleet(env={**quick_env(), **server.env()})
        try:
            fleet.start("--worker-class", "fork")
            fleet.start("--worker-class", "simple")
            wait_for(lambda: len(server.client().keys("jobman:alive:*")) == 2, timeout=30)
            pks = []
            stopped = restarted = 0.0
            for number in range(count):
                if number == stop_at:
                    server.stop()
                    stopped = time.monotonic()
                if stopped and not restarted and time.monotonic() - stopped >= outage:
                    server.start()
                    restarted, start_at = time.monotonic(), number
                pks.append(FaultJob.dispatch({"number": number}).pk)
                time.sleep(0.02)  # a burst, spread over a few seconds
            if not restarted:
                server.start()
                restarted, start_at = time.monotonic(), count
            unpushed = Jobman.objects.filter(pk__in=pks, status=JobStatus.PENDING).count()

            revived = fleet.revive()
            # Saved `queued` and not in Redis yet: what --check-redis repairs.
            requeue = run_command(
                "jobman_requeue_unpushed", "--check-redis", "--older-than", "0", "-v", "0"
            )
            assert requeue.code == 0, requeue.err
            try:
                wait_for(all_finished(pks), timeout=60 + count / 5)
            except AssertionError:
                found = outcome(pks)
                raise AssertionError(
                    f"seed {SEED}: stuck {found.stuck}, {found.figures()}\n"
                    + fleet.output()[-6000:]
                ) from None
            recovered = time.monotonic() - restarted
            found = outcome(pks)
        finally:
            fleet.stop_all()

    record(
        "redis_outage",
        seed=SEED,
        faults=(
            f"redis-server stopped after dispatch {stop_at}, started again after dispatch "
            f"{start_at} ({restarted - stopped:.1f} s away)"
        ),
        left_pending=unpushed,
        requeued=requeue.out.strip(),
        workers_restarted=revived,
        recover_s=round(recovered, 1),
        **found.figures(),
    )
    assert unpushed >= start_at - stop_at  # every dispatch while Redis was away
    named = (found.stuck, found.lost, found.run_twice, found.double_claims)
    assert named == ([], [], [], []), f"stuck, lost, run twice, double claims: {named}"
    assert Execution.objects.filter(jobman_id__in=pks, kind="handle").count() == count


@pytest.mark.worker
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_redis_stops_while_a_job_runs__its_completed_attempt_is_written(
    worker_class: str, tmp_path: Path
) -> None:
    """Redis stops while handle() runs and is still away when it returns, so RQ cannot
    file the job and the worker quits. The attempt's outcome is written to the row
    before that: the row is not left `running`, for the reaper to run the job again."""
    go = tmp_path / "go"
    with throwaway_redis(persistent=True) as server:
        fleet = Fleet(env={**quick_env(), **server.env()})
        try:
            fleet.start("--worker-class", worker_class)
            row = WaitsForGoJob.dispatch({"go": str(go), "wait": 20})
            wait_for(lambda: Execution.objects.filter(jobman_id=row.pk).exists(), timeout=30)
            server.stop()
            go.touch()
            try:
                wait_for(
                    lambda: Jobman.objects.filter(pk=row.pk, status=JobStatus.COMPLETED).exists(),
                    timeout=15,
                )
            except AssertionError:
                row.refresh_from_db()
                raise AssertionError(
                    f"row {row.status}, not completed:\n{fleet.output()[-4000:]}"
                ) from None
            server.start()
        finally:
            fleet.stop_all()
    row.refresh_from_db()
    runs = Execution.objects.filter(jobman_id=row.pk, kind="handle")
    assert (row.attempts, row.completed_code, runs.count()) == (1, "went", 1)


# Scenario 4


@pytest.mark.worker
def test_redis_restart_without_persistence__waiting_jobs_recovered() -> None:
    """Redis restarts empty while jobs wait (queued, delayed, retrying after backoff) and a
    worker runs a long job. `jobman_requeue_unpushed --check-redis` pushes every waiting
    job again; the running one is neither pushed nor reaped, and finishes once."""
    count = scaled(200, 200)
    with throwaway_redis(persistent=False) as server:
        fleet = Fleet(env={**quick_env(), **server.env()})
        try:
            retrying = BackoffJob.dispatch_many([{} for _ in range(5)])  # backoff 4 s
            burst = manage("jobman_work", "--burst", env=fleet.env)
            assert burst.code == 0, burst.err
            assert {row.status for row in _rows(retrying)} == {JobStatus.RETRYING}
            delayed = FaultJob.dispatch_many([{} for _ in range(count // 10)], delay=3)
            queued = FaultJob.dispatch_many(
                [{} for _ in range(count - len(retrying) - len(delayed))]
            )
            waiting = [*retrying, *delayed, *queued]
            busy = SleepyJob.dispatch({"sleep_on": [1], "seconds": 8}, queue="high")
            busy_worker = fleet.start("high", "--worker-class", "fork")
            wait_for(lambda: Execution.objects.filter(jobman_id=busy.pk).exists(), timeout=30)

            server.restart()
            restarted = time.monotonic()
            assert queues.get_queue("default").count == 0  # Redis came back empty
            requeue = run_command("jobman_requeue_unpushed", "--check-redis", "-v", "0")
            assert requeue.code == 0, requeue.err
            fleet.start("default", "--worker-class", "fork")
            fleet.start("default", "--worker-class", "simple")
            pks = [row.pk for row in [*waiting, busy]]
            wait_for(all_finished(pks), timeout=60 + count / 5)
            recovered = time.monotonic() - restarted
            found = outcome(pks)
            # The busy worker rode out the restart: it did not quit, nor lose its horse.
            survived = busy_worker.process.poll() is None
        finally:
            fleet.stop_all()

    record(
        "redis_restart_empty",
        faults="redis-server restarted without persistence while jobs waited",
        waiting=len(waiting),
        busy_worker_survived=survived,
        requeued=requeue.out.strip(),
        recover_s=round(recovered, 1),
        **found.figures(),
    )
    assert requeue.out.strip() == f"Pushed {len(waiting)} jobs."
    assert found.stuck == found.lost == found.double_claims == found.unjustified == []
    # Only the jobs that fail their first attempt by design ran twice.
    assert sorted(found.run_twice) == sorted(row.pk for row in retrying)
    busy.refresh_from_db()
    assert (busy.status, busy.attempts) == (JobStatus.COMPLETED, 1)
    assert survived
    for row in _rows(delayed):
        assert row.available_at is not None
        assert row.started_at is not None
        assert row.started_at >= row.available_at  # not started early


def _rows(rows: Sequence[Jobman]) -> list[Jobman]:
    return list(Jobman.objects.filter(pk__in=[row.pk for row in rows]))


# Scenario 7


@pytest.mark.worker
def test_slow_push_racing_requeue(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dispatch whose push on commit is slow (a stalled process, a slow network) while
    `jobman_requeue_unpushed` pushes the same row: the job is delivered twice, at every
    moment of its life, and handle() runs once."""
    rng = random.Random(SEED)
    count = scaled(20, 12)
    delays: dict[int, float] = {}
    push = queues.push

    def slow_push(rows: Sequence[Jobman], **kwargs: Any) -> list[Jobman]:
        time.sleep(delays.get(threading.get_ident(), 0))
        return push(rows, **kwargs)

    monkeypatch.setattr(queues, "push", slow_push)
    with throwaway_redis() as server:
        fleet = Fleet(env={**quick_env(), **server.env()})
        try:
            fleet.start("--worker-class", "fork")
            fleet.start("--worker-class", "simple")
            wait_for(lambda: len(server.client().keys("jobman:alive:*")) == 2, timeout=30)
            threads = [
                threading.Thread(
                    target=_dispatch_slowly(delays, rng.uniform(1.0, 4.0), rng.uniform(0, 1))
                )
                for _ in range(count)
            ]
            for thread in threads:
                thread.start()
            # Each row is committed before its push begins.
            saved = Jobman.objects.filter(type=FaultJob.type)
            wait_for(lambda: saved.count() == count, timeout=30, interval=0.01)
            pks = list(saved.values_list("pk", flat=True))
            # Saved `queued` and not in Redis yet: what --check-redis repairs.
            requeue = run_command(
                "jobman_requeue_unpushed", "--check-redis", "--older-than", "0", "-v", "0"
            )
            for thread in threads:
                thread.join(timeout=30)
            assert not any(thread.is_alive() for thread in threads)
            wait_for(all_finished(pks), timeout=60)
            queue = queues.get_queue("default")
            wait_for(lambda: queue.count == 0, timeout=30)
            time.sleep(1)  # the last late deliveries reach their runner
            found = outcome(pks)
            late = fleet.output().count("is not waiting; this delivery does nothing")
        finally:
            fleet.stop_all()

    record(
        "slow_push_race",
        seed=SEED,
        faults=f"{count} pushes on commit delayed 1-4 s while the requeue command ran",
        requeued=requeue.out.strip(),
        late_deliveries_refused=late,
        **found.figures(),
    )
    assert requeue.out.strip() == f"Pushed {count} jobs."
    assert found.stuck == found.lost == found.run_twice == found.double_claims == []
    assert set(Jobman.objects.filter(pk__in=pks).values_list("attempts", flat=True)) == {1}


def _dispatch_slowly(delays: dict[int, float], delay: float, seconds: float) -> Callable[[], None]:
    """A dispatch, in a thread of its own, whose push sleeps ``delay`` seconds first."""

    def dispatch() -> None:
        delays[threading.get_ident()] = delay
        try:
            FaultJob.dispatch({"seconds": seconds})
        finally:
            connections.close_all()

    return dispatch


def test_reap__with_redis_away_looks_again_later(caplog: pytest.LogCaptureFixture) -> None:
    """The reaper's look for jobs taken by lost workers meets a Redis that is away: it
    says so and returns, for the next look (every REAP_INTERVAL) to try again."""
    server = ThrowawayRedis()  # never started: nothing listens on its port
    try:
        with server.settings():
            assert reaper.reap() == []
    finally:
        server.close()
    assert "could not look for jobs taken by lost workers" in caplog.text


def test_push__a_delayed_and_a_due_job_in_one_pipeline() -> None:
    """What `jobman_requeue_unpushed` pushes after an outage mixes delayed and due jobs in
    one pipeline: both reach Redis (RQ's enqueue used to refuse the pipeline once a
    delayed job's commands were in it, and the whole batch stayed behind)."""
    with capture_dispatches():
        delayed = FaultJob.dispatch({}, delay=30)
        due = FaultJob.dispatch({})

    pushed = queues.push([delayed, due])

    assert [row.pk for row in pushed] == [delayed.pk, due.pk]
    queue = queues.get_queue("default")
    assert queue.job_ids == [due.rq_job_id]
    assert queue.scheduled_job_registry.get_job_ids() == [delayed.rq_job_id]
    assert set(Jobman.objects.values_list("status", flat=True)) == {JobStatus.QUEUED}


# A worker started while Redis is down


def test_worker_start__redis_down_with_no_wait_exits_1_in_one_line() -> None:
    server = ThrowawayRedis()  # a free port, not started: nothing answers there
    try:
        result = manage("jobman_work", "--burst", "--no-wait", env=server.env(), timeout=30)
    finally:
        server.close()

    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.strip().splitlines() == [
        f"CommandError: Redis at {server.url} does not answer: "
        f"Error 111 connecting to 127.0.0.1:{server.port}. Connection refused."
    ]


@pytest.mark.worker
def test_worker_start__redis_down_waits_with_backoff_then_works() -> None:
    server = ThrowawayRedis()
    worker = start_worker("--burst", env=server.env())
    try:
        # 1 s, then 2 s: two lines a little after 3 s, and still waiting.
        wait_for(lambda: worker.output().count("trying again") >= 2, timeout=15)
        assert worker.process.poll() is None
        lines = worker.output().splitlines()
        assert lines[0].endswith(
            "does not answer (Error 111 connecting to "
            f"127.0.0.1:{server.port}. Connection refused.); trying again in 1 s."
        )
        assert lines[1].endswith("trying again in 2 s.")
        server.start()
        assert worker.process.wait(timeout=30) == 0  # burst: the queues are empty
    finally:
        output = stop_worker(worker)
        server.close()
    assert f"Redis at {server.url} answers now." in output
    assert "Traceback" not in output
