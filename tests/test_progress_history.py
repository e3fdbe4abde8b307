"""A job in flight: its progress(), throttled, on the row and in the admin; and the
history of every attempt that did not complete, written with the attempt's end."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobman import operations, reaper
from jobman.dashboard import figures
from jobman.dashboard.readmodel import WorkerInfo
from jobman.models import Jobman, JobStatus
from jobman.models.job import HISTORY_LIMIT, bounded_history
from jobman.testing import capture_dispatches, run_pending
from tests.support.helpers import WorkerProcess, start_worker, wait_for, work
from tests.testapp import jobs
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER_CLASSES = ["fork", "simple"]


def fresh(row: Jobman) -> Jobman:
    return Jobman.objects.get(pk=row.pk)


@pytest.fixture
def superuser_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


# Progress


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_progress__moves_while_the_job_runs_and_ends_at_100(
    worker_class: str, workers: list[WorkerProcess]
) -> None:
    row = jobs.ProgressJob.dispatch({"seconds": 3})
    workers.append(start_worker("--worker-class", worker_class))
    seen: set[int] = set()

    def finished() -> bool:
        current = fresh(row)
        if current.status == JobStatus.RUNNING and current.progress is not None:
            seen.add(current.progress)
        return current.status in JobStatus.finished()

    wait_for(finished, timeout=30, interval=0.05)
    assert len(seen) >= 2, seen
    done = fresh(row)
    assert done.status == JobStatus.COMPLETED
    assert (done.progress, done.progress_note) == (100, "step 10 of 10")
    assert done.history == []


def test_progress__is_throttled_to_a_write_a_second() -> None:
    with capture_dispatches():
        row = jobs.ProgressJob.dispatch({"calls": 10_000})
    with CaptureQueriesContext(connection) as queries:
        run_pending(ids=[row.pk])
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    progress_writes = [sql for sql in updates if '"progress" =' in sql]
    # The first call's write, at most one a second after, and the attempt's end.
    assert 2 <= len(progress_writes) <= 5, progress_writes
    done = fresh(row)
    assert done.status == JobStatus.COMPLETED
    assert (done.progress, done.progress_note) == (100, "item 10000")


def test_progress__unused_leaves_the_happy_path_as_it_was() -> None:
    with capture_dispatches():
        row = jobs.HelloJob.dispatch({"name": "Ada"})
    with CaptureQueriesContext(connection) as queries:
        run_pending(ids=[row.pk])
    assert fresh(row).status == JobStatus.COMPLETED
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    (end,) = [sql for sql in updates if '"completed_at" =' in sql]
    for column in ("progress", "progress_note", "history"):
        assert f'"{column}"' not in end, column
    assert fresh(row).progress is None


def test_progress__values_are_checked_and_named() -> None:
    job = jobs.ProgressJob(Jobman(type=jobs.ProgressJob.type, queue="default", attribs={}))
    bad: list[tuple[Any, Any, type[Exception], str]] = [
        (True, None, TypeError, "done"),
        ("5", None, TypeError, "done"),
        (math.nan, None, ValueError, "done"),
        (math.inf, 10, ValueError, "done"),
        (5, False, TypeError, "total"),
        (5, "10", TypeError, "total"),
        (5, math.inf, ValueError, "total"),
        (5, 0, ValueError, "total"),
        (5, -1, ValueError, "total"),
    ]
    for done, total, error, name in bad:
        with pytest.raises(error, match=name):
            job.progress(done, total)
    with pytest.raises(TypeError, match="note"):
        job.progress(5, note=3)  # type: ignore[arg-type]
    job.progress(3, 4, "x" * 300)
    assert (job.jobman.progress, len(job.jobman.progress_note)) == (75, 255)
    job.progress(250)
    assert job.jobman.progress == 100
    job.progress(-3, 10)
    assert job.jobman.progress == 0
    job.progress(12.6)
    assert job.jobman.progress == 13


# History


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_history__two_failures_then_success_show_three_attempts(
    worker_class: str, superuser_client: Client
) -> None:
    row = jobs.FailsTwiceJob.dispatch({"succeed_on": 3})
    work("--worker-class", worker_class)

    done = fresh(row)
    assert done.status == JobStatus.COMPLETED
    assert done.attempts == 3
    assert [entry["attempt"] for entry in done.history] == [1, 2]
    for number, entry in enumerate(done.history, start=1):
        assert entry["outcome"] == "failed"
        assert entry["worker"]
        assert entry["error"] == f"RuntimeError: failure on attempt {number}"
        assert entry["started_at"] <= entry["ended_at"]
    assert set(done.history[0]) == {
        "attempt",
        "worker",
        "started_at",
        "ended_at",
        "outcome",
        "error",
    }

    page = superuser_client.get(reverse("admin:jobman_jobman_change", args=[row.pk]))
    html = page.content.decode()
    for number in (1, 2, 3):
        assert f"attempt {number} of 3 on " in html
    assert html.count("<strong>attempt failed</strong>") == 2
    assert "RuntimeError: failure on attempt 1" in html
    assert "<strong>completed</strong>" in html


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_history__a_timed_out_attempt_says_so(worker_class: str) -> None:
    row = jobs.SlowJob.dispatch({"seconds": 10})  # timeout 1
    work("--worker-class", worker_class)
    done = fresh(row)
    assert done.status == JobStatus.FAILED
    (entry,) = done.history
    assert entry["outcome"] == "timed out"
    assert entry["error"].startswith("Timed out: ")


@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_history__a_stopped_attempt_says_so(
    worker_class: str, workers: list[WorkerProcess]
) -> None:
    row = jobs.LoopingJob.dispatch({"seconds": 30, "polite": True})
    workers.append(start_worker("--worker-class", worker_class))
    wait_for(lambda: Execution.objects.filter(jobman_id=row.pk).exists(), timeout=30)
    operations.cancel([row.pk], who="ada")
    wait_for(lambda: fresh(row).status in JobStatus.finished(), timeout=15)
    done = fresh(row)
    assert done.status == JobStatus.CANCELLED
    (entry,) = done.history
    assert entry["outcome"] == "stopped"
    assert entry["attempt"] == 1
    assert entry["error"].startswith("stopped by ada")


def test_history__a_lost_work_horse_is_lost() -> None:
    with capture_dispatches():
        row = jobs.AlwaysFailingJob.dispatch({})
    claimed = Jobman.objects.claim(row.pk, worker="w-1")
    assert claimed is not None
    rq_job = SimpleNamespace(args=(row.pk,), retries_left=None, retry_intervals=None)
    reaper.horse_lost(rq_job, "w-1", "the work-horse was killed by signal 9 (SIGKILL)")  # type: ignore[arg-type]
    done = fresh(row)
    assert done.status in (JobStatus.RETRYING, JobStatus.FAILED)
    (entry,) = done.history
    assert (entry["outcome"], entry["worker"]) == ("lost", "w-1")
    assert entry["error"].startswith("Worker lost: the work-horse was killed")


def test_history__is_bounded_with_a_marker() -> None:
    with capture_dispatches():
        row = jobs.AlwaysFailingJob.dispatch({})
    earlier = [{"attempt": n, "outcome": "failed"} for n in range(1, 151)]
    Jobman.objects.filter(pk=row.pk).update(history=earlier, attempts=150, max_tries=200)
    run_pending(ids=[row.pk], max_rounds=1)

    history = fresh(row).history
    assert len(history) == HISTORY_LIMIT
    assert [entry["attempt"] for entry in history[:10]] == list(range(1, 11))
    assert history[10] == {"outcome": "omitted", "count": 52}
    assert [entry["attempt"] for entry in history[11:]] == list(range(63, 152))
    # Once more: the marker counts on, and the length stays.
    again = bounded_history([*history, {"attempt": 152, "outcome": "failed"}])
    assert len(again) == HISTORY_LIMIT
    assert again[10] == {"outcome": "omitted", "count": 53}
    assert again[-1]["attempt"] == 152


# Shown


def test_progress__shown_in_the_list_the_page_and_the_dashboard(superuser_client: Client) -> None:
    with capture_dispatches():
        reporting = jobs.ProgressJob.dispatch({})
        silent = jobs.HelloJob.dispatch({"name": "Ada"})
    Jobman.objects.filter(pk=reporting.pk).update(
        status=JobStatus.RUNNING, progress=40, progress_note="row 400 of 1000 <b>"
    )

    listing = superuser_client.get(reverse("admin:jobman_jobman_changelist")).content.decode()
    assert listing.count('data-progress="40"') >= 1
    assert "row 400 of 1000 &lt;b&gt;" in listing
    page = superuser_client.get(reverse("admin:jobman_jobman_change", args=[reporting.pk]))
    assert 'data-progress="40"' in page.content.decode()
    assert "<title>40 %: row 400 of 1000 &lt;b&gt;</title>" in page.content.decode()
    other = superuser_client.get(reverse("admin:jobman_jobman_change", args=[silent.pk]))
    assert "data-progress" not in other.content.decode()

    found = figures._workers(
        [
            WorkerInfo("w-1", "busy", ["default"], reporting.rq_job_id),
            WorkerInfo("w-2", "busy", ["default"], silent.rq_job_id),
        ]
    )
    assert [(w.jobman_id, w.progress) for w in found] == [(reporting.pk, 40), (silent.pk, None)]
