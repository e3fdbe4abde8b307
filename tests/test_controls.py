"""Job controls: unique jobs, overlap locks, rate limits and deadlines, with real workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from jobman.jobs import UNTIL_DEADLINE
from jobman.models import FailedJob, Jobman, JobStatus
from tests.support.helpers import WorkerProcess, manage, start_worker, wait_for, work
from tests.testapp.jobs import (
    DeadlineJob,
    ExclusiveJob,
    FewExceptionsJob,
    RateLimitedJob,
    UniqueReportJob,
    UniqueUntilStartJob,
)
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_unique__second_dispatch_returns_the_waiting_row_and_pushes_nothing(
    redis_db: redis.Redis,
) -> None:
    first = UniqueReportJob.dispatch({"report": 7})
    second = UniqueReportJob.dispatch({"report": 7, "other": "ignored"})
    other = UniqueReportJob.dispatch({"report": 8})

    assert second.pk == first.pk
    assert other.pk != first.pk
    assert first.unique_key == "7"
    assert Jobman.objects.count() == 2
    assert redis_db.llen("rq:queue:default") == 2

    work()
    assert Execution.objects.filter(jobman_id=first.pk).count() == 1
    assert Jobman.objects.get(pk=first.pk).unique_key is None  # uniqueness ended with it
    third = UniqueReportJob.dispatch({"report": 7})
    assert third.pk not in (first.pk, other.pk)


def test_unique__a_rolled_back_dispatch_holds_nothing() -> None:
    class RolledBack(Exception):
        pass

    def dispatch_then_roll_back() -> None:
        with transaction.atomic():
            UniqueReportJob.dispatch({"report": 1})
            raise RolledBack

    with pytest.raises(RolledBack):
        dispatch_then_roll_back()

    row = UniqueReportJob.dispatch({"report": 1})
    assert Jobman.objects.get().pk == row.pk


def test_unique__expires_unique_for_seconds_after_dispatch() -> None:
    old = UniqueReportJob.dispatch({"report": 5})
    Jobman.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))

    new = UniqueReportJob.dispatch({"report": 5})

    assert new.pk != old.pk
    assert Jobman.objects.get(pk=old.pk).unique_key is None


def test_unique__until_processing_frees_the_id_when_it_starts(
    workers: list[WorkerProcess],
) -> None:
    first = UniqueUntilStartJob.dispatch({"report": 3, "seconds": 3})
    assert UniqueUntilStartJob.dispatch({"report": 3}).pk == first.pk
    workers.append(start_worker())
    wait_for(lambda: Execution.objects.filter(jobman_id=first.pk).exists())

    second = UniqueUntilStartJob.dispatch({"report": 3})

    assert second.pk != first.pk
    assert Jobman.objects.get(pk=first.pk).status == JobStatus.RUNNING


def test_overlap__same_key_never_runs_at_once_and_uses_no_tries(
    workers: list[WorkerProcess],
) -> None:
    rows = [ExclusiveJob.dispatch({"account": "acme", "seconds": 1.5}) for _ in range(2)]
    workers.extend([start_worker("--worker-class", "simple") for _ in range(2)])

    wait_for(lambda: Jobman.objects.filter(status=JobStatus.COMPLETED).count() == 2, timeout=40)
    runs = {
        row.pk: {e.kind: e.at for e in Execution.objects.filter(jobman_id=row.pk)} for row in rows
    }
    first, second = sorted(runs.values(), key=lambda r: r["start"])
    assert second["start"] >= first["end"]  # one after the other
    for row in Jobman.objects.filter(pk__in=[r.pk for r in rows]):
        assert row.attempts == 1  # a release is not a try
    released = [r for r in Jobman.objects.all() if "released for 1 s" in r.logs]
    assert released
    assert "another job holds overlap key 'acme'" in released[0].logs


def test_rate_limit__over_the_limit_waits_without_using_tries(
    workers: list[WorkerProcess],
) -> None:
    rows = RateLimitedJob.dispatch_many([{} for _ in range(6)])  # tries 1, 2 a second
    workers.extend([start_worker("--worker-class", "simple") for _ in range(2)])

    wait_for(lambda: Jobman.objects.filter(status=JobStatus.COMPLETED).count() == 6, timeout=60)
    starts = sorted(e.at for e in Execution.objects.all())
    # The limit counts in whole-second windows of the gate's clock; a job records its start
    # a moment after the gate, so two let in at the end of one window can be recorded in
    # the next second beside that window's own two. Six at two a window take three windows.
    per_second: dict[int, int] = {}
    for at in starts:
        per_second[int(at.timestamp())] = per_second.get(int(at.timestamp()), 0) + 1
    assert max(per_second.values()) <= 4
    assert (starts[-1] - starts[0]).total_seconds() >= 0.9
    assert all(r.attempts == 1 for r in Jobman.objects.filter(pk__in=[r.pk for r in rows]))


def test_retry_until__retries_until_the_deadline_then_fails() -> None:
    row = DeadlineJob.dispatch({})
    assert row.max_tries == UNTIL_DEADLINE

    result = manage("jobman_work", "--max-idle", "4", timeout=60)
    assert result.code == 0, result.err

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    assert 2 <= row.attempts <= 4  # backoff 1 s (and the scheduler's whole seconds), 2 s deadline
    assert "no further tries: retry_until passed" in row.logs
    assert FailedJob.objects.filter(jobman=row).count() == 1


def test_max_exceptions__fails_after_that_many_whatever_tries_says() -> None:
    row = FewExceptionsJob.dispatch({})  # tries 5

    work()

    row.refresh_from_db()
    assert (row.status, row.attempts) == (JobStatus.FAILED, 2)
    assert "no further tries: max_exceptions (2) reached" in row.logs
