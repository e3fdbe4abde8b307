"""Django settings for the benchmarks, read from the environment ``bench.services`` sets.

``JOBMAN_BENCH_DB``: ``sqlite`` (a file in WAL mode) or ``postgres``.
``JOBMAN_BENCH_DB_NAME``: the SQLite file, or the PostgreSQL database name.
``JOBMAN_BENCH_SQLITE_MODE``: ``tuned`` (the default: WAL, ``synchronous=NORMAL``, IMMEDIATE
transactions, as jobman's test settings) or ``default`` (WAL, Django's defaults otherwise).
``JOBMAN_BENCH_PG_URL``: where PostgreSQL is (its database part is ignored).
``JOBMAN_BENCH_REDIS_URL``: the Redis database the bench claimed.
``JOBMAN_BENCH_CONN_MAX_AGE``: Django's CONN_MAX_AGE (default 0, Django's default);
``none`` keeps connections open for ever.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote, urlsplit

SECRET_KEY = "jobman-bench-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_rq",
    "jobman",
    "bench.benchapp",
]
MIDDLEWARE: list[str] = []


def _conn_max_age() -> int | None:
    value = os.environ.get("JOBMAN_BENCH_CONN_MAX_AGE", "0")
    return None if value.lower() == "none" else int(value)


def _database() -> dict[str, Any]:
    engine = os.environ.get("JOBMAN_BENCH_DB", "sqlite")
    name = os.environ.get("JOBMAN_BENCH_DB_NAME", "")
    if engine == "postgres":
        url = urlsplit(os.environ.get("JOBMAN_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/"))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name or "jobman_bench",
            "USER": unquote(url.username or "postgres"),
            "PASSWORD": unquote(url.password or ""),
            "HOST": url.hostname or "127.0.0.1",
            "PORT": str(url.port or 5432),
            "CONN_MAX_AGE": _conn_max_age(),
        }
    if engine != "sqlite":
        raise ValueError(f"JOBMAN_BENCH_DB must be 'sqlite' or 'postgres', found {engine!r}")
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name or "jobman-bench.sqlite3",
        "CONN_MAX_AGE": _conn_max_age(),
        "OPTIONS": _sqlite_options(os.environ.get("JOBMAN_BENCH_SQLITE_MODE", "tuned")),
    }


def _sqlite_options(mode: str) -> dict[str, Any]:
    """Both modes are WAL, so that readers never wait for the one writer; the timeout only
    bounds how long a connection waits for the write lock."""
    if mode == "default":
        # Django's own: synchronous=FULL, DEFERRED transactions.
        return {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20}
    if mode == "tuned":
        # The same options as jobman's own test settings: fewer fsyncs, and a transaction
        # that will write takes the write lock at BEGIN instead of failing at its first write.
        return {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    raise ValueError(f"JOBMAN_BENCH_SQLITE_MODE must be 'default' or 'tuned', found {mode!r}")


DATABASES = {"default": _database()}

REDIS_URL = os.environ.get("JOBMAN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
RQ_QUEUES = {"default": {"URL": REDIS_URL}}
# JOBMAN_BENCH_JOBMAN: JSON merged into JOBMAN, for the what-if rows (ASYNC_COMMIT).
JOBMAN: dict[str, object] = json.loads(os.environ.get("JOBMAN_BENCH_JOBMAN", "{}"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"jobman": {"handlers": ["console"], "level": "WARNING"}},
}
