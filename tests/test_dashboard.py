"""The dashboard: its figures, its charts, its JSON, and what it costs."""

from __future__ import annotations

import re
import signal
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import path, reverse
from django.utils import timezone

from jobman import JobmanJob, operations, schedules
from jobman import admin as jobman_admin
from jobman.dashboard import charts, figures
from jobman.models import FailedJob, JobBatch, Jobman, JobSchedule, JobStatus
from tests.support.helpers import start_worker, stop_worker, wait_for
from tests.support.rows import UNREACHABLE, make_failed, make_row
from tests.testapp.jobs import HelloJob, SleepyJob

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:jobman_dashboard"
JSON = "admin:jobman_dashboard_json"


@pytest.fixture
def staff(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def completed(ago: timedelta, run: float = 1.0, job_type: str = "test.hello") -> Jobman:
    """A row that completed ``ago`` before now after running ``run`` seconds."""
    end = timezone.now() - ago
    return make_row(
        JobStatus.COMPLETED,
        job_type=job_type,
        attempts=1,
        started_at=end - timedelta(seconds=run),
        completed_at=end,
    )


def failed(ago: timedelta) -> Jobman:
    failure = make_failed()
    at = timezone.now() - ago
    Jobman.objects.filter(pk=failure.jobman_id).update(failed_at=at)
    FailedJob.objects.filter(pk=failure.pk).update(failed_at=at)
    return failure.jobman


# Figures


def test_per_minute__counts_completions_and_final_failures_in_their_minute() -> None:
    for _ in range(3):
        completed(timedelta(minutes=5))
    completed(timedelta(minutes=30))
    completed(timedelta(minutes=30))
    completed(timedelta(hours=2))  # before the window
    failed(timedelta(minutes=10))
    make_row(JobStatus.RETRYING, failed_at=timezone.now())  # not failed for good

    found = figures.collect()

    assert len(found.minutes) == 60
    by_age = {59 - i: (m.completed, m.failed) for i, m in enumerate(found.minutes)}
    assert by_age[5] == (3, 0)
    assert by_age[30] == (2, 0)
    assert by_age[10] == (0, 1)
    assert (found.completed, found.failed) == (5, 1)
    assert found.failure_rate == pytest.approx(1 / 6)
    assert found.failure_rate_percent == "16.7 %"


def test_failure_rate__none_when_nothing_finished() -> None:
    found = figures.collect()

    assert found.failure_rate is None
    assert found.failure_rate_percent == "-"


def test_runtimes__p50_p95_and_max_per_type() -> None:
    for seconds in range(1, 21):
        completed(timedelta(minutes=1), run=seconds, job_type="test.hello")
    completed(timedelta(minutes=1), run=0.25, job_type="test.high")
    completed(timedelta(hours=3), run=500, job_type="test.high")  # too old

    found = figures.collect()

    runtimes = {r.type: r for r in found.runtimes}
    assert set(runtimes) == {"test.hello", "test.high"}
    hello = runtimes["test.hello"]
    assert (hello.count, hello.p50, hello.p95, hello.max) == (20, 10.0, 19.0, 20.0)
    high = runtimes["test.high"]
    assert (high.count, high.p50, high.p95, high.max) == (1, 0.25, 0.25, 0.25)
    assert (found.runtime_sample, found.runtime_sample_capped) == (21, False)


def test_runtimes__from_the_latest_completions_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "RUNTIME_SAMPLE", 3)
    for minutes in range(5):
        completed(timedelta(minutes=minutes), run=minutes + 1)

    found = figures.collect()

    assert (found.runtime_sample, found.runtime_sample_capped) == (3, True)
    assert found.runtimes[0].max == 3.0  # the three latest ran 1, 2 and 3 s


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([5.0], 50, 5.0), ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 95, 4), ([1, 2, 3, 4], 0, 1)],
)
def test_percentile__nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert figures.percentile(values, pct) == expected


