"""The operations commands: what each prints on stdout and stderr, and its exit code."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from django.core.management import load_command_class
from django.test.utils import override_settings

from jobman import stops
from jobman.management.base import when
from jobman.models import FailedJob, Jobman, JobStatus
from tests.support.helpers import WorkerProcess, manage, run_command, start_worker, wait_for
from tests.support.rows import UNREACHABLE, make_failed, make_row
from tests.testapp.jobs import HelloJob

pytestmark = pytest.mark.django_db(transaction=True)

OLD = timedelta(days=200)
NOT_AN_ID_OR_ALL = "expected an id (a whole number of 1 or more) or 'all'"
COMMANDS = [
    "jobman_cancel",
    "jobman_failed",
    "jobman_flush",
    "jobman_forget",
    "jobman_prune",
    "jobman_requeue_unpushed",
    "jobman_retry",
    "jobman_status",
]


def status_of(row: Jobman) -> str:
    return str(Jobman.objects.values_list("status", flat=True).get(pk=row.pk))


def argparse_error(command: str, message: str) -> str:
    """The last line argparse prints on stderr before exiting 2."""
    return f"{command}: error: {message}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_help__describes_the_command_with_examples(command: str) -> None:
    parser = load_command_class("jobman", command).create_parser("manage.py", command)

    text = parser.format_help()

    assert f"\nexamples:\n  manage.py {command}" in text


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("jobman_retry", ["abc"], f"argument ID: {NOT_AN_ID_OR_ALL}, found 'abc'"),
        ("jobman_retry", ["0"], f"argument ID: {NOT_AN_ID_OR_ALL}, found '0'"),
        (
            "jobman_retry",
            ["all", "--queue", "nowhere"],
            "argument --queue: Queue 'nowhere' is not in "
            "settings.RQ_QUEUES (configured: 'default', 'high', 'low').",
        ),
        ("jobman_retry", [], "the following arguments are required: ID"),
        (
            "jobman_requeue_unpushed",
            ["--older-than", "-5"],
            "argument --older-than: expected 0 or more seconds, found '-5'",
        ),
        (
            "jobman_requeue_unpushed",
            ["--older-than", "soon"],
            "argument --older-than: expected a number of seconds, found 'soon'",
        ),
        (
            "jobman_requeue_unpushed",
            ["--limit", "0"],
            "argument --limit: expected 1 or more, found 0",
        ),
        ("jobman_prune", ["--days", "-3"], "argument --days: expected 1 or more, found -3"),
        ("jobman_prune", ["--days", "0"], "argument --days: expected 1 or more, found 0"),
        (
            "jobman_prune",
            ["--days", "ten"],
            "argument --days: expected a whole number, found 'ten'",
        ),
        (
            "jobman_prune",
            ["--batch-size", "0"],
            "argument --batch-size: expected 1 or more, found 0",
        ),
        (
            "jobman_failed",
            ["--queue", "nowhere"],
            "argument --queue: Queue 'nowhere' is not in settings.RQ_QUEUES "
            "(configured: 'default', 'high', 'low').",
        ),
        ("jobman_failed", ["--limit", "-1"], "argument --limit: expected 1 or more, found -1"),
    ],
)
def test_bad_arguments_exit_2_naming_them(command: str, args: list[str], message: str) -> None:
    make_row(JobStatus.COMPLETED, age=OLD)

    result = manage(command, *args)

    assert (result.code, result.out) == (2, "")
    assert result.err.endswith(argparse_error(command, message))
    assert Jobman.objects.count() == 1  # nothing changed


# jobman_retry


def test_retry__ids_queue_those_jobs_again() -> None:
    first, second = make_failed(), make_failed(job_type="test.gives_up", queue="high")

    result = run_command("jobman_retry", str(first.pk), str(second.pk))

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Retried failed job {first.pk}: jobman #{first.jobman_id} (test.always_fails, "
        "queue default) is queued, max_tries now 4.\n"
        f"Retried failed job {second.pk}: jobman #{second.jobman_id} (test.gives_up, "
        "queue high) is queued, max_tries now 7.\n"
    )
    assert not FailedJob.objects.exists()
    assert Jobman.objects.filter(status=JobStatus.QUEUED).count() == 2


def test_retry__unknown_id_exits_1() -> None:
    failed = make_failed()

    result = run_command("jobman_retry", "999001", str(failed.pk), "999002")

    assert result.code == 1
    assert result.out.startswith(f"Retried failed job {failed.pk}: ")
    assert result.err == "CommandError: Unknown failed job ids: 999001, 999002\n"
    assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.QUEUED


def test_retry__all_of_a_type_and_queue() -> None:
    wanted = make_failed()
    make_failed(job_type="test.gives_up")
    make_failed(queue="high")

    result = run_command("jobman_retry", "all", "--type", "test.always_fails", "--queue", "default")

    assert (result.code, result.err) == (0, "")
    assert result.out.startswith(f"Retried failed job {wanted.pk}: ")
    assert result.out.count("\n") == 1
    assert FailedJob.objects.count() == 2


def test_retry__all_with_nothing_failed_says_so() -> None:
    result = run_command("jobman_retry", "all")

    assert (result.code, result.out, result.err) == (0, "No failed jobs to retry.\n", "")


def test_retry__verbosity_0_prints_one_summary_line() -> None:
    make_failed(), make_failed()

    result = run_command("jobman_retry", "all", "--verbosity", "0")

    assert (result.code, result.out, result.err) == (0, "Retried 2 failed jobs.\n", "")


def test_retry__ids_and_all_together_exit_1() -> None:
    failed = make_failed()

    result = run_command("jobman_retry", "all", str(failed.pk))

    assert (result.code, result.out) == (1, "")
    assert result.err == "CommandError: Give failed job ids or `all`, not both.\n"
    assert FailedJob.objects.exists()


def test_retry__type_with_ids_exits_1() -> None:
    failed = make_failed()

    result = run_command("jobman_retry", str(failed.pk), "--type", "test.always_fails")

    assert (result.code, result.out) == (1, "")
    assert result.err == "CommandError: --type and --queue go with `all`, not with ids.\n"


def test_retry__job_not_failed_exits_1_naming_it() -> None:
    failed = make_failed()
    Jobman.objects.filter(pk=failed.jobman_id).update(status=JobStatus.RUNNING)

    result = run_command("jobman_retry", str(failed.pk))

    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"CommandError: Failed job {failed.pk} was not retried: "
        f"jobman #{failed.jobman_id} is running, not failed.\n"
    )


def test_retry__redis_unreachable_exits_1_and_the_job_waits_pending() -> None:
    failed = make_failed()

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = run_command("jobman_retry", str(failed.pk))

    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"CommandError: Retried failed job {failed.pk}, but Redis did not take jobman "
        f"#{failed.jobman_id}: it stays pending until jobman_requeue_unpushed pushes it.\n"
    )
    assert Jobman.objects.get(pk=failed.jobman_id).status == JobStatus.PENDING


# jobman_requeue_unpushed


def test_requeue_unpushed__pushes_old_pending_jobs_one_line_each(redis_db: redis.Redis) -> None:
    old = make_row(JobStatus.PENDING, age=timedelta(minutes=3))
    fresh = make_row(JobStatus.PENDING)

    result = run_command("jobman_requeue_unpushed")

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Pushed jobman #{old.pk} (test.hello, queue default): pending for 3 min.\n"
    )
    assert (status_of(old), status_of(fresh)) == (JobStatus.QUEUED, JobStatus.PENDING)
    assert redis_db.lrange("rq:queue:default", 0, -1) == [old.rq_job_id.encode()]


def test_requeue_unpushed__nothing_to_push_says_so() -> None:
    make_row(JobStatus.PENDING)

    result = run_command("jobman_requeue_unpushed")

    assert (result.code, result.out, result.err) == (0, "No jobs to push.\n", "")


def test_requeue_unpushed__check_redis_dry_run_pushes_nothing(redis_db: redis.Redis) -> None:
    pending = make_row(JobStatus.PENDING)
    queued = make_row(JobStatus.QUEUED)  # never pushed: as after Redis lost it
    HelloJob.dispatch({})  # in Redis: left alone

    result = run_command(
        "jobman_requeue_unpushed", "--check-redis", "--older-than", "0", "--dry-run"
    )

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Would push jobman #{pending.pk} (test.hello, queue default): pending for 0 s.\n"
        f"Would push jobman #{queued.pk} (test.hello, queue default): "
        "queued but missing from Redis.\n"
    )
    assert redis_db.llen("rq:queue:default") == 1


def test_requeue_unpushed__verbosity_0_and_limit() -> None:
    for _ in range(3):
        make_row(JobStatus.PENDING, age=timedelta(minutes=3))

    result = run_command("jobman_requeue_unpushed", "--limit", "2", "-v", "0")

    assert (result.code, result.out, result.err) == (0, "Pushed 2 jobs.\n", "")
    assert Jobman.objects.filter(status=JobStatus.PENDING).count() == 1


def test_requeue_unpushed__redis_unreachable_exits_1_naming_the_jobs() -> None:
    row = make_row(JobStatus.PENDING, age=timedelta(minutes=3))

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = run_command("jobman_requeue_unpushed")

    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"CommandError: Redis did not take 1 job (#{row.pk}); they stay as they are.\n"
    )
    assert status_of(row) == JobStatus.PENDING


def test_requeue_unpushed__check_redis_with_redis_unreachable_exits_1() -> None:
    make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = run_command("jobman_requeue_unpushed", "--check-redis")

    assert (result.code, result.out) == (1, "")
    assert result.err.startswith(
        "CommandError: Could not check Redis at redis://127.0.0.1:1/0 for missing jobs: "
    )
    assert result.err.count("\n") == 1


# jobman_prune


def test_prune__deletes_old_finished_jobs_and_says_how_many() -> None:
    old = [make_row(status, age=OLD) for status in (JobStatus.COMPLETED, JobStatus.CANCELLED)]
    failed = make_failed(age=OLD)
    kept = [make_row(JobStatus.QUEUED, age=OLD), make_row(JobStatus.COMPLETED)]

    result = run_command("jobman_prune", "--batch-size", "2")

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[:2] == [
        f"Deleted 2 jobs (#{old[0].pk} to #{old[1].pk}) and 0 failed_jobs rows.",
        f"Deleted 1 job (#{failed.jobman_id}) and 1 failed_jobs row.",
    ]
    assert lines[2].startswith("Deleted 3 finished jobs created before ")
    assert lines[2].endswith(" (cancelled 1, completed 1, failed 1) and 1 failed_jobs row.")
    assert len(lines) == 3
    assert sorted(Jobman.objects.values_list("pk", flat=True)) == [row.pk for row in kept]


def test_prune__dry_run_deletes_nothing() -> None:
    make_row(JobStatus.COMPLETED, age=timedelta(days=40))

    result = run_command("jobman_prune", "--days", "30", "--dry-run")

    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("Would delete 1 finished job created before ")
    assert result.out.endswith(" (completed 1) and 0 failed_jobs rows.\n")
    assert Jobman.objects.count() == 1


def test_prune__verbosity_0_one_line_and_2_one_line_per_job() -> None:
    rows = [make_row(JobStatus.COMPLETED, age=OLD) for _ in range(2)]

    quiet = run_command("jobman_prune", "-v", "0")
    assert quiet.code == 0
    assert quiet.out.startswith("Deleted 2 finished jobs created before ")
    assert quiet.out.count("\n") == 1

    rows = [make_row(JobStatus.COMPLETED, age=OLD) for _ in range(2)]
    verbose = run_command("jobman_prune", "-v", "2")
    assert verbose.out.splitlines()[:2] == [f"Deleted jobman #{row.pk}." for row in rows]


def test_prune__nothing_old_enough_says_so() -> None:
    make_row(JobStatus.COMPLETED)

    result = run_command("jobman_prune")

    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("No finished jobs created before ")


# jobman_failed, jobman_forget, jobman_flush


def test_failed__lists_failed_jobs_most_recent_first() -> None:
    older = make_failed(age=timedelta(hours=2), error="KeyError: 'sku'\nwith detail")
    newer = make_failed(job_type="test.gives_up", queue="high", error="blog not found")

    result = run_command("jobman_failed")

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0].split() == ["ID", "Jobman", "Type", "Queue", "Failed", "at", "Error"]
    assert lines[1].split("  ")[0] == str(newer.pk)
    assert f"  {newer.jobman_id}  " in lines[1]
    assert "  test.gives_up  " in lines[1]
    assert f"  {when(newer.failed_at)}  blog not found" in lines[1]
    assert lines[2].endswith(f"{when(older.failed_at)}  KeyError: 'sku'")
    assert len(lines) == 3


def test_failed__filters_limit_and_empty() -> None:
    make_failed(age=timedelta(hours=1))
    latest = make_failed()
    make_failed(queue="high")

    result = run_command(
        "jobman_failed", "--type", "test.always_fails", "--queue", "default", "--limit", "1"
    )
    assert (result.code, result.err) == (0, "")
    assert [line.split()[0] for line in result.out.splitlines()] == ["ID", str(latest.pk)]

    assert run_command("jobman_failed", "--type", "no.such").out == "No failed jobs.\n"
    assert run_command("jobman_failed", "-v", "0").out == "3 failed jobs.\n"


def test_forget__deletes_those_failed_jobs() -> None:
    first, second, kept = make_failed(), make_failed(), make_failed()

    result = run_command("jobman_forget", str(first.pk), str(second.pk))

    assert (result.code, result.err) == (0, "")
    assert result.out == f"Forgot failed job {first.pk}.\nForgot failed job {second.pk}.\n"
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [kept.pk]
    assert Jobman.objects.get(pk=first.jobman_id).status == JobStatus.FAILED


def test_forget__unknown_id_exits_1() -> None:
    failed = make_failed()

    result = run_command("jobman_forget", "999001", str(failed.pk))

    assert result.code == 1
    assert result.out == f"Forgot failed job {failed.pk}.\n"
    assert result.err == "CommandError: Unknown failed job id: 999001\n"


def test_forget__not_an_id_exits_2() -> None:
    result = manage("jobman_forget", "5x")

    assert (result.code, result.out) == (2, "")
    assert result.err.endswith(
        argparse_error("jobman_forget", "argument ID: expected an id (a whole number), found '5x'")
    )


def test_flush__deletes_all_failed_jobs() -> None:
    make_failed(), make_failed()

    result = run_command("jobman_flush")

    assert (result.code, result.out, result.err) == (0, "Deleted 2 failed jobs.\n", "")
    assert not FailedJob.objects.exists()
    assert Jobman.objects.filter(status=JobStatus.FAILED).count() == 2


def test_flush__hours_keeps_the_recent_ones() -> None:
    make_failed(age=timedelta(hours=50))
    make_failed(age=timedelta(hours=1))

    result = run_command("jobman_flush", "--hours", "48")

    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("Deleted 1 failed job that failed before ")
    assert FailedJob.objects.count() == 1
    assert run_command("jobman_flush", "--hours", "48").out.startswith(
        "No failed jobs that failed before "
    )


def test_flush__nothing_to_delete_says_so() -> None:
    assert run_command("jobman_flush").out == "No failed jobs to delete.\n"


def test_flush__bad_hours_exit_2() -> None:
    result = manage("jobman_flush", "--hours", "0")

    assert (result.code, result.out) == (2, "")
    assert result.err.endswith(
        argparse_error("jobman_flush", "argument --hours: expected 1 or more, found 0")
    )


# jobman_cancel


def test_cancel__waiting_jobs_one_line_each(redis_db: redis.Redis) -> None:
    queued = HelloJob.dispatch({})
    pending = make_row(JobStatus.PENDING)

    result = run_command("jobman_cancel", str(queued.pk), str(pending.pk))

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Cancelled jobman #{queued.pk} (test.hello, queue default), which was queued.\n"
        f"Cancelled jobman #{pending.pk} (test.hello, queue default), which was pending.\n"
    )
    assert redis_db.llen("rq:queue:default") == 0
    assert Jobman.objects.filter(status=JobStatus.CANCELLED).count() == 2


def test_cancel__a_running_row_is_asked_to_stop(redis_db: redis.Redis) -> None:
    running = make_row(JobStatus.RUNNING, attempts=1)
    queued = make_row(JobStatus.QUEUED)

    result = run_command("jobman_cancel", str(running.pk), str(queued.pk))

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        f"Asked jobman #{running.pk} (test.hello, queue default) to stop: it ends cancelled "
        "at once on a forking worker, at its next look on a SimpleWorker.\n"
        f"Cancelled jobman #{queued.pk} (test.hello, queue default), which was queued.\n"
    )
    assert status_of(running) == JobStatus.RUNNING  # until its attempt looks
    assert "(jobman_cancel) at " in (stops.asked(redis_db, running.pk) or "")


def test_cancel__finished_rows_exit_1() -> None:
    completed = make_row(JobStatus.COMPLETED)
    cancelled = make_row(JobStatus.CANCELLED)

    result = run_command("jobman_cancel", str(completed.pk), str(cancelled.pk), "-v", "0")

    assert (result.code, result.out) == (1, "Cancelled 0 jobs.\n")
    assert result.err == (
        f"CommandError: Not cancelled: jobman #{completed.pk} (test.hello) is completed; "
        "only jobs that have not finished can be cancelled.\n"
        f"Not cancelled: jobman #{cancelled.pk} (test.hello) is cancelled; "
        "only jobs that have not finished can be cancelled.\n"
    )


def test_cancel__unknown_id_exits_1() -> None:
    result = run_command("jobman_cancel", "999001")

    assert (result.code, result.out) == (1, "")
    assert result.err == "CommandError: Unknown jobman id: 999001\n"


def test_cancel__redis_unreachable_cancels_and_warns() -> None:
    row = make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = run_command("jobman_cancel", str(row.pk))

    assert result.code == 0
    assert result.out.startswith(f"Cancelled jobman #{row.pk} ")
    assert result.err.startswith(f"Could not take job(s) #{row.pk} out of Redis (")
    assert result.err.endswith("); they are cancelled and workers will skip them.\n")
    assert status_of(row) == JobStatus.CANCELLED


def test_cancel__not_an_id_exits_2() -> None:
    result = manage("jobman_cancel", "-4")

    assert result.code == 2
    assert result.err.endswith(
        argparse_error("jobman_cancel", "argument ID: expected an id (1 or more), found -4")
    )


# jobman_status


def test_status__queues_workers_and_jobs() -> None:
    HelloJob.dispatch_many([{}, {}])
    HelloJob.dispatch({}, delay=300)
    make_row(JobStatus.RUNNING, queue="high")
    make_failed()

    result = run_command("jobman_status")

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == "Queues (Redis)"
    assert lines[1].startswith("  default  2 waiting, 1 scheduled, oldest waiting ")
    assert lines[2] == "  high     0 waiting, 0 scheduled"
    assert lines[3] == "  low      0 waiting, 0 scheduled"
    assert lines[5] == "Workers (0)"
    assert lines[7:13] == [
        "Jobs (database)",
        "  Queue    pending  queued  running  retrying  completed  failed  cancelled",
        "  default        0       3        0         0          0       1          0",
        "  high           0       0        1         0          0       0          0",
        "  low            0       0        0         0          0       0          0",
        "  total          0       3        1         0          0       1          0",
    ]
    assert lines[-1] == "Failed in the last hour: 1"


@pytest.mark.worker
def test_status__lists_running_workers(redis_db: redis.Redis, workers: list[WorkerProcess]) -> None:
    from rq import Worker

    workers.append(start_worker("default", "low", "--name", "status-command-worker"))
    wait_for(lambda: Worker.all(connection=redis_db), timeout=30)

    result = run_command("jobman_status")

    assert result.code == 0
    assert "Workers (1)\n  status-command-worker  " in result.out
    assert "  default, low\n" in result.out


def test_status__json() -> None:
    HelloJob.dispatch({})

    result = run_command("jobman_status", "--json")

    assert (result.code, result.err) == (0, "")
    report = json.loads(result.out)
    assert [queue["name"] for queue in report["queues"]] == ["default", "high", "low"]
    assert report["queues"][0]["waiting"] == 1
    assert report["queues"][0]["jobs"]["queued"] == 1
    assert report["jobs"]["queued"] == 1
    assert (report["workers"], report["redis_errors"], report["failed_last_hour"]) == ([], [], 0)


def test_status__verbosity_0_one_line() -> None:
    HelloJob.dispatch({})

    result = run_command("jobman_status", "-v", "0")

    assert (result.code, result.err) == (0, "")
    assert result.out == "1 waiting in Redis, 0 workers, 0 running, 0 failed in the last hour.\n"


def test_status__redis_unreachable_still_shows_the_database_and_exits_0() -> None:
    make_row(JobStatus.QUEUED)

    with override_settings(RQ_QUEUES=UNREACHABLE):
        result = run_command("jobman_status")
        quiet = run_command("jobman_status", "-v", "0")

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[1].startswith("  default  Redis unreachable: ")
    assert "Workers: unknown (Redis unreachable)" in lines
    assert "  default        0       1        0         0          0       0          0" in lines
    assert quiet.out == "Redis unreachable, 0 running, 0 failed in the last hour.\n"
