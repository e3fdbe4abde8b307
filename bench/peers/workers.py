"""Starting a peer's worker process and timing it, start-up included; every wait bounded.

Each process is set up with ``bench.peers.settings`` and its output goes to
``peers.log`` in the scratch directory; it is stopped by its PID when it overruns.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import ROOT, process_env
from bench.processes import stop_process
from bench.workerproc import BenchWorker

PEERS_ENV = {"DJANGO_SETTINGS_MODULE": "bench.peers.settings"}
LOG_NAME = "peers.log"


def time_bench_worker(arguments: list[str], workdir: Path, timeout: float) -> float:
    """A ``bench.workerproc`` worker, told to go as soon as it is ready."""
    started = time.perf_counter()
    worker = BenchWorker(arguments, PEERS_ENV, workdir / LOG_NAME)
    try:
        worker.expect("READY", timeout=120)
        worker.go()
        worker.expect("RESULT", timeout=timeout)
        worker.process.wait(30)
        return time.perf_counter() - started
    finally:
        worker.stop()


def _start(arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *arguments],
            cwd=ROOT,
            env=process_env(PEERS_ENV),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def time_burst_command(arguments: list[str], workdir: Path, timeout: float) -> float:
    """A worker that exits by itself once the queue is empty: ``python ARGUMENTS``."""
    started = time.perf_counter()
    process = _start(arguments, workdir / LOG_NAME)
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{arguments[:3]} did not finish in {timeout:.0f} s") from None
    finally:
        stop_process(process)
    if code != 0:
        raise RuntimeError(f"{arguments[:3]} exited with {code}; see {LOG_NAME}")
    return time.perf_counter() - started


def time_until(
    arguments: list[str], done: Callable[[], bool], workdir: Path, timeout: float
) -> float:
    """A worker with no burst mode: the seconds until ``done()`` (polled every 20 ms) holds;
    the process is then stopped."""
    started = time.perf_counter()
    process = _start(arguments, workdir / LOG_NAME)
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if process.poll() is not None:
                raise RuntimeError(f"{arguments[:3]} exited early; see {LOG_NAME}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{arguments[:3]} did not finish in {timeout:.0f} s")
            time.sleep(0.02)
        return time.perf_counter() - started
    finally:
        stop_process(process)