def test_queues__waiting_jobs_and_oldest_wait_from_redis(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        HelloJob.dispatch({})
        HelloJob.dispatch({})

    found = figures.collect()

    default = next(q for q in found.queues if q.name == "default")
    assert default.waiting == 2
    assert default.oldest_wait is not None
    assert default.oldest_wait >= 0
    assert found.waiting == 2
    assert found.redis_errors == []


def test_latest_failures__newest_first_with_their_error() -> None:
    older = failed(timedelta(minutes=20))
    newer = failed(timedelta(minutes=2))

    found = figures.collect()

    assert [f.jobman_id for f in found.latest_failures] == [newer.pk, older.pk]
    assert found.latest_failures[0].error == "ValueError: this job always fails"


def test_batches__unfinished_first_then_finished_in_the_last_hour() -> None:
    old_unfinished = JobmanJob.batch([HelloJob({})], name="old").dispatch()
    finished_now = JobBatch.objects.create(name="just done", total=1, finished_at=timezone.now())
    JobBatch.objects.create(
        name="long done", total=1, finished_at=timezone.now() - timedelta(hours=2)
    )
    new_unfinished = JobmanJob.batch([HelloJob({}), HelloJob({})], name="new").dispatch()
    JobBatch.objects.filter(pk=new_unfinished.pk).update(pending=1, failed=1)

    found = figures.collect().batches

    assert [b.id for b in found] == [new_unfinished.pk, old_unfinished.pk, finished_now.pk]
    newest = found[0]
    assert (newest.name, newest.total, newest.pending, newest.failed, newest.progress) == (
        "new",
        2,
        1,
        1,
        50,
    )
    assert [b.state for b in found] == ["running", "running", "completed"]


def test_batches__ten_at_most_from_the_latest_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "BATCHES_LISTED", 2)
    monkeypatch.setattr(figures, "BATCH_WINDOW", 3)
    made = [JobBatch.objects.create(name=str(n), total=1, pending=1) for n in range(5)]

    assert [b.id for b in figures.collect().batches] == [made[4].pk, made[3].pk]
    JobBatch.objects.filter(pk__in=[made[4].pk, made[3].pk, made[2].pk]).update(
        pending=0, finished_at=timezone.now() - timedelta(days=1)
    )
    # The two older unfinished ones are beyond the latest three batches.
    assert figures.collect().batches == []


@pytest.mark.django_db(transaction=True)
def test_workers__each_with_the_job_it_runs() -> None:
    row = SleepyJob.dispatch({"sleep_on": [1], "seconds": 30})
    worker = start_worker("--worker-class", "simple")
    try:
        wait_for(lambda: Jobman.objects.get(pk=row.pk).status == JobStatus.RUNNING, timeout=30)
        wait_for(lambda: any(w.jobman_id == row.pk for w in figures.collect().workers), timeout=10)
        found = figures.collect()
    finally:
        stop_worker(worker, signal.SIGKILL)

    (running,) = [w for w in found.workers if w.jobman_id == row.pk]
    assert running.job_type == "test.sleepy"
    assert running.rq_job_id == f"jobman-{row.pk}"
    assert "default" in running.queues


# The page and its JSON


def test_page__charts_carry_the_figures(staff: Client) -> None:
    for _ in range(4):
        completed(timedelta(minutes=3))
    failed(timedelta(minutes=3))
    make_row(JobStatus.PENDING)

    response = staff.get(reverse(DASHBOARD))

    assert response.status_code == 200
    page = response.content.decode()
    minutes = re.findall(r'data-completed="(\d+)" data-failed="(\d+)"', page)
    assert len(minutes) == 60
    assert sum(int(c) for c, _ in minutes) == 4
    assert sum(int(f) for _, f in minutes) == 1
    assert ("4", "1") in minutes
    bars = dict(re.findall(r'data-status="(\w+)" data-count="(\d+)"', page))
    assert bars == {
        "pending": "1",
        "queued": "0",
        "running": "0",
        "retrying": "0",
        "completed": "4",
        "failed": "1",
        "cancelled": "0",
    }
    assert '<span class="jobman-card-value" id="jobman-completed">4</span>' in page
    assert '<span class="jobman-card-value" id="jobman-failure-rate">20.0 %</span>' in page
    assert "/static/jobman/dashboard.js" in page
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in page
    assert 'data-refresh="10"' in page


def test_json__the_same_figures(staff: Client) -> None:
    completed(timedelta(minutes=1), run=2)
    failed(timedelta(minutes=1))

    data = staff.get(reverse(JSON)).json()

    assert (data["completed"], data["failed"], data["failure_rate"]) == (1, 1, 0.5)
    assert len(data["minutes"]) == 60
    assert data["jobs"]["completed"] == 1
    assert data["runtimes"] == [
        {"type": "test.hello", "count": 1, "p50": 2.0, "p95": 2.0, "max": 2.0}
    ]
    assert [q["name"] for q in data["queues"]] == ["default", "high", "low"]
    assert data["latest_failures"][0]["type"] == "test.always_fails"


