"""jobman's tables: the job row, its batches and its final failures, and the state
machine that moves a row (``transitions``)."""

from jobman.models.batch import JobBatch
from jobman.models.failed import FailedJob
from jobman.models.job import COMPLETED_CODE_LENGTH, Jobman
from jobman.models.querysets import JobmanQuerySet
from jobman.models.schedule import JobSchedule
from jobman.models.transitions import FINISHED, MOVES, WAITING, JobStatus, Move

__all__ = [
    "COMPLETED_CODE_LENGTH",
    "FINISHED",
    "MOVES",
    "WAITING",
    "FailedJob",
    "JobBatch",
    "JobSchedule",
    "JobStatus",
    "Jobman",
    "JobmanQuerySet",
    "Move",
]
