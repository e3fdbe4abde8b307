"""One attempt, as a worker hands it to the runner.

RQ calls the runner with the row id alone, so a worker that has more to say attaches an
``Attempt`` to the RQ job it is about to run: the forking worker claims the row before it
forks (its own long-lived connection makes that write), and has the work-horse hand a
completed outcome back for it to write after the horse exits. A job without one (a
``SimpleWorker``'s) is claimed and recorded by the runner itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobman.models import Jobman

# The attribute of an RQ job an attempt travels on.
_ATTRIBUTE = "jobman_attempt"


@dataclass
class Attempt:
    # The row the worker claimed for this attempt, if it did.
    claimed: Jobman | None = None
    # Where a completed outcome goes instead of the database: the work-horse leaves it
    # for its worker. None: the runner writes it.
    hand_back: Callable[[Jobman, str | None, str], None] | None = None

    def take_claimed(self, jobman_id: int) -> Jobman | None:
        """The row claimed ahead, if it is row ``jobman_id``; only once."""
        row, self.claimed = self.claimed, None
        return row if row is not None and row.pk == jobman_id else None


def attach(rq_job: Any, attempt: Attempt) -> None:
    setattr(rq_job, _ATTRIBUTE, attempt)


def of(rq_job: Any) -> Attempt:
    """The attempt a worker attached to ``rq_job``, or an empty one."""
    found = getattr(rq_job, _ATTRIBUTE, None)
    return found if isinstance(found, Attempt) else Attempt()
