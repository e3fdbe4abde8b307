"""Pause queues: no worker takes their jobs until they are resumed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from jobman import operations
from jobman.management import arguments
from jobman.management.base import JobmanCommand, plural


class Command(JobmanCommand):
    help = (
        "Pause queues for every worker on every machine: within about a second no worker\n"
        "takes their jobs, and each goes on with its other queues. Jobs wait in a paused\n"
        "queue, and dispatch goes on. jobman_resume starts them again."
    )
    examples = ("manage.py jobman_pause low", "manage.py jobman_pause low default")

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(
            parser,
            "names",
            "Queues of RQ_QUEUES to pause.",
            type=arguments.queue_name,
            metavar="QUEUE",
        )

    def handle(self, *args: Any, names: list[str], verbosity: int, **options: Any) -> None:
        result = operations.pause_queues(names)
        self.tell(
            verbosity,
            f"Paused {plural(len(result.done), 'queue')}.",
            (f"Paused queue {name}: no worker takes its jobs now." for name in result.done),
        )
        self.finish(result, lambda item: f"Not paused: {item.reason}.")
