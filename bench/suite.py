"""Every measurement on one database: ``python -m bench.suite CONFIG OUT``.

``bench.cli`` runs this once per database, with the environment ``bench.settings``
reads, and collects the JSON it writes to OUT. Worker throughput is measured by
enqueuing N jobs first and then timing burst workers (``bench.workerproc``) draining
them; bare RQ and jobman alternate within each round so drift hits both alike.
"""

from __future__ import annotations

import json
import os
import queue as queue_module
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "default"
SYSTEMS = ("rq", "jobman")


@dataclass
class Config:
    """How much of everything to do: the full run's defaults, and ``quick()`` for CI."""

    rounds: int = 3
    sections: list[str] = field(default_factory=list)
    # Worker throughput: jobs drained per run.
    fork_jobs: int = 250
    simple_jobs: int = 500
    pool_jobs: int = 250
    failing_fork_jobs: int = 150
    failing_simple_jobs: int = 250
    failing_classes: list[str] = field(default_factory=lambda: ["fork", "simple"])
    # Dispatch: jobs one at a time, and bulk calls of bulk_size jobs.
    dispatch_single: int = 1000
    dispatch_bulk_size: int = 1000
    dispatch_bulk_calls: int = 5
    # The million-row table.
    fill_rows: int = 1_000_000
    million_simple_jobs: int = 300
    million_fork_jobs: int = 150
    million_classes: list[str] = field(default_factory=lambda: ["fork", "simple"])
    # Memory: RSS sampled at the first job, at jobs/10 and at the last job.
    memory_simple_jobs: int = 50_000
    memory_fork_jobs: int = 5_000
    memory_systems: list[str] = field(default_factory=lambda: ["jobman"])
    # Per-job counts (runs of n and 2n jobs); which cases ("all" or a list).
    count_jobs: int = 20
    count_cases: list[str] = field(default_factory=lambda: ["all"])
    reconnect_iterations: int = 200
    # py-spy profiles (section "profile", not in the default run).
    profile_dir: str = ""
    profile_simple_jobs: int = 800
    profile_fork_jobs: int = 200
    worker_timeout: float = 900.0

    @classmethod
    def quick(cls) -> Config:
        """Small counts, one round: every code path runs, no figure means much."""
        return cls(
            rounds=1,
            fork_jobs=15,
            simple_jobs=60,
            pool_jobs=20,
            failing_fork_jobs=15,
            failing_simple_jobs=40,
            failing_classes=["simple"],
            dispatch_single=100,
            dispatch_bulk_size=200,
            dispatch_bulk_calls=1,
            fill_rows=20_000,
            million_simple_jobs=40,
            million_fork_jobs=10,
            million_classes=["simple"],
            memory_simple_jobs=150,
            memory_fork_jobs=20,
            count_jobs=3,
            count_cases=["failing-fork"],
            reconnect_iterations=20,
            profile_simple_jobs=100,
            profile_fork_jobs=20,
            worker_timeout=120.0,
        )


# ---------------------------------------------------------------- helpers


