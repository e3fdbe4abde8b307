"""Find the real services the tests use, or start throwaway ones.

Redis: ``JOBMAN_TEST_REDIS_URL`` if set; else the server at ``REDIS_URL`` (default
127.0.0.1:6379) if it answers; else a throwaway ``redis-server`` on a free port. The tests
use their own database number and refuse one holding data they did not write.

Database: PostgreSQL when ``DATABASE_URL`` is set (the tests create and drop their own
database on that server), else a SQLite file in WAL mode.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

# Redis database numbers the suite may use; a run takes the first one nobody else uses.
CANDIDATE_DBS = [int(n) for n in os.environ.get("JOBMAN_TEST_REDIS_DB", "13,12,11,10").split(",")]
# Marks a Redis database as held by a run of this suite: "host:pid" of its owner.
SENTINEL_KEY = "jobman-tests:owner"
OWNER = f"{socket.gethostname()}:{os.getpid()}"
ROOT = Path(__file__).resolve().parent.parent


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis_server(port: int, directory: str) -> subprocess.Popen[bytes]:
    """Start a throwaway redis-server on loopback that keeps nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "No Redis answers and redis-server is not installed (Debian: apt-get install redis-server)."
        )
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory, "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return process


def _owner_gone(owner: str) -> bool:
    host, _, pid = owner.partition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return True
    except PermissionError:
        return False
    return False


def claim_db(host: str, port: int) -> int:
    """Take the first candidate database that is empty, or left by a finished run of ours.

    A database holding data this suite did not write, or one a live run holds, is never
    touched.
    """
    refused = []
    for db in CANDIDATE_DBS:
        client = redis.Redis(host=host, port=port, db=db)
        owner = client.get(SENTINEL_KEY)
        if owner is not None and _owner_gone(owner.decode()):
            client.flushdb()
        if client.dbsize() == 0 and client.set(SENTINEL_KEY, OWNER, nx=True):
            return db
        refused.append(f"{db} ({'held by run ' + owner.decode() if owner else 'holds data'})")
    raise RuntimeError(
        f"Refusing to run: every candidate Redis database on {host}:{port} is in use: "
        f"{', '.join(refused)}. Set JOBMAN_TEST_REDIS_DB to an empty database number."
    )


def redis_url() -> str:
    """Return the URL of the test Redis database, starting a server when none answers."""
    url = os.environ.get("JOBMAN_TEST_REDIS_URL")
    if url:
        return url
    base = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    kwargs = base.connection_pool.connection_kwargs
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    if not _answers(f"redis://{host}:{port}/0"):
        directory = tempfile.mkdtemp(prefix="jobman-redis-")
        host, port = "127.0.0.1", free_port()
        process = start_redis_server(port, directory)
        atexit.register(process.terminate)
        print(f"jobman tests: no Redis answered; started redis-server on port {port}.")
    url = f"redis://{host}:{port}/{claim_db(host, port)}"
    # Worker processes started by the tests inherit this, and reuse the same server.
    os.environ["JOBMAN_TEST_REDIS_URL"] = url
    return url


def database() -> dict[str, Any]:
    """Return the test database settings."""
    # A worker process started by a test is told the name of the test database itself.
    worker_name = os.environ.get("JOBMAN_TEST_DB_NAME")
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        config: dict[str, Any] = dj_database_url.parse(url)
        config["TEST"] = {"NAME": f"test_jobman_{os.getpid()}"}
        if worker_name:
            config["NAME"] = worker_name
        return config
    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": worker_name or str(var / "tests.sqlite3"),
        "TEST": {"NAME": str(var / f"test-jobman-{os.getpid()}.sqlite3")},
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
