"""Scenarios 8 and 9: hostile input, and jobs planted in Redis.

Property-based (hypothesis) over attribs and over every command's arguments: each input
is either taken whole or refused with a clear error that changes nothing; no input
crashes. What a job leaves on its row (logs, error message, traceback) stays within the
JOBMAN caps. A job planted in a jobman queue runs nothing but registered jobs.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import pickle
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test.utils import override_settings
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rq import Callback, Queue, Repeat
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer
from rq.webhook import Webhook

from jobman import queues
from jobman.models import FailedJob, Jobman, JobStatus
from jobman.testing import run_pending
from tests.faults.support import record
from tests.support import services
from tests.support.helpers import manage, run_command, work
from tests.testapp.jobs import HelloJob, NoisyJob
from tests.testapp.models import Execution

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]

EXAMPLES = int(os.environ.get("JOBMAN_FAULTS_EXAMPLES", "40"))
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Attribs

# Values json cannot take, or that no JSON column stores.
NOT_JSON = st.sampled_from(
    [
        object(),
        {1, 2},
        frozenset(),
        b"bytes",
        bytearray(b"x"),
        1 + 2j,
        decimal.Decimal("1.5"),
        datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
        datetime.date(2030, 1, 1),
        range(3),
        float("nan"),
        float("inf"),
        -float("inf"),
        Path("x"),
        ValueError("x"),
    ]
)
GOOD_CHARS = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
GOOD_TEXT = st.text(alphabet=GOOD_CHARS, max_size=12)
# Text no JSON column stores: a NUL character, or a lone surrogate.
BAD_TEXT = st.builds(
    lambda head, bad, tail: head + bad + tail,
    GOOD_TEXT,
    st.sampled_from(["\x00", "\ud800", "\udfff"]),
    GOOD_TEXT,
)
HUGE_TEXT = st.builds(
    lambda char, size: char * size, GOOD_CHARS, st.sampled_from([70_000, 300_000])
)
GOOD_LEAVES = (
    st.none()
    | st.booleans()
    # Past 4300 digits Python refuses to write an int as text: pinned by a test below.
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | GOOD_TEXT
    | HUGE_TEXT
)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = {"d": value} if level % 2 else [value]
    return value


GOOD_TREES = st.recursive(
    GOOD_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(GOOD_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
# Under one key of attribs: 99 more levels is the most allowed (100 in all).
GOOD_ATTRIBS = st.dictionaries(
    GOOD_TEXT, GOOD_TREES | st.integers(min_value=90, max_value=99).map(nested), max_size=4
)
BAD_VALUES = NOT_JSON | BAD_TEXT | st.integers(min_value=100, max_value=400).map(nested)
BAD_KEYS = st.integers() | st.none() | st.booleans() | st.tuples(st.integers()) | BAD_TEXT


def spoil(good: dict[str, Any], path: list[str], bad: Any) -> dict[str, Any]:
    """``good`` with ``bad`` put somewhere inside it, under new keys ``path``."""
    spoiled = dict(good)
    inner = spoiled
    for key in path[:-1]:
        inner[key] = {}
        inner = inner[key]
    inner[path[-1]] = bad
    return spoiled


# (attribs, whether dispatch must take them).
ATTRIBS = st.tuples(GOOD_ATTRIBS, st.just(True)) | st.tuples(
    st.one_of(
        st.builds(spoil, GOOD_ATTRIBS, st.lists(GOOD_TEXT, min_size=1, max_size=3), BAD_VALUES),
        st.builds(lambda good, key: {**good, key: 1}, GOOD_ATTRIBS, BAD_KEYS),
    ),
    st.just(False),
)


def same_json(stored: Any, given: Any) -> bool:
    """Whether ``stored`` is what JSON makes of ``given``. PostgreSQL's jsonb keeps numbers
    as numeric, so a float written with an exponent (1e+16) comes back as an int."""
    if isinstance(given, bool) or given is None or isinstance(given, str):
        return bool(stored == given)
    if isinstance(given, int | float):
        return isinstance(stored, int | float) and float(stored) == float(given)
    if isinstance(given, list | tuple):
        return (
            isinstance(stored, list)
            and len(stored) == len(given)
            and all(same_json(a, b) for a, b in zip(stored, given, strict=True))
        )
    if isinstance(given, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == given.keys()
            and all(same_json(stored[key], value) for key, value in given.items())
        )
    return False


def test_dispatch__hostile_attribs_are_taken_whole_or_refused(redis_db: redis.Redis) -> None:
    queue = queues.get_queue(HelloJob.queue_name())
    seen = {"taken": 0, "refused": 0, "too_large": 0}

    @HOSTILE
    @given(case=ATTRIBS)
    def check(case: tuple[dict[Any, Any], bool]) -> None:
        attribs, valid = case
        rows_before, queued_before = Jobman.objects.count(), queue.count
        refusal: str | None = None
        too_large: str | None = None  # valid JSON, but more than MAX_ATTRIBS_BYTES (1 MiB)
        try:
            row = HelloJob.dispatch(attribs)
        except TypeError as error:
            refusal = str(error)
        except ValueError as error:
            too_large = str(error)
        if too_large is not None:
            assert valid, too_large
            assert len(json.dumps(attribs, ensure_ascii=False).encode()) > 1024 * 1024
            assert "MAX_ATTRIBS_BYTES" in too_large
            seen["too_large"] += 1
            assert Jobman.objects.count() == rows_before
            return
        if refusal is not None:
            # A clear error naming where the bad part sits, and nothing written anywhere.
            seen["refused"] += 1
            assert not valid, refusal
            assert refusal.startswith(("attribs", "a key of attribs")), refusal
            assert Jobman.objects.count() == rows_before
            assert queue.count == queued_before
            return
        seen["taken"] += 1
        assert valid, attribs
        stored = Jobman.objects.get(pk=row.pk)
        assert same_json(stored.attribs, attribs)
        # Redis carries the row id, and nothing of the attribs.
        job = RQJob.fetch(row.rq_job_id, connection=redis_db, serializer=JSONSerializer)
        assert job.args == [row.pk]
        assert len(redis_db.hget(job.key, "data") or b"") < 200

    check()
    record("hostile_attribs", faults="hypothesis-built attribs", **seen)


def test_dispatch__an_int_too_long_to_write_is_refused_and_writes_nothing() -> None:
    """Python refuses to write an int of more than 4300 digits as text."""
    rows_before = Jobman.objects.count()
    with pytest.raises((TypeError, ValueError)):
        HelloJob.dispatch({"n": 10**5000})
    assert Jobman.objects.count() == rows_before


def test_dispatch__an_int_too_long_to_write_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"attribs\['n'\]"):
        HelloJob.dispatch({"n": 10**5000})


@pytest.mark.worker
def test_dispatch__hostile_but_valid_attribs_run_and_come_back_whole() -> None:
    """The largest, deepest and oddest attribs dispatch takes go through a real worker."""
    attribs = {
        "huge": "é" * 500_000,  # 1,000,000 bytes: near the default MAX_ATTRIBS_BYTES
        "deep": nested(99),  # with the "deep" key: 100 levels, the most allowed
        "unicode": "\u202e\ufeff\U0010ffff\u0301 \\u0000",
        "big": 2**64,
        "name": "hostile",
    }
    row = HelloJob.dispatch(attribs)

    work("--worker-class", "fork", timeout=120)

    row.refresh_from_db()
    assert row.status == JobStatus.COMPLETED
    assert same_json(row.attribs, {**attribs, "greeting": "hello hostile"})


# Caps on what a job leaves on its row

CAPS = {"MAX_LOG_CHARS": 600, "MAX_ERROR_CHARS": 120, "MAX_EXCEPTION_CHARS": 900}


@HOSTILE
@given(
    lines=st.integers(0, 60),
    width=st.integers(0, 300),
    error_chars=st.integers(0, 5000),
    depth=st.integers(0, 120),
)
def test_caps__logs_error_and_traceback_stay_within_the_limits(
    lines: int, width: int, error_chars: int, depth: int
) -> None:
    with override_settings(JOBMAN=CAPS):
        row = NoisyJob.dispatch(
            {"lines": lines, "width": width, "error_chars": error_chars, "depth": depth}
        )
        (row,) = run_pending(ids=[row.pk])
    assert len(row.logs) <= CAPS["MAX_LOG_CHARS"]
    if lines:
        assert row.logs.rstrip("\n").endswith(f"{lines - 1} " + "x" * width)  # the latest kept
    if not error_chars:
        assert row.status == JobStatus.COMPLETED
        return
    assert row.status == JobStatus.FAILED
    assert row.error_message is not None
    assert row.exception is not None
    assert len(row.error_message) <= CAPS["MAX_ERROR_CHARS"]
    assert row.error_message.startswith("RuntimeError: e")  # the start is kept
    assert len(row.exception) <= CAPS["MAX_EXCEPTION_CHARS"]
    assert row.exception.rstrip("\n").endswith("e")  # the end, the message's last part, kept
    assert FailedJob.objects.get(jobman=row).exception == row.exception


@pytest.mark.worker
def test_caps__a_real_worker_keeps_the_documented_defaults() -> None:
    """Defaults: logs 65536 (latest kept), error_message 2000 (start), exception 65536 (end)."""
    row = NoisyJob.dispatch({"lines": 300, "width": 1000, "error_chars": 80_000, "depth": 300})

    work("--worker-class", "fork", timeout=120)

    row.refresh_from_db()
    assert row.status == JobStatus.FAILED
    sizes = {
        "logs": len(row.logs),
        "error_message": len(row.error_message or ""),
        "exception": len(row.exception or ""),
    }
    record(
        "hostile_caps",
        faults="300 log lines of 1000 characters, an 80000-character error raised 300 calls deep",
        **sizes,
    )
    assert sizes == {"logs": 65536, "error_message": 2000, "exception": 65536}
    assert "[cut " in row.logs
    assert "[cut " in (row.error_message or "")
    assert "[cut " in (row.exception or "")


# Command arguments

ANY_TEXT = st.text(max_size=12)  # NUL characters and lone surrogates included

NUMBER = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**5).map(str),
    st.sampled_from(
        ["0", "-1", "1.5", "1e3", "nan", "inf", "0x10", "\uff11\uff12", "1_000", " 7 ", ""]
    ),
    ANY_TEXT,
)
SECONDS = st.one_of(
    st.floats(min_value=-1e9, max_value=1e8).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "-0", "1e400", "", "ten"]),
    ANY_TEXT,
)
OTHER_ID = st.one_of(
    st.integers(min_value=-(10**6), max_value=2**63 - 1).map(str),
    st.sampled_from(["0", "-1", "all", "ALL", "1.0", "\uff11\uff12", "", "--"]),
    ANY_TEXT,
)
# PostgreSQL refuses NUL characters in text: pinned by a test below.
TEXT = st.text(max_size=30).filter(lambda text: "\x00" not in text)
QUEUE = st.sampled_from(["default", "high", "nowhere", "", "Default"]) | TEXT
JUNK = st.sampled_from(["--bogus", "-x", "--", "--verbosity=9", "--settings=nowhere"]) | TEXT


def options(*choices: tuple[str, st.SearchStrategy[str] | None]) -> st.SearchStrategy[list[str]]:
    """Some of the given options, each with a value drawn from its strategy (None: a flag)."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> list[str]:
        args: list[str] = []
        for flag, values in choices:
            if draw(st.booleans()):
                args += [flag] if values is None else [flag, draw(values)]
        return args

    return build()


