"""A final failure, filed in ``failed_jobs``."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class FailedJob(models.Model):
    """A job that used up its tries: one row per final failure, removed when retried."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    jobman = models.ForeignKey("Jobman", on_delete=models.CASCADE, related_name="failures")
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
