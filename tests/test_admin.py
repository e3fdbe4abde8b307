"""The jobs, batches and schedules admin, through Django's test client: lists, pages, actions,
permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from jobman import JobmanJob, operations, schedules, stops
from jobman import admin as jobman_admin
from jobman.models import FailedJob, JobBatch, Jobman, JobSchedule, JobStatus
from tests.support.rows import make_failed, make_row
from tests.testapp.jobs import (
    BatchCallbackJob,
    HelloJob,
    StepJob,
    UniqueReportJob,
    UniqueUntilStartJob,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jobman_jobman_changelist"
FAILED_CHANGELIST = "admin:jobman_failedjob_changelist"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def user_with(username: str, *codenames: str, staff: bool = True) -> User:
    user = User.objects.create_user(username, password="secret", is_staff=staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(admin_user: User) -> Client:
    return client_for(admin_user)


@pytest.fixture
def viewer() -> Client:
    """Staff who may look at jobs and failed jobs, and do nothing to them."""
    return client_for(user_with("viewer", "view_jobman", "view_failedjob"))


def text(response: HttpResponse) -> str:
    return response.content.decode()


def listed_ids(response: HttpResponse) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', text(response))]


def shown_ids(response: HttpResponse) -> list[int]:
    """Ids in the first column of the changelist, for users without actions too."""
    return [
        int(pk)
        for pk in re.findall(r'<th class="field-id"><a href="[^"]+">(\d+)</a>', text(response))
    ]


def notes(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client: Client, action: str, ids: list[int], url: str = CHANGELIST) -> HttpResponse:
    data: dict[str, Any] = {"action": action, "_selected_action": [str(pk) for pk in ids]}
    return client.post(reverse(url), data, follow=True)


def press(client: Client, action: str, pk: int, page_url: str, url: str) -> HttpResponse:
    """A row's page's button: the action on the row, posted to come back to the page."""
    data = {"action": action, "_selected_action": [pk], jobman_admin.NEXT_FIELD: page_url}
    return client.post(reverse(url), data)


# The changelist


def test_changelist__newest_first_with_every_column(superuser_client: Client) -> None:
    old = make_row(JobStatus.COMPLETED, age=timedelta(hours=2), attempts=1)
    Jobman.objects.filter(pk=old.pk).update(
        started_at=old.created_at,
        completed_at=old.created_at + timedelta(seconds=2.5),
        completed_code="already-exists",
    )
    new = make_row(JobStatus.QUEUED, job_type="test.high", queue="high")

    response = superuser_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert listed_ids(response) == [new.pk, old.pk]
    page = text(response)
    assert 'class="jobman-status jobman-status-completed">Completed</span>' in page
    assert "already-exists" in page
    assert "2.5 s" in page  # duration of the last attempt
    assert "1/1" in page  # attempts / tries
    assert reverse("admin:jobman_dashboard") in page


def test_changelist__query_count_does_not_grow_with_rows(superuser_client: Client) -> None:
    make_row()
    with CaptureQueriesContext(connection) as few:
        superuser_client.get(reverse(CHANGELIST))
    Jobman.objects.bulk_create(
        Jobman(type="test.hello", queue="default", status=JobStatus.COMPLETED) for _ in range(150)
    )
    with CaptureQueriesContext(connection) as many:
        response = superuser_client.get(reverse(CHANGELIST))

    assert len(listed_ids(response)) == 100
    assert len(many) == len(few)
    # Two to identify the user, the bounded count, the page of rows, two date bounds.
    assert len(many) <= 6


def test_changelist__no_full_count_no_distinct_no_heavy_columns(superuser_client: Client) -> None:
    make_failed()
    url = (
        reverse(CHANGELIST)
        + "?status__exact=failed&type=test.always_fails&queue=default&failed=yes"
    )

    with CaptureQueriesContext(connection) as captured:
        response = superuser_client.get(url)

    assert response.status_code == 200
    sql = [query["sql"] for query in captured]
    assert not [q for q in sql if "COUNT(" in q.upper() or "DISTINCT" in q.upper()]
    # Counting reads the ids of at most 11 pages' rows (plus one).
    assert [
        q
        for q in sql
        if q.startswith('SELECT "jobmans"."id" AS "pk" FROM') and q.endswith("LIMIT 1101")
    ]
    page_query = next(q for q in sql if q.startswith('SELECT "jobmans"."id"') and "ORDER BY" in q)
    for heavy in ("attribs", "logs", "exception", "error_message"):
        assert f'"jobmans"."{heavy}"' not in page_query.split(" FROM ")[0]


def test_changelist__count_stops_early_and_says_so(
    superuser_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobman_admin.JobmanAdmin, "list_per_page", 5)
    monkeypatch.setattr(jobman_admin.JobmanAdmin, "list_max_show_all", 10)
    Jobman.objects.bulk_create(
        Jobman(type="test.hello", queue="default", status=JobStatus.COMPLETED) for _ in range(60)
    )

    response = superuser_client.get(reverse(CHANGELIST))

    # Counting stops 10 pages ahead: (1 + 10) * 5 rows.
    assert "55+ jobs" in text(response)
    assert response.context["cl"].paginator.num_pages == 11
    later = superuser_client.get(reverse(CHANGELIST) + "?p=5")
    assert "60 jobs" in text(later)  # (5 + 10) * 5 = 75: every row counted


def test_changelist__filters_by_status_type_queue_and_failure(superuser_client: Client) -> None:
    completed = make_row(JobStatus.COMPLETED)
    failed = make_failed().jobman
    high = make_row(JobStatus.QUEUED, job_type="test.high", queue="high")
    recovered = make_row(JobStatus.COMPLETED, failed_at=timezone.now())

    def ids(query: str) -> set[int]:
        return set(listed_ids(superuser_client.get(reverse(CHANGELIST) + query)))

    assert ids("?status__exact=failed") == {failed.pk}
    assert ids("?status__exact=completed") == {completed.pk, recovered.pk}
    assert ids("?type=test.high") == {high.pk}
    assert ids("?queue=high") == {high.pk}
    assert ids("?failed=yes") == {failed.pk, recovered.pk}
    assert ids("?failed=no") == {completed.pk, high.pk}


def test_changelist__filter_choices_come_from_the_registry_and_settings(
    superuser_client: Client,
) -> None:
    response = superuser_client.get(reverse(CHANGELIST))

    page = text(response)
    for job_type in ("test.hello", "test.flaky", "test.always_fails"):
        assert f"?type={job_type}" in page
    for queue in ("default", "high", "low"):
        assert f"?queue={queue}" in page


def test_changelist__a_type_no_longer_registered_can_still_be_filtered(
    superuser_client: Client,
) -> None:
    row = make_row(job_type="gone.type")

    response = superuser_client.get(reverse(CHANGELIST) + "?type=gone.type")

    assert listed_ids(response) == [row.pk]
    assert "?type=gone.type" in text(response)


def test_changelist__date_hierarchy_from_first_to_last_date(superuser_client: Client) -> None:
    now = timezone.localtime()
    make_row(age=timedelta(days=400))
    make_row()

    response = superuser_client.get(reverse(CHANGELIST))
    page = text(response)
    last_year = (now - timedelta(days=400)).year
    for year in range(last_year, now.year + 1):
        assert f"?created_at__year={year}" in page

    this_month = superuser_client.get(
        reverse(CHANGELIST) + f"?created_at__year={now.year}&created_at__month={now.month}"
    )
    assert len(listed_ids(this_month)) == 1
    assert f"created_at__day={now.day}" in text(this_month)


def test_changelist__search_by_id_type_or_error(superuser_client: Client) -> None:
    hello = make_row(job_type="test.hello")
    failed = make_failed(error="KeyError: 'sku-991'").jobman

    def ids(term: str) -> list[int]:
        response = superuser_client.get(reverse(CHANGELIST), {"q": term})
        assert response.status_code == 200
        return listed_ids(response)

    assert ids(str(hello.pk)) == [hello.pk]
    assert ids(f"#{failed.pk}") == [failed.pk]
    assert ids("sku-991") == [failed.pk]
    assert ids("test.hello") == [hello.pk]
    assert ids("nothing-like-this") == []


def test_changelist__only_id_and_created_can_be_sorted(superuser_client: Client) -> None:
    response = superuser_client.get(reverse(CHANGELIST))

    sortable = response.context["cl"].sortable_by
    assert set(sortable) == {"id", "created"}


# A job's page


def test_change_page__read_only_history_of_a_failed_job(superuser_client: Client) -> None:
    failure = make_failed(error="ValueError: bad <input>")
    row = failure.jobman
    Jobman.objects.filter(pk=row.pk).update(
        attribs={"order": 7, "items": ["a", "b"]},
        logs="[t] [attempt 1] about to fail\n[t] [attempt 2] about to fail\n",
        pushed_at=row.created_at,
        started_at=row.created_at + timedelta(seconds=1),
        failed_at=row.created_at + timedelta(seconds=2),
        worker="worker-1",
    )

    response = superuser_client.get(reverse("admin:jobman_jobman_change", args=[row.pk]))

    assert response.status_code == 200
    page = text(response)
    assert 'name="_save"' not in page  # nothing to edit
    assert '<pre class="jobman-pre">{\n  &quot;items&quot;: [\n    &quot;a&quot;,' in page
    assert "ValueError: bad &lt;input&gt;" in page
    assert (
        '<pre class="jobman-pre">Traceback (most recent call last):\n  ...\nValueError: bad &lt;input&gt;</pre>'
        in page
    )
    assert "[attempt 2] about to fail" in page
    timeline = page.split('<ol class="jobman-timeline">')[1].split("</ol>")[0]
    kinds = re.findall(r"<strong>([^<]+)</strong>", timeline)
    assert kinds == ["created", "pushed", "started", "failed"]
    assert "attempt 2 of 2 on worker-1" in timeline
    assert reverse("admin:jobman_failedjob_change", args=[failure.pk]) in page
    assert f"<code>jobman-{row.pk}</code>: not in Redis" in page
    assert "jobman-retry_action" in page  # the Retry button


def test_change_page__shows_rq_status_of_a_pushed_job(
    superuser_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        row = HelloJob.dispatch({"name": "Ada"})

    response = superuser_client.get(reverse("admin:jobman_jobman_change", args=[row.pk]))

    assert f"<code>jobman-{row.pk}</code>: queued in RQ" in text(response)
    assert "jobman-cancel_action" in text(response)
    assert "jobman-retry_action" not in text(response)


def test_change_page__retry_button_comes_back_to_the_page(superuser_client: Client) -> None:
    row = make_failed().jobman
    page_url = reverse("admin:jobman_jobman_change", args=[row.pk])

    response = press(superuser_client, "retry_action", row.pk, page_url, CHANGELIST)

    assert response.status_code == 302
    assert response["Location"] == page_url
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED


def test_change_page__refuses_to_go_back_elsewhere(superuser_client: Client) -> None:
    row = make_failed().jobman

    response = superuser_client.post(
        reverse(CHANGELIST),
        {
            "action": "retry_action",
            "_selected_action": [row.pk],
            jobman_admin.NEXT_FIELD: "https://example.com/",
        },
    )

    assert response["Location"] != "https://example.com/"


def test_nothing_is_added_edited_or_deleted_here(superuser_client: Client) -> None:
    row = make_row()

    assert superuser_client.get(reverse("admin:jobman_jobman_add")).status_code == 403
    assert (
        superuser_client.get(reverse("admin:jobman_jobman_delete", args=[row.pk])).status_code
        == 403
    )
    assert (
        superuser_client.post(
            reverse("admin:jobman_jobman_change", args=[row.pk]), {"status": "completed"}
        ).status_code
        == 403
    )
    assert "delete_selected" not in text(superuser_client.get(reverse(CHANGELIST)))
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED


# Escaping


def test_hostile_text_is_escaped_everywhere(superuser_client: Client) -> None:
    failure = make_failed(error=HOSTILE, job_type=f"evil{HOSTILE}")
    row = failure.jobman
    Jobman.objects.filter(pk=row.pk).update(
        attribs={"html": HOSTILE}, logs=HOSTILE, completed_code=HOSTILE, worker=HOSTILE
    )
    pages = [
        reverse(CHANGELIST),
        reverse(CHANGELIST) + f"?type=evil{HOSTILE}",
        reverse("admin:jobman_jobman_change", args=[row.pk]),
        reverse(FAILED_CHANGELIST),
        reverse("admin:jobman_failedjob_change", args=[failure.pk]),
        reverse("admin:jobman_dashboard"),
    ]
    for url in pages:
        page = text(superuser_client.get(url))
        assert HOSTILE not in page, url
        assert "&lt;script&gt;alert(1)" in page, url
    json = superuser_client.get(reverse("admin:jobman_dashboard_json")).json()
    assert json["latest_failures"][0]["error"] == HOSTILE  # data, for a program to escape


# Actions


def test_retry_action__retries_failed_rows_and_names_the_others(superuser_client: Client) -> None:
    failed = make_failed().jobman
    completed = make_row(JobStatus.COMPLETED)

    response = act(superuser_client, "retry_action", [failed.pk, completed.pk])

    failed.refresh_from_db()
    assert failed.status == JobStatus.QUEUED
    assert not FailedJob.objects.filter(jobman=failed).exists()
    assert notes(response) == [
        f"Retried 1 job: #{failed.pk} (test.always_fails).",
        f"Skipped 1 job: #{completed.pk} is completed, not failed.",
    ]


def test_retry_action__a_forgotten_failure_cannot_be_retried(superuser_client: Client) -> None:
    failure = make_failed()
    failure.delete()

    response = act(superuser_client, "retry_action", [failure.jobman_id])

    assert notes(response) == [
        f"Skipped 1 job: #{failure.jobman_id} has no failed_jobs row (it was forgotten), "
        "so it cannot be retried."
    ]
    assert Jobman.objects.get(pk=failure.jobman_id).status == JobStatus.FAILED


def test_requeue_action__pushes_pending_rows_only(superuser_client: Client, redis_db: Any) -> None:
    pending = make_row(JobStatus.PENDING)
    running = make_row(JobStatus.RUNNING)

    response = act(superuser_client, "requeue_action", [pending.pk, running.pk])

    pending.refresh_from_db()
    assert pending.status == JobStatus.QUEUED
    assert redis_db.lrange("rq:queue:default", 0, -1) == [f"jobman-{pending.pk}".encode()]
    assert notes(response) == [
        f"Pushed 1 job to Redis: #{pending.pk} (test.hello).",
        f"Skipped 1 job: jobman #{running.pk} is running; only pending jobs, and queued or retrying ones missing from Redis, are pushed again.",
    ]


def test_cancel_action__cancels_waiting_rows_and_asks_running_ones_to_stop(
    superuser_client: Client, django_capture_on_commit_callbacks: Any, redis_db: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        queued = HelloJob.dispatch({})
    running = make_row(JobStatus.RUNNING)

    response = act(superuser_client, "cancel_action", [queued.pk, running.pk])

    queued.refresh_from_db()
    running.refresh_from_db()
    # The running one ends cancelled when its attempt next looks (tests/test_stops.py).
    assert (queued.status, running.status) == (JobStatus.CANCELLED, JobStatus.RUNNING)
    assert notes(response) == [
        f"Cancelled 1 job: #{queued.pk} (test.hello, was queued).",
        f"Asked 1 job to stop: #{running.pk} (test.hello).",
    ]
    asked = stops.asked(redis_db, running.pk) or ""
    assert asked.startswith("stopped by admin (admin) at ")
    assert redis_db.llen("rq:queue:default") == 0


def test_actions__too_many_rows_change_nothing(
    superuser_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobman.admin.base.ACTION_LIMIT", 2)
    rows = [make_row(JobStatus.PENDING) for _ in range(3)]

    response = act(superuser_client, "cancel_action", [row.pk for row in rows])

    assert notes(response) == [
        "More than 2 rows are selected; nothing was changed. Narrow the selection, or use the "
        "management commands, which work in batches."
    ]
    assert set(Jobman.objects.values_list("status", flat=True)) == {JobStatus.PENDING}


def test_actions__long_reports_name_ten_and_count_the_rest(superuser_client: Client) -> None:
    rows = [make_row(JobStatus.COMPLETED) for _ in range(12)]

    response = act(superuser_client, "retry_action", [row.pk for row in rows])

    assert notes(response)[0].endswith(" and 2 more.")


# Failed jobs


def test_failed_jobs__list_search_and_page(superuser_client: Client) -> None:
    first = make_failed(error="KeyError: 'a'", age=timedelta(minutes=5))
    second = make_failed(job_type="test.gives_up", error="JobFailed: blog not found")

    response = superuser_client.get(reverse(FAILED_CHANGELIST))
    assert listed_ids(response) == [second.pk, first.pk]
    assert "JobFailed: blog not found" in text(response)
    assert reverse("admin:jobman_jobman_change", args=[first.jobman_id]) in text(response)

    by_job = superuser_client.get(reverse(FAILED_CHANGELIST), {"q": f"#{first.jobman_id}"})
    assert listed_ids(by_job) == [first.pk]
    by_type = superuser_client.get(reverse(FAILED_CHANGELIST) + "?type=test.gives_up")
    assert listed_ids(by_type) == [second.pk]

    page = superuser_client.get(reverse("admin:jobman_failedjob_change", args=[first.pk]))
    assert "Traceback (most recent call last):\n  ...\nKeyError: &#x27;a&#x27;</pre>" in text(page)
    assert "&quot;jobman_id&quot;: " in text(page)


def test_failed_jobs__retry_and_forget_actions(superuser_client: Client) -> None:
    retried = make_failed()
    forgotten = make_failed()

    response = act(superuser_client, "retry_action", [retried.pk], FAILED_CHANGELIST)
    assert notes(response) == [f"Retried 1 job: #{retried.jobman_id} (test.always_fails)."]
    response = act(superuser_client, "forget_action", [forgotten.pk], FAILED_CHANGELIST)
    assert notes(response) == [f"Forgot 1 failed job: {forgotten.pk}."]

    assert not FailedJob.objects.exists()
    assert Jobman.objects.get(pk=retried.jobman_id).status == JobStatus.QUEUED
    assert Jobman.objects.get(pk=forgotten.jobman_id).status == JobStatus.FAILED


def test_failed_jobs__changelist_query_count_does_not_grow(superuser_client: Client) -> None:
    make_failed()
    with CaptureQueriesContext(connection) as few:
        superuser_client.get(reverse(FAILED_CHANGELIST))
    for _ in range(20):
        make_failed()
    with CaptureQueriesContext(connection) as many:
        response = superuser_client.get(reverse(FAILED_CHANGELIST))

    assert len(listed_ids(response)) == 21
    assert len(many) == len(few) <= 4


# Who may do what


@pytest.mark.parametrize(
    "name", [CHANGELIST, FAILED_CHANGELIST, "admin:jobman_dashboard", "admin:jobman_dashboard_json"]
)
def test_anonymous__sent_to_the_login_page(client: Client, name: str) -> None:
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")


def test_non_staff__refused_the_dashboard() -> None:
    user = user_with("customer", "view_jobman", staff=False)
    client = client_for(user)

    for name in ("admin:jobman_dashboard", "admin:jobman_dashboard_json"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_without_view_permission__refused_everything() -> None:
    client = client_for(user_with("clerk"))

    for name in (CHANGELIST, "admin:jobman_dashboard", "admin:jobman_dashboard_json"):
        assert client.get(reverse(name)).status_code == 403
    assert "Dashboard" not in text(client.get(reverse("admin:index")))


def test_viewer__sees_everything_and_is_offered_no_action(viewer: Client) -> None:
    row = make_failed().jobman

    listing = viewer.get(reverse(CHANGELIST))
    page = viewer.get(reverse("admin:jobman_jobman_change", args=[row.pk]))
    failures = viewer.get(reverse(FAILED_CHANGELIST))

    assert shown_ids(listing) == [row.pk]
    for response in (listing, failures):
        assert response.status_code == 200
        assert 'name="action"' not in text(response)
    assert "jobman-retry_action" not in text(page)
    assert viewer.get(reverse("admin:jobman_dashboard")).status_code == 200
    index = text(viewer.get(reverse("admin:index")))
    assert f'<a href="{reverse("admin:jobman_dashboard")}"' in index


@pytest.mark.parametrize("action", ["retry_action", "requeue_action", "cancel_action"])
def test_viewer__a_forged_action_post_changes_nothing(viewer: Client, action: str) -> None:
    failed = make_failed().jobman
    pending = make_row(JobStatus.PENDING)

    response = act(viewer, action, [failed.pk, pending.pk])

    assert response.status_code == 200
    assert not any(note.startswith(("Retried", "Pushed", "Cancelled")) for note in notes(response))
    failed.refresh_from_db()
    pending.refresh_from_db()
    assert (failed.status, pending.status) == (JobStatus.FAILED, JobStatus.PENDING)
    assert FailedJob.objects.filter(jobman=failed).exists()


def test_viewer__forged_failed_job_actions_change_nothing(viewer: Client) -> None:
    failure = make_failed()

    for action in ("retry_action", "forget_action"):
        act(viewer, action, [failure.pk], FAILED_CHANGELIST)

    assert FailedJob.objects.filter(pk=failure.pk).exists()
    assert Jobman.objects.get(pk=failure.jobman_id).status == JobStatus.FAILED


def test_each_action_needs_its_own_permission() -> None:
    client = client_for(user_with("retrier", "view_jobman", "retry_jobman"))
    failed = make_failed().jobman
    pending = make_row(JobStatus.PENDING)

    listing = text(client.get(reverse(CHANGELIST)))
    assert 'value="retry_action"' in listing
    assert 'value="cancel_action"' not in listing
    assert 'value="requeue_action"' not in listing

    response = act(client, "cancel_action", [pending.pk])
    assert notes(response) == ["No action selected."]
    assert Jobman.objects.get(pk=pending.pk).status == JobStatus.PENDING

    response = act(client, "retry_action", [failed.pk])
    assert notes(response) == [f"Retried 1 job: #{failed.pk} (test.always_fails)."]


def test_forget_needs_its_own_permission() -> None:
    client = client_for(user_with("retrier", "view_failedjob", "retry_jobman"))
    failure = make_failed()

    listing = text(client.get(reverse(FAILED_CHANGELIST)))
    assert 'value="retry_action"' in listing
    assert 'value="forget_action"' not in listing
    response = act(client, "forget_action", [failure.pk], FAILED_CHANGELIST)
    assert notes(response) == ["No action selected."]
    assert FailedJob.objects.filter(pk=failure.pk).exists()


# Job controls on a job's page


def change_page(client: Client, row: Jobman) -> str:
    response = client.get(reverse("admin:jobman_jobman_change", args=[row.pk]))
    assert response.status_code == 200
    return text(response)


def controls(page: str) -> str:
    """The Controls fieldset of a job's page."""
    assert ">Controls</h2>" in page
    return page.split(">Controls</h2>")[1].split("</fieldset>")[0]


