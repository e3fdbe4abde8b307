"""Helpers to run jobman's commands and real worker processes from tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent


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


def manage(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
    """Run ``manage.py``-style command in a new process against the test settings."""
    process = subprocess.run(
        [sys.executable, "-m", "django", *args, "--settings", "tests.settings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning", **(env or {})},
    )
    return Result(process.returncode, process.stdout, process.stderr)


def start_worker(*args: str) -> subprocess.Popen[str]:
    """Start ``jobman_work`` as a long-running process; the caller stops it."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", "jobman_work", *args, "--settings", "tests.settings"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )


def work(*args: str, timeout: float = 60) -> Result:
    """Run a burst worker until the queues are empty."""
    result = manage("jobman_work", "--burst", *args, timeout=timeout)
    assert result.code == 0, result.err
    return result


def wait_for(condition: Callable[[], object], timeout: float = 30, interval: float = 0.1) -> None:
    """Poll ``condition`` until it is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
