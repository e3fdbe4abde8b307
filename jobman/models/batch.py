"""A batch: jobs dispatched together, followed as one."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


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
