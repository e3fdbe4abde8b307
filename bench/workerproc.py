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

``BenchWorker`` is the other end: the suite starts one with it and speaks the protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, SimpleQueue

from bench.common import QUEUE, ROOT, process_env
from bench.processes import stop_process


def build_worker(system: str, worker_class: str) -> object:
    from rq import Queue, SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    from jobman import queues
    from jobman.worker import JobmanSimpleWorker, JobmanWorker, default_worker_name

    if system == "jobman":
        # What jobman_work does: the queue and connection from RQ_QUEUES.
        cls = JobmanWorker if worker_class == "fork" else JobmanSimpleWorker
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


def minor_faults() -> tuple[int, int]:
    """Minor page faults of this process, and of its reaped children (the work-horses).

    In a work-horse nearly all of them are copy-on-write copies of pages it shares with
    the worker: every Python object the horse touches has its page copied.
    """
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_minflt, children.ru_minflt


def prepare_variant(variant: str) -> object:
    """What-if prototypes of jobman changes, applied from outside jobman's code.

    ``keep-connection`` (SQLite): the worker holds one more, idle connection to the
    database file for its whole life, as jobman's forking worker would if it kept its own
    connection instead of closing all before each fork. A horse's connection is then no
    longer the last one to the file when it closes, which spares a WAL checkpoint (and the
    removal and re-creation of the -wal file) per job. The horse never touches it.

    ``warm-parent``: before the first fork, the worker runs the ORM paths of an attempt
    once (a claim and a finishing UPDATE of a row that does not exist), then closes its
    connection, so the horses inherit Django's lazily built state instead of building it
    again in every horse.

    Returns what must stay referenced while the worker runs.
    """
    from django.db import connection, connections

    if variant == "keep-connection":
        import sqlite3

        if connection.vendor != "sqlite":
            raise SystemExit("the keep-connection variant is for SQLite")
        keeper = sqlite3.connect(str(connection.settings_dict["NAME"]))
        keeper.execute("SELECT COUNT(*) FROM jobmans WHERE id = 0").fetchone()
        return keeper
    if variant == "warm-parent":
        from django.utils import timezone

        from jobman.models import Jobman

        Jobman.objects.claim(-1, worker="warm-up")
        Jobman.objects.filter(pk=-1, status="running", attempts=0).update(
            status="completed", completed_at=timezone.now(), updated_at=timezone.now()
        )
        connections.close_all()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workerproc")
    parser.add_argument("system", choices=["rq", "jobman"])
    parser.add_argument("worker_class", choices=["fork", "simple"])
    parser.add_argument("--probe", metavar="PATH", help="record SQL and Redis events to PATH")
    parser.add_argument(
        "--variant",
        choices=["", "keep-connection", "warm-parent"],
        default="",
        help="a what-if prototype of a jobman change (see prepare_variant)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from bench.tasks import rss_kib

    if args.probe:
        from bench import probes

        probes.install(args.probe)
    worker = build_worker(args.system, args.worker_class)
    kept = prepare_variant(args.variant)

    pid = os.getpid()
    print(f"READY {pid}", flush=True)
    if not sys.stdin.readline():
        return 1
    start_wall = time.time()
    start, start_cpu, start_faults = time.perf_counter(), cpu_seconds(), minor_faults()
    worker.work(burst=True, logging_level="WARNING", with_scheduler=False)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    if os.getpid() != pid:
        # A work-horse that raised out of RQ's horse code lands here: it must not report.
        os._exit(1)
    faults = minor_faults()
    result = {
        "pid": pid,
        "start": start_wall,
        "end": start_wall + elapsed,
        "cpu": cpu_seconds() - start_cpu,
        "minor_faults": [faults[0] - start_faults[0], faults[1] - start_faults[1]],
        "elapsed": elapsed,
        "rss_kib": rss_kib(),
        "variant_state": kept is not None,
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


class BenchWorker:
    """A ``python -m bench.workerproc`` process, spoken to line by line.

    Its stdout is read by a thread into a queue, so that waiting for a line can time out;
    its stderr is appended to ``log_path``. The tests' ``start_worker`` cannot serve here:
    it runs ``jobman_work`` with the test settings and its output goes to a file, while
    this process needs ``bench.settings``, a line on stdin to start, and stdout read back.
    """

    def __init__(self, arguments: list[str], env: dict[str, str] | None, log_path: Path) -> None:
        self.log_file = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.workerproc", *arguments],
            cwd=ROOT,
            env=process_env(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
        )
        self.pid = self.process.pid
        self.lines: SimpleQueue[str | None] = SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)  # the process closed its stdout: it has exited

    def expect(self, prefix: str, timeout: float) -> str:
        """Wait for the line that starts with ``prefix``; return the rest of it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except Empty:
                raise TimeoutError(
                    f"worker {self.pid} did not say {prefix} in {timeout:.0f} s"
                ) from None
            if line is None:
                raise RuntimeError(
                    f"worker {self.pid} exited (code {self.process.wait()}) before {prefix}; "
                    f"see {self.log_file.name}"
                )
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("GO\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        stop_process(self.process)
        self.log_file.close()


if __name__ == "__main__":
    raise SystemExit(main())