def test_page__batches_panel_and_json(staff: Client) -> None:
    running = JobmanJob.batch([HelloJob({}) for _ in range(4)], name="import").dispatch()
    JobBatch.objects.filter(pk=running.pk).update(pending=1, failed=1)
    cancelled = JobmanJob.batch([HelloJob({})], name="given up").dispatch()
    JobBatch.objects.filter(pk=cancelled.pk).update(
        pending=0, cancelled_at=timezone.now(), finished_at=timezone.now()
    )

    page = staff.get(reverse(DASHBOARD)).content.decode()
    data = staff.get(reverse(JSON)).json()

    panel = page.split('<table id="jobman-batches">')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-batch="(\d+)" data-state="(\w+)">', panel)
    assert rows == [(str(running.pk), "running"), (str(cancelled.pk), "cancelled")]
    assert f'href="{reverse("admin:jobman_jobbatch_change", args=[running.pk])}"' in panel
    assert 'data-progress="75" data-total="4" data-pending="1" data-failed="1"' in panel
    assert '<span class="jobman-batch-progress">75 %</span>' in panel
    assert f"?batch__id__exact={running.pk}" in panel
    assert f'href="{reverse("admin:jobman_jobbatch_changelist")}"' in page
    batches = {b["id"]: b for b in data["batches"]}
    assert list(batches) == [running.pk, cancelled.pk]
    assert batches[running.pk] == {
        **batches[running.pk],
        "name": "import",
        "state": "running",
        "total": 4,
        "pending": 1,
        "failed": 1,
        "progress": 75,
        "finished_at": None,
    }
    assert batches[cancelled.pk]["state"] == "cancelled"
    assert batches[cancelled.pk]["cancelled_at"] is not None


def test_page__schedules_table_and_json(staff: Client) -> None:
    specs = {
        "hourly": {"type": "test.hello", "cron": "0 * * * *"},
        "nightly": {"type": "test.hello", "cron": "0 3 * * *"},
        "broken": {"type": "nope", "cron": "0 * * * *"},
    }
    slot = timezone.now().replace(minute=0, second=0, microsecond=0)
    with override_settings(JOBMAN={"SCHEDULES": specs, "SCHEDULE_TIME_ZONE": "UTC"}):
        make_row(JobStatus.COMPLETED, schedule="hourly", scheduled_for=slot - timedelta(hours=1))
        last = make_row(JobStatus.FAILED, schedule="hourly", scheduled_for=slot)
        operations.pause_schedules(["nightly"])
        JobSchedule.objects.filter(name="hourly").update(missed=2, last_missed=slot)
        JobSchedule.objects.filter(name="nightly").update(missed=1)
        page = staff.get(reverse(DASHBOARD)).content.decode()
        data = staff.get(reverse(JSON)).json()

    panel = page.split('<table id="jobman-schedules">')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-schedule="([^"]+)">(.*?)</tr>', panel, re.DOTALL)
    assert [name for name, _ in rows] == ["broken", "hourly", "nightly"]
    cells = {name: re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL) for name, row in rows}
    hourly = JobSchedule.objects.get(name="hourly")
    assert (
        f'<a href="{reverse("admin:jobman_jobschedule_change", args=[hourly.pk])}">'
        in (cells["hourly"][0])
    )
    upcoming = slot + timedelta(hours=1)
    assert f'<time datetime="{upcoming.isoformat()}">' in cells["hourly"][1]
    job_url = reverse("admin:jobman_jobman_change", args=[last.pk])
    assert f'<a href="{job_url}">#{last.pk}</a>' in cells["hourly"][2]
    assert 'jobman-status-failed">failed</span>' in cells["hourly"][2]
    assert cells["hourly"][3] == "2"
    assert cells["nightly"][1].startswith("paused since <time")
    assert "no run yet" in cells["nightly"][2]
    assert "not fired: schedule &#x27;broken&#x27;: no job class" in cells["broken"][1]
    assert (
        f'<a href="{reverse("admin:jobman_jobschedule_changelist")}">broken</a>'
        in (cells["broken"][0])
    )
    assert '<span class="jobman-card-value" id="jobman-missed-runs">3</span>' in page
    assert data["missed_runs"] == 3
    by_name = {schedule["name"]: schedule for schedule in data["schedules"]}
    assert by_name["hourly"] == {
        **by_name["hourly"],
        "type": "test.hello",
        "next_slot": upcoming.isoformat().replace("+00:00", "Z"),
        "paused_at": None,
        "last_run_id": last.pk,
        "last_run_status": "failed",
        "missed": 2,
    }
    assert by_name["nightly"]["paused_at"] is not None
    assert by_name["broken"]["problems"]


