"""List failed jobs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobman.dashboard import readmodel
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural, when

# Characters of an error shown in the table; the admin shows all of it.
ERROR_WIDTH = 200


class Command(JobmanCommand):
    help = (
        "List failed jobs, the most recent first: the failed_jobs id (what jobman_retry and\n"
        "jobman_forget take), the jobman id, type, queue, when it failed, and the first line\n"
        "of its error."
    )
    examples = (
        "manage.py jobman_failed",
        "manage.py jobman_failed --type shop.send_invoice --limit 20",
    )

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.job_filters(parser)
        arguments.limit(parser, "Show at most this many.")

    def handle(
        self,
        *args: Any,
        job_type: str | None,
        queue: str | None,
        limit: int | None,
        verbosity: int,
        **options: Any,
    ) -> None:
        failures = readmodel.failed_jobs(job_type=job_type, queue=queue, limit=limit)
        if verbosity == 0:
            self.stdout.write(f"{plural(len(failures), 'failed job')}.")
            return
        if not failures:
            self.stdout.write("No failed jobs.")
            return
        rows = [("ID", "Jobman", "Type", "Queue", "Failed at", "Error")]
        rows += [
            (
                str(failure.id),
                str(failure.jobman_id),
                failure.type,
                failure.queue,
                when(failure.failed_at),
                _cut(failure.error),
            )
            for failure in failures
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(5)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[5]]).rstrip())


def _cut(error: str) -> str:
    return error if len(error) <= ERROR_WIDTH else error[: ERROR_WIDTH - 3] + "..."
