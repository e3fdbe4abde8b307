"""A schedule's state: how far it has been fired, whether it is paused, what it missed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class JobSchedule(models.Model):
    """One row per schedule, made when a scheduler first sees it.

    ``fired_through`` is the newest slot handled (fired, skipped or missed): schedulers
    move it on with a conditional UPDATE, in the transaction that saves the runs, so of
    several schedulers exactly one fires each slot, and one killed midway fires nothing.
    """

    name = models.CharField(max_length=255, unique=True)
    fired_through = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Slots that passed without a run (no scheduler alive, catch_up), and the last of them.
    missed = models.PositiveBigIntegerField(default=0)
    last_missed = models.DateTimeField(null=True, blank=True)
    # Slots skipped because the previous run had not finished (overlap = False).
    skipped = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "job_schedules"
        verbose_name = "schedule"
        # The admin's Pause and Resume actions.
        permissions = [("pause_jobschedule", "Can pause and resume schedules")]

    def __str__(self) -> str:
        return f"schedule {self.name}"
