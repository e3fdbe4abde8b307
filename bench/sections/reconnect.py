"""Section ``reconnect``: what a database connection of its own costs a job."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import QUEUE, log
from bench.config import Config
from bench.queueing import Services


def section_reconnect(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """What a work-horse's own database connection costs per job.

    ``attempt_*``: the statements of one successful attempt (claim UPDATE, SELECT, final
    UPDATE) on a fresh connection closed afterwards, as a forking worker's horse (or a
    SimpleWorker with CONN_MAX_AGE=0) does, against the same on a connection kept open.
    On SQLite the close is measured alone too, as the last connection to the file (WAL
    checkpoint and removal of the -wal file) and with another connection open.
    """
    import sqlite3

    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from jobman.models import Jobman

    services.reset()
    row = Jobman.objects.create(type="bench.noop", queue=QUEUE, status="completed")
    n = config.reconnect_iterations

    def attempt() -> None:
        now = timezone.now()
        Jobman.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1, updated_at=now)
        Jobman.objects.get(pk=row.pk)
        Jobman.objects.filter(pk=row.pk).update(completed_at=now, updated_at=now)

    def timed(body: Callable[[], None]) -> float:
        started = time.perf_counter()
        for _ in range(n):
            body()
        return (time.perf_counter() - started) / n * 1000

    def fresh() -> None:
        connection.close()
        connection.ensure_connection()

    def fresh_attempt() -> None:
        connection.ensure_connection()
        attempt()
        connection.close()

    connection.ensure_connection()
    result: dict[str, Any] = {
        "iterations": n,
        "connect_ms": round(timed(fresh), 3),
        "attempt_fresh_connection_ms": round(timed(fresh_attempt), 3),
    }
    connection.ensure_connection()
    result["attempt_open_connection_ms"] = round(timed(attempt), 3)
    result["reconnect_cost_per_job_ms"] = round(
        result["attempt_fresh_connection_ms"] - result["attempt_open_connection_ms"], 3
    )
    if connection.vendor == "sqlite":

        def close_after_write() -> float:
            connection.ensure_connection()
            attempt()
            started = time.perf_counter()
            connection.close()
            return time.perf_counter() - started

        result["close_last_connection_ms"] = round(
            sum(close_after_write() for _ in range(n)) / n * 1000, 3
        )
        keeper = sqlite3.connect(str(connection.settings_dict["NAME"]))
        keeper.execute("SELECT COUNT(*) FROM jobmans").fetchone()
        try:
            result["close_with_another_open_ms"] = round(
                sum(close_after_write() for _ in range(n)) / n * 1000, 3
            )
            result["attempt_fresh_connection_another_open_ms"] = round(timed(fresh_attempt), 3)
        finally:
            keeper.close()
    connection.close()
    log(f"reconnect: {result}")
    return result
