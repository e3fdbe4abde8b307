"""The queries and moves of many ``Jobman`` rows at once."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from jobman import hotpath
from jobman.models.failed import FailedJob
from jobman.models.transitions import (
    CLAIM,
    FINISHED,
    PUSH,
    REOPEN,
    UNPUSH,
    WAITING,
    JobStatus,
    Move,
)

if TYPE_CHECKING:
    from jobman.models.job import Jobman


class JobmanQuerySet(models.QuerySet["Jobman"]):
    def waiting(self) -> JobmanQuerySet:
        return self.filter(status__in=WAITING)

    def running(self) -> JobmanQuerySet:
        return self.filter(status=JobStatus.RUNNING)

    def finished(self) -> JobmanQuerySet:
        return self.filter(status__in=FINISHED)

    def failed(self) -> JobmanQuerySet:
        return self.filter(status=JobStatus.FAILED)

    def move(self, move: Move, **fields: Any) -> int:
        """Make ``move`` on the rows of this query that are in one of its source states,
        writing ``fields``; returns how many moved."""
        move.check(fields)
        return self.filter(status__in=move.sources).update(
            status=move.target, updated_at=timezone.now(), **fields
        )

    def claim(self, pk: int, worker: str) -> Jobman | None:
        """Start an attempt of row ``pk`` for ``worker``; None when it is not ready to run.

        One conditional UPDATE decides: of two deliveries of the same job, exactly one
        gets the row, and a cancelled, running or finished row is never started. Where
        the database can, the same statement returns the row (UPDATE ... RETURNING).
        """
        using = router.db_for_write(self.model)
        claimed = hotpath.claim(self.model, using, CLAIM, pk, worker, timezone.now())
        if claimed is None:
            return None
        row = claimed if isinstance(claimed, self.model) else self.using(using).get(pk=pk)
        row.as_claimed = copy.deepcopy(row.attribs)
        return row

    def release_uniqueness(self, pk: int) -> int:
        """Let another job of the same type and unique id be dispatched."""
        return self.filter(pk=pk, unique_key__isnull=False).update(unique_key=None)

    def mark_pushed(self, pks: Iterable[int]) -> int:
        """Record that rows ``pks`` are in Redis, unless a worker has already taken them."""
        return self.filter(pk__in=list(pks)).move(PUSH, pushed_at=timezone.now())

    def mark_unpushed(self, pks: Iterable[int]) -> int:
        """Put rows ``pks``, saved ``queued`` by a dispatch, back to ``pending``: Redis did
        not take them. A row no longer ``queued``, or with an attempt started, is left as it
        is: a worker has it, so Redis had it after all.
        """
        return self.filter(pk__in=list(pks), attempts=0).move(UNPUSH, pushed_at=None)

    def unpushed(self, before: datetime) -> JobmanQuerySet:
        """Rows still ``pending`` whose last change of state came before ``before``.

        A later step of a chain waits for the step before it to complete, so it counts
        only once that one has.
        """
        previous_completed = self.model.objects.filter(
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
        using = router.db_for_write(self.model)
        with transaction.atomic(using=using):
            reopened = self.filter(pk=pk).move(
                REOPEN, max_tries=F("attempts") + tries, available_at=None, pushed_at=None
            )
            if reopened:
                FailedJob.objects.using(using).filter(jobman_id=pk).delete()
        return bool(reopened)
