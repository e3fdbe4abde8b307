"""Paused queues: no worker takes a job from one, the others are served, nothing is lost."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from jobman import pauses, queues
from jobman.models import Jobman, JobStatus
from tests.support.helpers import WorkerProcess, start_worker, wait_for
from tests.testapp.jobs import HelloJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def status(row: Jobman) -> str:
    return str(Jobman.objects.get(pk=row.pk).status)


def test_a_paused_queue_is_not_served_by_two_workers_while_another_queue_is(
    workers: list[WorkerProcess],
) -> None:
    connection = queues.get_connection("high")
    workers.append(start_worker("high", "default", "--worker-class", "fork"))
    workers.append(start_worker("high", "default", "--worker-class", "simple"))
    warm = HelloJob.dispatch({"name": "warm"}, queue="high")
    wait_for(lambda: status(warm) == JobStatus.COMPLETED, timeout=30)

    assert pauses.pause(connection, "high")
    time.sleep(pauses.CHECK_EVERY + 0.5)  # every worker has seen it
    held = [HelloJob.dispatch({"name": f"held {n}"}, queue="high") for n in range(4)]
    served = [HelloJob.dispatch({"name": f"served {n}"}) for n in range(4)]
    wait_for(lambda: all(status(row) == JobStatus.COMPLETED for row in served), timeout=30)
    time.sleep(1.5)
    assert [status(row) for row in held] == [JobStatus.QUEUED] * 4  # waiting, not lost
    assert queues.get_queue("high").count == 4

    assert pauses.resume(connection, "high")
    wait_for(lambda: all(status(row) == JobStatus.COMPLETED for row in held), timeout=30)


def test_a_worker_whose_only_queue_is_paused_waits_and_a_burst_ends() -> None:
    connection = queues.get_connection("low")
    pauses.pause(connection, "low")
    try:
        row = HelloJob.dispatch({"name": "later"}, queue="low")
        from tests.support.helpers import work

        result = work("low")
        assert result.code == 0, result.err
        assert status(row) == JobStatus.QUEUED
    finally:
        pauses.resume(connection, "low")
    assert work("low").code == 0
    assert status(row) == JobStatus.COMPLETED


def test_pause_and_resume_say_whether_they_changed_anything() -> None:
    connection = queues.get_connection("default")
    try:
        assert pauses.pause(connection, "default") is True
        assert pauses.pause(connection, "default") is False
        assert pauses.paused(connection) == {"default"}
    finally:
        assert pauses.resume(connection, "default") is True
    assert pauses.resume(connection, "default") is False


def test_status_shows_a_paused_queue() -> None:
    from tests.support.helpers import run_command

    connection = queues.get_connection("high")
    pauses.pause(connection, "high")
    try:
        result = run_command("jobman_status")
        as_json = json.loads(run_command("jobman_status", "--json").out)
    finally:
        pauses.resume(connection, "high")
    high = next(line for line in result.out.splitlines() if line.strip().startswith("high"))
    assert high.endswith(", PAUSED (jobman_resume)")
    assert {queue["name"]: queue["paused"] for queue in as_json["queues"]} == {
        "default": False,
        "high": True,
        "low": False,
    }


def test_commands__pause_and_resume_say_what_they_did() -> None:
    from tests.support.helpers import manage, run_command

    try:
        paused = run_command("jobman_pause", "low", "high")
        again = run_command("jobman_pause", "low")
        assert pauses.paused(queues.get_connection("low")) == {"low", "high"}
    finally:
        resumed = run_command("jobman_resume", "low", "high")
    unknown = manage("jobman_pause", "nowhere")
    not_paused = run_command("jobman_resume", "low", "-v", "0")

    assert (paused.code, paused.err) == (0, "")
    assert paused.out == (
        "Paused queue low: no worker takes its jobs now.\n"
        "Paused queue high: no worker takes its jobs now.\n"
    )
    assert (again.code, again.err) == (
        1,
        "CommandError: Not paused: queue 'low' is paused already.\n",
    )
    assert resumed.out.startswith("Resumed queue low: workers take its jobs again.\n")
    assert unknown.code == 2
    assert "argument QUEUE: Queue 'nowhere' is not in settings.RQ_QUEUES" in unknown.err
    assert (not_paused.code, not_paused.out) == (1, "Resumed 0 queues.\n")
    assert not pauses.paused(queues.get_connection("low"))


def test_commands__redis_away_is_said_and_nothing_changes() -> None:
    from django.test.utils import override_settings

    from tests.support.helpers import run_command
    from tests.support.rows import UNREACHABLE

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = run_command("jobman_pause", "default")
    assert result.code == 1
    assert result.err.startswith("CommandError: Redis at ")
    assert "Traceback" not in result.err


# The dashboard's Pause and Resume buttons

DASHBOARD = "admin:jobman_dashboard"
SWITCH = "admin:jobman_dashboard_queue"


def client_with(username: str, *codenames: str) -> Client:
    user = User.objects.create_user(username, password="secret", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, form: dict[str, str]) -> HttpResponse:
    """Press a queue's button: the answer goes back to the dashboard, which shows what
    came of it."""
    response = client.post(reverse(SWITCH), form, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(reverse(DASHBOARD), 302)]
    return response


def said(response: HttpResponse) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def queue_row(page: str, name: str) -> str:
    """The dashboard's row of queue ``name``, as HTML."""
    start = page.index(f'<tr data-queue="{name}">')
    return page[start : page.index("</tr>", start)]


