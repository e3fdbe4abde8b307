"""The test settings with what Django's tasks checks look for (Django 6.0 and later):
a queue of TASKS missing from RQ_QUEUES, and, with JOBMAN_TEST_WITHOUT_JOBMAN set, jobman
left out of INSTALLED_APPS."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

TASKS = {"default": {"BACKEND": "jobman.tasks.JobmanBackend", "QUEUES": ["default", "nowhere"]}}

if os.environ.get("JOBMAN_TEST_WITHOUT_JOBMAN"):
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("jobman", "tests.testapp")] + [
        "tests.tasksonly"
    ]
