"""The worker: what it refuses to run, its options, and database connections across fork."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from django.db import connection, connections
from rq import Queue
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker, Worker

from jobman import queues
from jobman.models import Jobman, JobStatus
from jobman.worker import (
    JobmanSimpleWorker,
    JobmanWorker,
    JobmanWorkerMixin,
    forget_inherited_connections,
    resolve_worker_class,
)
from tests.support.helpers import manage, run_command, work
from tests.testapp.jobs import ConnectionProbeJob, HelloJob, HighJob
from tests.testapp.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
@pytest.mark.parametrize("serializer", [JSONSerializer, None], ids=["json", "pickle"])
def test_worker__refuses_a_job_that_is_not_jobmans(
    serializer: object, tmp_path: Path, redis_db: redis.Redis
) -> None:
    mark = tmp_path / "mark"
    planted = Queue("default", connection=queues.get_connection("default"), serializer=serializer)
    job = planted.enqueue("tests.testapp.planted.leave_a_mark", str(mark))

    result = work()

    assert not mark.exists()
    assert "Refused: a jobman worker runs only jobman.runner.run" in result.err
    assert job.id in planted.failed_job_registry
    assert RQJob.fetch(job.id, connection=planted.connection).get_status() == "failed"


@pytest.mark.worker
def test_worker__queues_listed_first_are_served_first() -> None:
    low_first = HelloJob.dispatch({"name": "default queue"})
    high_later = HighJob.dispatch({})

    work("high", "default", "--worker-class", "simple")

    runs = list(Execution.objects.order_by("id").values_list("jobman_id", flat=True))
    assert runs == [high_later.pk, low_first.pk]


@pytest.mark.worker
def test_worker__max_jobs_stops_after_that_many() -> None:
    rows = HelloJob.dispatch_many([{"name": str(i)} for i in range(3)])

    work("--max-jobs", "2")

    statuses = sorted(
        Jobman.objects.filter(pk__in=[r.pk for r in rows]).values_list("status", flat=True)
    )
    assert statuses == [JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.QUEUED]


def test_jobman_work__unknown_queue_is_a_usage_error_naming_it() -> None:
    result = manage("jobman_work", "default", "nowhere", "--burst")
    assert result.code == 2
    assert result.out == ""
    assert "Queue 'nowhere' is not in settings.RQ_QUEUES" in result.err
    assert "Traceback" not in result.err


def test_jobman_work__bad_worker_class_is_a_usage_error_naming_it() -> None:
    result = manage("jobman_work", "--burst", "--worker-class", "no.such.Worker")
    assert result.code == 2
    assert "Worker class 'no.such.Worker' is neither 'fork', 'simple'" in result.err

    result = run_command("jobman_work", "--burst", "--worker-class", "os.path.join")
    assert result.code == 1
    assert "'os.path.join' is not an RQ worker class" in result.err


def test_jobman_work__bad_max_jobs_is_an_argument_error() -> None:
    result = manage("jobman_work", "--burst", "--max-jobs", "0")
    assert result.code == 2
    assert "--max-jobs: expected 1 or more, found 0" in result.err


def test_resolve_worker_class() -> None:
    assert resolve_worker_class("fork") is JobmanWorker
    assert resolve_worker_class("simple") is JobmanSimpleWorker
    custom = resolve_worker_class("rq.worker.RoundRobinWorker")
    assert issubclass(custom, JobmanWorkerMixin)
    assert issubclass(custom, Worker)
    assert not issubclass(JobmanSimpleWorker, Worker)
    assert issubclass(JobmanSimpleWorker, SimpleWorker)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").split(":")[0] not in ("postgres", "postgresql"),
    reason="a server session shared across fork is a PostgreSQL hazard; SQLite has none",
)
def test_fork__child_never_touches_the_parents_connection() -> None:
    """A forked child that used its own connection leaves the parent's session working."""
    parent_session = _backend_pid()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit status is the assertion
        try:
            forget_inherited_connections()
            assert Execution.objects.count() >= 0  # opens the child's own connection
            connections.close_all()  # closes only the child's own
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _backend_pid() == parent_session  # same session, still alive


@pytest.mark.worker
def test_fork__worker_in_this_process_leaves_its_connection_usable() -> None:
    """The forking worker run from a process that holds a connection: both keep working."""
    row = HelloJob.dispatch({"name": "in-process worker"})
    assert Execution.objects.count() == 0  # this process now holds an open connection

    worker = JobmanWorker(
        [queues.get_queue("default")], connection=queues.get_connection("default")
    )
    worker.work(burst=True)

    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert Execution.objects.get(jobman_id=row.pk).pid != os.getpid()  # ran in a work-horse


@pytest.mark.worker
def test_fork__a_horse_whose_job_skips_the_database_never_connects() -> None:
    """The forking worker claims before the fork and writes the completed attempt after
    it: the work-horse of a job that does not use the database opens no connection."""
    quiet = ConnectionProbeJob.dispatch({})
    busy = ConnectionProbeJob.dispatch({"use_db": True})

    result = work("--worker-class", "fork")

    quiet.refresh_from_db()
    busy.refresh_from_db()
    for row in (quiet, busy):
        assert (row.status, row.attempts) == (JobStatus.COMPLETED, 1), result.err
        assert row.worker
        assert row.started_at <= row.completed_at
    assert quiet.attribs["connected"] is False
    assert busy.attribs["executions"] == 0  # its own connection, opened by the job
    assert quiet.attribs["pid"] != busy.attribs["pid"]  # each in a work-horse of its own


@pytest.mark.worker
def test_simple__the_worker_keeps_its_connection_between_jobs() -> None:
    """CONN_MAX_AGE is 0 in the test settings: a SimpleWorker keeps its connection anyway,
    so every job after the first finds it open."""
    rows = ConnectionProbeJob.dispatch_many([{}, {}, {}])

    work("--worker-class", "simple")

    found = [Jobman.objects.get(pk=row.pk).attribs for row in rows]
    assert len({f["pid"] for f in found}) == 1
    assert [f["connected"] for f in found] == [True, True, True]
    assert found[0]["opened"] == found[1]["opened"] == found[2]["opened"]  # none reopened
