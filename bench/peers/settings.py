"""``bench.settings``, plus the apps and settings of the peers installed here.

The database, Redis and logging are ``bench.settings``' own, so every system measured gets
the same ones. A peer that is not installed (or needs a newer Django) adds nothing; the
section then skips it and says why (``bench.peers.catalogue``).
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import django

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS, REDIS_URL

INSTALLED_APPS = list(INSTALLED_APPS)
# Django's tasks framework (django.tasks) came with Django 6.0.
TASKS: dict[str, dict[str, Any]] = {}
if django.VERSION >= (6, 0):
    TASKS["jobman"] = {"BACKEND": "jobman.tasks.JobmanBackend", "QUEUES": ["default"]}
    if find_spec("django_tasks_db"):
        INSTALLED_APPS.append("django_tasks_db")
        TASKS["tasksdb"] = {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    if find_spec("django_tasks_rq"):
        # Read by the django-tasks package that django-tasks-rq is built on.
        TASKS["tasksrq"] = {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}

if find_spec("celery") and find_spec("django_celery_results"):
    INSTALLED_APPS.append("django_celery_results")
# Read by bench.peers.celery_app (namespace CELERY): results as rows, start times kept.
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
