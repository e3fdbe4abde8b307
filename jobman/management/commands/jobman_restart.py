"""Ask every worker to finish its current job and exit, for a deploy."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rq.command import send_shutdown_command
from rq.worker import Worker

from jobman import queues
from jobman.management import arguments


class Command(BaseCommand):
    help = (
        "Ask every worker serving a queue of RQ_QUEUES to finish its current job and exit; "
        "a process manager (supervisor, systemd) starts them again with the new code. "
        "Example: manage.py jobman_restart"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue",
            action="append",
            type=arguments.queue_name,
            metavar="QUEUE",
            help="Only workers serving this queue (repeatable). Default: every queue.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["queue"] or list(queues.configured_queues())
        asked = []
        seen: set[str] = set()
        for name in names:
            try:
                queue = queues.get_queue(name)
            except ValueError as error:
                raise CommandError(str(error)) from None
            for worker in Worker.all(queue=queue):
                if worker.name in seen:
                    continue
                seen.add(worker.name)
                send_shutdown_command(queue.connection, worker.name)
                asked.append(worker.name)
                if options["verbosity"] >= 1:
                    self.stdout.write(f"asked worker {worker.name} to finish its job and exit")
        self.stdout.write(f"asked {len(asked)} worker(s) to restart.")
