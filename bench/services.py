"""The services a bench run uses: a Redis database it owns, and a scratch database.

Redis: ``--redis-url`` when given, else a free database number (9, 8 or 7; see
``JOBMAN_BENCH_REDIS_DB``) on 127.0.0.1:6379, else a throwaway ``redis-server`` on a free
loopback port that keeps nothing on disk. A database is used only when it is empty (or was
left by a finished bench run); it is then marked with an owner key, and every clean-up
first checks that mark, so the bench never deletes data it did not write.

Databases: PostgreSQL gets its own scratch database (``jobman_bench`` by default), marked
by a comment and dropped at the end; SQLite gets a file in a fresh temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import redis

from bench.processes import stop_process
from tests.support import services as test_services
from tests.support.services import answers, free_port

CANDIDATE_DBS = [int(n) for n in os.environ.get("JOBMAN_BENCH_REDIS_DB", "9,8,7").split(",")]
SENTINEL_KEY = "jobman-bench:owner"
PG_MARK = "jobman bench scratch database"


class ServiceError(RuntimeError):
    """A service the bench needs is missing, or holds data that is not the bench's."""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RedisHandle:
    """The Redis database this run owns, and the server it started (if any)."""

    url: str
    owner: str
    process: subprocess.Popen[bytes] | None = None
    directory: str | None = None
    notes: list[str] = field(default_factory=list)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def ensure_owned(self) -> redis.Redis:
        client = self.client()
        owner = client.get(SENTINEL_KEY)
        if owner is None or owner.decode() != self.owner:
            raise ServiceError(
                f"Redis {self.url} is no longer marked as this bench run's ({owner!r}); "
                "refusing to delete anything in it."
            )
        return client

    def clear(self) -> None:
        """Delete every key of the bench's Redis database except its owner mark."""
        client = self.ensure_owned()
        sentinel = SENTINEL_KEY.encode()
        batch: list[bytes] = []
        for key in client.scan_iter(count=2000):
            if key != sentinel:
                batch.append(key)
            if len(batch) >= 2000:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)

    def release(self) -> None:
        """Empty the database and remove the mark; stop the server the bench started."""
        try:
            if answers(self.url):
                self.clear()
                self.client().delete(SENTINEL_KEY)
        finally:
            if self.process is not None:
                stop_process(self.process)
            if self.directory:
                shutil.rmtree(self.directory, ignore_errors=True)


def start_redis_server(port: int, directory: str) -> subprocess.Popen[bytes]:
    """Start a throwaway redis-server on loopback that keeps nothing on disk (the
    test suite's launcher)."""
    try:
        return test_services.start_redis_server(port, directory)
    except RuntimeError as error:
        raise ServiceError(str(error)) from None


def _claim(client: redis.Redis, owner: str) -> str | None:
    """Mark ``client``'s database as this run's; return why not when it cannot be."""
    return test_services.claim(client, SENTINEL_KEY, owner)


def claim_redis(url: str | None) -> RedisHandle:
    """Find (or start) the Redis database the bench may use, and mark it as this run's."""
    owner = owner_id()
    if url:
        if not answers(url):
            raise ServiceError(f"No Redis answers at {url}.")
        why = _claim(redis.Redis.from_url(url), owner)
        if why:
            raise ServiceError(f"Refusing to use {url}: it {why}. Give an empty database.")
        return RedisHandle(url=url, owner=owner)

    base = "redis://127.0.0.1:6379"
    if answers(f"{base}/0"):
        refused = []
        for db in CANDIDATE_DBS:
            why = _claim(redis.Redis.from_url(f"{base}/{db}"), owner)
            if why is None:
                return RedisHandle(url=f"{base}/{db}", owner=owner)
            refused.append(f"{db} ({why})")
        raise ServiceError(
            f"Every candidate Redis database on 127.0.0.1:6379 is in use: {', '.join(refused)}. "
            "Pass --redis-url with an empty database, or set JOBMAN_BENCH_REDIS_DB."
        )
    directory = tempfile.mkdtemp(prefix="jobman-bench-redis-")
    port = free_port()
    process = start_redis_server(port, directory)
    url = f"redis://127.0.0.1:{port}/0"
    _claim(redis.Redis.from_url(url), owner)
    return RedisHandle(
        url=url,
        owner=owner,
        process=process,
        directory=directory,
        notes=[f"no Redis answered on 127.0.0.1:6379; started redis-server on port {port}"],
    )


@dataclass
class DatabaseHandle:
    """A scratch database for one engine, and how to remove it."""

    engine: str  # "sqlite" or "postgres"
    name: str
    pg_url: str = ""
    directory: str | None = None

    def env(self) -> dict[str, str]:
        env = {"JOBMAN_BENCH_DB": self.engine, "JOBMAN_BENCH_DB_NAME": self.name}
        if self.pg_url:
            env["JOBMAN_BENCH_PG_URL"] = self.pg_url
        return env

    def drop(self) -> None:
        if self.engine == "postgres":
            _drop_pg(self.pg_url, self.name)
        elif self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def _pg_admin(pg_url: str) -> object:
    import psycopg

    parts = urlsplit(pg_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    return psycopg.connect(admin, autocommit=True, connect_timeout=5)


def _pg_comment(conn: object, name: str) -> str | None:
    row = conn.execute(  # type: ignore[attr-defined]
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    if row is None:
        raise LookupError(name)
    return row[0]  # type: ignore[no-any-return]


def _drop_pg(pg_url: str, name: str) -> None:
    from psycopg import sql

    with _pg_admin(pg_url) as conn:  # type: ignore[attr-defined]
        try:
            comment = _pg_comment(conn, name)
        except LookupError:
            return
        if comment != PG_MARK:
            raise ServiceError(f"Refusing to drop database {name!r}: it is not a bench database.")
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def create_postgres(pg_url: str, name: str) -> DatabaseHandle:
    """Create the scratch PostgreSQL database ``name``; replace one a bench run left."""
    from psycopg import sql

    try:
        conn_cm = _pg_admin(pg_url)
    except Exception as error:
        raise ServiceError(f"PostgreSQL at {pg_url} does not answer: {error}") from None
    with conn_cm as conn:  # type: ignore[attr-defined]
        with contextlib.suppress(LookupError):
            if _pg_comment(conn, name) != PG_MARK:
                raise ServiceError(
                    f"Database {name!r} exists and is not a bench database; pass --pg-db NAME."
                )
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(PG_MARK)
            )
        )
    return DatabaseHandle(engine="postgres", name=name, pg_url=pg_url)


def create_sqlite() -> DatabaseHandle:
    directory = tempfile.mkdtemp(prefix="jobman-bench-db-")
    return DatabaseHandle(
        engine="sqlite", name=os.path.join(directory, "bench.sqlite3"), directory=directory
    )
