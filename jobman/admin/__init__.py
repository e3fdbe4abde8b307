"""The admin: a read-only history of every job and batch, actions that go through ``operations``.

Built for tables of millions of rows: the changelist never counts the whole table, its
filters take their choices from the job registry and ``RQ_QUEUES`` instead of a
``SELECT DISTINCT``, the date hierarchy reads only the first and last date, and the
columns it sorts by are indexed. Rows are never edited or deleted here: retrying,
requeueing, cancelling and forgetting call the same functions as the commands.

Django imports this package to register the admins: ``jobs``, ``failed_jobs``,
``batches`` and ``schedules``, one module each, on ``base`` (the read-only admin),
``changelist``, ``filters`` and ``display``.
"""

from jobman.admin.base import NEXT_FIELD, ReadOnlyAdmin
from jobman.admin.batches import JobBatchAdmin
from jobman.admin.failed_jobs import FailedJobAdmin
from jobman.admin.jobs import JobmanAdmin
from jobman.admin.schedules import JobScheduleAdmin

__all__ = [
    "NEXT_FIELD",
    "FailedJobAdmin",
    "JobBatchAdmin",
    "JobScheduleAdmin",
    "JobmanAdmin",
    "ReadOnlyAdmin",
]
