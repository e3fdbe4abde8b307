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
ROOT = Path(__file__).resolve().parent.parent.parent


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis_server(
    port: int, directory: str, *, persistent: bool = False
) -> subprocess.Popen[bytes]:
    """Start a throwaway redis-server on loopback, and return once it answers.

    It keeps nothing on disk, or, ``persistent``, an append-only file in ``directory``
    written at every command, so that a clean stop loses nothing. The one launcher of the
    suite, the fault tests and the bench.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "No Redis answers and redis-server is not installed (Debian: apt-get install redis-server)."
        )
    process = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "yes" if persistent else "no", "--appendfsync", "always"),
            *("--dir", directory, "--daemonize", "no", "--loglevel", "warning"),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            process.wait()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return process


def owner_gone(owner: str) -> bool:
    """Whether the run that wrote mark ``owner`` ("host:pid") has ended on this host."""
    host, _, pid = owner.partition(":")
    if not pid.isdigit():
        return True  # not a run's mark: an older form of this suite's own
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return True
    except PermissionError:
        return False
    return False


def claim(client: redis.Redis, sentinel: str = SENTINEL_KEY, owner: str = OWNER) -> str | None:
    """Mark ``client``'s database as ``owner``'s with key ``sentinel``; return why not when
    it is not free (the suite's own marks by default; the bench has its own).

    A database holding data this suite did not write, or one a live run holds, is never
    touched; one left by a finished run of this suite is emptied and taken.
    """
    held = client.get(sentinel)
    if held is not None and owner_gone(held.decode()):
        client.flushdb()
        held = None
    if client.dbsize() == 0 and client.set(sentinel, owner, nx=True):
        return None
    return f"held by run {held.decode()}" if held else "holds data"


def claim_db(host: str, port: int) -> int | None:
    """Claim the first free candidate database on a server; None when none is free."""
    for db in CANDIDATE_DBS:
        if claim(redis.Redis(host=host, port=port, db=db)) is None:
            return db
    return None


def redis_url() -> str:
    """Return the URL of the test Redis database, starting a server when none answers."""
    url = os.environ.get("JOBMAN_TEST_REDIS_URL")
    if url and os.environ.get("JOBMAN_TEST_REDIS_OWNER"):
        return url  # a process started by the run that claimed it
    if url:
        refused = claim(redis.Redis.from_url(url))
        if refused:
            raise RuntimeError(f"Refusing to run on JOBMAN_TEST_REDIS_URL={url}: it {refused}.")
    else:
        url = _claim_some_redis()
    # Worker processes started by the tests inherit these, and reuse the same database.
    os.environ["JOBMAN_TEST_REDIS_URL"] = url
    os.environ["JOBMAN_TEST_REDIS_OWNER"] = OWNER
    return url


def _claim_some_redis() -> str:
    base = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))
    kwargs = base.connection_pool.connection_kwargs
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    if answers(f"redis://{host}:{port}/0"):
        db = claim_db(host, port)
        if db is not None:
            return f"redis://{host}:{port}/{db}"
        print(f"jobman tests: no free test database on {host}:{port}; starting a private server.")
    directory = tempfile.mkdtemp(prefix="jobman-redis-")
    port = free_port()
    process = start_redis_server(port, directory)
    atexit.register(process.terminate)
    print(f"jobman tests: started redis-server on 127.0.0.1:{port} for this run.")
    db = claim_db("127.0.0.1", port)
    assert db is not None  # a new server is empty
    return f"redis://127.0.0.1:{port}/{db}"


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
