"""Scenario 12: rows and Redis keys written by hand, against the commands that walk many rows.

A row a command cannot handle is reported and skipped; the others are handled; the
command exits 0 or 1, never with a traceback. A push that cannot take one row takes the
others. A row whose RQ job was replaced in Redis is found by ``--check-redis`` and runs.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rq import Callback, Queue
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from jobman import queues, reaper
from jobman.models import FailedJob, Jobman, JobStatus
from tests.faults.support import record
from tests.support.helpers import run_command, work
from tests.support.rows import make_failed, make_row
from tests.testapp.jobs import HelloJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]

FAR = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)
ANCIENT = datetime.datetime(2, 1, 2, tzinfo=datetime.UTC)
# What a person or a script may leave in a row, each a change to an ordinary row.
BAD_ROWS: dict[str, dict[str, Any]] = {
    "attribs_text": {"attribs": "just text"},
    "attribs_list": {"attribs": [1, 2]},
    "unknown_type": {"type": "gone.away"},
    "unknown_queue": {"queue": "gone"},
    "unknown_status": {"status": "weird"},
    "huge_tries": {"max_tries": 2**31 - 1, "attempts": 2**31 - 2},
    "far_future": {"available_at": FAR},
    "ancient": {"created_at": ANCIENT, "available_at": ANCIENT},
    "worker_garbage": {"worker": "garbage"},
    "chain_orphan": {"chain_id": uuid.UUID(int=1), "chain_position": 7},
}
STATUSES = [JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.RUNNING, "failed"]
WALKING = [
    ("jobman_requeue_unpushed", "--older-than", "0"),
    ("jobman_requeue_unpushed", "--older-than", "0", "--check-redis"),
    ("jobman_retry", "all"),
    ("jobman_prune", "--days", "1"),
    ("jobman_reap",),
    ("jobman_status",),
    ("jobman_failed",),
]
OLD = datetime.timedelta(days=3)


def bad_row(kind: str, status: str) -> Jobman:
    row = make_row(status, age=OLD, worker="gone-host.1.x" if status == "running" else "")
    if status == JobStatus.FAILED:
        FailedJob.objects.create(jobman=row, connection="redis://x", queue="default", exception="")
    Jobman.objects.filter(pk=row.pk).update(**BAD_ROWS[kind])
    return row


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_walking_commands__a_bad_row_is_skipped_and_the_others_handled(
    kind: str, redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reaper, "_gone_long_enough", lambda *args: True)
    bad = [bad_row(kind, status) for status in STATUSES]
    seen = {"commands": 0, "exit_0": 0, "exit_1": 0}
    for command in [*WALKING, ("jobman_cancel", *(str(row.pk) for row in bad))]:
        # Good rows each command should act on, beside the bad ones.
        pending = make_row(JobStatus.PENDING, age=OLD)
        failed = make_failed(job_type="test.hello", age=OLD)
        running = make_row(JobStatus.RUNNING, age=OLD, worker="gone-host.1.x", attempts=1)
        finished = make_row(JobStatus.COMPLETED, age=OLD)

        result = run_command(*command)

        seen["commands"] += 1
        seen[f"exit_{result.code}"] += 1
        assert result.code in (0, 1), (command, result)
        assert "Traceback" not in result.err + result.out, (command, result)
        if result.code == 1:
            assert result.err.strip(), "a skipped row is named"
        name = command[0]
        if name == "jobman_requeue_unpushed":
            assert Jobman.objects.get(pk=pending.pk).status == JobStatus.QUEUED, command
        if name == "jobman_retry":
            assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.QUEUED
        if name == "jobman_prune":
            assert not Jobman.objects.filter(pk=finished.pk).exists()
        if name == "jobman_reap":
            assert Jobman.objects.get(pk=running.pk).status == JobStatus.FAILED
    record(f"bad_rows[{kind}]", faults="rows written by hand", **seen)


def test_reap__a_row_of_a_queue_gone_from_settings_is_named_and_the_others_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reaper, "_gone_long_enough", lambda *args: True)
    stray = make_row(JobStatus.RUNNING, queue="gone", worker="other-host.2.y")
    lost = make_row(JobStatus.RUNNING, worker="gone-host.1.x", attempts=1)

    result = run_command("jobman_reap")

    assert result.code == 1
    assert f"jobman #{stray.pk} skipped: could not tell whether worker other-host.2.y" in result.err
    assert "'gone' is not in settings.RQ_QUEUES" in result.err
    assert Jobman.objects.get(pk=lost.pk).status == JobStatus.FAILED
    assert Jobman.objects.get(pk=stray.pk).status == JobStatus.RUNNING  # still visible


# Pushes that cannot take every row


def test_push__a_queue_redis_refuses_keeps_none_of_the_others_out_of_the_transaction(
    redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    redis_db.set("rq:queue:high", "a string where RQ keeps a list")
    with transaction.atomic():
        first = HelloJob.dispatch({"name": "a"})
        refused = HelloJob.dispatch({"name": "b"}, queue="high")
        last = HelloJob.dispatch({"name": "c"})

    statuses = dict(Jobman.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: JobStatus.QUEUED,
        refused.pk: JobStatus.PENDING,  # visibly waiting, for jobman_requeue_unpushed
        last.pk: JobStatus.QUEUED,
    }
    waiting = redis_db.lrange("rq:queue:default", 0, -1)
    assert waiting == [first.rq_job_id.encode(), last.rq_job_id.encode()]
    assert f"rows {refused.pk} stay pending" in caplog.text


def test_push__a_command_redis_refuses_in_one_multi_leaves_out_only_its_row(
    redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    redis_db.set("rq:queue:high", "a string where RQ keeps a list")
    first, refused, last = (
        make_row(JobStatus.PENDING),
        make_row(JobStatus.PENDING, queue="high"),
        make_row(JobStatus.PENDING),
    )

    assert queues.push([first, refused, last]) == [first, last]

    statuses = dict(Jobman.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: JobStatus.QUEUED,
        refused.pk: JobStatus.PENDING,
        last.pk: JobStatus.QUEUED,
    }
    assert f"Redis refused the job of row {refused.pk}" in caplog.text


def test_push__a_row_whose_queue_left_the_settings_keeps_none_of_the_others_out(
    redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    good, stray = make_row(JobStatus.PENDING), make_row(JobStatus.PENDING, queue="gone")

    pushed = queues.push([stray, good])

    assert pushed == [good]
    assert Jobman.objects.get(pk=good.pk).status == JobStatus.QUEUED
    assert Jobman.objects.get(pk=stray.pk).status == JobStatus.PENDING
    assert f"row {stray.pk} cannot be pushed" in caplog.text


def test_push__writes_the_whole_job_over_whatever_held_its_key(redis_db: redis.Redis) -> None:
    rows = [make_row(JobStatus.PENDING) for _ in range(3)]
    redis_db.set(f"rq:job:{rows[0].rq_job_id}", "a string where RQ keeps a hash")
    redis_db.hset(f"rq:job:{rows[1].rq_job_id}", "success_callback_name", "os.system")

    assert queues.push(rows) == rows

    assert redis_db.type(f"rq:job:{rows[0].rq_job_id}") == b"hash"
    assert redis_db.hget(f"rq:job:{rows[1].rq_job_id}", "success_callback_name") == b""
    work()
    assert set(Jobman.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}


# --check-redis: a row whose RQ job was replaced


def replace(redis_db: redis.Redis, row: Jobman, how: str) -> None:
    key = f"rq:job:{row.rq_job_id}"
    queue = Queue("default", connection=redis_db, serializer=JSONSerializer)
    if how == "deleted":
        redis_db.delete(key)
    elif how == "wrong_type":
        redis_db.delete(key)
        redis_db.set(key, "not a hash")
    elif how == "unreadable":
        redis_db.hset(key, "data", b"\xff\x00 not json")
    elif how == "foreign_function":
        redis_db.delete(key)
        RQJob.create(
            "os.getcwd", id=row.rq_job_id, connection=redis_db, serializer=JSONSerializer
        ).save()
    elif how == "with_callback":
        redis_db.delete(key)
        queue.create_job(
            queues.RUNNER, args=(row.pk,), job_id=row.rq_job_id, on_success=Callback("os.getcwd")
        ).save()
    elif how == "other_row":
        redis_db.delete(key)
        queue.create_job(queues.RUNNER, args=(row.pk + 1000,), job_id=row.rq_job_id).save()
    elif how == "failed":
        redis_db.hset(key, "status", "failed")
    elif how == "finished":
        redis_db.hset(key, "status", "finished")
    else:
        raise AssertionError(how)


REPLACED = [
    "deleted",
    "wrong_type",
    "unreadable",
    "foreign_function",
    "with_callback",
    "other_row",
    "failed",
    "finished",
]


@pytest.mark.worker
def test_check_redis__rows_whose_rq_job_was_replaced_are_pushed_again_and_run(
    redis_db: redis.Redis,
) -> None:
    rows = {how: HelloJob.dispatch({"name": how}) for how in REPLACED}
    intact = HelloJob.dispatch({"name": "intact"})
    for how, row in rows.items():
        replace(redis_db, row, how)

    result = run_command("jobman_requeue_unpushed", "--check-redis", "--older-than", "0")

    assert result.code == 0, result
    for how, row in rows.items():
        assert f"#{row.pk}" in result.out, how
    assert f"#{intact.pk}" not in result.out
    work()
    for how, row in rows.items():
        row.refresh_from_db()
        assert (how, row.status, row.attempts) == (how, JobStatus.COMPLETED, 1)
    assert Jobman.objects.get(pk=intact.pk).status == JobStatus.COMPLETED
    record(
        "check_redis_replaced", faults="RQ jobs replaced by hand", replaced=len(rows), ran=len(rows)
    )


def test_check_redis__a_job_still_to_run_is_left_as_it_is(redis_db: redis.Redis) -> None:
    row = HelloJob.dispatch({"name": "x"})
    before = redis_db.hgetall(f"rq:job:{row.rq_job_id}")

    result = run_command("jobman_requeue_unpushed", "--check-redis", "--older-than", "0")

    assert result.code == 0
    assert redis_db.hgetall(f"rq:job:{row.rq_job_id}") == before
    assert f"#{row.pk}" not in result.out


# Worker records and queued jobs written by hand, against jobman_status and the dashboard


def plant_worker_records(redis_db: redis.Redis) -> None:
    records = {
        "rq:worker:wrong-type": None,
        "rq:worker:garbage": {
            "state": "busy",
            "queues": "default",
            "birth": "not a date",
            "last_heartbeat": "\xff",
            "pid": "x",
            "current_job": "jobman-99999999999999999999",
        },
        "rq:worker:odd-digits": {
            "state": "busy",
            "queues": "default",
            "current_job": "jobman-\u00b2",
        },
        "rq:worker:no-state": {"queues": "default"},
        "rq:worker:fine": {"state": "idle", "queues": "default,high"},
    }
    for key, fields in records.items():
        if fields is None:
            redis_db.set(key, "a string where RQ keeps a hash")
        else:
            redis_db.hset(key, mapping=fields)
        redis_db.sadd("rq:workers", key)
    redis_db.rpush("rq:queue:default", "jobman-hand-written")
    redis_db.hset(
        "rq:job:jobman-hand-written", mapping={"enqueued_at": "yesterday", "data": "\xff"}
    )


def test_status__worker_records_and_jobs_written_by_hand_spoil_nothing(
    redis_db: redis.Redis,
) -> None:
    plant_worker_records(redis_db)
    make_row(JobStatus.QUEUED)

    for args in [(), ("--json",)]:
        result = run_command("jobman_status", *args)
        assert result.code == 0, result
        assert "Traceback" not in result.err

    report = json.loads(run_command("jobman_status", "--json").out)
    workers = {worker["name"]: worker["state"] for worker in report["workers"]}
    assert workers == {
        "fine": "idle",
        "garbage": "busy",
        "odd-digits": "busy",
        "wrong-type": "unreadable",
    }
    default = next(queue for queue in report["queues"] if queue["name"] == "default")
    assert default["waiting"] == 1
    assert default["oldest_wait"] is None


def test_dashboard__worker_records_and_jobs_written_by_hand_spoil_nothing(
    redis_db: redis.Redis, admin_user: User
) -> None:
    plant_worker_records(redis_db)
    client = Client()
    client.force_login(admin_user)

    page = client.get(reverse("admin:jobman_dashboard"))
    figures = client.get(reverse("admin:jobman_dashboard_json"))

    assert page.status_code == 200
    assert figures.status_code == 200
    assert "wrong-type" in page.content.decode()
    assert {worker["name"] for worker in figures.json()["workers"]} >= {"garbage", "fine"}


def test_reap__job_ids_written_by_hand_in_the_started_registry_spoil_nothing(
    redis_db: redis.Redis,
) -> None:
    queue = queues.get_queue("default")
    for job_id in ("jobman-\u00b2", "jobman-99999999999999999999", "jobman-", "not-ours"):
        redis_db.zadd(queue.started_job_registry.key, {f"{job_id}:execution-1": 1})

    result = run_command("jobman_reap")

    assert result.code == 0, result
    assert "Traceback" not in result.err
