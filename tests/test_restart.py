"""jobman_restart: every worker finishes its current job, then exits."""

from __future__ import annotations

import pytest
from rq import Worker

from jobman import queues
from jobman.models import Jobman, JobStatus
from tests.support.helpers import WorkerProcess, manage, run_command, start_worker, wait_for
from tests.testapp.jobs import SleepyJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_restart__busy_worker_finishes_its_job_idle_worker_exits(
    workers: list[WorkerProcess],
) -> None:
    row = SleepyJob.dispatch({"sleep_on": [1], "seconds": 3})
    workers.extend([start_worker(), start_worker("high")])
    wait_for(lambda: Execution.objects.filter(jobman_id=row.pk).exists())
    connection = queues.get_connection("default")
    wait_for(lambda: len(Worker.all(connection=connection)) == 2)

    result = run_command("jobman_restart")

    assert result.code == 0
    assert result.err == ""
    assert result.out.splitlines()[-1] == "asked 2 worker(s) to restart."
    for worker in workers:
        worker.process.wait(timeout=30)
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.COMPLETED


def test_restart__unknown_queue_is_a_usage_error_naming_it() -> None:
    result = manage("jobman_restart", "--queue", "nowhere")
    assert result.code == 2
    assert "Queue 'nowhere' is not in settings.RQ_QUEUES" in result.err
