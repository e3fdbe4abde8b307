"""Signals sent along a job's life.

Each passes ``jobman`` (the row) and ``sender`` (the job class), but ``schedule_missed``
and the queue alerts.
"""

from __future__ import annotations

from django.dispatch import Signal

# The row is saved; it reaches Redis when the transaction commits.
job_dispatched = Signal()
# An attempt starts; also passes ``attempt`` (1-based).
job_started = Signal()
# handle() returned; the row is completed.
job_completed = Signal()
# An attempt failed and another will follow; also passes ``exception`` and ``available_at``.
job_retrying = Signal()
# The job failed for good; also passes ``exception`` and ``failed_job`` (the failed_jobs row).
job_failed = Signal()
# A slot of a schedule passed without a run (no scheduler alive, or its catch_up left it
# out); passes ``schedule`` (its name) and ``slot`` (an aware datetime). Sent once a slot.
schedule_missed = Signal()
# A queue's oldest waiting job has waited past its limit in JOBMAN["WAIT_ALERTS"]; passes
# ``queue`` (its name), ``waited`` and ``limit`` (seconds). Sent once per crossing, by one
# worker of all.
queue_wait_exceeded = Signal()
# The same queue's wait is back under its limit, or nothing waits in it; sent once.
queue_wait_cleared = Signal()
