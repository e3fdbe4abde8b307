"""Retry failed jobs."""

from __future__ import annotations

from typing import Any, Literal

from django.core.management.base import CommandError, CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural


class Command(JobmanCommand):
    help = (
        "Run failed jobs again, each with a fresh budget of tries (the job class's `tries`).\n"
        "IDs are failed_jobs ids, as `jobman_failed` lists them; `all` retries every failed\n"
        "job, or those of one --type and/or --queue. A retried job leaves failed_jobs; if it\n"
        "fails again it is filed there again."
    )
    examples = (
        "manage.py jobman_retry 5",
        "manage.py jobman_retry 5 7 9",
        "manage.py jobman_retry all --type shop.send_invoice --queue default",
    )

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(
            parser, "targets", "failed_jobs ids to retry, or `all`.", type=arguments.row_id_or_all
        )
        arguments.job_filters(parser, only="With `all`: only jobs")

    def handle(
        self,
        *args: Any,
        targets: list[int | Literal["all"]],
        job_type: str | None,
        queue: str | None,
        verbosity: int,
        **options: Any,
    ) -> None:
        if "all" in targets:
            if len(targets) > 1:
                raise CommandError("Give failed job ids or `all`, not both.")
            result = operations.retry_all(job_type=job_type, queue=queue)
        else:
            if job_type is not None or queue is not None:
                raise CommandError("--type and --queue go with `all`, not with ids.")
            result = operations.retry([pk for pk in targets if isinstance(pk, int)])

        pushed = operations.pushed(result)
        self.tell(
            verbosity,
            f"Retried {plural(len(pushed), 'failed job')}.",
            (
                f"Retried failed job {job.failed_job_id}: jobman #{job.jobman_id} "
                f"({job.type}, queue {job.queue}) is queued, max_tries now {job.max_tries}."
                for job in pushed
            ),
        )
        self.tell_if_none(verbosity, result, "No failed jobs to retry.")
        unpushed = [
            f"Retried failed job {job.failed_job_id}, but Redis did not take jobman "
            f"#{job.jobman_id}: it stays pending until jobman_requeue_unpushed pushes it."
            for job in result.unpushed
        ]
        self.finish(
            result, lambda item: f"Failed job {item.id} was not retried: {item.reason}.", unpushed
        )
