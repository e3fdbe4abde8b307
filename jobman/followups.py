"""What follows a job's end: the next step of its chain, and its batch's count and callbacks.

Called once a row has reached ``completed``, ``failed`` or ``cancelled``. Every change
here is a conditional UPDATE, so when several workers finish jobs of one batch at once,
each callback is still dispatched exactly once.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import F, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from jobman import notes, queues, registry
from jobman.models import JobBatch, Jobman, JobStatus
from jobman.models.transitions import CANCEL

logger = logging.getLogger("jobman")


def after_finish(row: Jobman) -> None:
    """Move the chain and the batch of ``row`` on, if it belongs to either."""
    if row.chain_id is not None:
        _next_in_chain(row)
    if row.batch_id is not None:
        count_finished(row.batch_id, failed=1 if row.status == JobStatus.FAILED else 0)


def _next_in_chain(row: Jobman) -> None:
    position = row.chain_position or 0
    later = Jobman.objects.filter(chain_id=row.chain_id, chain_position__gt=position)
    if row.status == JobStatus.COMPLETED:
        following = later.filter(chain_position=position + 1, status=JobStatus.PENDING)
        queues.push(list(following))
        return
    stopped = list(later.waiting().values_list("pk", "batch_id"))
    reason = notes.chain_cancel(position + 1, row.pk, row.status)
    note = Value(notes.line(reason))
    for pk, batch_id in stopped:
        cancelled = Jobman.objects.filter(pk=pk).move(
            CANCEL,
            cancel_reason=reason,
            logs=Concat(F("logs"), note, output_field=TextField()),
        )
        if cancelled and batch_id is not None:
            count_finished(batch_id, failed=0)


def count_finished(batch_id: int, failed: int, count: int = 1) -> None:
    """Count ``count`` jobs of a batch as finished, and dispatch the callbacks that are due."""
    JobBatch.objects.filter(pk=batch_id).update(
        pending=F("pending") - count, failed=F("failed") + failed
    )
    batch = JobBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return
    # The process that records the batch's first failure sends `catch`.
    if failed and JobBatch.objects.filter(pk=batch_id, first_failed_at__isnull=True).update(
        first_failed_at=timezone.now()
    ):
        _dispatch_callback(batch, "catch")
    if batch.pending > 0:
        return
    # One process wins this update: the one that dispatches the final callbacks.
    if JobBatch.objects.filter(pk=batch_id, finished_at__isnull=True).update(
        finished_at=timezone.now()
    ):
        if batch.failed == 0 and batch.cancelled_at is None:
            _dispatch_callback(batch, "then")
        _dispatch_callback(batch, "finally")


def _dispatch_callback(batch: JobBatch, which: str) -> None:
    spec: dict[str, Any] | None = batch.callbacks.get(which)
    if not spec:
        return
    job_class = registry.find(spec["type"])
    if job_class is None:
        logger.error(
            "jobman: batch %s: %s callback type %r is unknown", batch.pk, which, spec["type"]
        )
        return
    job_class.dispatch({**spec["attribs"], "batch_id": batch.pk}, queue=spec.get("queue"))


def cancel_batch(batch: JobBatch) -> int:
    """Cancel the batch's jobs that have not started; those running finish. Returns how many.

    A batch that has already finished keeps its record: it is not marked cancelled. The
    jobs' half of a cancel only: ``jobman.operations.cancel_batches`` calls this, then takes
    the cancelled jobs out of Redis.
    """
    JobBatch.objects.filter(
        pk=batch.pk, cancelled_at__isnull=True, finished_at__isnull=True
    ).update(cancelled_at=timezone.now())
    waiting = list(batch.jobs.waiting().values_list("pk", flat=True))
    cancelled = Jobman.objects.filter(pk__in=waiting).move(CANCEL, unique_key=None)
    if cancelled:
        count_finished(batch.pk, failed=0, count=cancelled)
    return cancelled
