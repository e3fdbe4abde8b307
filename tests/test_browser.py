"""The admin and dashboard in headless Chromium, against a live server, real Redis and workers.

Needs Debian's ``chromium`` at /usr/bin/chromium (``apt-get install -y chromium``) and the
``playwright`` package; Playwright's own browser downloads are not used. Set
``JOBMAN_SCREENSHOTS`` to a folder (``docs``) to also save the screenshots of the docs.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from jobman import JobmanJob
from jobman import admin as jobman_admin
from jobman.models import FailedJob, Jobman, JobStatus
from tests.support.helpers import ROOT, start_worker, stop_worker, wait_for, work
from tests.support.rows import make_failed, make_row
from tests.testapp.jobs import AlwaysFailingJob, FailsUntilJob, HelloJob, HighJob, SleepyJob

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HOSTILE = "<script>alert(1)</script>"
PASSWORD = "browser-test-password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="headless browser tests need Debian's chromium at /usr/bin/chromium "
        "(apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def _async_unsafe_ok() -> Iterator[None]:
    """Let the ORM run on this thread while Playwright's event loop is open on it.

    Playwright's synchronous API keeps a running event loop on the thread between its
    calls, so Django would take the tests' (synchronous) queries for async code.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_async_unsafe_ok: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


class Watched:
    """A page, with every dialog it opened and every script error it raised."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = Watched(context.new_page())
    yield page
    context.close()
    assert page.dialogs == [], "a script ran on an admin page"
    assert page.errors == []


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def log_in(page: Any, base: str, username: str = "boss") -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def listed_ids(page: Any) -> list[int]:
    return [
        int(text) for text in page.locator("#result_list tbody th.field-id a").all_inner_texts()
    ]


def test_failed_job__found_read_retried_and_completed(
    watched: Watched, live_server: Any, superuser: User
) -> None:
    page, base = watched.page, live_server.url
    row = FailsUntilJob.dispatch({"succeed_on": 3})  # both tries fail; a retry succeeds
    for _ in range(2):
        HelloJob.dispatch({"name": "Ada"})
    work()
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED

    log_in(page, base)
    page.goto(f"{base}/admin/jobman/jobman/")
    assert len(listed_ids(page)) == 3
    page.locator("#changelist-filter").get_by_role("link", name="Failed", exact=True).click()
    page.wait_for_url(re.compile(r"status__exact=failed"))
    assert listed_ids(page) == [row.pk]

    page.locator("#result_list th.field-id a", has_text=str(row.pk)).click()
    page.wait_for_url(re.compile(rf"/admin/jobman/jobman/{row.pk}/change/"))
    traceback = page.locator(".field-exception_display pre").inner_text()
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.rstrip().endswith("RuntimeError: failure on attempt 2")
    assert page.locator(".field-status_display").inner_text().strip().endswith("Failed")

    page.click("button.jobman-retry_action")
    page.wait_for_selector(".messagelist")
    assert re.search(rf"/admin/jobman/jobman/{row.pk}/change/", page.url)
    assert (
        f"Retried 1 job: #{row.pk} (test.fails_until)." in page.locator(".messagelist").inner_text()
    )
    assert not FailedJob.objects.filter(jobman_id=row.pk).exists()

    work()
    page.reload()
    assert page.locator(".field-status_display").inner_text().strip().endswith("Completed")
    assert page.locator(".jobman-event-completed").count() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.completed_code) == (JobStatus.COMPLETED, 3, "success")


def test_dashboard__charts_show_the_numbers_and_refresh_themselves(
    watched: Watched, live_server: Any, superuser: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobman_admin.JobmanAdmin, "dashboard_refresh", 1)
    page, base = watched.page, live_server.url
    for n in range(3):
        HelloJob.dispatch({"name": str(n)})
    AlwaysFailingJob.dispatch({})
    work()
    HighJob.dispatch({})  # waits in Redis: no worker serves "high" yet

    log_in(page, base)
    page.goto(f"{base}/admin/jobman/jobman/")
    page.click("a.jobman-dashboard-link")
    page.wait_for_url(f"{base}/admin/jobman/jobman/dashboard/")

    assert page.inner_text("#jobman-completed") == "3"
    assert page.inner_text("#jobman-failed") == "1"
    assert page.inner_text("#jobman-failure-rate") == "25.0 %"
    minutes = page.eval_on_selector_all(
        "#jobman-throughput g.jobman-minute",
        "groups => groups.map(g => [+g.dataset.completed, +g.dataset.failed])",
    )
    assert len(minutes) == 60
    assert sum(c for c, _ in minutes) == 3
    assert sum(f for _, f in minutes) == 1
    drawn = page.eval_on_selector_all(
        "#jobman-throughput g.jobman-minute rect",
        "rects => rects.filter(r => r.getBBox().height > 0).length",
    )
    assert drawn >= 2  # completed and failed bars, in one minute or two
    statuses = dict(
        page.eval_on_selector_all(
            "#jobman-statuses g.jobman-status-bar",
            "bars => bars.map(b => [b.dataset.status, +b.dataset.count])",
        )
    )
    assert statuses["completed"] == 3
    assert statuses["failed"] == 1
    assert statuses["queued"] == 1
    assert page.locator('#jobman-queues tr[data-queue="high"] .jobman-waiting').inner_text() == "1"
    assert page.locator('#jobman-runtimes tr[data-type="test.hello"]').count() == 1
    assert page.locator("#jobman-failures tbody tr").count() == 1

    work("high")
    page.wait_for_function(
        "() => document.querySelector('#jobman-completed').textContent.trim() === '4'",
        timeout=15_000,
    )
    assert page.locator('#jobman-queues tr[data-queue="high"] .jobman-waiting').inner_text() == "0"


def test_dashboard__a_queue_paused_and_resumed_by_its_button(
    watched: Watched, live_server: Any, superuser: User
) -> None:
    page, base = watched.page, live_server.url
    row = HighJob.dispatch({})
    log_in(page, base)
    page.goto(f"{base}/admin/jobman/jobman/dashboard/")
    high = page.locator('#jobman-queues tr[data-queue="high"]')
    assert high.locator(".jobman-queue-state").inner_text().startswith("serving")

    high.get_by_role("button", name="Pause").click()
    page.wait_for_selector(".messagelist")
    assert "Paused 1 queue: high." in page.locator(".messagelist").inner_text()
    assert high.locator(".jobman-paused").inner_text() == "paused"
    assert work("high", "default").code == 0  # a burst worker leaves the paused queue alone
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.QUEUED

    high.get_by_role("button", name="Resume").click()
    page.wait_for_selector(".messagelist")
    assert "Resumed 1 queue: high." in page.locator(".messagelist").inner_text()
    assert high.locator(".jobman-queue-state").inner_text().startswith("serving")
    assert work("high").code == 0
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.COMPLETED


def test_batch__progress_shown_and_the_batch_cancelled(
    watched: Watched, live_server: Any, superuser: User
) -> None:
    page, base = watched.page, live_server.url
    batch = JobmanJob.batch(
        [HelloJob({"name": str(n)}) for n in range(3)],
        name="import",
        finally_=HelloJob({"name": "after"}),
    ).dispatch()
    jobs = list(batch.jobs.order_by("pk").values_list("pk", flat=True))

    log_in(page, base)
    page.goto(f"{base}/admin/jobman/jobbatch/")
    assert listed_ids(page) == [batch.pk]
    assert page.locator("#result_list svg.jobman-progress").get_attribute("data-progress") == "0"
    page.locator("#result_list th.field-id a", has_text=str(batch.pk)).click()
    page.wait_for_url(re.compile(rf"/admin/jobman/jobbatch/{batch.pk}/change/"))
    assert page.locator(".jobman-batch-jobs tbody tr").count() == 3
    assert page.locator('.jobman-callbacks tr[data-callback="finally"]').count() == 1

    page.click("button.jobman-cancel_batch_action")
    page.wait_for_selector(".messagelist")
    assert re.search(rf"/admin/jobman/jobbatch/{batch.pk}/change/", page.url)
    assert "Cancelled 1 batch" in page.locator(".messagelist").inner_text()
    assert page.locator(".field-progress_display svg").get_attribute("data-progress") == "100"
    assert page.locator(".field-state_display").inner_text().strip().endswith("Cancelled")

    page.get_by_role("link", name="In the jobs list").click()
    page.wait_for_url(re.compile(rf"batch__id__exact={batch.pk}"))
    assert sorted(listed_ids(page)) == jobs
    page.locator("#result_list th.field-id a", has_text=str(jobs[0])).click()
    page.get_by_role("link", name=f"batch {batch.pk} 'import'").click()
    page.wait_for_url(re.compile(rf"/admin/jobman/jobbatch/{batch.pk}/change/"))


def test_hostile_text_never_runs(watched: Watched, live_server: Any, superuser: User) -> None:
    page, base = watched.page, live_server.url
    failure = make_failed(error=HOSTILE, job_type=f"evil{HOSTILE}")
    Jobman.objects.filter(pk=failure.jobman_id).update(
        attribs={"html": HOSTILE}, logs=HOSTILE, completed_code=HOSTILE
    )
    done = make_row(JobStatus.COMPLETED, job_type=HOSTILE, completed_code=HOSTILE)
    now = timezone.now()
    Jobman.objects.filter(pk=done.pk).update(
        started_at=now - timedelta(seconds=1), completed_at=now
    )

    log_in(page, base)
    for path in (
        "/admin/jobman/jobman/",
        f"/admin/jobman/jobman/?q={HOSTILE}",
        f"/admin/jobman/jobman/{failure.jobman_id}/change/",
        "/admin/jobman/failedjob/",
        f"/admin/jobman/failedjob/{failure.pk}/change/",
        "/admin/jobman/jobman/dashboard/",
    ):
        page.goto(base + path)
        page.wait_for_load_state("load")
        assert (
            page.locator("script:not([src])").evaluate_all(
                "scripts => scripts.filter(s => s.textContent.includes('alert(1)')).length"
            )
            == 0
        ), path
    page.goto(f"{base}/admin/jobman/jobman/{failure.jobman_id}/change/")
    assert page.locator(".field-error_message_display pre").inner_text() == HOSTILE


def test_viewer__sees_no_action_and_cannot_forge_one(watched: Watched, live_server: Any) -> None:
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_jobman"]))
    row = make_failed().jobman
    page, base = watched.page, live_server.url

    log_in(page, base, "viewer")
    page.goto(f"{base}/admin/jobman/jobman/{row.pk}/change/")
    assert page.locator("button.jobman-retry_action").count() == 0
    page.goto(f"{base}/admin/jobman/jobman/")
    assert page.locator("select[name=action]").count() == 0
    token = page.context.cookies()
    csrf = next(cookie["value"] for cookie in token if cookie["name"] == "csrftoken")
    response = page.request.post(
        f"{base}/admin/jobman/jobman/",
        form={"action": "retry_action", "_selected_action": str(row.pk), "index": "0"},
        headers={"X-CSRFToken": csrf, "Referer": f"{base}/admin/jobman/jobman/"},
    )
    assert response.status == 200
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED


@pytest.mark.skipif(
    not os.environ.get("JOBMAN_SCREENSHOTS"), reason="set JOBMAN_SCREENSHOTS=docs to save them"
)
def test_screenshots(browser: Any, live_server: Any, superuser: User) -> None:
    """The pictures of docs/admin.md, from jobs that really ran."""
    folder = ROOT / os.environ["JOBMAN_SCREENSHOTS"]
    now = timezone.now()
    history = [
        ("shop.send_receipt", 0.4),
        ("shop.resize_image", 2.5),
        ("shop.sync_stock", 7.0),
        ("shop.notify_courier", 0.9),
    ]
    for minute in range(58):
        for n in range((minute * 7) % 9 + 2):
            job_type, seconds = history[(minute + n) % len(history)]
            end = now - timedelta(minutes=minute, seconds=n * 3)
            started = end - timedelta(seconds=seconds * (1 + n % 4 / 3))
            make_row(
                JobStatus.COMPLETED,
                job_type=job_type,
                queue="high" if n % 3 == 0 else "default",
                attempts=1,
                started_at=started,
                completed_at=end,
                age=now - started + timedelta(seconds=1),
            )
        if minute % 11 == 4:
            make_failed(
                job_type="shop.sync_stock",
                error="ConnectionError: stock service timed out",
                age=timedelta(minutes=minute),
            )
    for n in range(6):
        make_row(
            JobStatus.QUEUED,
            job_type="shop.resize_image",
            queue="low",
            age=timedelta(seconds=90 - n),
        )
    AlwaysFailingJob.dispatch({"order": 1042, "customer": "ada@example.com"})
    HelloJob.dispatch({"name": "Ada", "code": "success"})
    work("--name", "shop-worker-1")
    # Show the traceback as a deployed project's, not as this checkout's.
    for model in (Jobman, FailedJob):
        for pk, exception in model.objects.values_list("pk", "exception"):
            if exception:
                model.objects.filter(pk=pk).update(
                    exception=exception.replace(str(ROOT), "/srv/shop")
                )
    sleepy = SleepyJob.dispatch({"sleep_on": [1], "seconds": 60})
    for n in range(4):
        HelloJob.dispatch({"name": f"queued {n}"})
    failed_row = Jobman.objects.get(type=AlwaysFailingJob.type)

    context = browser.new_context(viewport={"width": 1600, "height": 900})
    # The admin's navigation sidebar, folded: the list's columns need the width.
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page = context.new_page()
    worker = start_worker("--worker-class", "simple", "--max-jobs", "1", "--name", "shop-worker-2")
    try:
        wait_for(lambda: Jobman.objects.get(pk=sleepy.pk).status == JobStatus.RUNNING, timeout=30)
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/admin/jobman/jobman/")
        page.screenshot(path=str(folder / "admin-changelist.png"))
        page.goto(f"{live_server.url}/admin/jobman/jobman/{failed_row.pk}/change/")
        page.screenshot(path=str(folder / "admin-failed-job.png"), full_page=True)
        page.goto(f"{live_server.url}/admin/jobman/jobman/dashboard/")
        page.screenshot(path=str(folder / "admin-dashboard.png"), full_page=True)
    finally:
        stop_worker(worker, signal.SIGKILL)
        context.close()
