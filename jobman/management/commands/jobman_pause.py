"""Pause queues: no worker takes their jobs until they are resumed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    # What jobman_resume changes: the switch, what it says, and of which queues.
    switch: Callable[[Iterable[str]], operations.NamedResult[str]] = staticmethod(
        operations.pause_queues
    )
    verb, not_done, after = "Paused", "Not paused", "no worker takes its jobs now"
    names_help = "Queues of RQ_QUEUES to pause."

    def add_arguments(self, parser: CommandParser) -> None:
        arguments.ids(parser, "names", self.names_help, type=arguments.queue_name, metavar="QUEUE")

    def handle(self, *args: Any, names: list[str], verbosity: int, **options: Any) -> None:
        result = self.switch(names)
        self.tell(
            verbosity,
            f"{self.verb} {plural(len(result.done), 'queue')}.",
            (f"{self.verb} queue {name}: {self.after}." for name in result.done),
        )
        self.finish(result, lambda item: f"{self.not_done}: {item.reason}.")
