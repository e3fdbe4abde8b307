"""Cancel jobs that have not started."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural


class Command(JobmanCommand):
    help = (
        "Cancel jobs that have not started: pending, queued or retrying. A running or\n"
        "finished job is refused. A cancelled job is also taken out of its RQ queue, so no\n"
        "worker receives it; one that does anyway will not run it."
    )
    examples = ("manage.py jobman_cancel 42", "manage.py jobman_cancel 42 43 44")

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(parser, "jobman_ids", "jobman ids (of the jobmans table).")

    def handle(self, *args: Any, jobman_ids: list[int], verbosity: int, **options: Any) -> None:
        result = operations.cancel(jobman_ids)
        self.tell(
            verbosity,
            f"Cancelled {plural(len(result.done), 'job')}.",
            (
                f"Cancelled jobman #{job.jobman_id} ({job.type}, queue {job.queue}), "
                f"which was {job.status}."
                for job in result.done
            ),
        )
        self.finish(result, lambda item: f"Not cancelled: {item.reason}.")
