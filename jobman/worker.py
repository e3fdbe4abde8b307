"""The jobman worker: an RQ worker that speaks JSON, runs nothing but jobman's runner,
and never lets two processes share a database connection."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from typing import IO, Any

from django.db import DatabaseError, connections
from django.utils.module_loading import import_string
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import BaseWorker, WorkerStatus

from jobman import alerts, bounds, conf, queues, reaper, runner, schedules, stops
from jobman import attempt as attempts
from jobman.lean import LeanBookkeepingMixin
from jobman.limits import Limits
from jobman.models import Jobman, JobStatus
from jobman.pauses import PausableQueue
from jobman.queues import RUNNER, not_as_pushed, runs
from jobman.storable import storable

logger = logging.getLogger("jobman")

# Connections a work-horse inherited from its parent. They are kept referenced and never
# closed: closing would send PostgreSQL a terminate message on the parent's socket, and
# garbage collection would close them. The horse leaves through os._exit, which runs no
# finalizers.
_inherited_connections: list[Any] = []


def keep_usable_connections() -> None:
    """Between jobs: close the connections that failed or outlived CONN_MAX_AGE, keep the rest.

    A worker runs one job after another, so it keeps its connection as a persistent one
    would be kept, whatever CONN_MAX_AGE says: closing it after every job, as Django does
    after every request when CONN_MAX_AGE is 0, would make each job connect again.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is None or connection.in_atomic_block:
            continue
        if connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
                continue
        max_age = connection.settings_dict.get("CONN_MAX_AGE")
        if max_age and connection.close_at is not None and time.monotonic() >= connection.close_at:
            connection.close()


def close_connections_before_fork() -> None:
    """Close what a work-horse must not inherit: every SQLite connection.

    SQLite keeps per-process state about the files it has open, which a forked child
    would inherit half-true. A PostgreSQL (or other client/server) connection stays open
    in the worker; the horse forgets its copy without using it.
    """
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "sqlite":
            connection.close()


def forget_inherited_connections() -> None:
    """In a forked child, drop the parent's database connections without closing them."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _inherited_connections.append(connection.connection)
            connection.connection = None


# prctl(2) option: the signal this process gets when the thread that forked it ends.
PR_SET_PDEATHSIG = 1


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, loaded once in the worker rather than in every horse."""
    return ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent_pid: int) -> None:
    """In a work-horse: be SIGKILLed when the worker that forked it dies (Linux only).

    RQ puts the horse in a process group of its own, so a SIGKILL to the worker's group
    (what a process manager sends) would leave it running an attempt the reaper rightly
    takes for lost and starts again: two attempts of one row at once.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the worker died before prctl took effect
        os._exit(1)


def start_scheduler() -> multiprocessing.process.BaseProcess:
    """Start a child process that fires periodic jobs (``jobman.schedules``) while this
    worker lives: forked before any job, it dies with the worker, as RQ's scheduler does."""
    close_connections_before_fork()
    parent = os.getpid()
    process = multiprocessing.get_context("fork").Process(
        target=_run_scheduler, args=(parent,), name="jobman-scheduler", daemon=True
    )
    process.start()
    return process


