"""Settings for jobman's own tests."""

from __future__ import annotations

import json
import os

import django

from tests.support import services

SECRET_KEY = "jobman-tests-not-secret"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "tests.urls"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "jobman",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"

DATABASES = {"default": services.database()}
# The fault tests give worker processes a short SQLite busy timeout, to lock them out.
if os.environ.get("JOBMAN_TEST_SQLITE_TIMEOUT") and "sqlite" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"]["OPTIONS"]["timeout"] = float(os.environ["JOBMAN_TEST_SQLITE_TIMEOUT"])

REDIS_URL = services.redis_url()
# The fault tests point worker processes at a throwaway Redis of their own that they stop
# and restart; REDIS_URL stays this run's claimed database.
RQ_URL = os.environ.get("JOBMAN_TEST_RQ_URL") or REDIS_URL
RQ_QUEUES = {
    "default": {"URL": RQ_URL},
    "high": {"URL": RQ_URL},
    "low": {"URL": RQ_URL},
}
# Worker processes started by a test may get other JOBMAN settings (e.g. shorter reaping).
JOBMAN: dict[str, object] = {
    "RATE_LIMITS": {"test-reports": "2/second"},
    **json.loads(os.environ.get("JOBMAN_TEST_JOBMAN", "{}")),
}

# Mail to ADMINS (jobman's alerts): kept in memory by the test runner; a worker process
# started by a test writes it to files in JOBMAN_TEST_MAIL_DIR, for the test to read.
# ADMINS is set only there (and by the alerts' tests): Django mails them its own errors
# too, and some of the admin's hostile-input tests make Django log such errors.
MAIL_DIR = os.environ.get("JOBMAN_TEST_MAIL_DIR")
if django.VERSION >= (6, 1):  # which names its mailers, each with its options
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": MAIL_DIR},
        }
        if MAIL_DIR
        else {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    }
elif MAIL_DIR:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = MAIL_DIR
# (Django 6.0 takes plain addresses, and gives up the (name, address) pairs of before.)
TEST_ADMINS = (
    ["ops@example.com"] if django.VERSION >= (6, 0) else [("Operators", "ops@example.com")]
)
if MAIL_DIR:
    ADMINS = TEST_ADMINS

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"jobman": {"handlers": ["console"], "level": "INFO"}},
}

# Django's tasks framework (Django 6.0 and later), with jobman as its backend. A second
# alias shows retry options set in OPTIONS, as Django 6.0's @task takes no extra arguments.
if django.VERSION >= (6, 0):
    TASKS = {
        "default": {"BACKEND": "jobman.tasks.JobmanBackend", "QUEUES": ["default", "high"]},
        "retrying": {
            "BACKEND": "jobman.tasks.JobmanBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"TRIES": 2, "BACKOFF": 0},
        },
    }
