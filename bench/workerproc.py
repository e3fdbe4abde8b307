"""One benchmark worker process: ``python -m bench.workerproc SYSTEM CLASS``.

SYSTEM is ``rq`` (RQ's own ``Worker``/``SimpleWorker``, JSON serializer) or ``jobman``
(``JobmanWorker``/``JobmanSimpleWorker``, built as ``jobman_work`` builds them); CLASS is
``fork`` or ``simple``. Both kinds run in the same kind of process (Django set up with
``bench.settings``), so the only difference measured is jobman's.

Protocol on stdin/stdout: the process sets everything up, prints ``READY <pid>``, waits
for a line on stdin, then runs a burst worker until the queue is empty and prints
``RESULT <json>``: wall-clock start and end, elapsed seconds, jobs done and its RSS.
Start-up (interpreter, Django, worker construction) is thus left out, identically for
both; ``work()`` itself, with RQ's registration and teardown, is timed for both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

QUEUE = "default"


def build_worker(system: str, worker_class: str, variant: str = "") -> object:
    from rq import Queue, SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    from jobman import queues
    from jobman.worker import JobmanSimpleWorker, JobmanWorker, default_worker_name

    if system == "jobman":
        # What jobman_work does: the queue and connection from RQ_QUEUES.
        cls = JobmanWorker if worker_class == "fork" else JobmanSimpleWorker
        if variant == "keep-connection":
            cls = keep_connection_worker()
        connection = queues.get_connection(QUEUE)
        return cls([queues.get_queue(QUEUE)], connection=connection)
    from django.conf import settings
    from redis import Redis

    connection = Redis.from_url(settings.REDIS_URL)
    queue = Queue(QUEUE, connection=connection, serializer=JSONSerializer)
    rq_cls = Worker if worker_class == "fork" else SimpleWorker
    return rq_cls(
        [queue], connection=connection, serializer=JSONSerializer, name=default_worker_name()
    )


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its reaped children, the work-horses."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def keep_connection_worker() -> type:
    """What-if prototype, not jobman's behaviour: the forking worker's parent keeps one
    idle database connection open instead of closing all before each fork.

    The horse still forgets the inherited connection and opens its own, so no connection
    is used by two processes; on SQLite the horse's close is then no longer the last one,
    which spares a WAL checkpoint (and the -wal file's deletion) per job.
    """
    from django.db import connection
    from rq import Worker

    from jobman.worker import JobmanWorker

    class KeepConnectionJobmanWorker(JobmanWorker):
        def fork_work_horse(self, job: Any, queue: Any) -> None:
            connection.ensure_connection()
            Worker.fork_work_horse(self, job, queue)

    return KeepConnectionJobmanWorker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workerproc")
    parser.add_argument("system", choices=["rq", "jobman"])
    parser.add_argument("worker_class", choices=["fork", "simple"])
    parser.add_argument("--probe", metavar="PATH", help="record SQL and Redis events to PATH")
    parser.add_argument(
        "--variant",
        choices=["", "keep-connection"],
        default="",
        help="a what-if prototype of a jobman change (see keep_connection_worker)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from bench.tasks import rss_kib

    if args.probe:
        from bench import probes

        probes.install(args.probe)
    worker = build_worker(args.system, args.worker_class, args.variant)

    print(f"READY {os.getpid()}", flush=True)
    if not sys.stdin.readline():
        return 1
    start_wall = time.time()
    start, start_cpu = time.perf_counter(), cpu_seconds()
    worker.work(burst=True, logging_level="WARNING", with_scheduler=False)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    result = {
        "pid": os.getpid(),
        "start": start_wall,
        "end": start_wall + elapsed,
        "cpu": cpu_seconds() - start_cpu,
        "elapsed": elapsed,
        "rss_kib": rss_kib(),
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