def test_dashboard__shows_each_queue_paused_or_serving_in_the_page_and_its_json(
    admin_client: Client,
) -> None:
    pauses.pause(queues.get_connection("high"), "high")

    page = admin_client.get(reverse(DASHBOARD)).content.decode()
    assert "paused" in queue_row(page, "high")
    assert 'value="resume"' in queue_row(page, "high")
    assert "serving" in queue_row(page, "default")
    assert 'value="pause"' in queue_row(page, "default")
    figures = json.loads(admin_client.get(reverse("admin:jobman_dashboard_json")).content)
    assert {queue["name"]: queue["paused"] for queue in figures["queues"]} == {
        "default": False,
        "high": True,
        "low": False,
    }


def test_dashboard_buttons__pause_a_queue_for_real_workers_and_resume_it(
    workers: list[WorkerProcess],
) -> None:
    pauser = client_with("pauser", "view_jobman", "pause_queues")
    workers.append(start_worker("high", "default", "--worker-class", "simple"))
    warm = HelloJob.dispatch({"name": "warm"}, queue="high")
    wait_for(lambda: status(warm) == JobStatus.COMPLETED, timeout=30)

    paused = post(pauser, {"queue": "high", "action": "pause"})
    assert said(paused) == ["Paused 1 queue: high."]
    time.sleep(pauses.CHECK_EVERY + 0.5)
    held = HelloJob.dispatch({"name": "held"}, queue="high")
    served = HelloJob.dispatch({"name": "served"})
    wait_for(lambda: status(served) == JobStatus.COMPLETED, timeout=30)
    time.sleep(1.5)
    assert status(held) == JobStatus.QUEUED

    resumed = post(pauser, {"queue": "high", "action": "resume"})
    assert said(resumed) == ["Resumed 1 queue: high."]
    wait_for(lambda: status(held) == JobStatus.COMPLETED, timeout=30)


def test_dashboard_buttons__need_their_own_permission() -> None:
    viewer = client_with("viewer", "view_jobman")
    page = viewer.get(reverse(DASHBOARD)).content.decode()
    assert "jobman-queue-switch" not in page
    assert viewer.post(reverse(SWITCH), {"queue": "high", "action": "pause"}).status_code == 403
    assert not pauses.paused(queues.get_connection("high"))

    pauser = client_with("pauser", "view_jobman", "pause_queues")
    assert "jobman-queue-switch" in pauser.get(reverse(DASHBOARD)).content.decode()
    assert pauser.get(reverse(SWITCH)).status_code == 405  # a link cannot pause a queue


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"queue": "nowhere", "action": "pause"}, "Not in settings.RQ_QUEUES: 'nowhere'."),
        ({"queue": "high\x00", "action": "pause"}, "Not in settings.RQ_QUEUES: 'high\\x00'."),
        (
            {"queue": "q" * 100_000, "action": "pause"},
            f"Not in settings.RQ_QUEUES: {'q' * 40!r}... (100000 characters).",
        ),
        ({"action": "pause"}, "Not in settings.RQ_QUEUES: ''."),
        (
            {"queue": "high", "action": "drop"},
            "No queue changed: the action must be pause or resume, not 'drop'.",
        ),
        ({"queue": "high"}, "No queue changed: the action must be pause or resume, not ''."),
        ({"queue": "high", "action": "resume"}, "Skipped 1 queue: queue 'high' is not paused."),
    ],
)
def test_dashboard_buttons__bad_input_is_named_and_changes_nothing(
    admin_client: Client, form: dict[str, str], message: str
) -> None:
    response = post(admin_client, form)
    assert said(response) == [message]
    assert not pauses.paused(queues.get_connection("high"))


def test_dashboard_buttons__redis_away_is_said_and_the_page_still_answers(
    admin_client: Client,
) -> None:
    from django.test.utils import override_settings

    from tests.support.rows import UNREACHABLE

    with override_settings(RQ_QUEUES=UNREACHABLE):
        response = post(admin_client, {"queue": "default", "action": "pause"})
    (message,) = said(response)
    assert message.startswith("Redis at ")
    assert "unknown" in queue_row(response.content.decode(), "default")
