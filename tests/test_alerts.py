"""Long-wait alerts: a queue's oldest job waiting past its limit is told once per crossing,
and once when it clears, however many workers look."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test.utils import override_settings

from jobman import alerts, conf, queues, signals
from jobman.checks import check_jobman
from tests.support.helpers import WorkerProcess, start_worker, wait_for, work
from tests.testapp.jobs import HelloJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def watching(**jobman: Any) -> Any:
    return override_settings(JOBMAN={**settings.JOBMAN, **jobman}, ADMINS=settings.TEST_ADMINS)


@pytest.fixture
def told() -> Any:
    seen: list[tuple[str, str, float]] = []

    def exceeded(sender: Any, queue: str, waited: float, limit: float, **kwargs: Any) -> None:
        seen.append(("exceeded", queue, waited))

    def cleared(sender: Any, queue: str, waited: float, limit: float, **kwargs: Any) -> None:
        seen.append(("cleared", queue, waited))

    signals.queue_wait_exceeded.connect(exceeded)
    signals.queue_wait_cleared.connect(cleared)
    yield seen
    signals.queue_wait_exceeded.disconnect(exceeded)
    signals.queue_wait_cleared.disconnect(cleared)


def test_look__a_crossing_is_told_once_and_its_clearing_once(told: list[Any]) -> None:
    with watching(WAIT_ALERTS={"low": 1, "high": 30}, ALERT_ADMINS=True):
        HelloJob.dispatch({"name": "waits"}, queue="low")
        HelloJob.dispatch({"name": "waits too"}, queue="high")
        assert alerts.look() == []  # not long enough yet
        time.sleep(1.3)
        (crossing,) = alerts.look()
        assert alerts.look() == []  # once per crossing
        work("low")
        (clearing,) = alerts.look()
        assert alerts.look() == []

    assert (crossing.queue, crossing.cleared, crossing.limit) == ("low", False, 1)
    assert 1 < crossing.waited < 30
    assert (clearing.queue, clearing.cleared, clearing.waited) == ("low", True, 0.0)
    assert [(kind, queue) for kind, queue, _ in told] == [("exceeded", "low"), ("cleared", "low")]
    prefix = settings.EMAIL_SUBJECT_PREFIX
    assert [message.subject for message in mail.outbox] == [
        f"{prefix}jobman: queue low: its oldest job has waited {crossing.waited:.1f} s, past 1 s",
        f"{prefix}jobman: queue low waits 0.0 s again, under 1 s",
    ]


def test_look__a_receiver_that_raises_keeps_nothing_from_being_told(told: list[Any]) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("pager down")

    signals.queue_wait_exceeded.connect(broken)
    try:
        with watching(WAIT_ALERTS={"low": 1}, ALERT_ADMINS=True):
            HelloJob.dispatch({"name": "waits"}, queue="low")
            time.sleep(1.2)
            assert len(alerts.look()) == 1
    finally:
        signals.queue_wait_exceeded.disconnect(broken)
    assert [kind for kind, _, _ in told] == ["exceeded"]
    subjects = [message.subject for message in mail.outbox]
    assert sum("queue low: its oldest job has waited" in subject for subject in subjects) == 1


def test_look__a_job_written_by_hand_without_its_hash_is_no_wait(told: list[Any]) -> None:
    connection = queues.get_connection("low")
    connection.rpush(queues.get_queue("low").key, "made-up-id")
    with watching(WAIT_ALERTS={"low": 1}):
        time.sleep(1.1)
        assert alerts.oldest_wait("low") is None
        assert alerts.look() == []
    assert told == []


def test_two_workers__one_mail_per_crossing_and_one_when_it_clears(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env = {
        "JOBMAN_TEST_JOBMAN": json.dumps({"WAIT_ALERTS": {"low": 1}, "ALERT_ADMINS": True}),
        "JOBMAN_TEST_MAIL_DIR": str(tmp_path),
    }
    for _ in range(2):  # both serve "default" only: "low" waits
        workers.append(start_worker("default", "--worker-class", "simple", env=env))

    def subjects() -> list[str]:
        found = []
        for path in sorted(tmp_path.iterdir()):
            found += [line for line in path.read_text().splitlines() if line.startswith("Subject:")]
        return found

    HelloJob.dispatch({"name": "waits"}, queue="low")
    wait_for(lambda: len(subjects()) >= 1, timeout=30)
    time.sleep(alerts.LOOK_EVERY * 2)  # both workers have looked again since
    (crossed,) = subjects()
    assert "queue low: its oldest job has waited" in crossed

    work("low")
    wait_for(lambda: len(subjects()) >= 2, timeout=30)
    time.sleep(alerts.LOOK_EVERY * 2)
    assert len(subjects()) == 2
    assert "queue low waits 0.0 s again, under 1 s" in subjects()[1]


@pytest.mark.parametrize(
    "value",
    [{"low": 0}, {"low": True}, {"low": float("nan")}, {"low": 10**12}, {"": 5}, ["low"], None],
)
def test_settings__a_bad_limit_is_named(value: Any) -> None:
    with watching(WAIT_ALERTS=value):
        (problem,) = conf.problems()
    assert problem.startswith("settings.JOBMAN['WAIT_ALERTS']")


def test_check__a_queue_not_in_rq_queues_is_named() -> None:
    with watching(WAIT_ALERTS={"nowhere": 10}):
        found = [error for error in check_jobman() if error.id == "jobman.E004"]
    assert [error.msg for error in found] == [
        "settings.JOBMAN['WAIT_ALERTS'] names the queue 'nowhere', which is not in "
        "settings.RQ_QUEUES."
    ]