def test_change_page__a_plain_job_has_no_controls(superuser_client: Client) -> None:
    page = change_page(superuser_client, make_row())

    assert ">Controls</h2>" not in page


def test_change_page__a_delayed_job_shows_when_it_may_run(superuser_client: Client) -> None:
    row = HelloJob.dispatch({}, delay=timedelta(minutes=5))
    assert row.available_at is not None

    shown = controls(change_page(superuser_client, row))

    assert f'<time datetime="{row.available_at.isoformat()}">' in shown
    assert re.search(
        r"Runs not before <time [^>]+>[^<]+</time> \(in (4 min 5\d|5 min 00) s\), "
        r"5 min 00 s after dispatch\.",
        shown,
    ), shown
    assert "field-unique_display" not in shown
    assert "field-chain_display" not in shown


def test_change_page__a_delay_that_has_passed(superuser_client: Client) -> None:
    created = timezone.now() - timedelta(hours=1)
    row = make_row(
        JobStatus.COMPLETED,
        age=timedelta(hours=1),
        available_at=created + timedelta(seconds=30),
    )

    shown = controls(change_page(superuser_client, row))

    assert re.search(r"Held until <time [^>]+>[^<]+</time>, 30 s after dispatch\.", shown)


def test_change_page__a_unique_job_shows_its_key_and_how_long_it_holds(
    superuser_client: Client,
) -> None:
    until_done = UniqueReportJob.dispatch({"report": 7})
    until_start = UniqueUntilStartJob.dispatch({"report": 8})

    shown = controls(change_page(superuser_client, until_done))
    assert (
        "<code>7</code> held: dispatching test.unique_report with this unique id returns "
        "this job (unique per unique id until it finishes, for 1 h 00 min after dispatch at "
        "most)." in shown
    )
    assert "It expires at <time" in shown
    assert "until it starts" in controls(change_page(superuser_client, until_start))

    Jobman.objects.filter(pk=until_done.pk).update(unique_key=None, status=JobStatus.COMPLETED)
    released = controls(change_page(superuser_client, until_done))
    assert "Not held: another job of this type with the same unique id may be dispatched" in (
        released
    )


