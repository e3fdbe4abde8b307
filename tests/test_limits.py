"""Worker limits: ``--max-time`` and ``--max-memory`` stop a worker between jobs, and the
next job waits for the next worker."""

from __future__ import annotations

import pytest

from jobman.limits import Limits, rss_mb
from jobman.models import Jobman, JobStatus
from tests.support.helpers import start_worker, stop_worker, wait_for
from tests.testapp.jobs import HelloJob, SleepyJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_limits__say_which_one_is_passed() -> None:
    assert Limits().passed() is None
    assert Limits(max_memory_mb=10**9).passed() is None
    assert "its memory is" in (Limits(max_memory_mb=1).passed() or "")
    assert "(--max-time 1)" in (Limits(max_seconds=1, started=0).passed() or "")
    assert 1 < rss_mb() < 10**5


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
@pytest.mark.parametrize(
    ("limit", "said"),
    [(("--max-memory", "1"), "--max-memory 1"), (("--max-time", "1"), "--max-time 1")],
)
def test_a_worker_past_a_limit_stops_after_its_job_and_the_next_waits(
    worker_class: str, limit: tuple[str, str], said: str
) -> None:
    first = SleepyJob.dispatch({"sleep_on": [1], "seconds": 1.5})
    worker = start_worker("--worker-class", worker_class, *limit)
    try:
        assert worker.process.wait(timeout=60) == 0  # stopped by itself
    finally:
        output = stop_worker(worker)
    second = HelloJob.dispatch({"name": "next"})
    first.refresh_from_db()
    assert (first.status, first.attempts) == (JobStatus.COMPLETED, 1), output
    assert "stops: " in output
    assert said in output
    assert Jobman.objects.get(pk=second.pk).status == JobStatus.QUEUED  # waits

    following = start_worker("--worker-class", worker_class, "--burst")
    try:
        wait_for(lambda: Jobman.objects.get(pk=second.pk).status == JobStatus.COMPLETED, timeout=60)
    finally:
        stop_worker(following)


def test_an_idle_worker_past_its_time_stops_too() -> None:
    worker = start_worker(
        "--worker-class",
        "simple",
        "--max-time",
        "1",
        env={"JOBMAN_TEST_JOBMAN": '{"LOST_AFTER": 3}'},
    )
    try:
        assert worker.process.wait(timeout=30) == 0
    finally:
        output = stop_worker(worker)
    assert "(--max-time 1)" in output
