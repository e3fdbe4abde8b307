"""Push jobs that should be in Redis and are not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, duration, ids, plural


class Command(JobmanCommand):
    help = (
        "Push jobs still `pending` (saved, but Redis never took them: it was down when\n"
        "they were dispatched) once they are older than a grace period. With\n"
        "--check-redis, also push `queued` and `retrying` jobs whose RQ job is gone from\n"
        "Redis (a restart without persistence). Safe while workers run, and twice at once:\n"
        "a job pushed twice still runs each attempt once."
    )
    examples = (
        "manage.py jobman_requeue_unpushed",
        "manage.py jobman_requeue_unpushed --check-redis --dry-run",
        "manage.py jobman_requeue_unpushed --older-than 0 --limit 1000",
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=arguments.seconds,
            default=60,
            metavar="SECONDS",
            help="Only jobs pending for longer than this (default: 60), so a dispatch's own "
            "push on commit is never raced.",
        )
        arguments.flag(
            parser,
            "--check-redis",
            "Also push queued and retrying jobs whose RQ job no longer exists in Redis.",
        )
        arguments.limit(parser, "Push at most this many jobs.")
        arguments.flag(parser, "--dry-run", "Say what would be pushed; push nothing.")

    def handle(
        self,
        *args: Any,
        older_than: float,
        check_redis: bool,
        limit: int | None,
        dry_run: bool,
        verbosity: int,
        **options: Any,
    ) -> None:
        result = operations.requeue_unpushed(
            older_than=timedelta(seconds=older_than),
            check_redis=check_redis,
            limit=limit,
            dry_run=dry_run,
        )
        done = result.done if dry_run else operations.pushed(result)
        verb = "Would push" if dry_run else "Pushed"
        now = timezone.now()
        self.tell(
            verbosity,
            f"{verb} {plural(len(done), 'job')}.",
            (
                f"{verb} jobman #{job.jobman_id} ({job.type}, queue {job.queue}): {_why(job, now)}."
                for job in done
            ),
        )
        self.tell_if_none(verbosity, result, "No jobs to push.")
        unpushed = [
            f"Redis did not take {plural(len(result.unpushed), 'job')} "
            f"({ids((job.jobman_id for job in result.unpushed), '#')}); they stay as they are."
        ]
        self.finish(
            result,
            lambda item: f"Did not push jobman #{item.id}: {item.reason}.",
            unpushed if result.unpushed else [],
        )


def _why(job: operations.RequeuedJob, now: datetime) -> str:
    if job.pending_since is not None:
        return f"pending for {duration((now - job.pending_since).total_seconds())}"
    return job.reason
