"""Fail the attempts of rows left running by a worker that died."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobman import conf, reaper
from jobman.management import arguments


class Command(BaseCommand):
    help = (
        "Find rows left 'running' by a worker that died, and fail those attempts "
        "('worker lost'), which retries or fails each row like any failed attempt. "
        "Workers do this by themselves every JOBMAN['REAP_INTERVAL'] seconds. "
        "Example: manage.py jobman_reap --dry-run"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.flag(parser, "--dry-run", "Say what would be reaped; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        found = reaper.reap(dry_run=options["dry_run"])
        reaped = [item for item in found if item.outcome != "skipped"]
        skipped = [item for item in found if item.outcome == "skipped"]
        if options["verbosity"] >= 1:
            for item in reaped:
                self.stdout.write(
                    f"jobman #{item.jobman_id}: worker {item.worker} lost: {item.outcome}"
                )
        verb = "would reap" if options["dry_run"] else "reaped"
        self.stdout.write(
            f"{verb} {len(reaped)} job(s). A worker counts as lost {conf.get('LOST_AFTER')} s "
            "after its last heartbeat, and is reaped once it has stayed gone as long again."
        )
        if skipped:
            raise CommandError(
                "\n".join(f"jobman #{item.jobman_id} skipped: {item.reason}" for item in skipped)
            )