def _run_scheduler(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    forget_inherited_connections()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    schedules.Scheduler().run(stop)
    connections.close_all()


def default_worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


class JobmanWorkerMixin:
    """What jobman adds to any RQ worker class."""

    # Leaves paused queues alone, and notices a pause within about a second.
    queue_class = PausableQueue

    _is_horse: bool
    _worker_pid: int  # the worker's PID, recorded before it forks a work-horse
    queues: list[Queue]
    name: str
    connection: Any

    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        self.limits = Limits(kwargs.pop("max_time", None), kwargs.pop("max_memory", None))
        kwargs["serializer"] = JSONSerializer
        kwargs.setdefault("name", default_worker_name())
        # Heartbeats come often enough, idle or busy, that LOST_AFTER never misjudges a
        # live worker: RQ heartbeats once per dequeue timeout (worker_ttl - 15 seconds)
        # when idle, and once per job_monitoring_interval while a work-horse runs.
        lost_after = conf.get("LOST_AFTER")
        kwargs.setdefault("job_monitoring_interval", max(1, lost_after // 3))
        kwargs.setdefault("worker_ttl", lost_after // 3 + 15)
        super().__init__(queues, *args, **kwargs)  # type: ignore[call-arg]
        self._last_reap = 0.0
        self._claimed: Jobman | None = None
        self._outcome: IO[bytes] | None = None
        self._stopped = threading.Event()
        self._keep_alive_thread: threading.Thread | None = None

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        ttl = conf.get("LOST_AFTER")
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
            reaper.mark_alive(pipeline, self.name, ttl)
            return
        with self.connection.pipeline() as own_pipeline:
            super().heartbeat(timeout, own_pipeline)  # type: ignore[misc]
            reaper.mark_alive(own_pipeline, self.name, ttl)
            own_pipeline.execute()
        self._reap_now_and_then()
        self._alert_now_and_then()
        if self._state == WorkerStatus.IDLE:  # type: ignore[attr-defined]
            self._stop_at_a_limit(memory=False)

    def _stop_at_a_limit(self, memory: bool) -> None:
        """Between jobs: stop once past ``--max-time`` (or ``--max-memory``, after a job)."""
        passed = self.limits.passed(memory)
        if passed is not None:
            logger.warning("jobman: worker %s stops: %s", self.name, passed)
            raise StopRequested()

    # While a work-horse runs, its worker only watches it and sends heartbeats. Redis away
    # for a moment must not end the worker: RQ would quit, and the horse die with it.

    def maintain_heartbeats(self, job: Job) -> None:
        try:
            super().maintain_heartbeats(job)  # type: ignore[misc]
        except (RedisConnectionError, RedisTimeoutError) as error:
            logger.warning(
                "jobman: worker %s could not send a heartbeat (%s); its work-horse goes on",
                self.name,
                error,
            )

    def set_current_job_working_time(self, working_time: float, pipeline: Any = None) -> None:
        # A failed heartbeat says so; RQ keeps the time in the worker too.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
            super().set_current_job_working_time(working_time, pipeline)  # type: ignore[misc]

    def _reap_now_and_then(self) -> None:
        """Look for lost attempts every REAP_INTERVAL, one worker of the fleet at a time."""
        interval = conf.get("REAP_INTERVAL")
        if self._is_horse or time.monotonic() - self._last_reap < interval:
            return
        self._last_reap = time.monotonic()
        try:
            if self.connection.set("jobman:reaper", self.name, nx=True, ex=interval):
                reaper.reap()
        except Exception:
            logger.exception("jobman: reaping lost jobs failed; trying again in %s s", interval)
        finally:
            keep_usable_connections()

    def _alert_now_and_then(self) -> None:
        """Look at the queues' waits every LOOK_EVERY seconds, one worker of the fleet at a
        time (the others' looks would find nothing new)."""
        if self._is_horse or not conf.get("WAIT_ALERTS"):
            return
        if time.monotonic() - self._last_alert_look < alerts.LOOK_EVERY:
            return
        self._last_alert_look = time.monotonic()
        try:
            if self.connection.set(
                "jobman:alerts", self.name, nx=True, px=int(alerts.LOOK_EVERY * 900)
            ):
                alerts.look()
        except Exception:
            logger.exception("jobman: looking at the queues' waits failed; trying again")

    _last_alert_look = 0.0

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)  # type: ignore[misc]
        if os.WIFSIGNALED(ret_val):
            number = os.WTERMSIG(ret_val)
            reason = f"the work-horse was killed by signal {number} ({signal.Signals(number).name})"
            if number == signal.SIGKILL:
                reason += ", perhaps for using too much memory"
        else:
            reason = f"the work-horse exited with status {os.waitstatus_to_exitcode(ret_val)}"
        if runs(job) != RUNNER:
            return
        try:
            # A horse that finished its job and died afterwards still completed it.
            if not self._record_handed_back():
                reaper.horse_lost(job, self.name, reason)
        finally:
            keep_usable_connections()

    def register_death(self) -> None:
        self._stopped.set()
        if self._outcome is not None:  # a worker run in a process that goes on
            self._outcome.close()
            self._outcome = None
        super().register_death()  # type: ignore[misc]
        reaper.mark_gone(self.connection, self.name)

    # A forking worker makes the two writes of an attempt itself, on its own long-lived
    # connection: it claims the row before forking and writes a completed attempt after
    # the horse exits, so a horse whose job does not touch the database never connects.

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        if sys.platform.startswith("linux"):
            _libc()
        self._worker_pid = os.getpid()
        self._claimed = self._claim_ahead(job)
        if self._claimed is not None:
            # The horse's copy of the job carries the claimed row, and hands a completed
            # outcome back for this process to write.
            attempts.attach(job, attempts.Attempt(self._claimed, self._hand_back))
        outcome = self._outcome_file()
        os.ftruncate(outcome, 0)
        close_connections_before_fork()
        super().fork_work_horse(job, queue)  # type: ignore[misc]

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        die_with_parent(self._worker_pid)
        forget_inherited_connections()
        super().main_work_horse(job, queue)  # type: ignore[misc]

    def monitor_work_horse(self, job: Job, queue: Queue) -> None:
        # In a finally: RQ's look at the job after a horse that could not file it (Redis
        # away) raises, and the worker quits. A completed attempt lost then would leave
        # the row `running`, for the reaper to run again.
        try:
            super().monitor_work_horse(job, queue)  # type: ignore[misc]
        finally:
            try:
                self._record_handed_back()
            finally:
                keep_usable_connections()

    _stopped_job_id: str | None

    def _record_stopped(self, job: Job) -> None:
        """Write the attempt RQ's stop-job command ended (``jobman_cancel`` of a running
        job): the horse wrote nothing, so this process says it was stopped, and by whom."""
        args = job.args
        if len(args) != 1 or not bounds.is_row_id(args[0]):
            return
        running = Jobman.objects.filter(status=JobStatus.RUNNING, worker=self.name)
        row = running.filter(pk=int(args[0])).first()
        if row is not None:
            reason = stops.asked(queues.get_connection(row.queue), row.pk) or "stopped"
            runner.record_stopped(row, reason, row.logs, job)

    def _claim_ahead(self, job: Job) -> Jobman | None:
        """Claim the job's row for the horse; None leaves the claim to the horse."""
        if runs(job) != RUNNER:
            return None
        args = job.args
        if len(args) != 1 or not bounds.is_row_id(args[0]):
            return None  # the runner refuses it, with the reason, in the horse
        try:
            return Jobman.objects.claim(args[0], worker=self.name)
        except DatabaseError as error:
            logger.warning("jobman: claiming row %s failed (%s); the horse tries", args[0], error)
            keep_usable_connections()
            return None

    def _outcome_file(self) -> int:
        """A file only this worker and its horses know, for a horse's completed attempt."""
        if self._outcome is None:
            self._outcome = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        return self._outcome.fileno()

    def _hand_back(self, row: Jobman, code: str | None, logs: str) -> None:
        """In the horse: leave a completed attempt for the worker to write."""
        # Made storable here: JSON would join two lone surrogates into one character.
        code = storable(code) if code is not None else None
        outcome: dict[str, Any] = {
            "id": row.pk,
            "attempts": row.attempts,
            "code": code,
            "logs": storable(logs),
        }
        outcome["attribs"] = row.attribs
        if row.progress_unwritten:
            outcome["progress"] = [row.progress, row.progress_note]
        os.pwrite(self._outcome_file(), json.dumps(outcome).encode(), 0)

    def _record_handed_back(self) -> bool:
        """Write the completed attempt the horse left, if it left one. Once only."""
        row, self._claimed = self._claimed, None
        if row is None or self._outcome is None:
            return False
        fd = self._outcome.fileno()
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        if not data:
            return False
        try:
            outcome = json.loads(data)
        except ValueError:
            logger.error("jobman: row %s: the work-horse left an unreadable outcome", row.pk)
            return False
        if (outcome.get("id"), outcome.get("attempts")) != (row.pk, row.attempts):
            return False
        row.attribs = outcome["attribs"]
        if outcome.get("progress") is not None:
            row.progress, row.progress_note = outcome["progress"]
            row.progress_unwritten = True
        try:
            runner.record_success(row, outcome["code"], outcome["logs"])
        except Exception:
            logger.exception("jobman: writing the completed attempt of row %s failed", row.pk)
        return True

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._execute(job, queue)
        self._stop_at_a_limit(memory=True)

    def _execute(self, job: Job, queue: Queue) -> None:
        func_name = runs(job)
        if func_name != RUNNER:
            self._refuse(
                job,
                queue,
                f"Refused: a jobman worker runs only {RUNNER}, "
                f"and RQ job {job.id} calls {func_name or 'something unreadable'}.",
            )
            return
        planted = not_as_pushed(job)
        if planted:
            message = f"Refused: RQ job {job.id} is not as jobman pushes it: {planted}."
            self._refuse(job, queue, message)
            return
        super().execute_job(job, queue)  # type: ignore[misc]

    def perform_job(self, job: Job, queue: Queue) -> bool:
        if self._is_horse:
            try:
                return bool(super().perform_job(job, queue))  # type: ignore[misc]
            finally:
                # This process is about to os._exit(): say goodbye to the database properly.
                connections.close_all()
        # The job runs in this very process, so no loop is free to heartbeat meanwhile.
        self._start_keep_alive()
        try:
            performed = bool(super().perform_job(job, queue))  # type: ignore[misc]
        finally:
            keep_usable_connections()
        exit_request, self._exit_request = self._exit_request, None
        if exit_request is not None:
            # RQ swallows whatever handle() raised; the attempt is written by now, so
            # this process may do what a SystemExit or KeyboardInterrupt asks: stop.
            raise exit_request
        return performed

    _exit_request: BaseException | None = None

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        error = exc_info[1] if len(exc_info) > 1 else None
        if isinstance(error, SystemExit | KeyboardInterrupt):
            self._exit_request = error
        super().handle_exception(job, *exc_info)  # type: ignore[misc]

    def handle_job_failure(
        self, job: Job, queue: Queue, started_job_registry: Any = None, exc_string: str = ""
    ) -> None:
        # RQ forgets, in here, that its stop-job command ended this job's work-horse.
        stopped = self._stopped_job_id is not None and self._stopped_job_id == job.id
        # RQ keeps the traceback in Redis, which cannot encode a lone surrogate (a file
        # name that is not UTF-8, say): unchanged, it would make the worker quit.
        super().handle_job_failure(  # type: ignore[misc]
            job, queue, started_job_registry=started_job_registry, exc_string=storable(exc_string)
        )
        if stopped:
            self._record_stopped(job)

    def _start_keep_alive(self) -> None:
        if self._keep_alive_thread is None:
            self._keep_alive_thread = threading.Thread(
                target=self._keep_alive, args=(self._stopped,), daemon=True
            )
            self._keep_alive_thread.start()

    def _keep_alive(self, stopped: threading.Event) -> None:
        """Refresh the worker's alive key while it lives, in jobs or between them."""
        lost_after = conf.get("LOST_AFTER")
        while not stopped.wait(lost_after / 3):
            try:
                self.connection.set(reaper.ALIVE_KEY.format(self.name), 1, ex=lost_after)
            except Exception:
                logger.warning("jobman: worker %s could not send a heartbeat", self.name)

    def _refuse(self, job: Job, queue: Queue, message: str) -> None:
        """Fail a job that is not jobman's, in this process, without running any of it."""
        # Nothing it carries may call out when RQ files the failure.
        job._success_callback_name = job._failure_callback_name = None
        job._stopped_callback_name = None
        job.webhooks = []
        job._dependency_ids = []
        job.repeats_left = None
        logger.error("jobman: %s (queue %s)", message, queue.name)
        self.prepare_execution(job)  # type: ignore[attr-defined]
        self.connection.lrem(queue.intermediate_queue_key, 1, job.id)
        job.retries_left = None
        job.started_at = job.ended_at = now()
        self.handle_job_failure(job, queue, exc_string=message)  # type: ignore[attr-defined]
        self.set_state(WorkerStatus.IDLE)  # type: ignore[attr-defined]


class JobmanWorker(LeanBookkeepingMixin, JobmanWorkerMixin, Worker):
    """RQ's forking worker: each job runs in a fresh work-horse process."""


class JobmanSimpleWorker(LeanBookkeepingMixin, JobmanWorkerMixin, SimpleWorker):
    """Runs each job in the worker process itself: faster, with no isolation between jobs."""


WORKER_CLASSES: dict[str, type[BaseWorker]] = {"fork": JobmanWorker, "simple": JobmanSimpleWorker}


def resolve_worker_class(name: str) -> type[BaseWorker]:
    """Return the worker class for ``fork``, ``simple`` or a dotted path to an RQ worker class."""
    if name in WORKER_CLASSES:
        return WORKER_CLASSES[name]
    try:
        cls = import_string(name)
    except ImportError as error:
        raise ValueError(
            f"Worker class {name!r} is neither 'fork', 'simple' nor an importable path: {error}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Worker | SimpleWorker)):
        raise ValueError(f"Worker class {name!r} is not an RQ worker class.")
    if issubclass(cls, JobmanWorkerMixin):
        return cls
    return type(f"Jobman{cls.__name__}", (JobmanWorkerMixin, cls), {})
