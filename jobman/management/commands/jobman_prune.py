"""Delete old finished jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural, when


class Command(JobmanCommand):
    help = (
        "Delete finished jobs (completed, failed, cancelled) created more than --days ago,\n"
        "with their failed_jobs rows. Jobs not finished are never touched. Deletes in\n"
        "batches, so each transaction holds its locks briefly."
    )
    examples = (
        "manage.py jobman_prune",
        "manage.py jobman_prune --days 30 --dry-run",
        "manage.py jobman_prune --days 90 --batch-size 5000 --verbosity 0",
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=arguments.days,
            default=180,
            help="Delete jobs created more than this many days ago (default: 180).",
        )
        parser.add_argument(
            "--batch-size",
            type=arguments.positive_int,
            default=1000,
            help="Jobs deleted per transaction (default: 1000).",
        )
        arguments.flag(parser, "--dry-run", "Count what would be deleted; delete nothing.")

    def handle(
        self,
        *args: Any,
        days: int,
        batch_size: int,
        dry_run: bool,
        verbosity: int,
        **options: Any,
    ) -> None:
        def report(batch: operations.PruneBatch) -> None:
            if verbosity >= 2:
                for pk in batch.jobman_ids:
                    self.stdout.write(f"Deleted jobman #{pk}.")
            elif verbosity == 1:
                first, last = batch.jobman_ids[0], batch.jobman_ids[-1]
                span = f"#{first}" if first == last else f"#{first} to #{last}"
                self.stdout.write(
                    f"Deleted {plural(len(batch.jobman_ids), 'job')} ({span}) and "
                    f"{plural(batch.failed_jobs, 'failed_jobs row')}."
                )

        result = operations.prune(
            older_than=timedelta(days=days), batch_size=batch_size, dry_run=dry_run, on_batch=report
        )
        created = f"created before {when(result.before)}"
        verb = "Would delete" if dry_run else "Deleted"
        if not result.jobs:
            self.stdout.write(f"No finished jobs {created}.")
        else:
            statuses = ", ".join(f"{s} {n}" for s, n in sorted(result.by_status.items()))
            self.stdout.write(
                f"{verb} {plural(result.jobs, 'finished job')} {created} ({statuses}) "
                f"and {plural(result.failed_jobs, 'failed_jobs row')}."
            )
        if result.batches:
            self.stdout.write(
                f"{verb} {plural(result.batches, 'finished batch', 'finished batches')} "
                f"with no job left, finished before {when(result.before)}."
            )
