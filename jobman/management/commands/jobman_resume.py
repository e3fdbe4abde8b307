"""Resume paused queues."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural


class Command(JobmanCommand):
    help = "Resume paused queues: workers take their jobs again within about a second."
    examples = ("manage.py jobman_resume low",)

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(
            parser, "names", "Paused queues to resume.", type=arguments.queue_name, metavar="QUEUE"
        )

    def handle(self, *args: Any, names: list[str], verbosity: int, **options: Any) -> None:
        result = operations.resume_queues(names)
        self.tell(
            verbosity,
            f"Resumed {plural(len(result.done), 'queue')}.",
            (f"Resumed queue {name}: workers take its jobs again." for name in result.done),
        )
        self.finish(result, lambda item: f"Not resumed: {item.reason}.")
