"""The job row: what a job was asked to do, and the footprint of every attempt.

Every change of state is a move of ``transitions``; those that end an attempt are made
here, one conditional UPDATE each (the hot path's SQL), writing only what the move changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.db import models, router, transaction
from django.db.models import Q
from django.utils import timezone

from jobman import conf, hotpath, ids, notes
from jobman.models.failed import FailedJob
from jobman.models.querysets import JobmanQuerySet
from jobman.models.transitions import COMPLETE, FAIL, RELEASE, RETRY, STOP, JobStatus, Move
from jobman.storable import cap_head, cap_tail

COMPLETED_CODE_LENGTH = 255
PROGRESS_NOTE_LENGTH = 255

# Entries ``history`` keeps at most: the first HISTORY_HEAD attempts, a marker counting
# those left out, and the latest of the rest.
HISTORY_LIMIT = 100
HISTORY_HEAD = 10
# An entry's outcomes: how an attempt that did not complete ended.
OUTCOMES = ("failed", "timed out", "lost", "stopped", "released")
OMITTED = "omitted"


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
    # Why a cancelled row was cancelled, where something else than a person did it.
    cancel_reason = models.CharField(max_length=255, blank=True, default="")
    # A run of a periodic schedule: the schedule's name and the slot it was fired for.
    schedule = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # The running job's last self.progress(): per cent, and a short note.
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    progress_note = models.CharField(max_length=PROGRESS_NOTE_LENGTH, blank=True, default="")
    # One entry per attempt that did not complete; see ``history_entry``.
    history = models.JSONField(
        default=list, blank=True, help_text="Every attempt that did not complete."
    )
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
            ("pause_queues", "Can pause and resume queues"),
        ]
        constraints = [
            # Only rows whose uniqueness holds are in this index, so it stays tiny.
            models.UniqueConstraint(
                fields=["type", "unique_key"],
                condition=Q(unique_key__isnull=False),
                name="jobmans_unique_key_uniq",
            ),
            # One run per slot of a schedule, however many schedulers fire it; the index
            # also finds a schedule's runs, newest first.
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"],
                condition=Q(schedule__isnull=False),
                name="jobmans_schedule_slot_uniq",
            ),
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
    # Whether ``progress`` and ``progress_note`` hold a value the row has not been sent:
    # it goes out with the attempt's end.
    progress_unwritten = False

    def _finish_attempt(
        self, move: Move, outcome: str | None = None, error: str = "", **fields: Any
    ) -> bool:
        """End the running attempt with ``move``, unless something else already ended it.

        With ``outcome`` (an attempt that did not complete), the attempt's entry is added
        to ``history`` in the same statement.
        """
        if self.as_claimed is not None and fields.get("attribs") == self.as_claimed:
            del fields["attribs"]
        if self.progress_unwritten:
            fields["progress"], fields["progress_note"] = self.progress, self.progress_note
        if outcome is not None:
            fields["history"] = bounded_history(
                [*(self.history or []), self.history_entry(outcome, error)]
            )
        move.check(fields)
        fields["status"] = move.target
        fields["updated_at"] = timezone.now()
        using = router.db_for_write(type(self), instance=self)
        changed = hotpath.finish(type(self), using, move, self.pk, self.attempts, fields)
        for name, value in fields.items():
            setattr(self, name, value)
        self.progress_unwritten = False
        return changed

    def history_entry(self, outcome: str, error: str) -> dict[str, Any]:
        """The running attempt's entry in ``history``, ended now with ``outcome``."""
        return {
            "attempt": self.attempts,
            "worker": self.worker,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": timezone.now().isoformat(),
            "outcome": outcome,
            "error": cap_head(error, conf.get("MAX_ERROR_CHARS")),
        }

    def record_success(self, code: str | None, logs: str) -> bool:
        """Mark the running attempt completed, with its result and notes."""
        fields: dict[str, Any] = {"completed_at": timezone.now()}
        if code is not None:
            code = cap_head(code, COMPLETED_CODE_LENGTH)
        if code is not None or self.completed_code is not None:
            fields["completed_code"] = code
        if self.unique_key is not None:
            fields["unique_key"] = None
        logs = cap_tail(logs, conf.get("MAX_LOG_CHARS"))
        if logs != self.logs:
            fields["logs"] = logs
        return self._finish_attempt(COMPLETE, attribs=self.attribs, **fields)

    def record_release(self, available_at: datetime, note: str, reason: str = "") -> bool:
        """Give the attempt back unrun: it uses no try, and waits until ``available_at``.
        ``note`` is its log line, ``reason`` why (for ``history``)."""
        return self._finish_attempt(
            RELEASE,
            "released",
            reason,
            attempts=self.attempts - 1,
            available_at=available_at,
            logs=cap_tail(self.logs + note, conf.get("MAX_LOG_CHARS")),
        )

    def record_stop(self, reason: str, logs: str) -> bool:
        """End the running attempt as a person asked: cancelled, with why, not retried."""
        return self._finish_attempt(
            STOP,
            "stopped",
            reason,
            cancel_reason=reason[:255],
            unique_key=None,
            logs=cap_tail(logs + notes.line(reason, self.attempts), conf.get("MAX_LOG_CHARS")),
        )

    def record_retry(
        self,
        error: str,
        traceback: str,
        logs: str,
        available_at: datetime,
        outcome: str = "failed",
    ) -> bool:
        """Mark the running attempt failed (``outcome`` says how), with another to come at
        ``available_at``."""
        return self._finish_attempt(
            RETRY,
            outcome,
            error,
            failed_at=timezone.now(),
            available_at=available_at,
            attribs=self.attribs,
            logs=cap_tail(logs, conf.get("MAX_LOG_CHARS")),
            **self._error_fields(error, traceback),
        )

    def record_failure(
        self, error: str, traceback: str, logs: str, connection: str, outcome: str = "failed"
    ) -> FailedJob | None:
        """Mark the running attempt failed for good (``outcome`` says how), and file it in
        ``failed_jobs``.

        Both writes share one transaction: a failed row always has its failed_jobs row.
        """
        failed_at = timezone.now()
        with transaction.atomic():
            failed = self._finish_attempt(
                FAIL,
                outcome,
                error,
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


def bounded_history(history: list[Any]) -> list[Any]:
    """``history`` as kept: at most HISTORY_LIMIT entries. Beyond, the first HISTORY_HEAD,
    one marker ``{"outcome": "omitted", "count": N}`` and the latest of the rest."""
    if len(history) <= HISTORY_LIMIT:
        return history
    omitted, rest = 0, []
    for entry in history[HISTORY_HEAD:]:
        if isinstance(entry, dict) and entry.get("outcome") == OMITTED:
            omitted += int(entry.get("count") or 0)
        else:
            rest.append(entry)
    latest = rest[len(rest) - (HISTORY_LIMIT - HISTORY_HEAD - 1) :]
    omitted += len(rest) - len(latest)
    return [*history[:HISTORY_HEAD], {"outcome": OMITTED, "count": omitted}, *latest]
