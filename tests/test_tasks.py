"""jobman as a backend for Django's tasks framework: results read from rows real workers ran."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import django
import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from jobman import registry, runner
from jobman.models import FailedJob, Jobman, JobStatus
from jobman.reaper import WorkerLost
from tests.support.helpers import manage, run_command, wait_for, work
from tests.testapp.jobs import HelloJob
from tests.testapp.models import Execution

HAS_TASKS = django.VERSION >= (6, 0)
if HAS_TASKS:
    from django.tasks import TaskResult, TaskResultStatus, task, task_backends
    from django.tasks.exceptions import (
        InvalidTask,
        InvalidTaskBackend,
        TaskResultDoesNotExist,
        TaskResultMismatch,
    )
    from django.tasks.signals import task_enqueued

    from jobman.tasks import JobmanBackend
    from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

needs_tasks = pytest.mark.skipif(
    not HAS_TASKS,
    reason=f"django.tasks needs Django 6.0 or later; this is Django {django.get_version()}",
)

ADD = "tests.testapp.tasks.add"


def plain(x: int) -> int:
    """A module-level function that is not a task."""
    return x


def signals_seen(result: TaskResult[Any, Any]) -> list[tuple[str, int]]:
    """What Django's task signals said in the worker, as (kind, attempts) in order."""
    runs = Execution.objects.filter(jobman_id=int(result.id)).order_by("pk")
    return [(run.kind, run.attempt) for run in runs if run.kind.startswith("task_")]


@pytest.fixture
def enqueued() -> Iterator[list[tuple[type, str, str]]]:
    """Each task_enqueued signal sent in this process, as (sender, result id, status)."""
    seen: list[tuple[type, str, str]] = []

    def receiver(sender: type, task_result: TaskResult[Any, Any], **kwargs: Any) -> None:
        seen.append((sender, task_result.id, str(task_result.status)))

    task_enqueued.connect(receiver, weak=False)
    yield seen
    task_enqueued.disconnect(receiver)


# Django 5.2


@pytest.mark.skipif(HAS_TASKS, reason="checks the refusal on Django versions without tasks")
def test_import__on_django_before_6_refuses_with_a_plain_message() -> None:
    # Nothing else in jobman imported it.
    assert not [name for name in sys.modules if name.startswith("jobman.tasks")]

    with pytest.raises(ImproperlyConfigured, match=r"needs Django 6\.0 or later") as raised:
        import jobman.tasks  # noqa: F401

    assert isinstance(raised.value, ImportError)
    assert f"this project runs Django {django.get_version()}" in str(raised.value)


# The backend


@needs_tasks
def test_backend__features_it_supports_and_the_one_it_does_not() -> None:
    backend = task_backends["default"]

    assert isinstance(backend, JobmanBackend)
    assert backend.supports_defer
    assert backend.supports_get_result
    assert backend.supports_async_task
    assert not backend.supports_priority  # RQ queues are first in, first out
    assert backend.queues == {"default", "high"}


@needs_tasks
def test_check__names_queues_missing_from_rq_queues() -> None:
    assert task_backends["default"].check() == []

    config = {"BACKEND": "jobman.tasks.JobmanBackend", "QUEUES": ["default", "nowhere"]}
    with override_settings(TASKS={"default": config}):
        errors = task_backends["default"].check()

    assert [(error.id, error.msg) for error in errors] == [
        (
            "jobman.E102",
            "settings.TASKS['default']['QUEUES'] names the queue 'nowhere', which is not in settings.RQ_QUEUES.",
        )
    ]
    assert errors[0].hint == "Add 'nowhere' to RQ_QUEUES, or use one of: default, high, low."


@needs_tasks
def test_options__wrong_backend_options_are_named() -> None:
    config = {
        "BACKEND": "jobman.tasks.JobmanBackend",
        "OPTIONS": {"TRIES": 0, "BACKOFF": [], "COLOR": "red"},
    }
    with override_settings(TASKS={"default": config}), pytest.raises(InvalidTaskBackend) as raised:
        task_backends["default"]

    message = str(raised.value)
    assert (
        "settings.TASKS['default']['OPTIONS']['TRIES'] must be an int from 1 to 1,000,000, found 0."
        in message
    )
    assert (
        "['BACKOFF'] must be seconds (an int from 0 to 31,536,000), a non-empty list of them, "
        "or jobman.exponential(...) / jobman.jittered(...) with valid values, found []." in message
    )
    assert "['COLOR'] is not a jobman option; known: TRIES, BACKOFF, TIMEOUT." in message


