"""Dispatch: validation, the row it writes, and the push to RQ on commit."""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from redis.client import Pipeline

from jobman import JobmanJob
from jobman.jobs import INSERT_BATCH_SIZE
from jobman.models import Jobman, JobStatus
from tests.testapp.jobs import FlakyJob, HelloJob, HighJob

pytestmark = pytest.mark.django_db(transaction=True)


def rq_job_keys(client: redis.Redis) -> list[bytes]:
    return sorted(client.scan_iter("rq:job:*"))


def test_dispatch__saves_a_row_and_pushes_it(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({"name": "Ada"})

    row.refresh_from_db()
    assert row.type == "test.hello"
    assert row.queue == "default"
    assert row.status == JobStatus.QUEUED
    assert row.attribs == {"name": "Ada"}
    assert row.max_tries == 1
    assert row.attempts == 0
    assert row.pushed_at is not None
    assert redis_db.lrange("rq:queue:default", 0, -1) == [f"jobman-{row.pk}".encode()]


def test_dispatch__redis_holds_json_with_the_row_id_only(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({"name": "a-secret-only-the-row-knows"})

    raw = redis_db.hgetall(f"rq:job:jobman-{row.pk}")
    data = zlib.decompress(raw[b"data"])
    func, instance, args, kwargs = json.loads(data)  # JSON, so no pickle
    assert (func, instance, args, kwargs) == ("jobman.runner.run", None, [row.pk], {})
    everything = b"".join(k + v for k, v in raw.items())
    assert b"a-secret-only-the-row-knows" not in everything
    assert b"a-secret-only-the-row-knows" not in data


def test_dispatch__queue_and_tries_from_class_and_arguments() -> None:
    assert HighJob.dispatch().queue == "high"
    assert HelloJob.dispatch({}, queue="low").queue == "low"
    assert FlakyJob.dispatch({"succeed_on": 1}).max_tries == 3


@override_settings(JOBMAN={"DEFAULT_QUEUE": "low", "DEFAULT_TRIES": 4})
def test_dispatch__defaults_come_from_settings() -> None:
    row = HelloJob.dispatch()
    assert (row.queue, row.max_tries) == ("low", 4)


@pytest.mark.parametrize(
    ("attribs", "named"),
    [
        ({"when": datetime.now(UTC)}, "attribs['when'] is a datetime"),
        ({"a": [{"b": {1, 2}}]}, "attribs['a'][0]['b'] is a set"),
        ({"n": float("nan")}, "attribs['n'] is nan"),
        ({"k": {3: "x"}}, "attribs['k'] has the key 3"),
        ({"s": "nul\x00byte"}, "attribs['s'] contains a NUL"),
    ],
)
def test_dispatch__non_json_attribs_raise_type_error_naming_the_key(
    attribs: dict[str, object], named: str, redis_db: redis.Redis
) -> None:
    with pytest.raises(TypeError, match=re.escape(named)):
        HelloJob.dispatch(attribs)

    assert not Jobman.objects.exists()
    assert rq_job_keys(redis_db) == []


def test_dispatch__attribs_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="attribs must be a dict, found list"):
        HelloJob.dispatch(["not", "a", "dict"])  # type: ignore[arg-type]
    assert not Jobman.objects.exists()


def test_dispatch__unknown_queue_is_refused_by_name(redis_db: redis.Redis) -> None:
    with pytest.raises(ValueError, match=r"Queue 'nowhere' is not in settings\.RQ_QUEUES"):
        HelloJob.dispatch({}, queue="nowhere")
    assert not Jobman.objects.exists()
    assert rq_job_keys(redis_db) == []


def test_dispatch__class_without_type_cannot_dispatch() -> None:
    class Abstract(JobmanJob):
        pass

    with pytest.raises(ImproperlyConfigured, match="Abstract has no type of its own"):
        Abstract.dispatch({})


def test_dispatch__rolled_back_transaction_leaves_no_row_and_nothing_in_redis(
    redis_db: redis.Redis,
) -> None:
    class Rollback(Exception):
        pass

    def dispatch_then_fail() -> None:
        with transaction.atomic():
            HelloJob.dispatch({"name": "never"})
            raise Rollback

    with pytest.raises(Rollback):
        dispatch_then_fail()

    assert not Jobman.objects.exists()
    assert rq_job_keys(redis_db) == []
    assert redis_db.llen("rq:queue:default") == 0


def test_dispatch__pushes_only_after_the_transaction_commits(redis_db: redis.Redis) -> None:
    with transaction.atomic():
        row = HelloJob.dispatch({"name": "later"})
        assert rq_job_keys(redis_db) == []
        # Saved as the push on commit will leave it, so that push needs no UPDATE.
        assert Jobman.objects.get(pk=row.pk).status == JobStatus.QUEUED

    assert rq_job_keys(redis_db) == [f"rq:job:jobman-{row.pk}".encode()]
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.QUEUED


def writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements among ``queries`` that change rows."""
    return [
        query["sql"].split()[0]
        for query in queries.captured_queries
        if query["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")
    ]


def test_dispatch__one_insert_and_one_redis_pipeline_nothing_more(
    redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    HelloJob.dispatch({})  # RQ asks the server's version once per queue: not part of a dispatch
    pipelines: list[list[str]] = []
    commands: list[str] = []
    real_execute, real_command = Pipeline.execute, redis.Redis.execute_command

    def counting_execute(self: Pipeline, *args: object, **kwargs: object) -> object:
        pipelines.append([str(command[0][0]) for command in self.command_stack])
        return real_execute(self, *args, **kwargs)

    def counting_command(self: redis.Redis, *args: object, **options: object) -> object:
        commands.append(str(args[0]))
        return real_command(self, *args, **options)

    monkeypatch.setattr(Pipeline, "execute", counting_execute)
    monkeypatch.setattr(redis.Redis, "execute_command", counting_command)
    with CaptureQueriesContext(connection) as queries:
        row = HelloJob.dispatch({"name": "Ada"})
    monkeypatch.undo()

    assert writes(queries) == ["INSERT"]
    assert len(queries.captured_queries) == 1  # nothing read either
    assert len(pipelines) == 1
    assert commands == []
    assert (row.status, row.pushed_at is not None) == (JobStatus.QUEUED, True)
    saved = Jobman.objects.get(pk=row.pk)
    assert (saved.status, saved.pushed_at) == (JobStatus.QUEUED, row.pushed_at)
    assert redis_db.lrange("rq:queue:default", 0, -1)[-1] == row.rq_job_id.encode()


@override_settings(RQ_QUEUES={"default": {"URL": "redis://127.0.0.1:1/0"}})
def test_dispatch__redis_unreachable_leaves_a_pending_row_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="jobman"):
        row = HelloJob.dispatch({"name": "offline"})

    assert row.status == JobStatus.PENDING
    assert Jobman.objects.get(pk=row.pk).status == JobStatus.PENDING
    assert Jobman.objects.get(pk=row.pk).pushed_at is None
    assert "could not push 1 job(s) to Redis" in caplog.text
    assert f"rows {row.pk} stay pending" in caplog.text


def test_dispatch_many__redis_unreachable_puts_the_rows_back_to_pending_in_one_update(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        override_settings(RQ_QUEUES={"default": {"URL": "redis://127.0.0.1:1/0"}}),
        CaptureQueriesContext(connection) as queries,
        caplog.at_level(logging.WARNING, logger="jobman"),
    ):
        rows = HelloJob.dispatch_many([{"name": str(n)} for n in range(3)])

    assert writes(queries) == ["INSERT", "UPDATE"]
    assert [(row.status, row.pushed_at) for row in rows] == [(JobStatus.PENDING, None)] * 3
    saved = Jobman.objects.order_by("pk").values_list("status", "pushed_at")
    assert list(saved) == [(JobStatus.PENDING, None)] * 3
    assert "could not push 3 job(s) to Redis" in caplog.text


def test_dispatch__delay_sets_available_at_and_schedules_in_rq(redis_db: redis.Redis) -> None:
    before = datetime.now(UTC)
    row = HelloJob.dispatch({}, delay=30)

    assert row.available_at is not None
    assert before + timedelta(seconds=30) <= row.available_at
    assert redis_db.llen("rq:queue:default") == 0
    score = redis_db.zscore("rq:scheduled:default", f"jobman-{row.pk}")
    assert score is not None
    assert abs(score - row.available_at.timestamp()) < 2


@pytest.mark.parametrize(
    ("delay", "error"),
    [
        (-1, "delay must not be negative"),
        ("soon", "delay must be seconds, a timedelta or an aware datetime, found str"),
        (datetime(2030, 1, 1), "delay must be an aware datetime"),
    ],
)
def test_dispatch__bad_delay_is_refused(delay: object, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        HelloJob.dispatch({}, delay=delay)  # type: ignore[arg-type]
    assert not Jobman.objects.exists()


def test_dispatch_many__batched_inserts_and_one_pipeline(
    redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed: list[int] = []
    real_execute = Pipeline.execute

    def counting_execute(self: Pipeline, *args: object, **kwargs: object) -> object:
        executed.append(len(self.command_stack))
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counting_execute)
    with CaptureQueriesContext(connection) as queries:
        rows = HelloJob.dispatch_many([{"name": f"n{i}"} for i in range(1000)])

    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    # 500 rows an INSERT, or fewer where the backend caps bound parameters (SQLite: 999).
    fields = [f for f in Jobman._meta.concrete_fields if not f.primary_key]
    per_insert = min(INSERT_BATCH_SIZE, connection.ops.bulk_batch_size(fields, rows))
    assert len(inserts) == math.ceil(1000 / per_insert)
    assert len(executed) == 1  # one Redis round trip for all 1,000 pushes
    assert set(writes(queries)) == {"INSERT"}  # and no UPDATE after the push
    assert len(rows) == 1000
    assert len({row.pk for row in rows}) == 1000
    assert set(Jobman.objects.values_list("status", flat=True)) == {JobStatus.QUEUED}
    assert not Jobman.objects.filter(pushed_at__isnull=True).exists()
    assert redis_db.llen("rq:queue:default") == 1000
    assert Jobman.objects.filter(status=JobStatus.QUEUED).count() == 1000
    assert redis_db.llen("rq:queue:default") == 1000


def test_dispatch_many__validates_everything_before_writing(redis_db: redis.Redis) -> None:
    with pytest.raises(TypeError, match=r"attribs\['bad'\]"):
        HelloJob.dispatch_many([{"ok": 1}, {"bad": object()}])
    assert not Jobman.objects.exists()
    assert rq_job_keys(redis_db) == []


def test_backoff_for__int_or_list_whose_last_value_repeats() -> None:
    class Fixed(JobmanJob):
        backoff = 5

    class Stepped(JobmanJob):
        backoff = [10, 60]

    assert [Fixed.backoff_for(n) for n in (1, 2, 3)] == [5, 5, 5]
    assert [Stepped.backoff_for(n) for n in (1, 2, 3, 4)] == [10, 60, 60, 60]
