"""Helpers to run jobman's commands and real worker processes from tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import IO

from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_command(*args: str) -> Result:
    """Run a management command in this process; return its exit code, stdout and stderr."""
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        # What manage.py prints and returns for the same error.
        err.write(f"CommandError: {error}\n")
        code = error.returncode
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


def manage(
    *args: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    settings: str = "tests.settings",
) -> Result:
    """Run a ``manage.py`` command in a new process group against the test settings.

    On timeout the whole group is killed: a worker's scheduler is a child process that
    would otherwise outlive it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "django", *args, "--settings", settings],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning", **(env or {})},
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise AssertionError(
            f"{' '.join(args)} did not finish in {timeout} s:\n{err[-3000:]}"
        ) from None
    return Result(process.returncode, out, err)


@dataclass
class WorkerProcess:
    process: subprocess.Popen[str]
    log: IO[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """What the worker has written so far; empty once it is stopped."""
        if self.log.closed:
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def start_worker(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
    """Start ``jobman_work`` as a long-running process in its own process group.

    The caller stops it with ``stop_worker``; output goes to a temporary file so a
    chatty worker never blocks on a full pipe.
    """
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (stop_worker closes it)
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "jobman_work", *args, "--settings", "tests.settings"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning", **(env or {})},
    )
    return WorkerProcess(process, log)


def stop_worker(worker: WorkerProcess, sig: int = signal.SIGTERM) -> str:
    """Stop a worker from ``start_worker`` and everything in its process group; return its output."""
    process = worker.process
    if worker.log.closed:  # already stopped
        return ""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    output = worker.output()
    worker.log.close()
    return output


def work(*args: str, timeout: float = 60) -> Result:
    """Run a burst worker until the queues are empty."""
    result = manage("jobman_work", "--burst", *args, timeout=timeout)
    assert result.code == 0, result.err
    return result


def wait_for(condition: Callable[[], object], timeout: float = 30, interval: float = 0.1) -> float:
    """Poll ``condition`` until it is true; return the seconds it took. Fails after
    ``timeout`` seconds: every wait of the suite is bounded."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started
