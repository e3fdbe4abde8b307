"""Fixtures shared by the whole suite: the test Redis database and worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests import services


@pytest.fixture(scope="session", autouse=True)
def _test_redis() -> Iterator[redis.Redis]:
    """Claim the test Redis database, refusing one that holds someone else's data."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    if client.dbsize() and not client.exists(services.SENTINEL_KEY):
        pytest.exit(
            f"Refusing to run: Redis database {settings.REDIS_URL} holds {client.dbsize()} keys "
            "that jobman's tests did not write. Point JOBMAN_TEST_REDIS_DB at an empty one.",
            returncode=2,
        )
    client.set(services.SENTINEL_KEY, "jobman tests")
    yield client


@pytest.fixture(autouse=True)
def redis_db(_test_redis: redis.Redis) -> Iterator[redis.Redis]:
    """An empty test Redis database for each test (it is ours: see _test_redis)."""
    _test_redis.flushdb()
    _test_redis.set(services.SENTINEL_KEY, "jobman tests")
    yield _test_redis


@pytest.fixture(scope="session", autouse=True)
def _share_test_database(django_db_setup: None, django_db_blocker: object) -> None:
    """Let worker processes started by tests open the test database."""
    os.environ["JOBMAN_TEST_DB_NAME"] = str(connection.settings_dict["NAME"])
