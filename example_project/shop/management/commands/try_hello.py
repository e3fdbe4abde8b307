"""Dispatch HelloWorldJob and show the row(s) it made."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from example_project.shop.jobs import HelloWorldJob


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, found {number}")
    return number


class Command(BaseCommand):
    help = "Dispatch HelloWorldJob; a running `manage.py jobman_work` picks it up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="Ada", help="Who to greet (default: Ada).")
        parser.add_argument(
            "--count", type=positive_int, default=1, help="How many jobs to dispatch (default: 1)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        attribs = {"name": options["name"]}
        if options["count"] == 1:
            rows = [HelloWorldJob.dispatch(attribs)]
        else:
            rows = HelloWorldJob.dispatch_many([attribs] * options["count"])
        for row in rows:
            self.stdout.write(f"dispatched {row.type} #{row.pk}: {row.status}")
