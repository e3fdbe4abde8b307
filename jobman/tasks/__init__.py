"""jobman as a backend for Django's tasks framework (``django.tasks``, Django 6.0 and later).

    TASKS = {"default": {"BACKEND": "jobman.tasks.JobmanBackend", "QUEUES": ["default"]}}

Every task enqueued through it is a jobman row, run by ``manage.py jobman_work``. Nothing
else in jobman imports this package: on older Django versions it refuses to load.
"""

from __future__ import annotations

import django
from django.core.exceptions import ImproperlyConfigured


class RequiresDjango6(ImproperlyConfigured, ImportError):
    """jobman.tasks was imported on a Django version without ``django.tasks``."""


if django.VERSION < (6, 0):
    raise RequiresDjango6(
        "jobman.tasks is a backend for Django's tasks framework (django.tasks), which needs "
        f"Django 6.0 or later; this project runs Django {django.get_version()}. "
        "On this version, write jobs as JobmanJob subclasses instead."
    )

from jobman.tasks.backend import JobmanBackend, JobmanTask  # noqa: E402

__all__ = ["JobmanBackend", "JobmanTask", "RequiresDjango6"]
