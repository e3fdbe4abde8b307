"""Scenario 5: the database connection breaks while a job runs.

On PostgreSQL every connection of the worker processes is killed (``pg_terminate_backend``),
as a database restart or a failover does. On SQLite another writer holds the database
longer than the worker's busy timeout. Either way the attempt's footprint must still be
written, or the attempt repaired: no row stays ``running``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from jobman import queues, reaper
from jobman.models import Jobman, JobStatus
from jobman.testing import capture_dispatches
from tests.faults.support import (
    Fleet,
    all_finished,
    outcome,
    quick_env,
    record,
    vendor,
)
from tests.support.helpers import wait_for
from tests.testapp.jobs import FaultJob, WaitsForGoJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.faults]

# The worker's SQLite busy timeout in this scenario, and how long the other writer holds
# the database: well past it.
SQLITE_BUSY_TIMEOUT = 1.0
SQLITE_LOCK_SECONDS = 3.0


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    fleet = Fleet(env={**quick_env(), "JOBMAN_TEST_SQLITE_TIMEOUT": str(SQLITE_BUSY_TIMEOUT)})
    yield fleet
    fleet.stop_all()


def break_the_database(go: Path) -> str:
    """Break the workers' database connections, then let the job go on; return what was done."""
    if vendor() == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            killed = int(cursor.fetchone()[0])
        go.touch()
        return f"pg_terminate_backend on {killed} connection(s)"
    assert vendor() == "sqlite"
    other = sqlite3.connect(str(connection.settings_dict["NAME"]), timeout=5, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock, until ROLLBACK
        go.touch()
        time.sleep(SQLITE_LOCK_SECONDS)
        other.execute("ROLLBACK")
    finally:
        other.close()
    return f"write lock held {SQLITE_LOCK_SECONDS} s (busy timeout {SQLITE_BUSY_TIMEOUT} s)"


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
@pytest.mark.parametrize(
    "where",
    [
        # handle() is done with the database; the break meets the footprint write.
        "footprint",
        # handle() writes again after the break: the attempt fails, and so does the first
        # try at writing that failure.
        "handle",
    ],
)
def test_db_connection_killed(where: str, worker_class: str, fleet: Fleet, tmp_path: Path) -> None:
    go = tmp_path / "go"
    row = WaitsForGoJob.dispatch({"go": str(go), "touch_db": where == "handle", "wait": 20})
    fleet.start("--worker-class", worker_class)
    wait_for(lambda: Execution.objects.filter(jobman_id=row.pk).exists(), timeout=30)

    broken_at = time.monotonic()
    fault = break_the_database(go)
    try:
        wait_for(
            lambda: Jobman.objects.filter(pk=row.pk, status__in=JobStatus.finished()).exists(),
            timeout=30,
        )
    except AssertionError:
        row.refresh_from_db()
        raise AssertionError(f"row stuck {row.status}:\n{fleet.output()[-6000:]}") from None
    recovered = time.monotonic() - broken_at  # from the break, a held lock included

    found = outcome([row.pk])
    row.refresh_from_db()
    runs = list(
        Execution.objects.filter(jobman_id=row.pk, kind="handle").values_list("attempt", flat=True)
    )
    record(
        f"db_connection_killed[{where}-{worker_class}]",
        faults=fault,
        attempts=row.attempts,
        handle_runs=len(runs),
        recover_s=round(recovered, 2),
        **found.figures(),
    )
    assert found.stuck == []
    assert row.status == JobStatus.COMPLETED, (row.status, row.error_message, fleet.output())
    assert found.lost == []
    assert found.double_claims == []
    if where == "footprint":
        # The work was done and written once the database answered again.
        assert (row.attempts, runs) == (1, [1])
    else:
        # The first attempt really was cut off; it is recorded, and the second completes.
        assert (row.attempts, runs) == (2, [1, 2])
        assert row.failed_at is not None


def test_outcome_never_recorded__the_reaper_repairs_the_row(fleet: Fleet) -> None:
    """Past the runner's retries (the database away for longer), a row would stay
    `running` under a live worker that has moved on. The reaper sees that RQ's record of
    the worker names no job of that row, and retries the attempt."""
    name = f"faults-backstop-{os.getpid()}"
    fleet.start("--worker-class", "simple", "--name", name)
    alive = reaper.ALIVE_KEY.format(name)
    wait_for(lambda: queues.get_connection("default").exists(alive), timeout=30)
    with capture_dispatches():  # saved, never pushed: as if the worker had taken it
        row = FaultJob.dispatch({})
    claimed = Jobman.objects.claim(row.pk, worker=name)
    assert claimed is not None  # attempt 1 "ran" on that worker, its outcome never written
    lost_at = time.monotonic()

    wait_for(all_finished([row.pk]), timeout=30)
    recovered = time.monotonic() - lost_at

    row.refresh_from_db()
    record(
        "outcome_never_recorded",
        faults="a running row whose live worker no longer runs it",
        recover_s=round(recovered, 1),
        **outcome([row.pk]).figures(),
    )
    assert (row.status, row.attempts) == (JobStatus.COMPLETED, 2)
    assert row.error_message == (
        f"Worker lost: worker {name} could not record the outcome of attempt 1."
    )
    runs = Execution.objects.filter(jobman_id=row.pk).values_list("attempt", flat=True)
    assert list(runs) == [2]