def test_change_page__a_chain_step_links_to_every_step(superuser_client: Client) -> None:
    rows = JobmanJob.chain([StepJob({"name": name}) for name in "abc"]).dispatch()

    shown = controls(change_page(superuser_client, rows[1]))

    assert f"Step 2 of 3 of chain <code>{rows[0].chain_id}</code>." in shown
    steps = re.findall(r'<li value="(\d)" class="([^"]+)" data-jobman-id="(\d+)"', shown)
    assert steps == [
        ("1", "jobman-chain-step", str(rows[0].pk)),
        ("2", "jobman-chain-step jobman-current", str(rows[1].pk)),
        ("3", "jobman-chain-step", str(rows[2].pk)),
    ]
    for row in (rows[0], rows[2]):
        assert f'<a href="{reverse("admin:jobman_jobman_change", args=[row.pk])}">' in shown
    assert len(re.findall(r'<span class="jobman-status jobman-status-\w+">', shown)) == 3
    assert 'aria-current="step"' in shown
    assert f"?chain_id__exact={rows[0].chain_id}" in shown


def test_change_page__a_cancelled_step_says_why(superuser_client: Client) -> None:
    rows = JobmanJob.chain([StepJob({"name": name}) for name in "ab"]).dispatch()
    operations.cancel([rows[0].pk])

    shown = controls(change_page(superuser_client, rows[1]))

    assert f"Why: cancelled: step 1 of the chain (jobman #{rows[0].pk}) ended cancelled" in shown
    assert shown.count('jobman-status-cancelled">Cancelled</span>') == 2