def command_arguments(existing: list[int]) -> dict[str, st.SearchStrategy[list[str]]]:
    """Each command's arguments; ids are mostly those of ``existing`` rows and failed jobs."""
    known = st.sampled_from([str(pk) for pk in existing])
    row_id = st.one_of(known, known, known, OTHER_ID)
    return {
        "jobman_cancel": st.lists(row_id, min_size=0, max_size=2),
        "jobman_forget": st.lists(row_id, min_size=0, max_size=2),
        "jobman_retry": st.builds(
            lambda ids, opts: ids + opts,
            st.lists(row_id, min_size=0, max_size=2),
            options(("--type", TEXT), ("--queue", QUEUE)),
        ),
        "jobman_failed": options(("--type", TEXT), ("--queue", QUEUE), ("--limit", NUMBER)),
        "jobman_flush": options(("--hours", NUMBER)),
        "jobman_prune": options(("--days", NUMBER), ("--batch-size", NUMBER), ("--dry-run", None)),
        "jobman_requeue_unpushed": options(
            ("--older-than", SECONDS),
            ("--check-redis", None),
            ("--limit", NUMBER),
            ("--dry-run", None),
        ),
        "jobman_reap": options(("--dry-run", None)),
        "jobman_restart": st.lists(st.tuples(st.just("--queue"), QUEUE), max_size=2).map(
            lambda pairs: [part for pair in pairs for part in pair]
        ),
        "jobman_status": options(("--json", None)),
        "jobman_pause": st.lists(QUEUE, max_size=2),
        "jobman_resume": st.lists(QUEUE, max_size=2),
        # Without --once or --list it runs until stopped.
        "jobman_schedule": st.sampled_from([["--list"], ["--once"], ["--once", "--list"]]),
    }


