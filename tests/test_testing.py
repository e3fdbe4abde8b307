"""jobman.testing: capturing dispatches and running them in the test's own process."""

from __future__ import annotations

import pytest
import redis

from jobman.models import JobStatus
from jobman.testing import CapturedDispatches, capture_dispatches, run_pending
from tests.testapp.jobs import AlwaysFailingJob, FlakyJob, HelloJob, HighJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_jobman_fake__captures_without_redis(
    jobman_fake: CapturedDispatches, redis_db: redis.Redis
) -> None:
    row = HelloJob.dispatch({"name": "Ada"})

    assert jobman_fake.assert_dispatched(HelloJob, count=1, attribs={"name": "Ada"}) == [row]
    jobman_fake.assert_not_dispatched(HighJob)
    assert row.status == JobStatus.PENDING
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
