"""The two writes of every attempt: one statement each, writing only what changed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from jobman.models import Jobman, JobStatus
from jobman.testing import capture_dispatches
from tests.testapp.jobs import HelloJob

pytestmark = pytest.mark.django_db(transaction=True)


def saved(attribs: dict[str, object] | None = None, **fields: object) -> Jobman:
    with capture_dispatches():
        row = HelloJob.dispatch(attribs or {"name": "Ada", "tags": ["é", {"deep": [1, 2.5]}]})
    if fields:
        Jobman.objects.filter(pk=row.pk).update(**fields)
    return row


def test_claim__one_statement_returns_the_row_as_the_orm_reads_it() -> None:
    row = saved(logs="earlier\n", unique_key="k-1", available_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        claimed = Jobman.objects.claim(row.pk, worker="w1")
    assert claimed is not None
    if connection.features.can_return_rows_from_bulk_insert:
        assert len(queries.captured_queries) == 1
        assert "RETURNING" in queries.captured_queries[0]["sql"]
    fresh = Jobman.objects.get(pk=row.pk)
    for field in Jobman._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(fresh, field.attname), field.name
    assert (claimed.status, claimed.attempts, claimed.worker) == (JobStatus.RUNNING, 1, "w1")
    assert claimed._state.adding is False
    assert claimed._state.db == "default"


def test_claim__refuses_what_is_not_claimable() -> None:
    later = saved(available_at=timezone.now() + timedelta(minutes=5))
    cancelled = saved(status=JobStatus.CANCELLED)
    assert Jobman.objects.claim(later.pk, worker="w") is None
    assert Jobman.objects.claim(cancelled.pk, worker="w") is None
    assert Jobman.objects.claim(10**9, worker="w") is None
    running = Jobman.objects.claim(saved().pk, worker="w")
    assert running is not None
    assert Jobman.objects.claim(running.pk, worker="w") is None  # one claim per delivery


def update_of(queries: CaptureQueriesContext) -> str:
    (sql,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    return sql


def test_record_success__writes_only_what_changed() -> None:
    row = Jobman.objects.claim(saved().pk, worker="w")
    assert row is not None
    with CaptureQueriesContext(connection) as queries:
        assert row.record_success(None, "")
    sql = update_of(queries)
    assert len(queries.captured_queries) == 1
    for column in ("status", "completed_at", "updated_at"):
        assert f'"{column}"' in sql
    for column in ("attribs", "logs", "completed_code", "unique_key"):
        assert f'"{column}" =' not in sql, column
    fresh = Jobman.objects.get(pk=row.pk)
    assert (fresh.status, fresh.attribs["name"], fresh.completed_at) == (
        JobStatus.COMPLETED,
        "Ada",
        row.completed_at,
    )


def test_record_success__changed_attribs_logs_code_and_uniqueness_are_written() -> None:
    row = Jobman.objects.claim(saved(unique_key="k-2").pk, worker="w")
    assert row is not None
    row.attribs["result"] = {"rows": 3}
    with CaptureQueriesContext(connection) as queries:
        assert row.record_success("done", "a line\n")
    sql = update_of(queries)
    for column in ("attribs", "logs", "completed_code", "unique_key"):
        assert f'"{column}" =' in sql, column
    fresh = Jobman.objects.get(pk=row.pk)
    assert fresh.attribs == {
        "name": "Ada",
        "tags": ["é", {"deep": [1, 2.5]}],
        "result": {"rows": 3},
    }
    assert (fresh.logs, fresh.completed_code, fresh.unique_key) == ("a line\n", "done", None)


def test_record_success__an_attempt_ended_elsewhere_is_left_alone() -> None:
    row = Jobman.objects.claim(saved().pk, worker="w")
    assert row is not None
    Jobman.objects.filter(pk=row.pk).update(status=JobStatus.FAILED)  # the reaper came first
    assert row.record_success("late", "") is False
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.FAILED


def synchronous_commit_during(write: object) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        assert callable(write)
        write()
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="synchronous_commit is PostgreSQL's",
)
def test_async_commit__postgresql_writes_commit_without_waiting_for_the_disk() -> None:
    first, second = saved(), saved()
    assert synchronous_commit_during(lambda: Jobman.objects.claim(first.pk, "w")) == "on"
    with override_settings(JOBMAN={**settings.JOBMAN, "ASYNC_COMMIT": True}):
        assert synchronous_commit_during(lambda: Jobman.objects.claim(second.pk, "w")) == "off"
        row = Jobman.objects.get(pk=second.pk)
        assert synchronous_commit_during(lambda: row.record_success("ok", "")) == "off"
        with connection.cursor() as cursor:  # only those transactions: the session keeps it
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    assert Jobman.objects.get(pk=second.pk).completed_code == "ok"


def test_claim__each_thread_uses_its_own_connection() -> None:
    """Django gives every thread its own connection; the prepared statements are shared."""
    first, second = saved(), saved()
    assert Jobman.objects.claim(first.pk, worker="main") is not None
    found: list[object] = []

    def claim_elsewhere() -> None:
        try:
            row = Jobman.objects.claim(second.pk, worker="thread")
            assert row is not None
            found.append(row.record_success("from a thread", ""))
        except Exception as error:  # reported below, in the test's own thread
            found.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=claim_elsewhere)
    thread.start()
    thread.join(timeout=30)
    assert found == [True]
    assert Jobman.objects.get(pk=second.pk).completed_code == "from a thread"
