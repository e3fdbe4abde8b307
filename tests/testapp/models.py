"""Side effects the test jobs leave, committed apart from the jobman row they belong to."""

from __future__ import annotations

from django.db import models


class Execution(models.Model):
    """One run of a test job's handle() (or failed()), recorded as it happens."""

    jobman_id = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, default="handle")
    at = models.DateTimeField(auto_now_add=True)
    pid = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.kind} of jobman #{self.jobman_id}, attempt {self.attempt}"
