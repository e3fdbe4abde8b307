"""Run the example project with a worker, sample jobs in every state, and the admin.

    python -m example_project.demo [--port 8000] [--smoke]

It migrates the example database, creates a superuser, finds Redis (or starts an
in-memory fakeredis server when none answers), starts ``manage.py jobman_work`` and
``manage.py runserver``, dispatches sample jobs and prints each change of their state
until Ctrl+C. ``--smoke`` waits until the samples have been through every state, checks
the admin answers, prints a summary and stops: a test of the whole chain.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = "example_project.settings"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Marks a Redis database as the demo's. The demo runs a worker on queues named `high`,
# `default` and `low`, which would take other applications' RQ jobs: it refuses a
# database holding keys it did not write.
SENTINEL_KEY = "jobman-demo:owner"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "jobman-demo"
QUEUES = ("high", "default", "low")
ALL_STATES = ("pending", "queued", "running", "retrying", "completed", "failed", "cancelled")
POLL_SECONDS = 0.2


class DemoError(Exception):
    """Something the demo needs did not come up; the message says what."""


def say(message: str = "") -> None:
    print(message, flush=True)


def redact(url: str) -> str:
    """Hide the password of a Redis URL before printing it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


@contextlib.contextmanager
def embedded_fakeredis() -> Iterator[int]:
    """Serve an in-memory fakeredis on a free loopback port, for this process's lifetime."""
    try:
        import fakeredis
    except ImportError:
        raise DemoError(
            "No Redis answered, and fakeredis (the in-memory stand-in) is not installed. "
            "Start a Redis server, set REDIS_URL, or: pip install 'fakeredis[lua]'"
        ) from None
    server = fakeredis.TcpFakeServer(("127.0.0.1", 0))

    class Handler(server.RequestHandlerClass):  # type: ignore[name-defined,misc]
        """Answer an error reply (NOSCRIPT, unknown command) and keep the connection.

        fakeredis 2.x's TCP server hangs up after any error reply, which breaks redis-py's
        EVALSHA-then-SCRIPT-LOAD and RQ's INFO probe (fakeredis-py issue #432).
        """

        def setup(self) -> None:
            super().setup()
            client = self.current_client
            read_response = client.read_response

            def answer_errors(**kwargs: Any) -> Any:
                try:
                    return read_response(**kwargs)
                except redis.ResponseError as error:
                    return error  # encoded as an error reply, like a real server's

            client.read_response = answer_errors  # type: ignore[method-assign]

    server.RequestHandlerClass = Handler
    # A connection's thread may sit in a blocking command (the worker's BLPOP) for minutes
    # after its client is gone: do not wait for those threads when closing.
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port bound but never listening: connecting to it is refused at once,
    and nothing else can take it while the demo holds it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def claim_redis_db(url: str) -> None:
    """Make sure the Redis database is empty or the demo's own, and mark it as the demo's."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    with client:
        size = client.dbsize()
        if size and not client.exists(SENTINEL_KEY):
            db = client.connection_pool.connection_kwargs.get("db", 0)
            raise DemoError(
                f"Redis database {db} at {redact(url)} holds {size} keys the demo did not "
                "write, and its worker would take any RQ jobs queued there. Point REDIS_URL "
                "at an empty database, e.g. REDIS_URL=redis://127.0.0.1:6379/14"
            )
        client.set(SENTINEL_KEY, "django-jobman example project demo")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the web server binds: a port left in TIME_WAIT by a previous run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_status(url: str) -> int | None:
    # No proxy: the demo only talks to its own server on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return None


def wait_until(condition: Callable[[], bool], seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


@dataclass
class Child:
    """A process the demo started, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail(self, lines: int = 30) -> str:
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(f"    {line}" for line in text[-lines:]) or "    (no output)"

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise DemoError(
                f"The {self.name} (pid {self.process.pid}) exited with code {code}. "
                f"The end of {self.log_path}:\n{self.tail()}"
            )

    def stop(self, grace: float, signals: tuple[signal.Signals, ...]) -> None:
        """Send each signal in turn to this process only, waiting ``grace`` seconds after
        each, then kill it if it is still there."""
        # A second Ctrl+C must not cut this short and leave the process behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._stop(grace, signals)
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop(self, grace: float, signals: tuple[signal.Signals, ...]) -> None:
        if self.process.poll() is None:
            say(f"Stopping the {self.name} (pid {self.process.pid}).")
        for index, signum in enumerate(signals):
            if self.process.poll() is not None:
                break
            if index:
                say(f"  the {self.name} is still busy after {grace:g} s; {signum.name} again")
            self.process.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log_file.close()


