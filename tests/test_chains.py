"""Chains and batches: order, stopping on failure, progress, and callbacks exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobman import JobmanJob, operations
from jobman.followups import cancel_batch
from jobman.models import JobBatch, Jobman, JobStatus
from tests.support.helpers import work
from tests.testapp.jobs import BatchCallbackJob, StepJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def steps_with_callbacks(count: int) -> JobBatch:
    """A batch of ``count`` steps with a `then` and a `finally` callback."""
    return JobmanJob.batch(
        [StepJob({"name": str(i)}) for i in range(count)],
        then=BatchCallbackJob({"which": "then"}),
        finally_=BatchCallbackJob({"which": "finally"}),
    ).dispatch()


def kinds() -> list[str]:
    return list(Execution.objects.order_by("id").values_list("kind", flat=True))


def test_chain__runs_steps_in_order_one_at_a_time(redis_db: redis.Redis) -> None:
    rows = JobmanJob.chain([StepJob({"name": n}) for n in "abc"]).dispatch()

    assert redis_db.lrange("rq:queue:default", 0, -1) == [rows[0].rq_job_id.encode()]
    assert [r.chain_position for r in rows] == [0, 1, 2]
    assert len({r.chain_id for r in rows}) == 1

    work()

    assert kinds() == ["step:a", "step:b", "step:c"]
    assert set(Jobman.objects.values_list("status", flat=True)) == {JobStatus.COMPLETED}


def test_chain_and_batch__rows_pushed_now_are_saved_queued_the_rest_pending(
    redis_db: redis.Redis,
) -> None:
    with CaptureQueriesContext(connection) as queries:
        chain = JobmanJob.chain([StepJob({"name": n}) for n in "ab"]).dispatch()
        batch = JobmanJob.batch([StepJob({"name": n}) for n in "cd"]).dispatch()

    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    found = dict(Jobman.objects.values_list("pk", "status"))
    assert [found[row.pk] for row in chain] == [JobStatus.QUEUED, JobStatus.PENDING]
    assert [row.pushed_at is not None for row in chain] == [True, False]
    assert set(batch.jobs.values_list("status", flat=True)) == {JobStatus.QUEUED}
    assert not batch.jobs.filter(pushed_at__isnull=True).exists()
    in_redis = {job_id.decode() for job_id in redis_db.lrange("rq:queue:default", 0, -1)}
    assert in_redis == {chain[0].rq_job_id, *(row.rq_job_id for row in batch.jobs.all())}


def test_chain__a_failure_cancels_the_rest_with_the_reason() -> None:
    rows = JobmanJob.chain(
        [StepJob({"name": "a"}), StepJob({"name": "b", "fail": True}), StepJob({"name": "c"})]
    ).dispatch()

    work()

    statuses = [Jobman.objects.get(pk=r.pk).status for r in rows]
    assert statuses == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
    assert "cancelled: step 2 of the chain" in Jobman.objects.get(pk=rows[2].pk).logs
    assert Jobman.objects.get(pk=rows[2].pk).cancel_reason == (
        f"cancelled: step 2 of the chain (jobman #{rows[1].pk}) ended failed"
    )
    assert kinds() == ["step:a", "step:b", "failed"]  # failed() ran for step b


def test_chain__later_steps_are_not_requeued_before_their_turn() -> None:
    rows = JobmanJob.chain([StepJob({"name": "a"}), StepJob({"name": "b"})]).dispatch()
    later = timezone.now() + timedelta(hours=1)
    Jobman.objects.filter(pk=rows[0].pk).update(status=JobStatus.PENDING)

    assert list(Jobman.objects.unpushed(later).values_list("pk", flat=True)) == [rows[0].pk]
    Jobman.objects.filter(pk=rows[0].pk).update(status=JobStatus.COMPLETED)
    assert list(Jobman.objects.unpushed(later).values_list("pk", flat=True)) == [rows[1].pk]


def test_batch__progress_and_callbacks_when_one_fails() -> None:
    batch = JobmanJob.batch(
        [StepJob({"name": "a"}), StepJob({"name": "b", "fail": True}), StepJob({"name": "c"})],
        name="import",
        then=BatchCallbackJob({"which": "then"}),
        catch=BatchCallbackJob({"which": "catch"}),
        finally_=BatchCallbackJob({"which": "finally"}),
    ).dispatch()
    assert (batch.total, batch.pending, batch.progress) == (3, 3, 0)

    work()

    batch.refresh_from_db()
    assert (batch.total, batch.pending, batch.failed, batch.progress) == (3, 0, 1, 100)
    assert batch.finished_at is not None
    assert batch.first_failed_at is not None
    callbacks = sorted(k for k in kinds() if k.startswith("callback:"))
    assert callbacks == [f"callback:catch:{batch.pk}", f"callback:finally:{batch.pk}"]
    assert batch.jobs.count() == 3


def test_batch__then_and_finally_when_all_complete() -> None:
    batch = steps_with_callbacks(4)

    work()

    batch.refresh_from_db()
    assert (batch.pending, batch.failed, batch.progress) == (0, 0, 100)
    callbacks = sorted(k for k in kinds() if k.startswith("callback:"))
    assert callbacks == [f"callback:finally:{batch.pk}", f"callback:then:{batch.pk}"]


def test_batch__cancel_stops_waiting_jobs_and_finishes_the_batch() -> None:
    batch = steps_with_callbacks(3)

    assert cancel_batch(batch) == 3
    work()

    batch.refresh_from_db()
    assert batch.cancelled_at is not None
    assert (batch.pending, batch.progress) == (0, 100)
    assert set(batch.jobs.values_list("status", flat=True)) == {JobStatus.CANCELLED}
    assert [k for k in kinds() if k.startswith("callback:")] == [f"callback:finally:{batch.pk}"]
    assert JobBatch.objects.count() == 1


def test_chain_and_batch__empty_is_refused() -> None:
    with pytest.raises(ValueError, match="a chain needs at least one job"):
        JobmanJob.chain([])
    with pytest.raises(ValueError, match="a batch needs at least one job"):
        JobmanJob.batch([])


def test_cancel__a_cancelled_step_stops_its_chain_and_counts_in_its_batch() -> None:
    rows = JobmanJob.chain([StepJob({"name": "a"}), StepJob({"name": "b"})]).dispatch()
    batch = JobmanJob.batch(
        [StepJob({"name": "x"}), StepJob({"name": "y"})],
        finally_=BatchCallbackJob({"which": "finally"}),
    ).dispatch()

    operations.cancel([rows[0].pk, *batch.jobs.values_list("pk", flat=True)])
    work()

    assert Jobman.objects.get(pk=rows[1].pk).status == JobStatus.CANCELLED
    batch.refresh_from_db()
    assert (batch.pending, batch.progress) == (0, 100)
    assert kinds() == [f"callback:finally:{batch.pk}"]
