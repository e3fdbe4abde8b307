"""jobman.testing: capturing dispatches and running them in the test's own process."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
import redis
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from jobman import JobmanJob
from jobman.models import Jobman, JobStatus
from jobman.testing import CapturedDispatches, capture_dispatches, run_pending
from tests.testapp.jobs import AlwaysFailingJob, FlakyJob, HelloJob, HighJob, StepJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_jobman_fake__captures_without_redis(
    jobman_fake: CapturedDispatches, redis_db: redis.Redis
) -> None:
    row = HelloJob.dispatch({"name": "Ada"})

    assert jobman_fake.assert_dispatched(HelloJob, count=1, attribs={"name": "Ada"}) == [row]
    jobman_fake.assert_not_dispatched(HighJob)
    assert row.status == JobStatus.PENDING
    assert redis_db.llen("rq:queue:default") == 0


def test_capture__rows_are_saved_pending_as_nothing_was_pushed(redis_db: redis.Redis) -> None:
    with capture_dispatches() as captured, CaptureQueriesContext(connection) as queries:
        single = HelloJob.dispatch({"name": "Ada"})
        many = HelloJob.dispatch_many([{"name": "Bob"}, {"name": "Cy"}])
        chain = JobmanJob.chain([StepJob({"name": "a"}), StepJob({"name": "b"})]).dispatch()

    assert [row.pk for row in captured.rows] == [row.pk for row in [single, *many, chain[0]]]
    # Decided when they are saved: no UPDATE puts them back.
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    saved = Jobman.objects.values_list("status", "pushed_at")
    assert set(saved) == {(JobStatus.PENDING, None)}
    assert {(row.status, row.pushed_at) for row in captured.rows} == {(JobStatus.PENDING, None)}
    assert redis_db.llen("rq:queue:default") == 0


def test_capture__begun_after_the_insert_still_leaves_the_row_pending(
    redis_db: redis.Redis,
) -> None:
    with ExitStack() as stack:
        with transaction.atomic():
            row = HelloJob.dispatch({"name": "Ada"})  # saved queued: it is pushed on commit
            captured = stack.enter_context(capture_dispatches())
        assert captured.rows == [row]

    assert (row.status, row.pushed_at) == (JobStatus.PENDING, None)
    saved = Jobman.objects.get(pk=row.pk)
    assert (saved.status, saved.pushed_at) == (JobStatus.PENDING, None)
    assert redis_db.llen("rq:queue:default") == 0


def test_assertions__fail_with_a_message_that_says_what_was_dispatched() -> None:
    with capture_dispatches() as captured:
        HelloJob.dispatch({"name": "Bob"})

    with pytest.raises(
        AssertionError,
        match=r"dispatched 0 time\(s\), expected 1; dispatched: test\.hello #\d+ \{'name': 'Bob'\}",
    ):
        captured.assert_dispatched(HelloJob, count=1, attribs={"name": "Ada"})
    with pytest.raises(AssertionError, match=r"HelloJob was dispatched 1 time\(s\)"):
        captured.assert_not_dispatched(HelloJob)
    with pytest.raises(AssertionError, match="jobs were dispatched"):
        captured.assert_nothing_dispatched()


def test_run__runs_captured_jobs_through_retries_to_the_end() -> None:
    with capture_dispatches() as captured:
        hello = HelloJob.dispatch({"name": "Ada", "code": "success"})
        flaky = FlakyJob.dispatch({"succeed_on": 3})  # backoff ignored here
        failing = AlwaysFailingJob.dispatch({})

    rows = {row.pk: row for row in captured.run()}

    assert (rows[hello.pk].status, rows[hello.pk].completed_code) == (
        JobStatus.COMPLETED,
        "success",
    )
    assert rows[hello.pk].attribs["greeting"] == "hello Ada"
    assert (rows[flaky.pk].status, rows[flaky.pk].attempts) == (JobStatus.COMPLETED, 3)
    assert (rows[failing.pk].status, rows[failing.pk].attempts) == (JobStatus.FAILED, 2)


def test_run_pending__runs_rows_waiting_from_a_redis_outage() -> None:
    with capture_dispatches():
        row = HelloJob.dispatch({"name": "later"})
    assert [r.status for r in run_pending()] == [JobStatus.COMPLETED]
    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
