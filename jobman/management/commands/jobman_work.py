"""Run a jobman worker."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobman import conf, queues
from jobman.management.arguments import positive_int, queue_name, text, worker_class


class Command(BaseCommand):
    help = (
        "Run a worker for jobman jobs on the given queues; queues listed first are served "
        "first. Example: manage.py jobman_work high default"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "queues",
            nargs="*",
            type=queue_name,
            metavar="QUEUE",
            help="Queues of RQ_QUEUES to serve, highest priority first "
            "(default: JOBMAN's DEFAULT_QUEUE).",
        )
        parser.add_argument("--burst", action="store_true", help="Quit when the queues are empty.")
        parser.add_argument(
            "--worker-class",
            default="fork",
            type=worker_class,
            help="'fork' (RQ's forking Worker, the default), 'simple' (SimpleWorker: no fork) "
            "or the dotted path of an RQ worker class.",
        )
        parser.add_argument("--max-jobs", type=positive_int, help="Quit after this many jobs.")
        parser.add_argument(
            "--max-idle",
            type=positive_int,
            metavar="SECONDS",
            help="Quit after being idle this many seconds.",
        )
        parser.add_argument("--name", type=text, help="Worker name (default: host.pid.random).")
        parser.add_argument(
            "--without-scheduler",
            action="store_true",
            help="Do not run RQ's scheduler, which starts delayed jobs and retries after backoff.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["queues"] or [conf.get("DEFAULT_QUEUE")]
        connection = queues.get_connection(names[0])
        for name in names[1:]:
            if queues.get_connection(name) is not connection:
                raise CommandError(
                    f"Queues {names[0]!r} and {name!r} are on different Redis servers; "
                    "run one worker per server."
                )
        worker_class = options["worker_class"]
        extra = {"name": options["name"]} if options["name"] else {}
        worker = worker_class(
            [queues.get_queue(name) for name in names], connection=connection, **extra
        )
        levels = {0: "WARNING", 1: "INFO", 2: "DEBUG", 3: "DEBUG"}
        worker.work(
            burst=options["burst"],
            with_scheduler=not options["without_scheduler"],
            max_jobs=options["max_jobs"],
            max_idle_time=options["max_idle"],
            logging_level=levels[options["verbosity"]],
        )