@needs_tasks
def test_options__wrong_task_options_are_refused_when_declared() -> None:
    with pytest.raises(
        InvalidTask,
        match=r"Task tests\.test_tasks\.plain: tries must be an int from 1 to 1,000,000, found 0; "
        r"timeout must be an int from 1 to 31,536,000, found 'soon'\.",
    ):
        task(tries=0, timeout="soon")(plain)  # type: ignore[call-overload]


@needs_tasks
def test_registry__finds_a_task_by_its_module_path_without_listing_it() -> None:
    job_class = registry.find(ADD)

    assert job_class is not None
    assert job_class.task is tasks.add  # type: ignore[attr-defined]
    assert job_class.type == ADD
    assert registry.find(ADD) is job_class
    assert ADD not in registry.all_types()
    assert registry.find("test.hello") is HelloJob
    assert registry.find("tests.testapp.tasks.missing") is None
    assert registry.find("tests.testapp.models.Execution") is None  # not a task
    assert registry.find("tests.test_tasks.plain") is None
    assert registry.find("no_such_module.task") is None


# Enqueue


@needs_tasks
def test_enqueue__refuses_what_it_cannot_run_and_writes_nothing() -> None:
    with pytest.raises(TypeError, match=r"^args\[0\] is a set, which is not JSON serializable$"):
        tasks.add.enqueue({1}, 2)
    with pytest.raises(TypeError, match=r"^kwargs\['b'\] is nan, which JSON cannot represent$"):
        tasks.add.enqueue(1, b=float("nan"))
    with pytest.raises(TypeError, match=r"^args\[0\] has the key 1 of type int"):
        tasks.add.enqueue({1: "one"}, 2)
    with pytest.raises(InvalidTask, match=r"Backend does not support setting priority of tasks\."):
        tasks.add.using(priority=10)
    with pytest.raises(InvalidTask, match=r"Queue 'low' is not valid for backend\."):
        tasks.add.using(queue_name="low")
    with pytest.raises(InvalidTask, match=r"run_after must be an aware datetime\."):
        tasks.add.using(run_after=timezone.now().replace(tzinfo=None))
    with pytest.raises(
        InvalidTask, match=r"Task tests\.test_tasks\.plain cannot be found at its module path"
    ):
        task(plain).enqueue(1)

    config = {"BACKEND": "jobman.tasks.JobmanBackend", "QUEUES": ["default", "nowhere"]}
    nowhere = (
        r"Queue 'nowhere' is not in settings\.RQ_QUEUES \(configured: 'default', 'high', 'low'\)\."
    )
    with override_settings(TASKS={"default": config}), pytest.raises(InvalidTask, match=nowhere):
        tasks.add.using(queue_name="nowhere").enqueue(1, 2)

    assert not Jobman.objects.exists()


@needs_tasks
@pytest.mark.worker
def test_rolled_back__a_task_enqueued_in_a_rolled_back_transaction_never_runs(
    redis_db: redis.Redis,
) -> None:
    with transaction.atomic():
        result = tasks.note.enqueue("rolled back")
        assert Jobman.objects.filter(pk=int(result.id)).exists()
        transaction.set_rollback(True)

    work()

    assert not Jobman.objects.exists()
    assert not Execution.objects.exists()
    assert redis_db.llen("rq:queue:default") == 0
    with pytest.raises(TaskResultDoesNotExist):
        tasks.note.get_result(result.id)


# Results, from real workers