def test_page__no_schedule_no_missed_runs(staff: Client) -> None:
    page = staff.get(reverse(DASHBOARD)).content.decode()

    assert "No schedule is configured." in page
    assert "jobman-missed-runs" not in page
    assert (figures.collect().missed_runs, schedules.configured()) == (0, [])


def test_page__redis_unreachable_still_shows_the_database(staff: Client) -> None:
    completed(timedelta(minutes=1))

    with override_settings(RQ_QUEUES=UNREACHABLE):
        response = staff.get(reverse(DASHBOARD))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Redis could not be asked" in page
    assert '<span class="jobman-card-value" id="jobman-completed">1</span>' in page


def test_page__query_count_does_not_grow_with_rows(staff: Client) -> None:
    completed(timedelta(minutes=1))
    failed(timedelta(minutes=1))
    with CaptureQueriesContext(connection) as few:
        staff.get(reverse(DASHBOARD))
    for minutes in range(30):
        completed(timedelta(minutes=minutes), job_type="test.high" if minutes % 2 else "test.hello")
        failed(timedelta(minutes=minutes))
        JobBatch.objects.create(name=str(minutes), total=2, pending=1)
    with CaptureQueriesContext(connection) as many:
        staff.get(reverse(DASHBOARD))

    assert len(many) == len(few) <= 10


def test_page__linked_from_the_index_and_the_changelist(staff: Client) -> None:
    url = reverse(DASHBOARD)

    index = staff.get(reverse("admin:index")).content.decode()
    listing = staff.get(reverse("admin:jobman_jobman_changelist")).content.decode()

    assert index.count(f'<a href="{url}"') == 2  # the Dashboard row and its View link
    assert f'href="{url}"' in listing


# A second admin site, for the test below: the project's urls.py needs nothing for it.
ops_site = admin.AdminSite(name="ops")
ops_site.register(Jobman, jobman_admin.JobmanAdmin)
ops_site.register(FailedJob, jobman_admin.FailedJobAdmin)
urlpatterns = [path("ops/", ops_site.urls)]


@pytest.mark.urls("tests.test_dashboard")
def test_any_admin_site_serves_and_lists_the_dashboard(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    batch = JobBatch.objects.create(name="not registered on ops", total=1, pending=1)

    response = client.get("/ops/jobman/jobman/dashboard/")
    index = client.get("/ops/").content.decode()

    assert response.status_code == 200
    assert reverse("ops:jobman_dashboard") == "/ops/jobman/jobman/dashboard/"
    assert '<a href="/ops/jobman/jobman/dashboard/"' in index
    assert "/ops/jobman/jobman/dashboard.json" in response.content.decode()
    # The batches are listed, not linked: this site has no admin for them.
    assert f'<tr data-batch="{batch.pk}"' in response.content.decode()
    assert "/jobbatch/" not in response.content.decode()


# Charts


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (480, 500)]
)
def test_nice_ceiling(value: int, expected: int) -> None:
    assert charts.nice_ceiling(value) == expected


def test_throughput_chart__bars_are_as_high_as_their_counts() -> None:
    start = timezone.now().replace(second=0, microsecond=0)
    minutes = [
        figures.Minute(start, 10, 0),
        figures.Minute(start + timedelta(minutes=1), 5, 5),
        figures.Minute(start + timedelta(minutes=2), 0, 0),
    ]

    svg = str(charts.throughput(minutes))

    assert 'data-peak="10"' in svg
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    # Plot height 180 px: 10 of 10 is full height; 5 and 5 stack to full height.
    assert heights == [180.0, 0.0, 90.0, 90.0, 0.0, 0.0]


def test_progress_bar__finished_and_failed_parts() -> None:
    svg = str(charts.progress_bar(total=4, pending=1, failed=1, width=100))

    assert 'data-progress="75" data-total="4" data-pending="1" data-failed="1"' in svg
    widths = re.findall(r'<rect (?:x="[\d.]+" )?width="([\d.]+)"', svg)
    assert widths == ["100", "75", "25"]  # the track, the finished jobs, the failed ones
    assert "<title>3 of 4 finished (75 %), 1 failed</title>" in svg
