"""Delete all failed_jobs rows, or the old ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management.arguments import hours
from jobman.management.base import JobmanCommand, plural, when


class Command(JobmanCommand):
    help = (
        "Delete every failed_jobs row, or with --hours those that failed more than that\n"
        "many hours ago. The jobman rows stay, `failed`; jobman_prune deletes those."
    )
    examples = ("manage.py jobman_flush", "manage.py jobman_flush --hours 48")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=hours,
            help="Only failed jobs that failed more than this many hours ago.",
        )

    def handle(self, *args: Any, hours: int | None, **options: Any) -> None:
        older_than = timedelta(hours=hours) if hours is not None else None
        result = operations.flush(older_than=older_than)
        which = f" that failed before {when(result.before)}" if result.before else ""
        if result.deleted:
            self.stdout.write(f"Deleted {plural(result.deleted, 'failed job')}{which}.")
        else:
            self.stdout.write(f"No failed jobs{which} to delete.")
