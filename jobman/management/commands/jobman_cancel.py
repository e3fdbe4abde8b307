"""Cancel jobs that have not started."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management.arguments import row_id
from jobman.management.base import JobmanCommand, plural, unknown_ids


class Command(JobmanCommand):
    help = (
        "Cancel jobs that have not started: pending, queued or retrying. A running or\n"
        "finished job is refused. A cancelled job is also taken out of its RQ queue, so no\n"
        "worker receives it; one that does anyway will not run it."
    )
    examples = ("manage.py jobman_cancel 42", "manage.py jobman_cancel 42 43 44")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "jobman_ids",
            nargs="+",
            type=row_id,
            metavar="ID",
            help="jobman ids (of the jobmans table).",
        )

    def handle(self, *args: Any, jobman_ids: list[int], verbosity: int, **options: Any) -> None:
        result = operations.cancel(jobman_ids)
        if verbosity == 0:
            self.stdout.write(f"Cancelled {plural(len(result.cancelled), 'job')}.")
        else:
            for job in result.cancelled:
                self.stdout.write(
                    f"Cancelled jobman #{job.jobman_id} ({job.type}, queue {job.queue}), "
                    f"which was {job.status}."
                )
        for warning in result.rq_errors:
            self.stderr.write(warning)

        problems = [f"Not cancelled: {item.reason}." for item in result.refused]
        if result.unknown:
            problems.append(unknown_ids("jobman", result.unknown))
        self.fail_if(problems)
