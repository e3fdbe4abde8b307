"""The job row and its state machine.

A ``Jobman`` row moves through the states of ``JobStatus``. Every change of state is one
conditional UPDATE that names the state it leaves, so two processes can never both make
the same move, and each writes only the columns that move changes.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from django.db import models, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from jobman import conf, hotpath, ids
from jobman.storable import cap_head, cap_tail


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # row saved, not (yet) in Redis
    QUEUED = "queued", "Queued"  # in Redis, waiting for a worker or for its delay
    RUNNING = "running", "Running"  # an attempt holds it
    RETRYING = "retrying", "Retrying"  # the last attempt failed; another comes after backoff
    COMPLETED = "completed", "Completed"  # handle() returned
    FAILED = "failed", "Failed"  # tries used up, or the job failed itself
    CANCELLED = "cancelled", "Cancelled"  # a person cancelled it before it ran

    @classmethod
    def waiting(cls) -> tuple[JobStatus, ...]:
        return (cls.PENDING, cls.QUEUED, cls.RETRYING)

    @classmethod
    def finished(cls) -> tuple[JobStatus, ...]:
        return (cls.COMPLETED, cls.FAILED, cls.CANCELLED)


# States from which a worker may start an attempt: the waiting ones. `pending` is among
# them because a worker can receive the job before the dispatch has recorded its push.
CLAIMABLE = JobStatus.waiting()


COMPLETED_CODE_LENGTH = 255


class JobmanQuerySet(models.QuerySet["Jobman"]):
    def waiting(self) -> JobmanQuerySet:
        return self.filter(status__in=JobStatus.waiting())

    def running(self) -> JobmanQuerySet:
        return self.filter(status=JobStatus.RUNNING)

    def finished(self) -> JobmanQuerySet:
        return self.filter(status__in=JobStatus.finished())

    def failed(self) -> JobmanQuerySet:
        return self.filter(status=JobStatus.FAILED)

    def claim(self, pk: int, worker: str) -> Jobman | None:
        """Start an attempt of row ``pk`` for ``worker``; None when it is not ready to run.

        One conditional UPDATE decides: of two deliveries of the same job, exactly one
        gets the row, and a cancelled, running or finished row is never started. Where
        the database can, the same statement returns the row (UPDATE ... RETURNING).
        """
        using = router.db_for_write(self.model)
        claimed = hotpath.claim(self.model, using, pk, worker, timezone.now(), CLAIMABLE)
        if claimed is None:
            return None
        row = claimed if isinstance(claimed, Jobman) else self.using(using).get(pk=pk)
        row.as_claimed = copy.deepcopy(row.attribs)
        return row

    def cancel(self, pks: Iterable[int]) -> int:
        """Cancel rows ``pks`` that have not started; returns how many were cancelled.

        The rows' half of a cancel only: their RQ jobs stay in Redis (a delayed one in RQ's
        scheduled registry). ``jobman.operations.cancel`` takes them out too; call that.
        """
        now = timezone.now()
        return self.filter(pk__in=list(pks), status__in=JobStatus.waiting()).update(
            status=JobStatus.CANCELLED, unique_key=None, updated_at=now
        )

    def release_uniqueness(self, pk: int) -> int:
        """Let another job of the same type and unique id be dispatched."""
        return self.filter(pk=pk, unique_key__isnull=False).update(unique_key=None)

    def mark_pushed(self, pks: Iterable[int]) -> int:
        """Record that rows ``pks`` are in Redis, unless a worker has already taken them."""
        now = timezone.now()
        return self.filter(pk__in=list(pks), status=JobStatus.PENDING).update(
            status=JobStatus.QUEUED, pushed_at=now, updated_at=now
        )

    def mark_unpushed(self, pks: Iterable[int]) -> int:
        """Put rows ``pks``, saved ``queued`` by a dispatch, back to ``pending``: Redis did
        not take them. A row no longer ``queued``, or with an attempt started, is left as it
        is: a worker has it, so Redis had it after all.
        """
        return self.filter(pk__in=list(pks), status=JobStatus.QUEUED, attempts=0).update(
            status=JobStatus.PENDING, pushed_at=None, updated_at=timezone.now()
        )

    def unpushed(self, before: datetime) -> JobmanQuerySet:
        """Rows still ``pending`` whose last change of state came before ``before``.

        A later step of a chain waits for the step before it to complete, so it counts
        only once that one has.
        """
        previous_completed = Jobman.objects.filter(
            chain_id=OuterRef("chain_id"),
            chain_position=OuterRef("chain_position") - 1,
            status=JobStatus.COMPLETED,
        )
        return self.filter(
            Q(chain_position__isnull=True) | Q(chain_position=0) | Exists(previous_completed),
            status=JobStatus.PENDING,
            updated_at__lt=before,
        )

    def prunable(self, before: datetime) -> JobmanQuerySet:
        """Finished rows created before ``before``."""
        return self.finished().filter(created_at__lt=before)

    def retry_failed(self, pk: int, tries: int) -> bool:
        """Put failed row ``pk`` back to ``pending`` with ``tries`` more attempts.

        ``attempts`` keeps counting, so ``max_tries`` becomes ``attempts + tries``;
        ``failed_at`` and the last error stay as a record. The row's failed_jobs rows go in
        the same transaction: a row is never pending with a failed_jobs row, nor failed
        without one. Returns False, changing nothing, when the row is not failed.
        """
        if tries < 1:
            raise ValueError(f"tries must be 1 or more, found {tries!r}")
        now = timezone.now()
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using):
            reopened = self.filter(pk=pk, status=JobStatus.FAILED).update(
                status=JobStatus.PENDING,
                max_tries=F("attempts") + tries,
                available_at=None,
                pushed_at=None,
                updated_at=now,
            )
            if reopened:
                FailedJob.objects.using(using).filter(jobman_id=pk).delete()
        return bool(reopened)


class Jobman(models.Model):
    """One background job: what it was asked to do, and the footprint of every attempt."""

    type = models.CharField(max_length=255, help_text="The job class's registered type.")
    queue = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    attribs = models.JSONField(
        default=dict, blank=True, help_text="What the job needs, and what it hands back."
    )
    logs = models.TextField(blank=True, default="", help_text="The job's own notes, timestamped.")
    # NULL says "never happened", which an empty string would blur.
    error_message = models.TextField(null=True, blank=True)  # noqa: DJ001
    exception = models.TextField(null=True, blank=True, help_text="The last traceback.")  # noqa: DJ001
    completed_code = models.CharField(max_length=COMPLETED_CODE_LENGTH, null=True, blank=True)  # noqa: DJ001
    attempts = models.PositiveIntegerField(default=0)
    max_tries = models.PositiveIntegerField(default=1)
    available_at = models.DateTimeField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    # Steps of a chain share a chain_id; each waits for the one before it to complete.
    chain_id = models.UUIDField(null=True, blank=True, db_index=True)
    chain_position = models.PositiveIntegerField(null=True, blank=True)
    batch = models.ForeignKey(
        "JobBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # The job's unique id while its uniqueness holds; NULL once it has ended.
    unique_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[JobmanQuerySet] = JobmanQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        db_table = "jobmans"
        verbose_name = "job"
        indexes = [
            models.Index(fields=["created_at"], name="jobmans_created_idx"),
            models.Index(fields=["status", "created_at"], name="jobmans_status_created_idx"),
            models.Index(fields=["type", "created_at"], name="jobmans_type_created_idx"),
            models.Index(fields=["queue", "status"], name="jobmans_queue_status_idx"),
            # The admin's queue filter, newest first.
            models.Index(fields=["queue", "created_at"], name="jobmans_queue_created_idx"),
            # The dashboard's last hour: completions per minute and run times.
            models.Index(fields=["completed_at"], name="jobmans_completed_idx"),
            # The dashboard's failures per minute; only rows that ever failed are indexed.
            models.Index(
                fields=["failed_at"],
                name="jobmans_failed_idx",
                condition=Q(failed_at__isnull=False),
            ),
        ]
        # One per action of the admin, each granted on its own.
        permissions = [
            ("retry_jobman", "Can retry failed jobs"),
            ("requeue_jobman", "Can requeue pending jobs"),
            ("cancel_jobman", "Can cancel waiting jobs"),
        ]
        constraints = [
            # Only rows whose uniqueness holds are in this index, so it stays tiny.
            models.UniqueConstraint(
                fields=["type", "unique_key"],
                condition=Q(unique_key__isnull=False),
                name="jobmans_unique_key_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk} ({self.status})"

    @property
    def rq_job_id(self) -> str:
        """The id of this row's job in RQ: derived from the row, so a push is idempotent."""
        return ids.rq_job_id(self.pk)

    # The attribs as the attempt found them, set by the claim: unchanged, they are not
    # written again.
    as_claimed: Any = None

    def _finish_attempt(self, **fields: Any) -> bool:
        """Write the end of the running attempt, unless something else already ended it."""
        fields["updated_at"] = timezone.now()
        if self.as_claimed is not None and fields.get("attribs") == self.as_claimed:
            del fields["attribs"]
        using = router.db_for_write(type(self), instance=self)
        changed = hotpath.finish(type(self), using, self.pk, self.attempts, fields)
        for name, value in fields.items():
            setattr(self, name, value)
        return changed

    def record_success(self, code: str | None, logs: str) -> bool:
        """Mark the running attempt completed, with its result and notes."""
        fields: dict[str, Any] = {"status": JobStatus.COMPLETED, "completed_at": timezone.now()}
        if code is not None:
            code = cap_head(code, COMPLETED_CODE_LENGTH)
        if code is not None or self.completed_code is not None:
            fields["completed_code"] = code
        if self.unique_key is not None:
            fields["unique_key"] = None
        logs = cap_tail(logs, conf.get("MAX_LOG_CHARS"))
        if logs != self.logs:
            fields["logs"] = logs
        return self._finish_attempt(attribs=self.attribs, **fields)

    def record_release(self, available_at: datetime, note: str) -> bool:
        """Give the attempt back unrun: it uses no try, and waits until ``available_at``."""
        return self._finish_attempt(
            status=JobStatus.QUEUED,
            attempts=self.attempts - 1,
            available_at=available_at,
            logs=cap_tail(self.logs + note, conf.get("MAX_LOG_CHARS")),
        )

    def record_retry(self, error: str, traceback: str, logs: str, available_at: datetime) -> bool:
        """Mark the running attempt failed, with another to come at ``available_at``."""
        return self._finish_attempt(
            status=JobStatus.RETRYING,
            failed_at=timezone.now(),
            available_at=available_at,
            attribs=self.attribs,
            logs=cap_tail(logs, conf.get("MAX_LOG_CHARS")),
            **self._error_fields(error, traceback),
        )

    def record_failure(
        self, error: str, traceback: str, logs: str, connection: str
    ) -> FailedJob | None:
        """Mark the running attempt failed for good, and file it in ``failed_jobs``.

        Both writes share one transaction: a failed row always has its failed_jobs row.
        """
        failed_at = timezone.now()
        with transaction.atomic():
            failed = self._finish_attempt(
                status=JobStatus.FAILED,
                failed_at=failed_at,
                unique_key=None,
                attribs=self.attribs,
                logs=cap_tail(logs, conf.get("MAX_LOG_CHARS")),
                **self._error_fields(error, traceback),
            )
            if not failed:
                return None
            return FailedJob.objects.create(
                jobman=self,
                connection=connection,
                queue=self.queue,
                payload=self.payload(),
                exception=self.exception or "",
                failed_at=failed_at,
            )

    @staticmethod
    def _error_fields(error: str, traceback: str) -> dict[str, str]:
        return {
            "error_message": cap_head(error, conf.get("MAX_ERROR_CHARS")),
            "exception": cap_tail(traceback, conf.get("MAX_EXCEPTION_CHARS")),
        }

    def payload(self) -> dict[str, Any]:
        """What it takes to run this job again, as filed with a failure."""
        return {
            "jobman_id": self.pk,
            "type": self.type,
            "queue": self.queue,
            "attribs": self.attribs,
            "max_tries": self.max_tries,
        }


