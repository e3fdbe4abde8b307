"""Settings for jobman's own tests."""

from __future__ import annotations

import json
import os

from tests import services

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

REDIS_URL = services.redis_url()
RQ_QUEUES = {
    "default": {"URL": REDIS_URL},
    "high": {"URL": REDIS_URL},
    "low": {"URL": REDIS_URL},
}
# Worker processes started by a test may get other JOBMAN settings (e.g. shorter reaping).
JOBMAN: dict[str, object] = {
    "RATE_LIMITS": {"test-reports": "2/second"},
    **json.loads(os.environ.get("JOBMAN_TEST_JOBMAN", "{}")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"jobman": {"handlers": ["console"], "level": "INFO"}},
}
