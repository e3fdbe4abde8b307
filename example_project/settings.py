"""Settings of the example project: a small shop whose background jobs jobman records.

Environment variables:

- ``DATABASE_URL``: use this database (PostgreSQL, say) instead of the SQLite file.
- ``JOBMAN_EXAMPLE_DB``: path of the SQLite file (default ``var/example.sqlite3``).
- ``REDIS_URL``: the Redis database RQ uses (default ``redis://127.0.0.1:6379/0``).
- ``JOBMAN_EXAMPLE_OFFLINE_URL``: when set, adds a queue ``offline`` on that (unreachable)
  Redis. The demo uses it to show what happens to a job dispatched while Redis is down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# This project only ever runs on a developer's machine; a real project reads these from
# its environment.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "jobman",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Imported here so that the SQLite default needs nothing beyond Django.
        import dj_database_url

        return dict(dj_database_url.parse(url))
    path = Path(os.environ.get("JOBMAN_EXAMPLE_DB") or ROOT / "var" / "example.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # WAL lets the web server read while the worker writes; IMMEDIATE transactions
        # take the write lock up front instead of failing halfway with "database is locked".
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES: dict[str, dict[str, Any]] = {
    "high": {"URL": REDIS_URL},
    "default": {"URL": REDIS_URL},
    "low": {"URL": REDIS_URL},
}
_offline_url = os.environ.get("JOBMAN_EXAMPLE_OFFLINE_URL")
if _offline_url:
    # Only in the process that asks for it: django-rq's dashboard would fail on a queue
    # whose server never answers.
    RQ_QUEUES["offline"] = {"URL": _offline_url}

JOBMAN: dict[str, Any] = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"jobman": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
