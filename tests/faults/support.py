"""What the fault scenarios share: scaled job counts, worker fleets that are killed whole,
throwaway Redis servers, checks of rows against their side effects, and the figures file.

Every process started here is ended here, by PID or process group. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from django.db import connection
from django.test.utils import override_settings

from jobman.models import Jobman, JobStatus
from tests.support import services
from tests.support.helpers import ROOT, WorkerProcess, start_worker, stop_worker
from tests.testapp.models import Execution

# JOBMAN_FAULTS_SCALE=1 runs every scenario with the job counts of its specification; a
# run without it uses the smaller counts that keep the suite inside its CI budget.
SCALE = os.environ.get("JOBMAN_FAULTS_SCALE", "")

# Reaping as fast as the tests of the reaper: a dead worker is reaped within seconds.
QUICK = {"LOST_AFTER": 3, "REAP_INTERVAL": 1}

FIGURES_DIR = ROOT / "var"


def scaled(full: int, ci: int) -> int:
    """``full`` jobs under JOBMAN_FAULTS_SCALE=1 (or that times the scale), else ``ci``."""
    if not SCALE:
        return ci
    return max(1, round(full * float(SCALE)))


def vendor() -> str:
    return str(connection.vendor)


def quick_env(**jobman: object) -> dict[str, str]:
    """Environment for worker processes: quick reaping, plus any other JOBMAN settings."""
    return {"JOBMAN_TEST_JOBMAN": json.dumps({**QUICK, **jobman})}


# Processes


def descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid`` (Linux /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(worker: WorkerProcess) -> list[int]:
    """SIGKILL a worker, its scheduler and its work-horse (which has a process group of
    its own), as a machine that dies takes them all. Returns the PIDs killed."""
    if worker.log.closed:
        return []
    pid = worker.pid
    # Freeze the worker's group first, so it forks no new horse while we look.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGSTOP)
    below = descendants(pid)
    for child in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    stop_worker(worker, signal.SIGKILL)
    return [pid, *below]


@dataclass
class Fleet:
    """Worker processes of one test; whatever is left is killed whole at the end."""

    env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    # What each worker was started with, so that ``revive`` can start it again.
    started_with: dict[int, tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=dict)
    # Processes a killed worker left behind (a work-horse outliving its worker's group).
    strays: set[int] = field(default_factory=set)

    def start(self, *args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        worker = start_worker(*args, env={**self.env, **(env or {})})
        self.workers.append(worker)
        self.started_with[worker.pid] = (args, env or {})
        return worker

    def revive(self) -> int:
        """Start again every worker that quit by itself, as a process manager does; return
        how many were started."""
        revived = 0
        for worker in list(self.workers):
            if worker.log.closed or worker.process.poll() is None:
                continue
            self._keep_output(worker)
            stop_worker(worker, signal.SIGKILL)  # its group: a scheduler it left behind
            args, env = self.started_with[worker.pid]
            self.start(*args, env=env)
            revived += 1
        return revived

    def _keep_output(self, worker: WorkerProcess) -> None:
        if not worker.log.closed:
            self.outputs.append(worker.output())

    def kill(self, worker: WorkerProcess) -> list[int]:
        """Kill one worker whole, horse included; its output is kept for ``output()``."""
        self._keep_output(worker)
        return kill_tree(worker)

    def kill_group(self, worker: WorkerProcess) -> list[int]:
        """SIGKILL the worker's process group, as a process manager does; return the PIDs
        that died. A work-horse has a group of its own: what outlives the kill is kept in
        ``strays``, and killed by ``stop_all`` at the latest."""
        self._keep_output(worker)
        below = descendants(worker.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        stop_worker(worker, signal.SIGKILL)
        time.sleep(0.2)  # let the group's processes go
        survivors = {pid for pid in below if alive(pid)}
        self.strays |= survivors
        return [worker.pid, *(pid for pid in below if pid not in survivors)]

    def output(self) -> str:
        """Everything the workers wrote so far (the killed ones included)."""
        text = [*self.outputs, *(worker.output() for worker in self.workers)]
        return "\n".join(part for part in text if part)

    def stop_all(self) -> None:
        for worker in self.workers:
            if not worker.log.closed:
                self.kill(worker)
        for pid in self.strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# A Redis of the test's own


class ThrowawayRedis:
    """A redis-server on a free loopback port that a test may stop and start again.

    Without ``persistent`` it keeps nothing: a restart comes back empty. With it, it keeps
    an append-only file in its own temporary directory, and a clean stop loses nothing.
    """

    def __init__(self, persistent: bool = False) -> None:
        self.port = services.free_port()
        self.persistent = persistent
        self._directory = tempfile.TemporaryDirectory(prefix="jobman-faults-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> None:
        assert self.process is None
        self.process = services.start_redis_server(
            self.port, self._directory.name, persistent=self.persistent
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM: a clean shutdown) and wait for it to go."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def settings(self) -> Any:
        """override_settings pointing every queue of this process at this server."""
        return override_settings(
            RQ_QUEUES={name: {"URL": self.url} for name in ("default", "high", "low")}
        )

    def env(self) -> dict[str, str]:
        """Environment pointing a worker process's queues at this server."""
        return {"JOBMAN_TEST_RQ_URL": self.url}

    def close(self) -> None:
        self.stop()
        self._directory.cleanup()


