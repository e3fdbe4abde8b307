"""The README's demo runs end to end: a worker, sample jobs in every state, the admin.

Redis is pointed at a port that never answers, so the demo has to start its embedded
fakeredis server; the database is a fresh SQLite file.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 150

pytestmark = pytest.mark.worker


def _demo_env(**extra: str) -> dict[str, str]:
    # The suite's own database, Redis and settings must not leak into the example project.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
        and not key.startswith("JOBMAN_")
    }
    env.update(extra)
    return env


def _run_demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "example_project.demo", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # On SIGTERM the demo stops the worker, the web server and fakeredis itself.
        process.terminate()
        try:
            out, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        pytest.fail(f"the demo did not finish within {TIMEOUT} s:\n{out}")
    return subprocess.CompletedProcess(process.args, process.returncode, out)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_smoke_with_embedded_fakeredis(tmp_path: Path) -> None:
    # Bound but never listening: connections to it are refused, and no one else can take it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
        env = _demo_env(
            JOBMAN_EXAMPLE_DB=str(tmp_path / "example.sqlite3"),
            REDIS_URL=f"redis://127.0.0.1:{closed_port}/0",
        )
        result = _run_demo(env, "--smoke", "--port", str(free_port()))

    out = result.stdout
    assert result.returncode == 0, out
    assert f"No Redis answered at redis://127.0.0.1:{closed_port}/0" in out, out
    assert "started an embedded fakeredis server on 127.0.0.1:" in out, out
    assert re.search(r"Admin: +http://127\.0\.0\.1:\d+/admin/", out), out
    assert "Username: admin" in out, out
    assert re.search(r"Password: +\S+", out), out
    assert "States seen: pending, queued, running, retrying, completed, failed, cancelled" in out, (
        out
    )
    assert re.search(r"GET http://127\.0\.0\.1:\d+/admin/login/: HTTP 200", out), out
    assert "SMOKE OK" in out, out
    assert (tmp_path / "example.sqlite3").exists()

    # Every process the demo started is gone.
    pids = {int(pid) for pid in re.findall(r"\(pid (\d+)\)", out)}
    assert len(pids) == 2, out
    assert not [pid for pid in pids if _is_running(pid)], out