def log(message: str) -> None:
    engine = os.environ.get("JOBMAN_BENCH_DB", "?")
    print(f"[bench {engine} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def summary(values: list[float]) -> dict[str, Any]:
    return {"median": round(median(values), 1), "rounds": [round(v, 1) for v in values]}


def ratio(jobman: float, rq: float) -> float | None:
    return round(jobman / rq, 3) if rq else None


# One measurement: jobs per second (wall clock), and CPU milliseconds per job spent by the
# processes the bench controls (the dispatching process, or the workers and work-horses;
# not the Redis or database servers).
Sample = tuple[float, float]


def alternate(
    rounds: int, measure: Callable[[str], Sample], labels: tuple[str, str] = SYSTEMS
) -> dict[str, Any]:
    """Measure both sides ``rounds`` times, alternating which goes first.

    ``ratio`` is the second side's median over the first's (jobman / bare RQ by default).
    """
    rates: dict[str, list[float]] = {label: [] for label in labels}
    cpus: dict[str, list[float]] = {label: [] for label in labels}
    for index in range(rounds):
        order = labels if index % 2 == 0 else tuple(reversed(labels))
        for label in order:
            rate, cpu = measure(label)
            rates[label].append(rate)
            cpus[label].append(cpu)
    result: dict[str, Any] = {}
    for label in labels:
        result[label] = summary(rates[label])
        result[label]["cpu_ms_per_job"] = round(median(cpus[label]), 3)
    first, second = labels
    result["ratio"] = ratio(result[second]["median"], result[first]["median"])
    # Above 1 when the second side spends less CPU per job than the first: like "ratio".
    result["cpu_ratio"] = ratio(result[first]["cpu_ms_per_job"], result[second]["cpu_ms_per_job"])
    return result


class Services:
    """The Django database and the bench's Redis database, reset between runs."""

    def __init__(self) -> None:
        from django.conf import settings
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        from bench.services import RedisHandle

        self.redis = Redis.from_url(settings.REDIS_URL)
        self.handle = RedisHandle(
            url=settings.REDIS_URL, owner=os.environ["JOBMAN_BENCH_REDIS_OWNER"]
        )
        self.rq_queue = Queue(QUEUE, connection=self.redis, serializer=JSONSerializer)
        self.keep_below = 0  # rows with a smaller id are the historical fill: kept

    def reset(self) -> None:
        from django.db import connection

        self.handle.clear()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                if self.keep_below:
                    cursor.execute(
                        "DELETE FROM failed_jobs WHERE jobman_id > %s", [self.keep_below]
                    )
                    cursor.execute("DELETE FROM jobmans WHERE id > %s", [self.keep_below])
                    cursor.execute("VACUUM jobmans")
                else:
                    cursor.execute("TRUNCATE failed_jobs, jobmans RESTART IDENTITY")
            else:
                cursor.execute("DELETE FROM failed_jobs WHERE jobman_id > %s", [self.keep_below])
                cursor.execute("DELETE FROM jobmans WHERE id > %s", [self.keep_below])
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()


def enqueue(
    services: Services,
    system: str,
    jobs: int,
    failing: bool = False,
    samples: dict[int, str] | None = None,
) -> None:
    """Put ``jobs`` no-op (or failing) jobs in the queue; ``samples``: job number -> RSS file."""
    from bench import tasks
    from bench.benchapp.jobs import FailingJob, NoopJob

    samples = samples or {}
    chunk = 5000
    for first in range(1, jobs + 1, chunk):
        numbers = range(first, min(first + chunk, jobs + 1))
        if system == "rq":
            function = tasks.fail if failing else tasks.noop
            datas = [
                services.rq_queue.prepare_data(function, args=(samples[n],) if n in samples else ())
                for n in numbers
            ]
            services.rq_queue.enqueue_many(datas)
        else:
            job_class = FailingJob if failing else NoopJob
            job_class.dispatch_many(
                [{"rss_to": samples[n]} if n in samples else {} for n in numbers]
            )


def check_drained(services: Services, system: str, jobs: int, failing: bool) -> None:
    """Fail loudly unless every job ran to the expected end."""
    if system == "rq":
        registry = (
            services.rq_queue.failed_job_registry
            if failing
            else services.rq_queue.finished_job_registry
        )
        done, left = registry.get_job_count(cleanup=False), services.rq_queue.count
    else:
        from jobman.models import Jobman, JobStatus

        status = JobStatus.FAILED if failing else JobStatus.COMPLETED
        rows = Jobman.objects.filter(id__gt=services.keep_below)
        done, left = rows.filter(status=status).count(), rows.exclude(status=status).count()
    if done != jobs or left:
        raise RuntimeError(
            f"{system}: expected {jobs} {'failed' if failing else 'finished'} jobs, "
            f"found {done} (and {left} not done)"
        )


def _reader(stream: Any, lines: queue_module.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


class WorkerProcess:
    """A ``bench.workerproc`` process, spoken to line by line."""

    def __init__(
        self,
        system: str,
        worker_class: str,
        env: dict[str, str],
        probe: str | None,
        log_path: Path,
        extra: list[str] | None = None,
    ) -> None:
        command = [sys.executable, "-m", "bench.workerproc", system, worker_class, *(extra or [])]
        if probe:
            command += ["--probe", probe]
        self.log_file = log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
        )
        self.lines: queue_module.Queue[str | None] = queue_module.Queue()
        threading.Thread(
            target=_reader, args=(self.process.stdout, self.lines), daemon=True
        ).start()
        self.pid = self.process.pid

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue_module.Empty:
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
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def workers_log_tail(workdir: Path, lines: int = 30) -> str:
    try:
        return "\n".join(
            (workdir / "workers.log").read_text(errors="replace").splitlines()[-lines:]
        )
    except OSError:
        return "(no log)"


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONPATH": str(ROOT)}
    env.update(extra or {})
    return env


@dataclass
class Run:
    """How burst workers are started: class, how many, and what extra they do."""

    worker_class: str  # "fork" or "simple"
    processes: int = 1
    env: dict[str, str] = field(default_factory=dict)
    variant: str = ""
    probe: str | None = None
    pyspy_out: str | None = None


def run_workers(system: str, run: Run, workdir: Path, config: Config) -> dict[str, Any]:
    """Start ``run.processes`` burst workers, let them drain the queue; return their timings."""
    extra = ["--variant", run.variant] if run.variant else []
    workers = [
        WorkerProcess(
            system, run.worker_class, worker_env(run.env), run.probe, workdir / "workers.log", extra
        )
        for _ in range(run.processes)
    ]
    spies: list[subprocess.Popen[bytes]] = []
    try:
        for worker in workers:
            worker.expect("READY", timeout=120)
        if run.pyspy_out:
            spies = [
                start_pyspy(worker.pid, f"{run.pyspy_out}.{n}.txt")
                for n, worker in enumerate(workers)
            ]
            time.sleep(1.0)
        for worker in workers:
            worker.go()
        results = [
            json.loads(worker.expect("RESULT", timeout=config.worker_timeout)) for worker in workers
        ]
        for worker in workers:
            worker.process.wait(30)
        for spy in spies:
            spy.wait(120)
    finally:
        for worker in workers:
            worker.stop()
        for spy in spies:
            if spy.poll() is None:
                spy.terminate()
                spy.wait(10)
    return {
        "elapsed": max(r["end"] for r in results) - min(r["start"] for r in results),
        "pids": [r["pid"] for r in results],
        "rss_kib": [r["rss_kib"] for r in results],
        "cpu": sum(r["cpu"] for r in results),
        "faults": [sum(r["minor_faults"][i] for r in results) for i in (0, 1)],
        "start": min(r["start"] for r in results),
        "end": max(r["end"] for r in results),
    }


def pyspy_binary() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start_pyspy(pid: int, output: str) -> subprocess.Popen[bytes]:
    """Sample process ``pid`` and its children (the work-horses) until it exits."""
    from bench import profiling

    binary = pyspy_binary()
    if binary is None:
        raise RuntimeError("py-spy is not installed")
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(profiling.RATE),
            "--format",
            "raw",
            "--idle",
            "--nonblocking",
            "--subprocesses",
            "--output",
            output,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def throughput(
    services: Services,
    system: str,
    run: Run,
    jobs: int,
    workdir: Path,
    config: Config,
    failing: bool = False,
) -> Sample:
    """Enqueue ``jobs`` jobs, time the workers draining them; jobs per second.

    A run whose jobs did not all end as expected is repeated once (the tail of the
    workers' log is shown); a second such run stops the bench.
    """
    for attempt in (1, 2):
        services.reset()
        enqueue(services, system, jobs, failing=failing)
        timing = run_workers(system, run, workdir, config)
        try:
            check_drained(services, system, jobs, failing)
            break
        except RuntimeError as error:
            tail = workers_log_tail(workdir)
            if attempt == 2:
                raise RuntimeError(f"{error}\nworkers' log:\n{tail}") from None
            log(f"  {error}; running it again. Workers' log:\n{tail}")
    rate, cpu = jobs / timing["elapsed"], timing["cpu"] * 1000 / jobs
    FAULTS.setdefault((system, run.worker_class, run.variant, failing), []).append(
        (timing["faults"][0] / jobs, timing["faults"][1] / jobs)
    )
    label = f"{run.worker_class}x{run.processes}{' ' + run.variant if run.variant else ''}"
    log(
        f"  {system:6} {label} {'failing ' if failing else ''}{jobs} jobs: "
        f"{timing['elapsed']:.2f} s, {rate:.0f} jobs/s, CPU {cpu:.2f} ms/job"
    )
    return rate, cpu


# Minor page faults per job of every throughput run: (worker, work-horses), by
# (system, worker class, variant, failing). Reported as medians in "faults".
FAULTS: dict[tuple[str, str, str, bool], list[tuple[float, float]]] = {}


def fault_summary() -> dict[str, Any]:
    result = {}
    for (system, worker_class, variant, failing), values in sorted(FAULTS.items()):
        key = "-".join(
            p for p in (system, worker_class, variant, "failing" if failing else "") if p
        )
        result[key] = {
            "worker": round(median(v[0] for v in values), 1),
            "horses": round(median(v[1] for v in values), 1),
        }
    return result


# ---------------------------------------------------------------- sections


def section_reconnect(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """What a work-horse's own database connection costs per job.

    ``attempt_*``: the statements of one successful attempt (claim UPDATE, SELECT, final
    UPDATE) on a fresh connection closed afterwards, as a forking worker's horse (or a
    SimpleWorker with CONN_MAX_AGE=0) does, against the same on a connection kept open.
    On SQLite the close is measured alone too, as the last connection to the file (WAL
    checkpoint and removal of the -wal file) and with another connection open.
    """
    import sqlite3

    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from jobman.models import Jobman

    services.reset()
    row = Jobman.objects.create(type="bench.noop", queue=QUEUE, status="completed")
    n = config.reconnect_iterations

    def attempt() -> None:
        now = timezone.now()
        Jobman.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1, updated_at=now)
        Jobman.objects.get(pk=row.pk)
        Jobman.objects.filter(pk=row.pk).update(completed_at=now, updated_at=now)

    def timed(body: Callable[[], None]) -> float:
        started = time.perf_counter()
        for _ in range(n):
            body()
        return (time.perf_counter() - started) / n * 1000

    def fresh() -> None:
        connection.close()
        connection.ensure_connection()

    def fresh_attempt() -> None:
        connection.ensure_connection()
        attempt()
        connection.close()

    connection.ensure_connection()
    result: dict[str, Any] = {
        "iterations": n,
        "connect_ms": round(timed(fresh), 3),
        "attempt_fresh_connection_ms": round(timed(fresh_attempt), 3),
    }
    connection.ensure_connection()
    result["attempt_open_connection_ms"] = round(timed(attempt), 3)
    result["reconnect_cost_per_job_ms"] = round(
        result["attempt_fresh_connection_ms"] - result["attempt_open_connection_ms"], 3
    )
    if connection.vendor == "sqlite":

        def close_after_write() -> float:
            connection.ensure_connection()
            attempt()
            started = time.perf_counter()
            connection.close()
            return time.perf_counter() - started

        result["close_last_connection_ms"] = round(
            sum(close_after_write() for _ in range(n)) / n * 1000, 3
        )
        keeper = sqlite3.connect(str(connection.settings_dict["NAME"]))
        keeper.execute("SELECT COUNT(*) FROM jobmans").fetchone()
        try:
            result["close_with_another_open_ms"] = round(
                sum(close_after_write() for _ in range(n)) / n * 1000, 3
            )
            result["attempt_fresh_connection_another_open_ms"] = round(timed(fresh_attempt), 3)
        finally:
            keeper.close()
    connection.close()
    log(f"reconnect: {result}")
    return result


def section_dispatch(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Jobs per second put in the queue: one at a time, and in bulk."""
    from bench import tasks
    from bench.benchapp.jobs import NoopJob

    def single(system: str) -> Sample:
        services.reset()
        n = config.dispatch_single
        started, cpu = time.perf_counter(), time.process_time()
        if system == "rq":
            for _ in range(n):
                services.rq_queue.enqueue(tasks.noop)
        else:
            for _ in range(n):
                NoopJob.dispatch({})
        rate, cpu = n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n
        log(f"  single {system:6}: {rate:.0f} jobs/s, CPU {cpu:.3f} ms/job")
        return rate, cpu

    def bulk(system: str) -> Sample:
        services.reset()
        size, calls = config.dispatch_bulk_size, config.dispatch_bulk_calls
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            if system == "rq":
                services.rq_queue.enqueue_many(
                    [services.rq_queue.prepare_data(tasks.noop) for _ in range(size)]
                )
            else:
                NoopJob.dispatch_many([{} for _ in range(size)])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        rate, cpu = size * calls / elapsed, cpu * 1000 / (size * calls)
        log(f"  bulk {system:6}: {rate:.0f} jobs/s, CPU {cpu:.3f} ms/job")
        return rate, cpu

    log("dispatch")
    return {
        "single": {**alternate(config.rounds, single), "jobs": config.dispatch_single},
        "bulk": {
            **alternate(config.rounds, bulk),
            "jobs": config.dispatch_bulk_size * config.dispatch_bulk_calls,
            "jobs_per_call": config.dispatch_bulk_size,
        },
    }


def section_workers(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """No-op jobs per second drained by a forking Worker, a SimpleWorker, a pool of 2."""
    result = {}
    for name, run, jobs in (
        ("fork", Run("fork"), config.fork_jobs),
        ("simple", Run("simple"), config.simple_jobs),
        ("pool2", Run("fork", processes=2), config.pool_jobs),
    ):
        log(f"workers: {name}")
        result[name] = {
            **alternate(
                config.rounds,
                lambda system, run=run, jobs=jobs: throughput(
                    services, system, run, jobs, workdir, config
                ),
            ),
            "jobs": jobs,
        }
    return result


def section_failing(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Always-failing jobs (one try) per second."""
    result = {}
    jobs_of = {"fork": config.failing_fork_jobs, "simple": config.failing_simple_jobs}
    for worker_class, jobs in ((wc, jobs_of[wc]) for wc in config.failing_classes):
        log(f"failing: {worker_class}")
        result[worker_class] = {
            **alternate(
                config.rounds,
                lambda system, wc=worker_class, jobs=jobs: throughput(
                    services, system, Run(wc), jobs, workdir, config, failing=True
                ),
            ),
            "jobs": jobs,
        }
    return result


def section_whatif(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """jobman with a setting or a prototype change against jobman as it is, alternating.

    The variant's gain (its median over jobman's) sizes a suggestion; times the
    jobman/RQ ratio of the workers section it estimates where jobman would stand.

    PostgreSQL: ``*-async-commit``, jobman with ``JOBMAN["ASYNC_COMMIT"]``. SQLite:
    ``fork-keep-connection`` (see ``bench.workerproc.prepare_variant``), what keeping a
    connection to the file open across forks would save.
    """
    from django.db import connection

    cases: dict[str, tuple[Run, int]] = {}
    if connection.vendor == "sqlite":
        cases["fork-keep-connection"] = (Run("fork", variant="keep-connection"), config.fork_jobs)
    if connection.vendor == "postgresql":
        async_commit = {"JOBMAN_BENCH_JOBMAN": json.dumps({"ASYNC_COMMIT": True})}
        cases["simple-async-commit"] = (Run("simple", env=async_commit), config.simple_jobs)
        cases["fork-async-commit"] = (Run("fork", env=async_commit), config.fork_jobs)
        cases["pool-async-commit"] = (
            Run("fork", processes=2, env=async_commit),
            config.pool_jobs,
        )
    baselines = {"simple": Run("simple"), "fork": Run("fork"), "pool": Run("fork", processes=2)}
    result: dict[str, Any] = {}
    for name, (run, jobs) in cases.items():
        log(f"what-if: {name} (against jobman as it is)")
        base = baselines[name.split("-")[0]]
        result[name] = {
            **alternate(
                config.rounds,
                lambda label, run=run, jobs=jobs, base=base: throughput(
                    services,
                    "jobman",
                    run if label == "variant" else base,
                    jobs,
                    workdir,
                    config,
                ),
                labels=("jobman", "variant"),
            ),
            "jobs": jobs,
        }
    return result


def section_million(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """jobman's worker throughput with ``fill_rows`` finished rows in jobmans vs none."""
    from bench.benchapp.jobs import NoopJob
    from bench.fill import fill

    jobs_of = {"simple": config.million_simple_jobs, "fork": config.million_fork_jobs}
    classes = {wc: jobs_of[wc] for wc in config.million_classes}

    def rounds() -> dict[str, list[float]]:
        rates: dict[str, list[float]] = {wc: [] for wc in classes}
        for _ in range(config.rounds):
            for wc, jobs in classes.items():
                rate, _ = throughput(services, "jobman", Run(wc), jobs, workdir, config)
                rates[wc].append(rate)
        return rates

    def dispatch_rounds() -> list[float]:
        rates = []
        for _ in range(config.rounds):
            services.reset()
            started = time.perf_counter()
            for _ in range(config.dispatch_single):
                NoopJob.dispatch({})
            rates.append(config.dispatch_single / (time.perf_counter() - started))
        return rates

    log("million: empty table")
    services.keep_below = 0
    empty, empty_dispatch = rounds(), dispatch_rounds()
    services.reset()
    log(f"million: filling {config.fill_rows:,} rows")
    filled_info = fill(config.fill_rows)
    log(f"million: filled in {filled_info['total_seconds']} s")
    services.keep_below = filled_info["max_id"]
    try:
        filled, filled_dispatch = rounds(), dispatch_rounds()
        log(f"million: jobman_prune of the {config.fill_rows:,} rows")
        pruned = prune_all()
    finally:
        services.keep_below = 0
        services.reset()

    result: dict[str, Any] = {"fill": filled_info, "jobs": classes, "prune": pruned}
    for wc in classes:
        result[wc] = {
            "empty": summary(empty[wc]),
            "filled": summary(filled[wc]),
            "ratio": ratio(median(filled[wc]), median(empty[wc])),
        }
    result["dispatch_single"] = {
        "empty": summary(empty_dispatch),
        "filled": summary(filled_dispatch),
        "ratio": ratio(median(filled_dispatch), median(empty_dispatch)),
    }
    return result


def prune_all() -> dict[str, Any]:
    """Time ``jobman_prune`` (operations.prune, batches of 1,000) deleting every finished row."""
    from datetime import timedelta

    from jobman import operations

    started = time.perf_counter()
    pruned = operations.prune(older_than=timedelta(0))
    seconds = time.perf_counter() - started
    return {
        "jobs": pruned.jobs,
        "failed_jobs": pruned.failed_jobs,
        "seconds": round(seconds, 1),
        "rows_per_second": round(pruned.jobs / seconds) if seconds else None,
    }


def section_memory(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """RSS of the worker (and of the work-horse) at the first job, at jobs/10 and the last.

    Besides the measured growth from jobs/10 to the last job, the slope (bytes per job)
    is extrapolated to the span the goal names: from job 5,000 to job 50,000.
    """
    result: dict[str, Any] = {}
    for system in config.memory_systems:
        for worker_class, jobs in (
            ("simple", config.memory_simple_jobs),
            ("fork", config.memory_fork_jobs),
        ):
            log(f"memory: {system} {worker_class}, {jobs} jobs")
            points = sorted({1, max(jobs // 10, 1), jobs})
            services.reset()
            samples = {n: str(workdir / f"rss-{system}-{worker_class}-{n}.json") for n in points}
            enqueue(services, system, jobs, samples=samples)
            timing = run_workers(system, Run(worker_class), workdir, config)
            check_drained(services, system, jobs, failing=False)
            read = {n: json.loads(Path(path).read_text()) for n, path in samples.items()}
            entry: dict[str, Any] = {
                "jobs": jobs,
                "points": points,
                "jobs_per_second": round(jobs / timing["elapsed"], 1),
            }
            roles = {"worker": "parent_rss_kib" if worker_class == "fork" else "rss_kib"}
            if worker_class == "fork":
                roles["horse"] = "rss_kib"
            first, last = points[-2], points[-1]
            for role, key in roles.items():
                rss = {n: read[n][key] for n in points}
                slope = (rss[last] - rss[first]) * 1024 / (last - first)  # bytes per job
                entry[role] = {
                    "rss_kib": {str(n): rss[n] for n in points},
                    "growth_pct": round(100 * (rss[last] / rss[first] - 1), 2),
                    "bytes_per_job": round(slope, 1),
                    "extrapolated_5k_to_50k_pct": round(
                        100 * slope * 45_000 / (rss[first] * 1024 + slope * (5000 - first)), 2
                    ),
                }
            log(f"  {entry}")
            result[f"{system}-{worker_class}"] = entry
    return result


COUNT_CASES = [f"{kind}-{wc}" for kind in ("noop", "failing") for wc in ("fork", "simple")]


def section_counts(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """Per attempt and per dispatch: SQL statements, connects, Redis round trips.

    Each case runs twice, with n and 2n jobs; the difference divided by n is the cost of
    one job, free of the worker's start-up and teardown.
    """
    from bench import probes, tasks
    from bench.benchapp.jobs import NoopJob

    n = config.count_jobs
    cases = COUNT_CASES if "all" in config.count_cases else config.count_cases
    result: dict[str, Any] = {}
    for case in cases:
        kind, worker_class = case.split("-")
        failing = kind == "failing"
        for system in SYSTEMS:
            tallies = []
            for jobs in (n, 2 * n):
                services.reset()
                enqueue(services, system, jobs, failing=failing)
                path = str(workdir / f"probe-{case}-{system}-{jobs}.tsv")
                timing = run_workers(system, Run(worker_class, probe=path), workdir, config)
                check_drained(services, system, jobs, failing)
                tallies.append(probes.tally(path, set(timing["pids"])))
            result[f"{case}-{system}"] = probes.difference(tallies[1], tallies[0], n)
            log(
                f"counts {case}-{system}: {result[f'{case}-{system}']['worker']['kinds']} / horse "
                f"{result[f'{case}-{system}']['horse']['kinds']}"
            )

    # Dispatch, in this process.
    probes.install_patches()
    for system in SYSTEMS:
        for mode in ("single", "bulk"):
            tallies = []
            for jobs in (n, 2 * n):
                services.reset()
                path = str(workdir / f"probe-dispatch-{system}-{mode}-{jobs}.tsv")
                probes.start(path)
                if mode == "single":
                    for _ in range(jobs):
                        if system == "rq":
                            services.rq_queue.enqueue(tasks.noop)
                        else:
                            NoopJob.dispatch({})
                elif system == "rq":
                    services.rq_queue.enqueue_many(
                        [services.rq_queue.prepare_data(tasks.noop) for _ in range(jobs)]
                    )
                else:
                    NoopJob.dispatch_many([{} for _ in range(jobs)])
                probes.stop()
                tallies.append(probes.tally(path, {os.getpid()}))
            case = f"dispatch-{mode}-{system}"
            result[case] = probes.difference(tallies[1], tallies[0], n)["worker"]
            log(f"counts {case}: {result[case]['kinds']}")
    return result


def section_profile(services: Services, config: Config, workdir: Path) -> dict[str, Any]:
    """py-spy samples of each worker kind draining no-op jobs."""
    from bench import profiling

    if pyspy_binary() is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    out = Path(config.profile_dir or workdir / "profiles")
    out.mkdir(parents=True, exist_ok=True)
    engine = os.environ.get("JOBMAN_BENCH_DB", "db")
    result: dict[str, Any] = {"dir": str(out)}
    result["dispatch"] = profile_dispatch(services, config, out / f"{engine}-dispatch")
    for worker_class, jobs in (
        ("simple", config.profile_simple_jobs),
        ("fork", config.profile_fork_jobs),
    ):
        for system in SYSTEMS:
            services.reset()
            enqueue(services, system, jobs)
            stem = str(out / f"{engine}-{system}-{worker_class}")
            log(f"profile: {system} {worker_class}")
            timing = run_workers(system, Run(worker_class, pyspy_out=stem), workdir, config)
            check_drained(services, system, jobs, failing=False)
            result[f"{system}-{worker_class}"] = profiling.analyse(
                f"{stem}.0.txt", jobs, timing["elapsed"]
            )
    return result


def profile_dispatch(services: Services, config: Config, stem: Path) -> dict[str, Any]:
    """cProfile of jobman's dispatch (one at a time, and dispatch_many) in this process."""
    import cProfile

    from bench import profiling
    from bench.benchapp.jobs import NoopJob

    result = {}
    cases: dict[str, tuple[Callable[[], object], int]] = {
        "single": (
            lambda: [NoopJob.dispatch({}) for _ in range(config.dispatch_single)],
            config.dispatch_single,
        ),
        "bulk": (
            lambda: [
                NoopJob.dispatch_many([{} for _ in range(config.dispatch_bulk_size)])
                for _ in range(config.dispatch_bulk_calls)
            ],
            config.dispatch_bulk_size * config.dispatch_bulk_calls,
        ),
    }
    for name, (body, jobs) in cases.items():
        services.reset()
        profiler = cProfile.Profile()
        profiler.runcall(body)
        path = f"{stem}-{name}.prof"
        profiler.dump_stats(path)
        result[name] = profiling.top_functions(path, jobs)
    return result


SECTIONS: dict[str, Callable[[Services, Config, Path], dict[str, Any]]] = {
    "reconnect": section_reconnect,
    "dispatch": section_dispatch,
    "workers": section_workers,
    "failing": section_failing,
    "whatif": section_whatif,
    "counts": section_counts,
    "memory": section_memory,
    "million": section_million,
    "profile": section_profile,
}
# What runs without --sections: everything but the py-spy profiles.
DEFAULT_SECTIONS = [name for name in SECTIONS if name != "profile"]


def loadavg() -> float | None:
    """The 1-minute load average: other work on the machine shows up here."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def versions() -> dict[str, str]:
    import django
    import redis
    import rq
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        database = str(cursor.fetchone()[0])
    server = redis.Redis.from_url(os.environ["JOBMAN_BENCH_REDIS_URL"]).info("server")
    return {
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "rq": rq.__version__ if hasattr(rq, "__version__") else rq.VERSION,
        "redis_py": redis.__version__,
        "redis_server": str(server.get("redis_version")),
        "database": f"{connection.vendor} {database}",
    }


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    config_path, out_path = args
    config = Config(**json.loads(Path(config_path).read_text()))
    # Stopped from outside: leave through the finally blocks (workers stopped, data reset).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    services = Services()
    workdir = Path(tempfile.mkdtemp(prefix="jobman-bench-run-"))
    results: dict[str, Any] = {
        "engine": os.environ.get("JOBMAN_BENCH_DB"),
        "versions": versions(),
        "config": asdict(config),
    }
    results["timing"] = {}
    try:
        for name in config.sections:
            started, load = time.perf_counter(), loadavg()
            results[name] = SECTIONS[name](services, config, workdir)
            results["timing"][name] = {
                "seconds": round(time.perf_counter() - started, 1),
                "loadavg_1min_before_after": [load, loadavg()],
            }
            Path(out_path).write_text(json.dumps(results, indent=2))
    finally:
        results["faults_per_job"] = fault_summary()
        services.keep_below = 0
        services.reset()
        shutil.rmtree(workdir, ignore_errors=True)
    Path(out_path).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
