"""System checks with stable ids, each naming the setting or class at fault."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from jobman import conf, options, registry, schedules


@register()
def check_jobman(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not apps.is_installed("django_rq"):
        errors.append(
            Error(
                "django_rq is not in INSTALLED_APPS.",
                hint="Add 'django_rq' to INSTALLED_APPS: jobman reads its queues from RQ_QUEUES.",
                id="jobman.E001",
            )
        )
    rq_queues = getattr(settings, "RQ_QUEUES", None)
    if not isinstance(rq_queues, dict) or not rq_queues:
        errors.append(
            Error(
                f"settings.RQ_QUEUES must be a non-empty dict of queues, found {rq_queues!r}.",
                hint="For example: RQ_QUEUES = {'default': {'URL': 'redis://127.0.0.1:6379/0'}}",
                id="jobman.E002",
            )
        )
    errors.extend(Error(problem, id="jobman.E003") for problem in conf.problems())
    if errors or not isinstance(rq_queues, dict):
        return errors

    used = {conf.get("DEFAULT_QUEUE"): "settings.JOBMAN['DEFAULT_QUEUE']"}
    for _type, job_class in sorted(registry.all_types().items()):
        name = f"{job_class.__module__}.{job_class.__qualname__}"
        errors.extend(
            Error(problem.message, id=problem.check_id) for problem in options.problems(job_class)
        )
        if isinstance(job_class.queue, str):
            used.setdefault(job_class.queue, f"{name}.queue")
    for queue in conf.get("WAIT_ALERTS"):
        used.setdefault(queue, "settings.JOBMAN['WAIT_ALERTS']")
    errors.extend(
        Error(problem, id="jobman.E030")
        for schedule in schedules.configured()
        for problem in schedules.problems(schedule)
    )
    for queue, where in used.items():
        if queue not in rq_queues:
            errors.append(
                Error(
                    f"{where} names the queue {queue!r}, which is not in settings.RQ_QUEUES.",
                    hint=f"Add {queue!r} to RQ_QUEUES, or use one of: {', '.join(rq_queues)}.",
                    id="jobman.E004",
                )
            )
    return errors