def test_change_page__a_long_chain_costs_one_query_for_a_window_of_steps(
    superuser_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = JobmanJob.chain([StepJob({"name": str(n)}) for n in range(3)]).dispatch()
    long = JobmanJob.chain([StepJob({"name": str(n)}) for n in range(12)]).dispatch()
    monkeypatch.setattr("jobman.admin.jobs.CHAIN_STEPS_SHOWN", 5)

    with CaptureQueriesContext(connection) as few:
        change_page(superuser_client, short[1])
    with CaptureQueriesContext(connection) as many:
        page = change_page(superuser_client, long[7])

    assert len(many) == len(few)
    shown = controls(page)
    assert f"Step 8 of more than 10 of chain <code>{long[0].chain_id}</code>." in shown
    assert re.findall(r'<li value="(\d+)"', shown) == ["6", "7", "8", "9", "10"]
    assert "Steps 1 to 5 not shown." in shown
    assert "Later steps not shown." in shown


def test_change_page__a_batch_job_links_to_its_batch(superuser_client: Client) -> None:
    batch = JobmanJob.batch(
        [StepJob({"name": name}) for name in "abcd"],
        name="monthly import",
        then=BatchCallbackJob({"which": "then"}),
    ).dispatch()
    JobBatch.objects.filter(pk=batch.pk).update(pending=3)
    row = batch.jobs.order_by("pk").first()
    assert row is not None

    shown = controls(change_page(superuser_client, row))

    batch_url = reverse("admin:jobman_jobbatch_change", args=[batch.pk])
    assert f'<a href="{batch_url}">batch {batch.pk} &#x27;monthly import&#x27;</a>' in shown
    assert 'data-state="running">In progress</span>' in shown
    assert 'data-progress="25" data-total="4" data-pending="3" data-failed="0"' in shown
    assert "1 of 4 finished (25 %)" in shown
    assert f"{reverse(CHANGELIST)}?batch__id__exact={batch.pk}" in shown

    callback = BatchCallbackJob.dispatch({"which": "then", "batch_id": batch.pk})
    shown = controls(change_page(superuser_client, callback))
    assert f'The then callback of <a href="{batch_url}">batch {batch.pk}' in shown


def test_changelist__filters_by_batch_and_by_chain(superuser_client: Client) -> None:
    batch = JobmanJob.batch([StepJob({"name": name}) for name in "ab"]).dispatch()
    chain = JobmanJob.chain([StepJob({"name": name}) for name in "xyz"]).dispatch()
    make_row()

    by_batch = superuser_client.get(reverse(CHANGELIST), {"batch__id__exact": batch.pk})
    by_chain = superuser_client.get(reverse(CHANGELIST), {"chain_id__exact": chain[0].chain_id})
    nonsense = superuser_client.get(reverse(CHANGELIST), {"chain_id__exact": "nonsense"})
    not_a_batch = superuser_client.get(reverse(CHANGELIST), {"batch__id__exact": "x"})

    assert set(listed_ids(by_batch)) == set(batch.jobs.values_list("pk", flat=True))
    assert f"batch {batch.pk}" in text(by_batch)  # the chosen filter, shown in the sidebar
    assert set(listed_ids(by_chain)) == {row.pk for row in chain}
    for response in (nonsense, not_a_batch):
        assert response.status_code == 302
        assert response["Location"].endswith("?e=1")


# Batches


BATCH_CHANGELIST = "admin:jobman_jobbatch_changelist"


def test_batch_changelist__state_progress_and_a_link_to_the_jobs(superuser_client: Client) -> None:
    running = JobmanJob.batch([StepJob({"name": n}) for n in "abcd"], name="import").dispatch()
    JobBatch.objects.filter(pk=running.pk).update(pending=1, failed=1)
    done = JobmanJob.batch([StepJob({"name": "x"})], name="report").dispatch()
    JobBatch.objects.filter(pk=done.pk).update(pending=0, finished_at=timezone.now())

    response = superuser_client.get(reverse(BATCH_CHANGELIST))

    assert response.status_code == 200
    assert listed_ids(response) == [done.pk, running.pk]
    page = text(response)
    assert 'data-progress="75" data-total="4" data-pending="1" data-failed="1"' in page
    assert "3 of 4 finished (75 %), 1 failed" in page
    assert 'data-state="running">In progress</span>' in page
    assert 'data-state="completed">Completed</span>' in page
    assert f'<a href="{reverse(CHANGELIST)}?batch__id__exact={running.pk}">4</a>' in page
    assert 'value="cancel_batch_action"' in page

    finished = superuser_client.get(reverse(BATCH_CHANGELIST) + "?state=completed")
    assert listed_ids(finished) == [done.pk]
    assert listed_ids(superuser_client.get(reverse(BATCH_CHANGELIST), {"q": "import"})) == [
        running.pk
    ]


def test_batch_changelist__query_count_does_not_grow_with_batches(
    superuser_client: Client,
) -> None:
    JobBatch.objects.create(name="first", total=2, pending=2)
    with CaptureQueriesContext(connection) as few:
        superuser_client.get(reverse(BATCH_CHANGELIST))
    JobBatch.objects.bulk_create(JobBatch(name=str(n), total=3, pending=1) for n in range(30))
    with CaptureQueriesContext(connection) as many:
        response = superuser_client.get(reverse(BATCH_CHANGELIST))

    assert len(listed_ids(response)) == 31
    assert len(many) == len(few) <= 4


def test_batch_change_page__jobs_callbacks_and_cancel_button(superuser_client: Client) -> None:
    batch = JobmanJob.batch(
        [StepJob({"name": n}) for n in "ab"],
        name="import",
        then=BatchCallbackJob({"which": "then"}),
        finally_=BatchCallbackJob({"which": "finally"}),
    ).dispatch()
    first, second = batch.jobs.order_by("pk")

    response = superuser_client.get(reverse("admin:jobman_jobbatch_change", args=[batch.pk]))

    assert response.status_code == 200
    page = text(response)
    assert 'name="_save"' not in page
    assert "0 of 2 finished (0 %)" in page
    for row in (first, second):
        assert f'<tr data-jobman-id="{row.pk}"><td><a href="' in page
        assert reverse("admin:jobman_jobman_change", args=[row.pk]) in page
    assert f'<a href="{reverse(CHANGELIST)}?batch__id__exact={batch.pk}">' in page
    callbacks = re.findall(r'<tr data-callback="(\w+)"><th scope="row">\w+</th><td>([^<]+)', page)
    assert callbacks == [("then", "test.batch_callback"), ("finally", "test.batch_callback")]
    assert "not yet: sent when every job has finished, if all completed" in page
    assert "jobman-cancel_batch_action" in page  # the Cancel batch button


def test_batch_change_page__long_batches_list_the_first_jobs(
    superuser_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobman.admin.batches.BATCH_JOBS_SHOWN", 3)
    batch = JobmanJob.batch([StepJob({"name": str(n)}) for n in range(5)]).dispatch()

    page = text(superuser_client.get(reverse("admin:jobman_jobbatch_change", args=[batch.pk])))

    assert page.count("<tr data-jobman-id=") == 3
    assert "The first 3 by id." in page
    assert f'<a href="{reverse(CHANGELIST)}?batch__id__exact={batch.pk}">All 5 in the list</a>' in (
        page
    )


def test_cancel_batch_action__cancels_waiting_jobs_and_leaves_running_ones(
    superuser_client: Client, django_capture_on_commit_callbacks: Any, redis_db: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        batch = JobmanJob.batch([StepJob({"name": n}) for n in "abc"], name="import").dispatch()
    running, *waiting = batch.jobs.order_by("pk")
    Jobman.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING)

    response = act(superuser_client, "cancel_batch_action", [batch.pk], BATCH_CHANGELIST)

    assert notes(response) == [
        f"Cancelled 1 batch: {batch.pk} (import): 2 waiting jobs cancelled, 1 still running."
    ]
    statuses = dict(batch.jobs.values_list("pk", "status"))
    assert statuses == {
        running.pk: JobStatus.RUNNING,
        **{row.pk: JobStatus.CANCELLED for row in waiting},
    }
    batch.refresh_from_db()
    assert batch.cancelled_at is not None
    assert (batch.pending, batch.finished_at) == (1, None)
    # The cancelled jobs are taken out of Redis; the running one is left to its worker.
    assert redis_db.lrange("rq:queue:default", 0, -1) == [running.rq_job_id.encode()]
    page = text(superuser_client.get(reverse("admin:jobman_jobbatch_change", args=[batch.pk])))
    assert 'data-state="cancelled">Cancelled</span>' in page


def test_cancel_batch_action__a_finished_batch_is_refused(superuser_client: Client) -> None:
    batch = JobmanJob.batch([StepJob({"name": "a"})]).dispatch()
    JobBatch.objects.filter(pk=batch.pk).update(pending=0, finished_at=timezone.now())

    response = act(superuser_client, "cancel_batch_action", [batch.pk], BATCH_CHANGELIST)

    assert notes(response)[0].startswith(f"Skipped 1 batch: batch {batch.pk} finished at ")
    batch.refresh_from_db()
    assert batch.cancelled_at is None
    page = text(superuser_client.get(reverse("admin:jobman_jobbatch_change", args=[batch.pk])))
    assert "jobman-cancel_batch_action" not in page


def test_cancel_batch_action__needs_the_cancel_permission() -> None:
    viewer = client_for(user_with("batch-viewer", "view_jobbatch", "view_jobman"))
    canceller = client_for(user_with("canceller", "view_jobbatch", "cancel_jobman"))
    batch = JobmanJob.batch([StepJob({"name": n}) for n in "ab"]).dispatch()
    page_url = reverse("admin:jobman_jobbatch_change", args=[batch.pk])
    waiting = dict(batch.jobs.values_list("pk", "status"))

    assert 'value="cancel_batch_action"' not in text(viewer.get(reverse(BATCH_CHANGELIST)))
    assert "jobman-cancel_batch_action" not in text(viewer.get(page_url))
    response = act(viewer, "cancel_batch_action", [batch.pk], BATCH_CHANGELIST)
    assert not any(note.startswith("Cancelled") for note in notes(response))
    assert dict(batch.jobs.values_list("pk", "status")) == waiting
    assert JobBatch.objects.get(pk=batch.pk).cancelled_at is None

    assert "jobman-cancel_batch_action" in text(canceller.get(page_url))
    response = press(canceller, "cancel_batch_action", batch.pk, page_url, BATCH_CHANGELIST)
    assert response["Location"] == page_url  # the button comes back to the batch's page
    assert set(batch.jobs.values_list("status", flat=True)) == {JobStatus.CANCELLED}


def test_batch_pages__hostile_names_are_escaped(superuser_client: Client) -> None:
    batch = JobmanJob.batch([StepJob({"name": HOSTILE})], name=HOSTILE).dispatch()
    row = batch.jobs.get()

    for url in (
        reverse(BATCH_CHANGELIST),
        reverse("admin:jobman_jobbatch_change", args=[batch.pk]),
        reverse("admin:jobman_jobman_change", args=[row.pk]),
        reverse("admin:jobman_dashboard"),
    ):
        page = text(superuser_client.get(url))
        assert HOSTILE not in page, url
        assert ESCAPED in page, url


# Schedules

SCHEDULE_CHANGELIST = "admin:jobman_jobschedule_changelist"
SCHEDULES = {
    "hourly": {"type": "test.hello", "cron": "0 * * * *", "attribs": {"name": "hourly"}},
    "nightly": {"type": "test.hello", "cron": "0 3 * * *", "queue": "low", "overlap": False},
    "broken": {"type": "nope", "cron": "0 * * * *"},
}


@pytest.fixture
def configured() -> Iterator[None]:
    """Three schedules: two fine, one whose type no job class has."""
    with override_settings(JOBMAN={"SCHEDULES": SCHEDULES, "SCHEDULE_TIME_ZONE": "UTC"}):
        yield


def run_of(name: str, hours_ago: int, status: str = JobStatus.COMPLETED) -> Jobman:
    """A run of schedule ``name``, for the slot ``hours_ago`` hours before this one."""
    slot = timezone.now().replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    return make_row(status, schedule=name, scheduled_for=slot - timedelta(hours=hours_ago))


def state_of(name: str) -> JobSchedule:
    schedules.ensure_states()
    return JobSchedule.objects.get(name=name)


def schedule_row(page: str, name: str) -> str:
    """The changelist's row of schedule ``name``."""
    return page.split(f">{name}</a></th>")[1].split("</tr>")[0]


def test_schedule_changelist__every_configured_schedule_its_next_slot_and_last_runs(
    superuser_client: Client, configured: None
) -> None:
    runs = [run_of("hourly", hours) for hours in range(7)]
    Jobman.objects.filter(pk=runs[1].pk).update(status=JobStatus.FAILED)
    JobSchedule.objects.create(name="retired", missed=3, last_missed=runs[6].scheduled_for)
    operations.pause_schedules(["nightly"])

    response = superuser_client.get(reverse(SCHEDULE_CHANGELIST))

    assert response.status_code == 200
    page = text(response)
    names = re.findall(r'<th class="field-name"><a href="[^"]+">([^<]+)</a></th>', page)
    assert names == ["hourly", "nightly", "retired"]  # the broken one cannot be stored
    hourly = schedule_row(page, "hourly")
    assert "<code>0 * * * *</code>" in hourly
    upcoming = schedules.next_slot("0 * * * *", ZoneInfo("UTC"), timezone.now())
    assert f'<time datetime="{upcoming.isoformat()}">' in hourly
    shown = [int(pk) for pk in re.findall(r'<li data-jobman-id="(\d+)">', hourly)]
    assert shown == [row.pk for row in runs[:5]]  # the newest five, newest first
    for row in runs[:5]:
        assert f'<a href="{reverse("admin:jobman_jobman_change", args=[row.pk])}">' in hourly
    assert 'jobman-status-failed">Failed</span>' in hourly
    assert "paused since <time" in schedule_row(page, "nightly")
    assert "no run yet" in schedule_row(page, "nightly")
    retired = schedule_row(page, "retired")
    assert retired.count("not configured") == 3  # type, cron, next slot
    assert '<span class="jobman-schedule-missed">3, the last <time' in retired
    problems = page.split('<div class="jobman-schedule-problems">')[1].split("</div>")[0]
    assert "<strong>broken</strong>: schedule &#x27;broken&#x27;: no job class" in problems
    assert 'value="pause_action"' in page
    assert 'value="resume_action"' in page


def test_schedule_changelist__search_by_name(superuser_client: Client, configured: None) -> None:
    def names(term: str) -> list[str]:
        response = superuser_client.get(reverse(SCHEDULE_CHANGELIST), {"q": term})
        assert response.status_code == 200
        return re.findall(
            r'<th class="field-name"><a href="[^"]+">([^<]+)</a></th>', text(response)
        )

    assert names("night") == ["nightly"]
    assert names("1") == []  # a number is a name's text too, not a row's id


def test_schedule_change_page__what_the_list_shows_and_all_its_runs(
    superuser_client: Client, configured: None
) -> None:
    run = run_of("hourly", 1)
    state = state_of("hourly")

    response = superuser_client.get(reverse("admin:jobman_jobschedule_change", args=[state.pk]))

    assert response.status_code == 200
    page = text(response)
    assert 'name="_save"' not in page
    assert f'<li data-jobman-id="{run.pk}">' in page
    assert f'<a href="{reverse(CHANGELIST)}?schedule=hourly">All its runs</a>' in page
    assert "Queue its type&#x27;s; catch up: latest; overlap: allowed." in page
    assert "&quot;name&quot;: &quot;hourly&quot;" in page  # the attribs of its runs
    assert "jobman-pause_action" in page
    assert "jobman-resume_action" not in page
    nightly = state_of("nightly")
    page = text(superuser_client.get(reverse("admin:jobman_jobschedule_change", args=[nightly.pk])))
    assert "overlap: a slot is skipped while a run is unfinished" in page


def test_pause_and_resume_actions__through_the_operations(
    superuser_client: Client, configured: None
) -> None:
    hourly = state_of("hourly")
    retired = JobSchedule.objects.create(name="retired")

    paused = act(superuser_client, "pause_action", [hourly.pk, retired.pk], SCHEDULE_CHANGELIST)
    again = act(superuser_client, "pause_action", [hourly.pk], SCHEDULE_CHANGELIST)
    page = text(superuser_client.get(reverse("admin:jobman_jobschedule_change", args=[hourly.pk])))
    resumed = act(superuser_client, "resume_action", [hourly.pk], SCHEDULE_CHANGELIST)

    assert notes(paused) == ["Paused 1 schedule: hourly.", "Not configured: retired."]
    (skipped,) = notes(again)
    assert skipped.startswith("Skipped 1 schedule: schedule 'hourly' is paused since ")
    assert "jobman-resume_action" in page  # a paused schedule's page offers Resume
    assert notes(resumed) == ["Resumed 1 schedule: hourly."]
    assert JobSchedule.objects.get(pk=hourly.pk).paused_at is None


def test_pause_and_resume_actions__need_the_pause_permission(configured: None) -> None:
    viewer = client_for(user_with("schedule-viewer", "view_jobschedule"))
    pauser = client_for(user_with("pauser", "view_jobschedule", "pause_jobschedule"))
    clerk = client_for(user_with("schedule-clerk"))
    state = state_of("hourly")
    page_url = reverse("admin:jobman_jobschedule_change", args=[state.pk])

    listing = viewer.get(reverse(SCHEDULE_CHANGELIST))
    assert listing.status_code == 200
    assert 'name="action"' not in text(listing)
    assert "jobman-pause_action" not in text(viewer.get(page_url))
    for action in ("pause_action", "resume_action"):
        response = act(viewer, action, [state.pk], SCHEDULE_CHANGELIST)
        assert not any(note.startswith(("Paused", "Resumed")) for note in notes(response))
    assert JobSchedule.objects.get(pk=state.pk).paused_at is None
    assert clerk.get(reverse(SCHEDULE_CHANGELIST)).status_code == 403
    assert clerk.get(page_url).status_code == 403

    assert "jobman-pause_action" in text(pauser.get(page_url))
    response = press(pauser, "pause_action", state.pk, page_url, SCHEDULE_CHANGELIST)
    assert response["Location"] == page_url  # the button comes back to the schedule's page
    assert JobSchedule.objects.get(pk=state.pk).paused_at is not None


def test_change_page__a_run_of_a_schedule_links_to_it(
    superuser_client: Client, configured: None
) -> None:
    run = run_of("hourly", 2)
    state = state_of("hourly")
    assert run.scheduled_for is not None

    shown = controls(change_page(superuser_client, run))

    schedule_url = reverse("admin:jobman_jobschedule_change", args=[state.pk])
    assert (
        f'Run of schedule <a href="{schedule_url}">hourly</a> for '
        f'<time datetime="{run.scheduled_for.isoformat()}">' in shown
    )
    assert "field-schedule_display" not in controls(
        change_page(superuser_client, HelloJob.dispatch({}, delay=timedelta(minutes=5)))
    )


def test_changelist__filters_by_schedule(superuser_client: Client, configured: None) -> None:
    hourly = [run_of("hourly", hours) for hours in range(3)]
    run_of("nightly", 24)
    make_row()

    def get(value: str) -> HttpResponse:
        return superuser_client.get(reverse(CHANGELIST), {"schedule": value})

    assert set(listed_ids(get("hourly"))) == {row.pk for row in hourly}
    choices = text(superuser_client.get(reverse(CHANGELIST)))
    for name in ("hourly", "nightly", "broken"):
        assert f"?schedule={name}" in choices
    nul = get("a\x00b")
    assert (nul.status_code, nul["Location"][-4:]) == (302, "?e=1")
    long = get("x" * 10_000)
    assert long.status_code == 200
    assert listed_ids(long) == []


def test_schedule_pages__hostile_names_are_escaped(superuser_client: Client) -> None:
    spec = {"type": "test.hello", "cron": "0 * * * *", "attribs": {"html": HOSTILE}}
    with override_settings(JOBMAN={"SCHEDULES": {HOSTILE: spec}}):
        run = run_of(HOSTILE, 1)
        state = state_of(HOSTILE)
        for url in (
            reverse(SCHEDULE_CHANGELIST),
            reverse("admin:jobman_jobschedule_change", args=[state.pk]),
            reverse("admin:jobman_jobman_change", args=[run.pk]),
            reverse(CHANGELIST),
            reverse("admin:jobman_dashboard"),
        ):
            page = text(superuser_client.get(url))
            assert HOSTILE not in page, url
            assert ESCAPED in page, url
