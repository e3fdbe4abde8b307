"""Dispatch: validation, the row it writes, and the push to RQ on commit."""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone
from redis.client import Pipeline

from jobman import JobmanJob, hotpath, signals
from jobman.jobs import INSERT_BATCH_SIZE
from jobman.models import JobBatch, Jobman, JobStatus
from tests.support.helpers import run_command
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
        (float("nan"), "delay must not be negative"),
        (10**400, "delay must be at most 365000 days"),
        (1e300, "delay must be at most 365000 days"),
        (timedelta.max, "delay must be at most 365000 days"),
        (datetime.max.replace(tzinfo=UTC), "delay must be at most 365000 days ahead"),
    ],
)
def test_dispatch__bad_delay_is_refused(delay: object, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        HelloJob.dispatch({}, delay=delay)  # type: ignore[arg-type]
    assert not Jobman.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_dispatch__a_far_delay_refused_in_a_transaction_strands_nothing(
    redis_db: redis.Redis,
) -> None:
    with transaction.atomic():
        row = HelloJob.dispatch({}, delay=3600)
        with pytest.raises(ValueError, match="delay must be at most"):
            HelloJob.dispatch({}, delay=10**12)
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED
    assert redis_db.exists(f"rq:job:{row.rq_job_id}")


def test_push__a_row_written_by_hand_with_the_latest_date_is_scheduled(
    redis_db: redis.Redis,
) -> None:
    row = HelloJob.dispatch({}, delay=60)
    Jobman.objects.filter(pk=row.pk).update(
        status=JobStatus.PENDING, available_at=datetime.max.replace(tzinfo=UTC)
    )
    result = run_command("jobman_requeue_unpushed", "--older-than", "0")
    assert result.code == 0, result.err
    row.refresh_from_db()
    assert row.status == JobStatus.QUEUED


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


# The rows a dispatch writes: one prepared INSERT per chunk instead of the ORM's save().

# Attribs whose JSON the INSERT must not change: unicode, nesting, big and odd numbers.
VARIED_ATTRIBS: list[dict[str, object]] = [
    {},
    {"name": "Zoë", "city": "東京", "mood": "🚀", "quote": 'it\'s "quoted" \\ and\nnewline'},
    {"nested": {"list": [1, 2.5, None, True, False, {"deep": ["x", {"y": []}]}], "empty": {}}},
    {"big": 2**53 + 1, "negative": -7, "tiny": 1e-300, "zero": 0.0, "none": None},
    {"%s": "%s", "percent": "100%", "sql": "'); DROP TABLE jobmans; --"},
]


def columns(row: Jobman) -> dict[str, object]:
    return {field.attname: getattr(row, field.attname) for field in Jobman._meta.concrete_fields}


def filled_rows(count: int, batch: JobBatch, chain_id: uuid.UUID) -> list[Jobman]:
    """Unsaved rows with a value other than the default in every column, NULLs in some."""
    stamp = datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    rows = []
    for n in range(count):
        row = HelloJob._new_row(
            VARIED_ATTRIBS[n % len(VARIED_ATTRIBS)], "low", timedelta(seconds=30, microseconds=n)
        )
        row.updated_at = stamp  # auto_now: saving sets the time of the save
        if n % 2:  # the other half keeps the NULLs of a new row
            row.status, row.logs, row.worker = JobStatus.RETRYING, "a log ünïcode\n", "w-1"
            row.error_message, row.exception, row.completed_code = "Fehler ß", "Traceback", "c"
            row.attempts, row.max_tries = 2, 5
            row.pushed_at = row.started_at = row.failed_at = stamp
            row.completed_at = stamp + timedelta(microseconds=1)
            row.chain_id, row.chain_position, row.batch = chain_id, n, batch
            row.unique_key = f"ключ-{n}"
        rows.append(row)
    return rows


@pytest.mark.parametrize(("count", "alike"), [(1, False), (3, False), (12, False), (4, True)])
def test_insert__writes_the_rows_bulk_create_writes(
    count: int, alike: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``alike``: rows that hold the very same object in every column, which the INSERT
    adapts once (and on PostgreSQL sends once) for all of them."""
    # auto_now (updated_at) reads the clock as it saves: the same clock for both.
    frozen = datetime(2030, 6, 7, 8, 9, 10, 111213, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    batch, chain_id = JobBatch.objects.create(name="twins"), uuid.uuid4()
    ours, theirs = filled_rows(count, batch, chain_id), filled_rows(count, batch, chain_id)
    if alike:
        for rows in (ours, theirs):
            for row in rows:
                for field in Jobman._meta.concrete_fields:
                    setattr(row, field.attname, getattr(rows[0], field.attname))
    for mine, other in zip(ours, theirs, strict=True):
        other.unique_key = mine.unique_key and mine.unique_key + "-bulk"  # unique per type

    with CaptureQueriesContext(connection) as queries:
        returned = hotpath.insert(Jobman, "default", ours)
    Jobman.objects.bulk_create(theirs)

    assert returned == ours
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].startswith("INSERT INTO")
    if connection.vendor == "postgresql" and count > 1:
        assert "FROM UNNEST(" in queries.captured_queries[0]["sql"]
    for mine, other in zip(ours, theirs, strict=True):
        assert (mine._state.adding, mine._state.db) == (False, "default")
        saved_mine, saved_other = (
            columns(Jobman.objects.get(pk=mine.pk)),
            columns(Jobman.objects.get(pk=other.pk)),
        )
        assert saved_mine == columns(mine)  # the instance says what the row holds
        del saved_mine["id"], saved_other["id"]
        if saved_other["unique_key"]:
            saved_other["unique_key"] = saved_other["unique_key"].removesuffix("-bulk")
        assert saved_mine == saved_other
        assert saved_mine["updated_at"] == frozen
    # Primary keys in the order of the rows, each on its own row.
    assert [row.pk for row in ours] == sorted(row.pk for row in ours)
    assert [Jobman.objects.get(pk=row.pk).attribs for row in ours] == [
        row.attribs for row in theirs
    ]


def test_dispatch__the_returned_rows_are_what_was_saved() -> None:
    single = [
        HelloJob.dispatch(attribs, delay=timedelta(seconds=5, microseconds=7))
        for attribs in VARIED_ATTRIBS
    ]
    many = HelloJob.dispatch_many(VARIED_ATTRIBS, queue="high", delay=0.000123)
    steps = JobmanJob.chain([HelloJob(attribs) for attribs in VARIED_ATTRIBS]).dispatch()
    batch = JobmanJob.batch([HelloJob(attribs) for attribs in VARIED_ATTRIBS]).dispatch()

    for rows in (single, many, steps, list(batch.jobs.order_by("pk"))):
        assert [row.attribs for row in rows] == VARIED_ATTRIBS
        for row in rows:
            assert columns(Jobman.objects.get(pk=row.pk)) == columns(row)
    assert all(row.available_at and row.available_at.microsecond for row in single + many)
    assert [row.pk for row in many] == sorted(row.pk for row in many)


def test_dispatch__sends_job_dispatched_once_per_saved_row() -> None:
    seen: list[tuple[type, int | None]] = []

    def receiver(sender: type, jobman: Jobman, **kwargs: object) -> None:
        seen.append((sender, jobman.pk))

    signals.job_dispatched.connect(receiver)
    try:
        one = HelloJob.dispatch({})
        many = HelloJob.dispatch_many([{}, {}])
        steps = JobmanJob.chain([HelloJob({}), HighJob({})]).dispatch()
    finally:
        signals.job_dispatched.disconnect(receiver)

    expected = [(HelloJob, row.pk) for row in [one, *many, steps[0]]] + [(HighJob, steps[1].pk)]
    assert seen == expected
    assert None not in {pk for _, pk in seen}


def test_dispatch_many__chunks_within_the_database_parameter_limit(
    redis_db: redis.Redis,
) -> None:
    """1,500 rows; on SQLite with its historical limit of 999 parameters a statement, which
    a statement of 500 rows of 21 columns would exceed."""
    restore = None
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        restore = connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        with CaptureQueriesContext(connection) as queries:
            rows = HelloJob.dispatch_many([{"n": n} for n in range(1500)])
        fields = [f for f in Jobman._meta.concrete_fields if not f.primary_key]
        per_insert = min(INSERT_BATCH_SIZE, connection.ops.bulk_batch_size(fields, rows))
    finally:
        if restore is not None:
            connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, restore)

    if connection.vendor == "sqlite":
        assert per_insert * len(fields) <= 999
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == math.ceil(1500 / per_insert)
    assert [row.pk for row in rows] == sorted(row.pk for row in rows)
    saved = dict(Jobman.objects.values_list("pk", "attribs"))
    assert [saved[row.pk] for row in rows] == [{"n": n} for n in range(1500)]
    assert redis_db.llen("rq:queue:default") == 1500


def test_dispatch_many__a_failing_chunk_leaves_no_row(
    redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_execute = hotpath.Insert.execute
    calls: list[int] = []

    def second_fails(self: hotpath.Insert, db: object, rows: list[Jobman]) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise DatabaseError("the second chunk fails")
        real_execute(self, db, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(hotpath.Insert, "execute", second_fails)
    with pytest.raises(DatabaseError):
        HelloJob.dispatch_many([{} for _ in range(INSERT_BATCH_SIZE + 1)])

    assert len(calls) == 2
    assert not Jobman.objects.exists()
    assert rq_job_keys(redis_db) == []


def test_insert__without_returning_falls_back_to_the_orm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hotpath.table(Jobman, "default"), "can_return", False)

    one = HelloJob.dispatch({"n": 1})
    many = HelloJob.dispatch_many([{"n": 2}, {"n": 3}])

    assert one._state.adding is False
    assert Jobman.objects.get(pk=one.pk).attribs == {"n": 1}
    assert [Jobman.objects.get(pk=row.pk).attribs for row in many] == [{"n": 2}, {"n": 3}]


def test_new_row__every_other_column_starts_from_its_default() -> None:
    first, second = HelloJob._new_row({"a": [1]}, None, None), HelloJob._new_row({}, None, None)

    set_by_dispatch = {"type", "queue", "attribs", "max_tries", "available_at"}
    set_by_dispatch |= {"created_at", "updated_at"}
    for field in Jobman._meta.concrete_fields:
        if field.name not in set_by_dispatch:
            assert getattr(first, field.attname) == field.get_default(), field.name
    assert (first.attribs, second.attribs) == ({"a": [1]}, {})
    assert (first._state.adding, first.pk) == (True, None)
