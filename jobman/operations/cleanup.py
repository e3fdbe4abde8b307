"""Clean-up: prune finished rows, and forget or flush failed_jobs rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import router, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from jobman.models import FailedJob, JobBatch, Jobman
from jobman.operations.results import Result
from jobman.operations.rows import chunks, unique


@dataclass(frozen=True)
class PruneBatch:
    jobman_ids: list[int]
    failed_jobs: int


@dataclass
class PruneResult:
    before: datetime
    dry_run: bool = False
    jobs: int = 0
    failed_jobs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    batches: int = 0  # job_batches rows: finished before ``before``, with no job left


def prune(
    *,
    older_than: timedelta = timedelta(days=180),
    batch_size: int = 1000,
    dry_run: bool = False,
    on_batch: Callable[[PruneBatch], None] | None = None,
) -> PruneResult:
    """Delete finished rows (completed, failed, cancelled) created more than ``older_than`` ago,
    with their failed_jobs rows; then the job_batches rows that finished (or were
    cancelled) that long ago and have no job left.

    Works in batches: select up to ``batch_size`` ids (locking them), delete by id, commit,
    repeat, so no lock is held long. Rows that are not finished are never touched, even
    one retried while the prune runs. ``on_batch`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, found {batch_size!r}")
    before = timezone.now() - older_than
    result = PruneResult(before=before, dry_run=dry_run)
    prunable = Jobman.objects.prunable(before)

    if dry_run:
        counts = prunable.values_list("status").annotate(n=Count("id")).order_by()
        result.by_status = {status: n for status, n in counts}
        result.jobs = sum(result.by_status.values())
        result.failed_jobs = FailedJob.objects.filter(jobman__in=prunable).count()
        staying = Jobman.objects.filter(batch__isnull=False).exclude(pk__in=prunable)
        result.batches = _old_batches(before).exclude(pk__in=staying.values("batch_id")).count()
        return result

    by_status: Counter[str] = Counter()
    using = router.db_for_write(Jobman)
    while True:
        with transaction.atomic(using=using):
            batch = list(
                prunable.select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "status")[:batch_size]
            )
            if not batch:
                break
            ids = [pk for pk, _ in batch]
            # Only the id is read: the delete cascades to failed_jobs in the same transaction.
            _, deleted = Jobman.objects.filter(pk__in=ids).only("id").delete()
        by_status.update(status for _, status in batch)
        failed_jobs = deleted.get(FailedJob._meta.label, 0)
        result.jobs += deleted.get(Jobman._meta.label, 0)
        result.failed_jobs += failed_jobs
        if on_batch is not None:
            on_batch(PruneBatch(ids, failed_jobs))
    result.by_status = dict(by_status)
    result.batches = _prune_batches(before, batch_size, using)
    return result


def _old_batches(before: datetime) -> QuerySet[JobBatch]:
    return JobBatch.objects.filter(Q(finished_at__lt=before) | Q(cancelled_at__lt=before))


def _prune_batches(before: datetime, batch_size: int, using: str) -> int:
    """Delete the batches ``_old_batches`` names that no job row points at any more, a
    ``batch_size`` at a time; how many."""
    deleted = 0
    empty = _old_batches(before).filter(jobs__isnull=True)
    while True:
        with transaction.atomic(using=using):
            ids = list(
                empty.select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return deleted
            # A job dispatched into one meanwhile keeps it: the delete asks again.
            _, counts = JobBatch.objects.filter(pk__in=ids, jobs__isnull=True).delete()
            deleted += counts.get(JobBatch._meta.label, 0)


def forget(failed_job_ids: Iterable[int]) -> Result[int]:
    """Delete failed_jobs rows ``failed_job_ids`` (``done`` lists them). Their jobman rows
    stay, ``failed``."""
    wanted = unique(failed_job_ids)
    result: Result[int] = Result("failed job")
    for chunk in chunks(wanted):
        found = set(FailedJob.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        FailedJob.objects.filter(pk__in=found).delete()
        result.done.extend(pk for pk in chunk if pk in found)
        result.unknown.extend(pk for pk in chunk if pk not in found)
    return result


@dataclass(frozen=True)
class FlushResult:
    deleted: int
    before: datetime | None  # None: all of them


def flush(*, older_than: timedelta | None = None) -> FlushResult:
    """Delete every failed_jobs row, or those that failed more than ``older_than`` ago."""
    failures = FailedJob.objects.all()
    before = None
    if older_than is not None:
        before = timezone.now() - older_than
        failures = failures.filter(failed_at__lt=before)
    deleted, _ = failures.delete()
    return FlushResult(deleted=deleted, before=before)
