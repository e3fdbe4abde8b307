"""The state machine of a job row: its states, and every move between them.

Each move is one conditional UPDATE: it names the states it may leave, so two processes
can never both make the same move, and the columns it writes besides ``status`` and
``updated_at``. The ORM's updates and the hot path's SQL are both built from this table,
so a state's name is written here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # row saved, not (yet) in Redis
    QUEUED = "queued", "Queued"  # in Redis, waiting for a worker or for its delay
    RUNNING = "running", "Running"  # an attempt holds it
    RETRYING = "retrying", "Retrying"  # the last attempt failed; another comes after backoff
    COMPLETED = "completed", "Completed"  # handle() returned
    FAILED = "failed", "Failed"  # tries used up, or the job failed itself
    CANCELLED = "cancelled", "Cancelled"  # cancelled before it ran

    @classmethod
    def waiting(cls) -> tuple[JobStatus, ...]:
        return WAITING

    @classmethod
    def finished(cls) -> tuple[JobStatus, ...]:
        return FINISHED


WAITING = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RETRYING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class Move:
    """From any of ``sources`` to ``target``, writing ``writes`` (and status, updated_at)."""

    name: str
    sources: tuple[JobStatus, ...]
    target: JobStatus
    writes: frozenset[str]

    def check(self, fields: Iterable[str]) -> None:
        """Refuse a write of a column this move does not write: the table stays true."""
        stray = set(fields) - self.writes - {"status", "updated_at"}
        if stray:
            raise ValueError(f"move {self.name!r} does not write {', '.join(sorted(stray))}")


PENDING, QUEUED, RUNNING = JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING
RETRYING, COMPLETED, FAILED = JobStatus.RETRYING, JobStatus.COMPLETED, JobStatus.FAILED
CANCELLED = JobStatus.CANCELLED
# What a failed attempt writes.
ERROR = frozenset({"failed_at", "error_message", "exception", "attribs", "logs"})
# What any end of an attempt may write besides: the job's last progress(), when it used it.
PROGRESS = frozenset({"progress", "progress_note"})
# What an attempt that did not complete adds: its entry in ``history``.
ENDED = PROGRESS | {"history"}

# fmt: off
PUSH = Move("push", (PENDING,), QUEUED, frozenset({"pushed_at"}))
"""Redis took the job: a dispatch's push, or a push again (requeue, reaper, chain)."""
UNPUSH = Move("unpush", (QUEUED,), PENDING, frozenset({"pushed_at"}))
"""Redis refused the push of a row its dispatch saved `queued`: it waits to be pushed."""
CLAIM = Move("claim", WAITING, RUNNING, frozenset({"attempts", "started_at", "worker"}))
"""A worker starts an attempt; from `pending` too, as a worker can receive the job
before the dispatch has recorded its push."""
COMPLETE = Move("complete", (RUNNING,), COMPLETED, frozenset(
    {"completed_at", "completed_code", "attribs", "logs", "unique_key"}) | PROGRESS)
"""handle() returned."""
RELEASE = Move("release", (RUNNING,), QUEUED, frozenset({"attempts", "available_at", "logs"})
    | ENDED)
"""An overlap lock or a rate limit gave the attempt back unrun: it uses no try."""
RETRY = Move("retry", (RUNNING,), RETRYING, ERROR | ENDED | {"available_at"})
"""The attempt failed, or its worker was lost; another comes after backoff."""
FAIL = Move("fail", (RUNNING,), FAILED, ERROR | ENDED | {"unique_key"})
"""The attempt failed and no try is left, or the job failed itself: filed in failed_jobs."""
CANCEL = Move("cancel", WAITING, CANCELLED, frozenset({"unique_key", "cancel_reason", "logs"}))
"""Cancelled before it ran: by a person, or by its chain when an earlier step did not
complete (``cancel_reason`` says which step)."""
STOP = Move("stop", (RUNNING,), CANCELLED, frozenset({"unique_key", "cancel_reason", "logs"})
    | ENDED)
"""A person stopped the running attempt (``jobman_cancel``, the admin): not retried."""
REOPEN = Move("reopen", (FAILED,), PENDING, frozenset({"max_tries", "available_at", "pushed_at"}))
"""A person runs a failed job again, with more tries."""
# fmt: on

MOVES = (PUSH, UNPUSH, CLAIM, COMPLETE, RELEASE, RETRY, FAIL, CANCEL, STOP, REOPEN)
