"""The Django tasks backend: ``JobmanBackend``, and ``JobmanTask`` with jobman's retry options.

This module imports no models, so a project may declare tasks (which instantiates the
backend) while its apps are still loading. Everything that touches rows lives in
``jobman.tasks.jobs`` and is imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.tasks import Task, TaskResult
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend

from jobman import registry
from jobman.tasks.options import OPTIONS, option_problem

if TYPE_CHECKING:
    from jobman.jobs import JobmanJob

    _Task: TypeAlias = Task[..., Any]
else:
    _Task = Task


@dataclass(frozen=True, slots=True, kw_only=True)
class JobmanTask(_Task):
    """A Django task with jobman's options; ``@task`` builds one for a jobman backend.

    On Django 6.1 and later ``@task`` passes extra keyword arguments to the backend's task
    class, so ``@task(tries=3, backoff=[10, 60], timeout=30)`` sets them per task. Unset
    (None), they come from the backend's ``OPTIONS`` (``TRIES``, ``BACKOFF``, ``TIMEOUT``),
    then from the ``JOBMAN`` settings (``DEFAULT_TRIES``, ...).
    """

    # Attempts in all (1 means no retry).
    tries: int | None = None
    # Seconds before each retry: one number, or one per retry (the last one repeats).
    backoff: int | Sequence[int] | None = None
    # Seconds one attempt may run.
    timeout: int | None = None


class JobmanBackend(BaseTaskBackend):
    """Runs Django tasks as jobman rows: durable, retried, visible in the admin.

    ``QUEUES`` must name queues of ``RQ_QUEUES``. ``OPTIONS`` may set ``TRIES``,
    ``BACKOFF`` and ``TIMEOUT`` for the tasks declared with this backend.
    """

    task_class = JobmanTask

    supports_defer = True  # run_after: the row waits in RQ's scheduler until then
    supports_async_task = True  # coroutine functions run to completion in the worker
    supports_get_result = True  # the row is the result, readable from any process
    # RQ queues are first-in first-out: there is no priority to honour.
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if not isinstance(self.options, dict):
            raise InvalidTaskBackend(
                f"settings.TASKS[{alias!r}]['OPTIONS'] must be a dict, found {self.options!r}."
            )
        where = f"settings.TASKS[{alias!r}]['OPTIONS']"
        problems = []
        for key, value in self.options.items():
            name = next((name for name, known in OPTIONS.items() if known == key), None)
            if name is None:
                known_keys = ", ".join(OPTIONS.values())
                problems.append(f"{where}[{key!r}] is not a jobman option; known: {known_keys}.")
            elif problem := option_problem(name, value):
                problems.append(f"{where}[{key!r}] {problem}.")
        if problems:
            raise InvalidTaskBackend(" ".join(problems))

    def validate_task(self, task: Task[..., Any]) -> None:
        super().validate_task(task)
        problems = [
            f"{name} {problem}"
            for name in OPTIONS
            if (problem := option_problem(name, getattr(task, name, None)))
        ]
        if problems:
            raise InvalidTask(f"Task {task.module_path}: " + "; ".join(problems) + ".")

    def enqueue(
        self, task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> TaskResult[Any, Any]:
        """Save a row for ``task`` and push it to RQ when the current transaction commits."""
        if not apps.is_installed("jobman"):
            # Checks run before the first task module is imported miss it (jobman.E101):
            # say so here, rather than fail on jobman's models.
            raise InvalidTaskBackend(self._not_installed())
        from jobman.tasks import jobs

        self.validate_task(task)
        return jobs.enqueue(self, task, args, kwargs)

    def _not_installed(self) -> str:
        return (
            f"settings.TASKS[{self.alias!r}] uses jobman.tasks.JobmanBackend, "
            "but jobman is not in INSTALLED_APPS."
        )

    def get_result(self, result_id: str) -> TaskResult[..., Any]:
        """Read the result of the task row ``result_id`` (the row's id, as a string)."""
        from jobman.tasks import jobs

        return jobs.get_result(result_id)

    def option(self, name: str) -> Any:
        """This backend's default for task option ``name`` (tries, backoff, timeout), or None."""
        return self.options.get(OPTIONS[name])

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        errors: list[CheckMessage] = []
        if not apps.is_installed("jobman"):
            errors.append(
                Error(
                    self._not_installed(),
                    hint="Add 'jobman' (and 'django_rq') to INSTALLED_APPS.",
                    id="jobman.E101",
                )
            )
        rq_queues = getattr(settings, "RQ_QUEUES", None)
        known = rq_queues if isinstance(rq_queues, dict) else {}
        for name in sorted(self.queues):
            if name not in known:
                errors.append(
                    Error(
                        f"settings.TASKS[{self.alias!r}]['QUEUES'] names the queue {name!r}, "
                        "which is not in settings.RQ_QUEUES.",
                        hint=f"Add {name!r} to RQ_QUEUES, or use one of: "
                        f"{', '.join(known) or 'none configured'}.",
                        id="jobman.E102",
                    )
                )
        return errors


def _resolve(job_type: str) -> type[JobmanJob] | None:
    """Find the job class that runs the task whose module path is ``job_type``."""
    from jobman.tasks import jobs

    return jobs.job_class_for_path(job_type)


# A worker resolves a row's type through the registry: a task's module path, which no
# JobmanJob subclass is registered under, comes here.
registry.register_resolver(_resolve)
