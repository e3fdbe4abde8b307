"""Stopping a running job: from jobman_cancel, on both worker classes; the row ends
cancelled, saying who stopped it, keeps its logs, and is not retried."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from jobman import operations
from jobman.models import Jobman, JobStatus
from tests.support.helpers import WorkerProcess, run_command, start_worker, wait_for
from tests.testapp.jobs import HelloJob, LoopingJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def started(row: Jobman) -> bool:
    return Execution.objects.filter(jobman_id=row.pk).exists()


def ended(row: Jobman) -> bool:
    return Jobman.objects.get(pk=row.pk).status in JobStatus.finished()


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
@pytest.mark.parametrize("polite", [False, True])
def test_a_running_job_stopped_from_the_command_ends_cancelled_and_is_not_retried(
    worker_class: str, polite: bool, workers: list[WorkerProcess]
) -> None:
    row = LoopingJob.dispatch({"seconds": 30, "polite": polite})
    workers.append(start_worker("--worker-class", worker_class))
    wait_for(lambda: started(row), timeout=30)

    result = run_command("jobman_cancel", str(row.pk))
    assert result.code == 0, result.err
    assert result.out.startswith(f"Asked jobman #{row.pk} (test.looping, queue default) to stop")
    wait_for(lambda: ended(row), timeout=15)

    row.refresh_from_db()
    assert row.status == JobStatus.CANCELLED
    assert row.attempts == 1  # not retried
    assert row.cancel_reason.startswith("stopped by ")
    assert "(jobman_cancel) at " in row.cancel_reason
    assert row.cancel_reason in row.logs  # said in the logs too
    if worker_class == "simple":
        # Its own lines of the stopped attempt are kept.
        assert ("tidied up" if polite else "still working") in row.logs
    # The worker goes on with the next job.
    after = HelloJob.dispatch({"name": "next"})
    wait_for(lambda: ended(after), timeout=30)
    assert Jobman.objects.get(pk=after.pk).status == JobStatus.COMPLETED
    assert Execution.objects.filter(jobman_id=row.pk).count() == 1


def test_stopping_a_job_twice_or_after_it_ended_changes_nothing(
    workers: list[WorkerProcess],
) -> None:
    row = HelloJob.dispatch({"name": "quick"})
    workers.append(start_worker("--worker-class", "simple"))
    wait_for(lambda: ended(row), timeout=30)
    result = operations.cancel([row.pk], who="ada")
    assert [item.id for item in result.skipped] == [row.pk]
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.COMPLETED


def test_a_running_job_cannot_be_asked_to_stop_while_redis_is_away() -> None:
    from django.test.utils import override_settings

    from tests.support.rows import UNREACHABLE, make_row

    running = make_row(JobStatus.RUNNING, attempts=1)
    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = operations.cancel([running.pk], who="ada")
    assert result.done == []
    assert len(result.errors) == 1
    assert result.errors[0].startswith(
        f"jobman #{running.pk} runs, and could not be asked to stop: "
    )
    assert Jobman.objects.get(pk=running.pk).status == JobStatus.RUNNING


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_a_running_job_stopped_from_the_admin_says_who(
    worker_class: str, admin_client: Client, workers: list[WorkerProcess]
) -> None:
    row = LoopingJob.dispatch({"seconds": 30})
    workers.append(start_worker("--worker-class", worker_class))
    wait_for(lambda: started(row), timeout=30)

    page = admin_client.get(reverse("admin:jobman_jobman_change", args=[row.pk]))
    assert 'value="cancel_action"' in page.content.decode()  # the Stop button
    data = {"action": "cancel_action", "_selected_action": [str(row.pk)]}
    admin_client.post(reverse("admin:jobman_jobman_changelist"), data)
    wait_for(lambda: ended(row), timeout=15)

    row.refresh_from_db()
    assert (row.status, row.attempts) == (JobStatus.CANCELLED, 1)
    assert row.cancel_reason.startswith("stopped by admin (admin) at ")
