"""Cancel jobs that have not started."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural


class Command(JobmanCommand):
    help = (
        "Cancel jobs that have not finished. A waiting one (pending, queued or retrying) is\n"
        "also taken out of its RQ queue, so no worker receives it; one that does anyway\n"
        "will not run it. A running one is stopped: at once on a forking worker, at its\n"
        "next self.log(), self.progress() or self.stopping() on a SimpleWorker; it ends\n"
        "cancelled, saying who stopped it, and is not retried. A finished job is refused."
    )
    examples = ("manage.py jobman_cancel 42", "manage.py jobman_cancel 42 43 44")

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(parser, "jobman_ids", "jobman ids (of the jobmans table).")

    def handle(self, *args: Any, jobman_ids: list[int], verbosity: int, **options: Any) -> None:
        result = operations.cancel(jobman_ids, who=f"{getpass.getuser()} (jobman_cancel)")
        self.tell(
            verbosity,
            f"Cancelled {plural(len(result.done), 'job')}.",
            (
                f"Asked jobman #{job.jobman_id} ({job.type}, queue {job.queue}) to stop: "
                "it ends cancelled at once on a forking worker, at its next look on a "
                "SimpleWorker."
                if job.stopping
                else f"Cancelled jobman #{job.jobman_id} ({job.type}, queue {job.queue}), "
                f"which was {job.status}."
                for job in result.done
            ),
        )
        self.finish(result, lambda item: f"Not cancelled: {item.reason}.")