@needs_tasks
@pytest.mark.worker
def test_success__every_result_field(enqueued: list[tuple[type, str, str]]) -> None:
    result = tasks.add.enqueue(2, 3)

    row = Jobman.objects.get(pk=int(result.id))
    assert row.type == ADD
    assert row.queue == "default"
    assert row.status == JobStatus.QUEUED
    assert row.attribs == {"args": [2, 3], "kwargs": {}, "_task": {"backend": "default"}}
    assert enqueued == [(JobmanBackend, result.id, "READY")]
    for ready in (result, tasks.add.get_result(result.id)):
        assert ready.task.module_path == ADD
        assert ready.id == str(row.pk)
        assert ready.status == TaskResultStatus.READY
        assert ready.enqueued_at == row.created_at
        assert ready.started_at is None
        assert ready.last_attempted_at is None
        assert ready.finished_at is None
        assert ready.args == [2, 3]
        assert ready.kwargs == {}
        assert ready.backend == "default"
        assert ready.errors == []
        assert ready.worker_ids == []
        assert ready.attempts == 0
        assert not ready.is_finished
        with pytest.raises(ValueError, match="Task has not finished yet"):
            ready.return_value  # noqa: B018

    work()

    result.refresh()
    row.refresh_from_db()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.is_finished
    assert result.enqueued_at == row.created_at
    assert result.started_at == row.started_at
    assert result.last_attempted_at == row.started_at
    assert result.finished_at == row.completed_at
    assert row.created_at <= result.started_at <= result.finished_at  # type: ignore[operator]
    assert result.errors == []
    assert row.worker
    assert result.worker_ids == [row.worker]
    assert result.attempts == 1
    # The same task is a plain jobman row.
    assert row.status == JobStatus.COMPLETED
    assert row.completed_code is None
    assert row.attempts == 1
    assert row.attribs["_task"]["return_value"] == 5
    assert row.error_message is None
    assert signals_seen(result) == [("task_started", 1), ("task_finished:SUCCESSFUL", 1)]


@needs_tasks
@pytest.mark.worker
def test_success__kwargs_another_queue_and_a_normalized_return_value() -> None:
    result = tasks.shout.enqueue("hey", times=2)

    assert Jobman.objects.get(pk=int(result.id)).queue == "high"
    work("high")

    fresh = tasks.shout.get_result(result.id)
    assert fresh.status == TaskResultStatus.SUCCESSFUL
    assert fresh.args == ["hey"]
    assert fresh.kwargs == {"times": 2}
    assert fresh.task.queue_name == "high"
    assert fresh.return_value == {"text": "HEYHEY", "parts": ["hey", 2]}  # a tuple, as JSON


@needs_tasks
@pytest.mark.worker
def test_failure__every_result_field_and_a_failed_jobs_row() -> None:
    result = tasks.always_fails.enqueue("boom")  # two tries, from its backend's OPTIONS

    assert result.backend == "retrying"
    assert Jobman.objects.get(pk=int(result.id)).max_tries == 2
    work()

    result.refresh()
    row = Jobman.objects.get(pk=int(result.id))
    assert result.status == TaskResultStatus.FAILED
    assert result.is_finished
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018
    assert result.enqueued_at == row.created_at
    assert result.started_at is not None
    assert result.last_attempted_at == row.started_at
    assert result.started_at < result.last_attempted_at  # first attempt, then the second
    assert result.finished_at == row.failed_at
    assert result.args == ["boom"]
    assert result.kwargs == {}
    assert result.worker_ids == [row.worker, row.worker]
    assert result.attempts == 2
    assert len(result.errors) == 2
    for error in result.errors:
        assert error.exception_class_path == "builtins.ValueError"
        assert error.exception_class is ValueError
        assert error.traceback.startswith("Traceback (most recent call last)")
        assert error.traceback.rstrip().endswith("ValueError: boom")
        assert "in always_fails" in error.traceback
    # The same task is a plain failed jobman row, filed in failed_jobs.
    assert row.status == JobStatus.FAILED
    assert row.attempts == 2
    assert row.error_message == "ValueError: boom"
    assert FailedJob.objects.get().jobman_id == row.pk
    assert signals_seen(result) == [
        ("task_started", 1),
        ("task_started", 2),
        ("task_finished:FAILED", 2),
    ]