def some_rows() -> None:
    """Rows in every state, and failed jobs, for the commands to act on or refuse."""
    for status in [*JobStatus.values, JobStatus.FAILED, JobStatus.FAILED]:
        row = HelloJob.dispatch({"name": status})
        Jobman.objects.filter(pk=row.pk).update(
            status=status, worker="gone-host.1.abcdef" if status == JobStatus.RUNNING else ""
        )
        if status == JobStatus.FAILED:
            FailedJob.objects.create(
                jobman=row, connection="redis://127.0.0.1:6379/0", queue="default", exception="x"
            )


def snapshot(redis_db: redis.Redis) -> tuple[Any, ...]:
    """What the commands could change: every row, failed job and Redis key."""
    rows = tuple(
        Jobman.objects.order_by("pk").values_list(
            "pk", "status", "attempts", "max_tries", "available_at", "pushed_at", "updated_at"
        )
    )
    failed = tuple(FailedJob.objects.order_by("pk").values_list("pk", "jobman_id"))
    keys = {
        key: redis_db.dump(key)
        for key in sorted(redis_db.keys())
        if key != services.SENTINEL_KEY.encode()
    }
    return rows, failed, keys


@pytest.mark.parametrize("command", sorted(command_arguments([1])))
def test_commands__hostile_arguments_are_refused_clearly_and_change_nothing(
    command: str, redis_db: redis.Redis
) -> None:
    some_rows()
    existing = [
        *Jobman.objects.values_list("pk", flat=True),
        *FailedJob.objects.values_list("pk", flat=True),
    ]
    # Done; arguments refused (argparse, exit 2 from manage.py); some or all of the work
    # refused, named on stderr (exit 1).
    seen = {"done": 0, "arguments_refused": 0, "work_refused": 0}

    @settings(HOSTILE, max_examples=max(EXAMPLES // 2, 10))
    @given(args=command_arguments(existing)[command], junk=st.lists(JUNK, max_size=1))
    def check(args: list[str], junk: list[str]) -> None:
        before = snapshot(redis_db)
        existing = names_existing(args)
        result = run_command(command, *args, *junk)  # anything but a CommandError raises
        assert result.code in (0, 1, 2), result
        if result.code == 0:
            seen["done"] += 1
            return
        assert result.err.strip(), "a refusal says why"
        assert "Traceback" not in result.err
        # In-process, argparse's refusal is a CommandError "Error: argument ...".
        arguments_refused = result.code == 2 or result.err.startswith("CommandError: Error:")
        seen["arguments_refused" if arguments_refused else "work_refused"] += 1
        # A command that can act on some of the ids it is given does so, then exits 1
        # naming the rest; otherwise a refusal changes nothing at all.
        if arguments_refused or not existing:
            assert snapshot(redis_db) == before, (args, junk, result)

    check()
    record(f"hostile_arguments[{command}]", faults="hypothesis-built arguments", **seen)


def names_existing(args: list[str]) -> bool:
    """Whether ``args`` name a jobman row or failed job that exists."""
    ids = set()
    for arg in args:
        try:
            number = int(arg)
        except ValueError:
            continue
        if 1 <= number < 2**63:
            ids.add(number)
    return bool(ids) and (
        Jobman.objects.filter(pk__in=ids).exists() or FailedJob.objects.filter(pk__in=ids).exists()
    )


# Command lines that once crashed on out-of-range values: each is now refused cleanly.
OUT_OF_RANGE = [
    ("jobman_prune", "--days", "3000000"),
    ("jobman_flush", "--hours", "99999999999999"),
    ("jobman_requeue_unpushed", "--older-than", "1e12"),
    ("jobman_failed", "--limit", "99999999999999999999999"),
    ("jobman_prune", "--batch-size", "99999999999999999999999"),
    ("jobman_cancel", "99999999999999999999999"),
    ("jobman_retry", "all", "--type", "a\x00b"),
]


@pytest.mark.parametrize("args", OUT_OF_RANGE, ids=lambda args: " ".join(args))
def test_commands__out_of_range_values_are_refused_naming_them(args: tuple[str, ...]) -> None:
    result = run_command(*args)
    assert result.code != 0
    assert "expected" in result.err or "NUL" in result.err, result.err
    assert Jobman.objects.count() == 0


# Jobs planted in Redis

PICKLE_BOMB_MARK = "planted-pickle-ran"


class PickleBomb:
    """Unpickling this calls leave_a_mark: a worker that unpickled it would leave the mark."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        from tests.testapp.planted import leave_a_mark

        return (leave_a_mark, (self.path,))


@pytest.mark.worker
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_planted_jobs__nothing_but_registered_jobs_runs(
    worker_class: str, tmp_path: Path, redis_db: redis.Redis
) -> None:
    real = HelloJob.dispatch({"name": "real"})
    Jobman.objects.filter(pk=real.pk).update(status=JobStatus.CANCELLED)  # never to run
    queue_name = HelloJob.queue_name()
    json_queue = Queue(queue_name, connection=redis_db, serializer=JSONSerializer)
    pickle_queue = Queue(queue_name, connection=redis_db)  # RQ's default: pickle
    mark = tmp_path / "mark"
    bomb = tmp_path / PICKLE_BOMB_MARK
    runner = "jobman.runner.run"
    planted = {
        "no such row": json_queue.enqueue(runner, 987654),
        "row id as text": json_queue.enqueue(runner, str(real.pk)),
        "row id as bool": json_queue.enqueue(runner, True),
        "two arguments": json_queue.enqueue(runner, real.pk, real.pk),
        "foreign function": json_queue.enqueue("tests.testapp.planted.leave_a_mark", str(mark)),
        "pickled runner": pickle_queue.enqueue(runner, real.pk),
        "pickled bomb": pickle_queue.enqueue(runner, PickleBomb(str(bomb))),
    }
    assert pickle.loads(pickle.dumps(PickleBomb(str(tmp_path / "check")))) is None
    assert (tmp_path / "check").exists()  # the bomb works when unpickled

    result = work("--worker-class", worker_class)

    assert not mark.exists()
    assert not bomb.exists()
    assert Execution.objects.count() == 0
    assert Jobman.objects.count() == 1  # nothing made a row
    real.refresh_from_db()
    assert (real.status, real.attempts) == (JobStatus.CANCELLED, 0)
    failed = json_queue.failed_job_registry.get_job_ids()
    refused = {name for name, job in planted.items() if job.id in failed}
    record(
        f"planted_jobs[{worker_class}]",
        faults=", ".join(sorted(planted)),
        refused=len(refused),
        ran=0,
    )
    assert refused == set(planted)
    assert "refused RQ job for row 987654: no such row in jobmans" in result.err
    assert result.err.count("Refused: a jobman worker runs only jobman.runner.run") == 3
    assert "calls something unreadable" in result.err


class Listener:
    """A loopback TCP listener that counts the connections made to it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            client.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.server.close()


@pytest.mark.worker
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_planted_jobs__runner_jobs_with_anything_attached_are_refused_and_call_nothing(
    worker_class: str, tmp_path: Path, redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = HelloJob.dispatch({"name": "real"})
    Jobman.objects.filter(pk=real.pk).update(status=JobStatus.CANCELLED)  # a run does nothing
    mark = tmp_path / "callback-mark"
    monkeypatch.setenv("JOBMAN_PLANTED_MARK", str(mark))
    listener = Listener()
    url = f"http://127.0.0.1:{listener.port}/hook"
    queue = Queue(HelloJob.queue_name(), connection=redis_db, serializer=JSONSerializer)
    runner = "jobman.runner.run"
    callback = Callback("tests.testapp.planted.callback_mark")
    planted = {
        "on_success": queue.enqueue(runner, real.pk, on_success=callback),
        "on_failure": queue.enqueue(runner, real.pk, on_failure=callback),
        "on_stopped": queue.enqueue(runner, real.pk, on_stopped=callback),
        "webhooks": queue.enqueue(
            runner,
            real.pk,
            webhooks=[
                Webhook(url=url, job_status="finished"),
                Webhook(url=url, job_status="failed"),
            ],
        ),
        "repeat": queue.enqueue(runner, real.pk, repeat=Repeat(times=2, interval=1)),
        "keyword id": queue.enqueue(runner, jobman_id=real.pk),
        "id past bigint": queue.enqueue(runner, 2**70),
        "id zero": queue.enqueue(runner, 0),
    }
    try:
        result = work("--worker-class", worker_class)
    finally:
        listener.close()

    assert not mark.exists()
    assert listener.connections == 0
    real.refresh_from_db()
    assert (real.status, real.attempts) == (JobStatus.CANCELLED, 0)
    failed = set(queue.failed_job_registry.get_job_ids())
    assert {name for name, job in planted.items() if job.id in failed} == set(planted)
    assert result.err.count("is not as jobman pushes it") == len(planted)
    record(
        f"planted_attached[{worker_class}]",
        faults=", ".join(sorted(planted)),
        refused=len(planted),
        ran=0,
    )


@pytest.mark.worker
def test_jobman_work__hostile_arguments_exit_0_1_or_2_without_a_traceback() -> None:
    """The worker command, in its own process (it forks): always with --burst and empty
    queues, so each start that is let through ends at once."""
    seen = {"done": 0, "arguments_refused": 0, "work_refused": 0}
    worker_class = st.sampled_from(["fork", "simple", "os.system", "rq.Worker", "nowhere.Class"])

    @settings(HOSTILE, max_examples=max(EXAMPLES // 4, 8))
    @given(
        queues=st.lists(QUEUE, max_size=2),
        args=options(
            ("--max-jobs", NUMBER),
            ("--max-idle", NUMBER),
            ("--name", TEXT),
            ("--worker-class", worker_class | TEXT),
            ("--without-scheduler", None),
        ),
        junk=st.lists(JUNK, max_size=1),
    )
    def check(queues: list[str], args: list[str], junk: list[str]) -> None:
        argv = [*queues, *args, *junk, "--burst"]
        assume(all(argument_passable(arg) for arg in argv))
        result = manage("jobman_work", *argv, timeout=60)
        assert result.code in (0, 1, 2), result
        assert "Traceback" not in result.err, result.err[-2000:]
        if result.code:
            assert result.err.strip(), "a refusal says why"
        seen[{0: "done", 1: "work_refused", 2: "arguments_refused"}[result.code]] += 1

    check()
    record("hostile_arguments[jobman_work]", faults="hypothesis-built arguments", **seen)


def argument_passable(arg: str) -> bool:
    """Whether a process can be given ``arg``: no NUL, and encodable as the OS encodes."""
    try:
        os.fsencode(arg)
    except UnicodeEncodeError:
        return False
    return "\x00" not in arg