def start_child(name: str, args: list[str], env: dict[str, str], log_path: Path) -> Child:
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # Out of the terminal's process group: Ctrl+C reaches the demo alone, which stops it.
        start_new_session=True,
    )
    return Child(name, process, log_path, log_file)


@dataclass
class Sample:
    """One sample job, the state it should end in, and the states it went through."""

    label: str
    expected: str
    pk: int
    type: str
    status: str = ""
    seen: list[str] = field(default_factory=list)


def dispatch_samples(slow_seconds: float) -> list[Sample]:
    from example_project.shop.jobs import AlwaysFailsJob, FlakyJob, HelloWorldJob, SlowJob
    from jobman import operations
    from jobman.models import Jobman

    samples: list[Sample] = []

    def add(label: str, expected: str, row: Jobman) -> None:
        samples.append(Sample(label=label, expected=expected, pk=int(row.pk), type=row.type))

    add("hello: runs once", "completed", HelloWorldJob.dispatch({"name": "Ada"}))
    add("flaky: fails once, then succeeds", "completed", FlakyJob.dispatch({"order": 1042}))
    add(
        "always_fails: uses up its 2 tries", "failed", AlwaysFailsJob.dispatch({"supplier": "acme"})
    )
    add(
        f"slow: works {slow_seconds:g} s on queue low",
        "completed",
        SlowJob.dispatch({"seconds": slow_seconds}),
    )
    add(
        "hello, delayed 1 h: waits in Redis",
        "queued",
        HelloWorldJob.dispatch({"name": "Grace"}, delay=3600),
    )
    # The queue `offline` points at a port nobody answers on: the push fails, a warning is
    # logged, and the row stays pending, as any job dispatched while Redis is down does.
    add(
        "hello on queue offline: Redis unreachable",
        "pending",
        HelloWorldJob.dispatch({"name": "Linus"}, queue="offline"),
    )
    cancelled = HelloWorldJob.dispatch({"name": "Barbara"}, delay=3600)
    operations.cancel([cancelled.pk])  # the row, and its job in RQ's scheduled registry
    add("hello, cancelled before it ran", "cancelled", cancelled)
    return samples


