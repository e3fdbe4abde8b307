"""Paused queues: no worker takes a job from one, the others are served, nothing is lost."""

from __future__ import annotations

import json
import time

import pytest

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
