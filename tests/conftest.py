"""Fixtures shared by the whole suite: the test Redis database and worker processes."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.support import services
from tests.support.helpers import WorkerProcess, stop_worker


@pytest.fixture(scope="session", autouse=True)
def _test_redis() -> Iterator[redis.Redis]:
    """The Redis database this run claimed when the settings were loaded (see services)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.get(services.SENTINEL_KEY) == services.OWNER.encode()
    yield client
    client.flushdb()


@pytest.fixture(autouse=True)
def redis_db(_test_redis: redis.Redis) -> redis.Redis:
    """An empty test Redis database for each test; it is this run's own (see services)."""
    _test_redis.flushdb()
    _test_redis.set(services.SENTINEL_KEY, services.OWNER)
    return _test_redis


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts (append them); each is SIGKILLed, group and all,
    when the test ends, whatever it left running."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        stop_worker(worker, signal.SIGKILL)


@pytest.fixture(scope="session", autouse=True)
def _share_test_database(django_db_setup: None, django_db_blocker: object) -> None:
    """Let worker processes started by tests open the test database."""
    os.environ["JOBMAN_TEST_DB_NAME"] = str(connection.settings_dict["NAME"])