@contextlib.contextmanager
def throwaway_redis(persistent: bool = False) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(persistent)
    server.start()
    try:
        with server.settings():
            yield server
    finally:
        server.close()


# Waiting


def statuses(pks: Iterable[int]) -> Counter[str]:
    return Counter(
        str(status)
        for status in Jobman.objects.filter(pk__in=list(pks)).values_list("status", flat=True)
    )


def all_finished(pks: list[int]) -> Callable[[], bool]:
    def check() -> bool:
        return Jobman.objects.filter(pk__in=pks, status__in=JobStatus.finished()).count() == len(
            pks
        )

    return check


# Rows against side effects


@dataclass
class Outcome:
    """What a scenario's rows and their side effects show at its end."""

    jobs: int
    statuses: Counter[str]
    # Rows in no final state at the end: pending, queued, running or retrying.
    stuck: list[int]
    # Rows that completed without their side effect: the work was lost.
    lost: list[int]
    # Rows whose handle() ran more than once, and the subset whose extra runs had no
    # recorded cut-off attempt behind them (a duplicate delivery that ran).
    run_twice: list[int]
    unjustified: list[int]
    # Same attempt number run twice: two attempts that held one row at once.
    double_claims: list[int]

    def figures(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "statuses": dict(self.statuses),
            "stuck": len(self.stuck),
            "lost": len(self.lost),
            "run_twice": len(self.run_twice),
            "run_twice_unjustified": len(self.unjustified),
            "double_claims": len(self.double_claims),
        }


def outcome(pks: list[int], cut_off: Callable[[Jobman, int], bool] | None = None) -> Outcome:
    """Compare rows ``pks`` with their Execution rows.

    ``cut_off(row, attempt)`` says whether that attempt was really cut off by a fault
    (default: the row recorded a failed attempt, "Worker lost" or otherwise).
    """
    rows = {row.pk: row for row in Jobman.objects.filter(pk__in=pks)}
    runs: dict[int, list[int]] = {}
    for jobman_id, attempt in Execution.objects.filter(
        jobman_id__in=pks, kind="handle"
    ).values_list("jobman_id", "attempt"):
        runs.setdefault(jobman_id, []).append(attempt)
    stuck = [pk for pk in pks if rows[pk].status not in JobStatus.finished()]
    lost = [
        pk
        for pk in pks
        if rows[pk].status == JobStatus.COMPLETED and rows[pk].attempts not in runs.get(pk, [])
    ]
    run_twice = [pk for pk in pks if len(runs.get(pk, [])) > 1]
    double = [pk for pk in pks if len(runs.get(pk, [])) != len(set(runs.get(pk, [])))]

    def justified(pk: int) -> bool:
        row = rows[pk]
        earlier = sorted(set(runs[pk]))[:-1] if row.status == JobStatus.COMPLETED else []
        if cut_off is not None:
            return all(cut_off(row, attempt) for attempt in earlier)
        return row.failed_at is not None and bool(row.error_message)

    unjustified = [pk for pk in run_twice if pk in double or not justified(pk)]
    return Outcome(len(pks), statuses(pks), stuck, lost, run_twice, unjustified, double)


# Figures


def record(scenario: str, **figures: Any) -> None:
    """Add a scenario's measured figures to var/faults-<database>[-scale<S>].json, and
    print them."""
    FIGURES_DIR.mkdir(exist_ok=True)
    path = FIGURES_DIR / f"faults-{vendor()}{f'-scale{SCALE}' if SCALE else ''}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    entry = {
        "scale": SCALE or "ci",
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **figures,
    }
    data[scenario] = entry
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\nfaults figures [{vendor()}] {scenario}: {json.dumps(entry, sort_keys=True)}")