@needs_tasks
@pytest.mark.worker
def test_failure__a_return_value_json_cannot_hold_fails_the_attempt() -> None:
    result = tasks.returns_a_set.enqueue()

    work()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class_path == "builtins.TypeError"
    assert (
        "TypeError: the task's return value is a set, which is not JSON serializable"
        in error.traceback
    )


@needs_tasks
@pytest.mark.worker
def test_failure__a_timeout_is_a_failed_attempt() -> None:
    result = tasks.sleeps.enqueue(10)  # timeout=1

    work()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class_path == "jobman.runner.AttemptTimedOut"
    assert "Timed out after 1 seconds" in error.traceback


@needs_tasks
def test_failure__a_lost_worker_is_an_error_of_its_attempt() -> None:
    result = tasks.add.enqueue(1, 2)
    row = Jobman.objects.claim(int(result.id), worker="host.99.gone")
    assert row is not None
    message = "Worker lost: the work-horse was killed during attempt 1."

    runner.record_failed_attempt(row, WorkerLost(message), message, message, row.logs, None)

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.worker_ids == ["host.99.gone"]
    assert [(e.exception_class_path, e.traceback) for e in result.errors] == [
        ("jobman.reaper.WorkerLost", message)
    ]


@needs_tasks
@pytest.mark.worker
def test_deferred__every_result_field_and_it_waits_for_run_after() -> None:
    # Far enough ahead that a burst worker started now, even slowly, finds it not due.
    run_after = timezone.now() + timedelta(seconds=5)

    result = tasks.add.using(run_after=run_after).enqueue(20, 22)

    row = Jobman.objects.get(pk=int(result.id))
    assert row.available_at == run_after
    assert row.attribs["_task"]["run_after"] == run_after.isoformat()
    assert result.task.run_after == run_after
    assert result.status == TaskResultStatus.READY

    work()  # burst: not due yet

    waiting = tasks.add.get_result(result.id)
    assert waiting.status == TaskResultStatus.READY
    assert waiting.task.run_after == run_after
    assert waiting.enqueued_at == row.created_at
    assert waiting.started_at is None
    assert waiting.last_attempted_at is None
    assert waiting.finished_at is None
    assert waiting.worker_ids == []
    assert waiting.errors == []

    # RQ's scheduler counts whole seconds: the job is due at the next one.
    due = run_after.replace(microsecond=0) + timedelta(seconds=1)
    wait_for(lambda: timezone.now() >= due, timeout=10)
    work()

    done = tasks.add.get_result(result.id)
    row.refresh_from_db()
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 42
    assert done.task.run_after == run_after
    assert done.enqueued_at == row.created_at
    assert done.started_at == row.started_at
    assert done.started_at is not None
    assert done.started_at >= run_after
    assert done.last_attempted_at == row.started_at
    assert done.finished_at == row.completed_at
    assert done.worker_ids == [row.worker]
    assert done.errors == []


# Async tasks, context and retries


