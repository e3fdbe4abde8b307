"""Delete failed_jobs rows."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural


class Command(JobmanCommand):
    help = (
        "Delete failed_jobs rows: the jobs are no longer offered for retry. Their jobman\n"
        "rows stay, `failed`, with the error and logs."
    )
    examples = ("manage.py jobman_forget 5", "manage.py jobman_forget 5 7 9")

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(parser, "failed_job_ids", "failed_jobs ids.")

    def handle(self, *args: Any, failed_job_ids: list[int], verbosity: int, **options: Any) -> None:
        result = operations.forget(failed_job_ids)
        self.tell(
            verbosity,
            f"Forgot {plural(len(result.done), 'failed job')}.",
            (f"Forgot failed job {pk}." for pk in result.done),
        )
        self.finish(result, lambda item: f"Not forgotten: {item.reason}.")