class Watcher:
    """Poll the sample rows and print every change of state."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = {sample.pk: sample for sample in samples}
        self.started = time.monotonic()
        self.seen_states: set[str] = set()
        self.width = max(len(f"{s.type} #{s.pk}") for s in samples)

    def poll(self) -> None:
        from jobman.models import Jobman

        rows = Jobman.objects.filter(pk__in=self.samples).values_list(
            "pk", "status", "attempts", "error_message"
        )
        for pk, status, attempts, error in rows:
            sample = self.samples[pk]
            if status == sample.status:
                continue
            self.seen_states.add(status)
            sample.seen.append(status)
            note = ""
            if status in ("retrying", "failed") and error:
                note = f"  attempt {attempts}: {error}"
            elif status == "running":
                note = f"  attempt {attempts}"
            change = f"{sample.status} -> {status}" if sample.status else status
            elapsed = time.monotonic() - self.started
            name = f"{sample.type} #{pk}"
            say(f"  [{elapsed:5.1f}s] {name:<{self.width}}  {change:<22}{note}".rstrip())
            sample.status = status

    def all_done(self) -> bool:
        return self.seen_states >= set(ALL_STATES) and all(
            sample.status == sample.expected for sample in self.samples.values()
        )


def summary(samples: list[Sample]) -> str:
    from jobman.models import FailedJob, Jobman

    rows = {row.pk: row for row in Jobman.objects.filter(pk__in=[s.pk for s in samples])}
    lines = [f"  {'status':<10} {'rows':>4}  jobs", f"  {'-' * 10} {'-' * 4}  {'-' * 40}"]
    for state in ALL_STATES:
        names = [
            f"{s.type} #{s.pk} ({_attempts(rows[s.pk].attempts)})"
            for s in samples
            if s.pk in rows and rows[s.pk].status == state
        ]
        lines.append(f"  {state:<10} {len(names):>4}  {', '.join(names) or '-'}")
    failed = FailedJob.objects.filter(jobman_id__in=rows).count()
    lines.append(f"  failed_jobs rows for these jobs: {failed}")
    lines.append("")
    lines.append(f"  {'sample':<42} {'expected':<10} {'now':<10} went through")
    for sample in samples:
        now = rows[sample.pk].status if sample.pk in rows else "(gone)"
        lines.append(
            f"  {sample.label:<42} {sample.expected:<10} {now:<10} {' -> '.join(sample.seen)}"
        )
    return "\n".join(lines)


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, found {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, found {port}")
    return port


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m example_project.demo",
        description="Run the example project: a worker, sample jobs in every state, the admin.",
    )
    parser.add_argument(
        "--port", type=_port, default=8000, help="Port of the admin (default 8000)."
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="Wait until the samples have been through every state, check the admin, stop.",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60,
        metavar="SECONDS",
        help="With --smoke: how long the samples may take (default 60).",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        metavar="SECONDS",
        help="How long the slow job works (default 30, or 3 with --smoke).",
    )
    return parser.parse_args(argv)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Stopped by SIGTERM, the demo still stops what it started.
    signal.signal(signal.SIGTERM, _raise_exit)
    try:
        with contextlib.ExitStack() as stack:
            return run(args, stack)
    except DemoError as error:
        say(f"\ndemo: {error}")
        return 1
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    slow_seconds = args.slow_seconds if args.slow_seconds is not None else (3 if args.smoke else 30)
    if not port_is_free(args.port):
        raise DemoError(f"Port {args.port} on 127.0.0.1 is taken; choose another with --port.")

    # Redis first: the settings read REDIS_URL when Django starts.
    wanted = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if redis_answers(wanted):
        redis_url = wanted
        claim_redis_db(redis_url)
        say(f"Redis: {redact(redis_url)}")
    else:
        port = stack.enter_context(embedded_fakeredis())
        redis_url = f"redis://127.0.0.1:{port}/0"
        claim_redis_db(redis_url)
        say(
            f"No Redis answered at {redact(wanted)}; started an embedded fakeredis server on "
            f"127.0.0.1:{port} (data lives in memory only, and is gone when the demo stops)."
        )

    os.environ.update(DJANGO_SETTINGS_MODULE=SETTINGS, REDIS_URL=redis_url)
    if os.environ.get("JOBMAN_EXAMPLE_DB"):
        # The worker and the web server run from the repository root; this may not.
        os.environ["JOBMAN_EXAMPLE_DB"] = os.path.abspath(os.environ["JOBMAN_EXAMPLE_DB"])
    env = {key: value for key, value in os.environ.items() if key != "JOBMAN_EXAMPLE_OFFLINE_URL"}
    env["PYTHONUNBUFFERED"] = "1"
    # Only this process gets the `offline` queue; the worker and the admin do not need it.
    offline_port = stack.enter_context(closed_port())
    os.environ["JOBMAN_EXAMPLE_OFFLINE_URL"] = f"redis://127.0.0.1:{offline_port}/0"

    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    stack.callback(_close_db_connections)

    database = settings.DATABASES["default"]
    sqlite = database["ENGINE"] == "django.db.backends.sqlite3"
    call_command("migrate", interactive=False, verbosity=0)
    where = (
        database["NAME"]
        if sqlite
        else f"{database['NAME']} on {database.get('HOST') or 'localhost'}"
    )
    say(f"Database: {where} ({connection.vendor}, migrated)")
    reset_superuser()
    log_dir = Path(database["NAME"]).parent if sqlite else ROOT / "var"
    log_dir.mkdir(parents=True, exist_ok=True)

    worker_name = f"demo.{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"
    worker = start_child(
        "worker",
        ["jobman_work", *QUEUES, "--worker-class", "fork", "--name", worker_name],
        env,
        log_dir / "demo-worker.log",
    )
    # Warm shutdown first (the current job may finish), then RQ's cold shutdown, which
    # takes the work-horse down too; RQ ignores a second signal within 1 second.
    stack.callback(worker.stop, 10, (signal.SIGTERM, signal.SIGTERM))
    server = start_child(
        "web server",
        ["runserver", "--noreload", f"127.0.0.1:{args.port}"],
        env,
        log_dir / "demo-server.log",
    )
    stack.callback(server.stop, 5, (signal.SIGTERM,))

    wait_for_worker(worker, redis_url, worker_name)
    say(
        f"Worker: manage.py jobman_work {' '.join(QUEUES)} (pid {worker.process.pid}), "
        f"log {worker.log_path}"
    )
    base = f"http://127.0.0.1:{args.port}"
    wait_for_server(server, f"{base}/admin/login/")
    say(f"Web server: manage.py runserver (pid {server.process.pid}), log {server.log_path}")

    say("\nDispatching sample jobs:")
    samples = dispatch_samples(slow_seconds)
    for sample in samples:
        say(f"  #{sample.pk:<5} {sample.label}")

    say(
        f"\nAdmin:    {base}/admin/\n"
        f"Jobs:     {base}/admin/jobman/jobman/\n"
        f"Username: {ADMIN_USERNAME}\n"
        f"Password: {ADMIN_PASSWORD}\n"
    )
    watcher = Watcher(samples)
    if args.smoke:
        return smoke(args, watcher, samples, worker, server, f"{base}/admin/login/")

    more = f"REDIS_URL={redis_url}"
    if os.environ.get("JOBMAN_EXAMPLE_DB"):
        more += f" JOBMAN_EXAMPLE_DB={os.environ['JOBMAN_EXAMPLE_DB']}"
    say(
        f"More jobs, from another shell: {more} python manage.py try_hello --count 5\n"
        "Press Ctrl+C to stop the demo.\n\nChanges of state:"
    )
    try:
        while True:
            watcher.poll()
            worker.check_alive()
            server.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("\nStopping.\n")
        say(summary(samples))
        return 0


def smoke(
    args: argparse.Namespace,
    watcher: Watcher,
    samples: list[Sample],
    worker: Child,
    server: Child,
    login_url: str,
) -> int:
    say("Changes of state:")
    deadline = time.monotonic() + args.wait
    while not watcher.all_done() and time.monotonic() < deadline:
        watcher.poll()
        worker.check_alive()
        server.check_alive()
        time.sleep(POLL_SECONDS)
    watcher.poll()
    login_status = http_status(login_url)
    say("\nSummary of the sample jobs:")
    say(summary(samples))
    say(f"\nStates seen: {', '.join(s for s in ALL_STATES if s in watcher.seen_states)}")
    say(f"GET {login_url}: HTTP {login_status}")

    problems = []
    missing = [s for s in ALL_STATES if s not in watcher.seen_states]
    if missing:
        problems.append(f"never saw a row {', '.join(missing)}")
    for sample in samples:
        if sample.status != sample.expected:
            problems.append(
                f"#{sample.pk} ({sample.label}) is {sample.status}, not {sample.expected}"
            )
    if login_status != 200:
        problems.append(f"the admin login page answered {login_status}, not 200")
    if problems:
        say(f"\nSMOKE FAILED after {args.wait:g} s: " + "; ".join(problems))
        say(f"The end of the worker's log, {worker.log_path}:\n{worker.tail()}")
        return 1
    say("\nSMOKE OK: every state was seen, and the admin answers.")
    return 0


def reset_superuser() -> None:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=ADMIN_USERNAME)
    user.is_active = user.is_staff = user.is_superuser = True
    user.set_password(ADMIN_PASSWORD)
    user.save()


def wait_for_worker(worker: Child, redis_url: str, name: str) -> None:
    from rq import Worker

    client = redis.Redis.from_url(redis_url)

    def registered() -> bool:
        worker.check_alive()
        return any(key.endswith(f":{name}") for key in Worker.all_keys(connection=client))

    with client:
        if not wait_until(registered, 30):
            raise DemoError(
                f"The worker did not register with Redis within 30 s. "
                f"The end of {worker.log_path}:\n{worker.tail()}"
            )


def wait_for_server(server: Child, url: str) -> None:
    def answers() -> bool:
        server.check_alive()
        return http_status(url) == 200

    if not wait_until(answers, 30):
        raise DemoError(
            f"{url} did not answer with HTTP 200 within 30 s. "
            f"The end of {server.log_path}:\n{server.tail()}"
        )


def _close_db_connections() -> None:
    from django.db import connections

    connections.close_all()


if __name__ == "__main__":
    sys.exit(main())
