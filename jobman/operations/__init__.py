"""What a person can do to jobs: retry, requeue, cancel, prune, forget and flush; to
queues and schedules: pause and resume.

This is the one service layer: the management commands, the admin actions and the
dashboard call these functions and report what they return, a ``Result`` saying what was
done, what was skipped and why, and which ids named nothing (a ``NamedResult``, for
schedules, which are named). Every change of state is a
conditional UPDATE on the model, so an operation run twice, or while workers run, never
makes the same move twice and never starts an attempt itself: only a worker's claim does.
Every change a person makes keeps Redis in step: a cancelled job leaves its RQ queue, a
retried one leaves RQ's failed registry.
"""

from jobman.operations.cancel import CancelledBatch, CancelledJob, cancel, cancel_batches
from jobman.operations.cleanup import FlushResult, PruneBatch, PruneResult, flush, forget, prune
from jobman.operations.pausing import pause_queues, resume_queues
from jobman.operations.requeue import RequeuedJob, requeue, requeue_unpushed
from jobman.operations.results import NamedResult, Outcome, Result, Skipped, pushed
from jobman.operations.retry import RetriedJob, retry, retry_all, retry_rows
from jobman.operations.schedules import (
    PausedSchedule,
    ResumedSchedule,
    pause_schedules,
    resume_schedules,
)

__all__ = [
    "CancelledBatch",
    "CancelledJob",
    "FlushResult",
    "NamedResult",
    "Outcome",
    "PausedSchedule",
    "PruneBatch",
    "PruneResult",
    "RequeuedJob",
    "Result",
    "ResumedSchedule",
    "RetriedJob",
    "Skipped",
    "cancel",
    "cancel_batches",
    "flush",
    "forget",
    "pause_queues",
    "pause_schedules",
    "prune",
    "pushed",
    "requeue",
    "requeue_unpushed",
    "resume_queues",
    "resume_schedules",
    "retry",
    "retry_all",
    "retry_rows",
]