@needs_tasks
@pytest.mark.worker
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_async__a_coroutine_task_runs_and_the_async_api_works(worker_class: str) -> None:
    first = tasks.double.enqueue(21)
    second = async_to_sync(tasks.double.aenqueue)(4)

    assert second.status == TaskResultStatus.READY
    work("--worker-class", worker_class)

    assert tasks.double.get_result(first.id).return_value == 42
    fetched = async_to_sync(tasks.double.aget_result)(second.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 8
    async_to_sync(second.arefresh)()
    assert second.return_value == 8


@needs_tasks
@pytest.mark.worker
def test_context__carries_the_attempt_across_retries_from_task_options() -> None:
    result = tasks.flaky.enqueue(succeed_on=3)  # @task(tries=3, backoff=0)

    assert Jobman.objects.get(pk=int(result.id)).max_tries == 3
    work()

    result.refresh()
    row = Jobman.objects.get(pk=int(result.id))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {
        "attempt": 3,
        "result_id": result.id,
        "status": "RUNNING",
        "worker_ids": [row.worker] * 3,
    }
    assert result.attempts == 3
    assert [e.traceback.rstrip().rsplit("\n", 1)[-1] for e in result.errors] == [
        "RuntimeError: flaky failure on attempt 1",
        "RuntimeError: flaky failure on attempt 2",
    ]
    assert row.failed_at is not None  # kept after the later success
    assert row.completed_at == result.finished_at


@needs_tasks
@pytest.mark.worker
def test_retry__jobman_retry_runs_a_failed_task_again() -> None:
    result = tasks.fails_until.enqueue(succeed_on=2)  # one try
    work()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    first_worker = Jobman.objects.get(pk=int(result.id)).worker
    failed = FailedJob.objects.get()
    assert failed.payload["type"] == "tests.testapp.tasks.fails_until"

    retried = run_command("jobman_retry", str(failed.pk))

    assert retried.code == 0, retried.err
    assert (
        f"jobman #{result.id} (tests.testapp.tasks.fails_until, queue default) is queued, max_tries now 2"
        in retried.out
    )
    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert result.finished_at is None
    assert len(result.errors) == 1
    assert result.attempts == 1

    work()

    result.refresh()
    row = Jobman.objects.get(pk=int(result.id))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert row.worker != first_worker  # another burst worker
    assert result.return_value == {"attempt": 2, "worker_ids": [first_worker, row.worker]}
    assert result.worker_ids == [first_worker, row.worker]
    assert result.attempts == 2
    assert [e.exception_class_path for e in result.errors] == ["builtins.RuntimeError"]
    assert result.finished_at == row.completed_at
    assert not FailedJob.objects.exists()


# Reading results


@needs_tasks
def test_get_result__an_unknown_id_raises_task_result_does_not_exist() -> None:
    backend = task_backends["default"]
    job_row = HelloJob.dispatch({"name": "not a task"})
    task_row_id = tasks.add.enqueue(1, 1).id

    for result_id in [
        "987654",
        "0",
        "-1",
        "01",
        " 1",
        "1.0",
        "abc",
        "",
        str(2**70),
        str(job_row.pk),
    ]:
        with pytest.raises(TaskResultDoesNotExist):
            backend.get_result(result_id)
    with pytest.raises(TaskResultDoesNotExist):
        async_to_sync(backend.aget_result)("987654")
    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        tasks.note.get_result(task_row_id)
    assert backend.get_result(task_row_id).args == [1, 1]


@needs_tasks
@pytest.mark.parametrize(
    ("without_jobman", "expected"),
    [("", ["jobman.E102"]), ("1", ["jobman.E101", "jobman.E102"])],
)
def test_check__manage_py_check_reports_the_backend_s_errors(
    without_jobman: str, expected: list[str]
) -> None:
    result = manage(
        "check", settings="tests.settings_tasks", env={"JOBMAN_TEST_WITHOUT_JOBMAN": without_jobman}
    )

    assert result.code == 1
    assert re.findall(r"\(jobman\.(E\d+)\)", result.err) == [
        e.removeprefix("jobman.") for e in expected
    ]
    assert "Traceback" not in result.err


@needs_tasks
@pytest.mark.django_db
def test_enqueue__without_jobman_installed_says_so() -> None:
    apps = [app for app in settings.INSTALLED_APPS if app not in ("jobman", "tests.testapp")]
    with (
        override_settings(INSTALLED_APPS=apps),
        pytest.raises(
            InvalidTaskBackend,
            match=r"settings.TASKS\['default'\] uses jobman.tasks.JobmanBackend, but jobman is not in INSTALLED_APPS",
        ),
    ):
        tasks.add.enqueue(1, 2)


@needs_tasks
@pytest.mark.parametrize(
    ("key", "value"), [("TIMEOUT", 10**12), ("TRIES", True), ("TRIES", 10**7), ("BACKOFF", 10**12)]
)
def test_options__backend_options_past_their_bounds_are_refused(key: str, value: object) -> None:
    config = {"BACKEND": "jobman.tasks.JobmanBackend", "OPTIONS": {key: value}}
    with (
        override_settings(TASKS={"default": config}),
        pytest.raises(InvalidTaskBackend, match=rf"\['{key}'\] must be"),
    ):
        task_backends["default"]