class JobBatch(models.Model):
    """Jobs dispatched together, followed as one: progress, failures, and callbacks.

    ``pending`` counts the jobs not yet finished. Callback jobs (``then`` when all
    completed, ``catch`` at the first failure, ``finally`` when all finished either way)
    are dispatched once each, by whichever process makes the matching change.
    """

    name = models.CharField(max_length=255, blank=True, default="")
    total = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    callbacks = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "job_batches"
        verbose_name = "job batch"
        verbose_name_plural = "job batches"

    def __str__(self) -> str:
        return f"batch {self.pk} {self.name!r} ({self.progress}%)"

    @property
    def progress(self) -> int:
        """Per cent of the jobs finished."""
        return 100 if not self.total else round(100 * (self.total - self.pending) / self.total)


class FailedJob(models.Model):
    """A job that used up its tries: one row per final failure, removed when retried."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    jobman = models.ForeignKey(Jobman, on_delete=models.CASCADE, related_name="failures")
    connection = models.CharField(max_length=255)
    queue = models.CharField(max_length=255)
    payload = models.JSONField(default=dict)
    exception = models.TextField()
    failed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "failed_jobs"
        verbose_name = "failed job"
        indexes = [models.Index(fields=["failed_at"], name="failed_jobs_failed_at_idx")]
        # Retrying a failed job needs jobman.retry_jobman.
        permissions = [("forget_failedjob", "Can forget failed jobs")]

    def __str__(self) -> str:
        return f"failed job {self.pk} (jobman #{self.jobman_id})"
