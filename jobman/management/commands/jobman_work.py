"""Run a jobman worker."""

from __future__ import annotations

import itertools
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis import Redis
from redis.exceptions import RedisError

from jobman import conf, queues, schedules
from jobman.management import arguments
from jobman.worker import start_scheduler

# Seconds between two tries to reach Redis at start-up: doubling, up to the last.
REDIS_WAITS = (1, 2, 4, 8, 16, 30)


class Command(BaseCommand):
    help = (
        "Run a worker for jobman jobs on the given queues; queues listed first are served "
        "first. Example: manage.py jobman_work high default"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "queues",
            nargs="*",
            type=arguments.queue_name,
            metavar="QUEUE",
            help="Queues of RQ_QUEUES to serve, highest priority first "
            "(default: JOBMAN's DEFAULT_QUEUE).",
        )
        arguments.flag(parser, "--burst", "Quit when the queues are empty.")
        parser.add_argument(
            "--worker-class",
            default="fork",
            type=arguments.worker_class,
            help="'fork' (RQ's forking Worker, the default), 'simple' (SimpleWorker: no fork) "
            "or the dotted path of an RQ worker class.",
        )
        parser.add_argument(
            "--max-jobs", type=arguments.positive_int, help="Quit after this many jobs."
        )
        parser.add_argument(
            "--max-idle",
            type=arguments.positive_int,
            metavar="SECONDS",
            help="Quit after being idle this many seconds.",
        )
        parser.add_argument(
            "--max-time",
            type=arguments.positive_int,
            metavar="SECONDS",
            help="Stop after the job in hand once the worker has run this long.",
        )
        parser.add_argument(
            "--max-memory",
            type=arguments.positive_int,
            metavar="MB",
            help="Stop after the job in hand once the worker's memory passes this many MB.",
        )
        parser.add_argument(
            "--name", type=arguments.text, help="Worker name (default: host.pid.random)."
        )
        arguments.flag(
            parser,
            "--no-wait",
            "Exit (code 1) when Redis does not answer at start-up, instead of waiting for it.",
        )
        arguments.flag(
            parser,
            "--without-scheduler",
            "Run no scheduler: neither RQ's, which starts delayed jobs and retries after "
            "backoff, nor jobman's, which fires periodic jobs.",
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
        self.wait_for_redis(connection, names[0], give_up=options["no_wait"])
        worker_class = options["worker_class"]
        extra = {"name": options["name"]} if options["name"] else {}
        extra |= {"max_time": options["max_time"], "max_memory": options["max_memory"]}
        worker = worker_class(
            [queues.get_queue(name) for name in names], connection=connection, **extra
        )
        levels = {0: "WARNING", 1: "INFO", 2: "DEBUG", 3: "DEBUG"}
        scheduler = None
        if not options["without_scheduler"] and schedules.configured():
            scheduler = start_scheduler()
        try:
            worker.work(
                burst=options["burst"],
                with_scheduler=not options["without_scheduler"],
                max_jobs=options["max_jobs"],
                max_idle_time=options["max_idle"],
                logging_level=levels[options["verbosity"]],
            )
        except RedisError as error:
            # RQ rides out a Redis that goes away while it waits for jobs; anything else it
            # cannot. A supervisor starts the worker again; the reaper repairs what it held.
            raise CommandError(
                f"Redis at {queues.connection_label(names[0])} failed the worker: {error}"
            ) from None
        finally:
            if scheduler is not None:
                scheduler.terminate()
                scheduler.join(timeout=10)

    def wait_for_redis(self, connection: Redis, queue: str, *, give_up: bool) -> None:
        """Return once Redis answers; until then say so, one line a try, and wait longer
        each time. With ``give_up``, exit 1 at the first failure instead."""
        where = queues.connection_label(queue)
        for attempt in itertools.count():
            try:
                connection.ping()
                if attempt:
                    self.stderr.write(f"jobman_work: Redis at {where} answers now.")
                return
            except RedisError as error:
                if give_up:
                    raise CommandError(f"Redis at {where} does not answer: {error}") from None
                wait = REDIS_WAITS[min(attempt, len(REDIS_WAITS) - 1)]
                self.stderr.write(
                    f"jobman_work: Redis at {where} does not answer ({error}); "
                    f"trying again in {wait} s."
                )
            try:
                time.sleep(wait)
            except KeyboardInterrupt:
                raise CommandError("jobman_work: stopped while waiting for Redis.") from None
