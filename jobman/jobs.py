"""The JobmanJob base class: what a job declares, what ``handle()`` can use, and dispatch."""

from __future__ import annotations

import math
import numbers
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any, ClassVar, NoReturn

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from jobman import backoff as backoffs
from jobman import bounds, conf, hotpath, notes, options, queues, registry, signals, stops
from jobman.backoff import Backoff
from jobman.jsonsafe import ensure_json
from jobman.models import JobBatch, Jobman, JobStatus

Delay = int | float | timedelta | datetime | None

# Rows per INSERT in dispatch_many: well under SQLite's and PostgreSQL's parameter limits.
INSERT_BATCH_SIZE = 500

# The tries of a job with a deadline and no tries of its own: as many as fit before it.
UNTIL_DEADLINE = bounds.MAX_TRIES

# Seconds between two writes of a job's progress: the last value goes out with the end.
PROGRESS_INTERVAL = 1.0


class JobFailed(Exception):
    """Raised by ``JobmanJob.fail()``: the job fails now, with no further tries."""


class JobmanJob:
    """Subclass this, set ``type`` and write ``handle()``.

    ``queue``, ``tries``, ``backoff`` and ``timeout`` default to the ``JOBMAN`` settings.
    """

    type: ClassVar[str] = ""
    queue: ClassVar[str | None] = None
    tries: ClassVar[int | None] = None
    backoff: ClassVar[int | Sequence[int] | Backoff | None] = None
    timeout: ClassVar[int | None] = None
    # Deadlines: stop retrying this long after dispatch (seconds or timedelta), or after
    # this many failed attempts, whichever comes first (tries still applies).
    retry_until: ClassVar[int | timedelta | None] = None
    max_exceptions: ClassVar[int | None] = None
    # Unique jobs: see unique_id().
    unique_for: ClassVar[int | None] = None
    unique_until: ClassVar[str] = "completed"  # or "processing": until it starts
    # Without overlapping: see overlap_key().
    release_after: ClassVar[int] = 10
    expire_after: ClassVar[int] = 300
    # Rate limit: (a name in JOBMAN["RATE_LIMITS"], a key), or None.
    rate_limit: ClassVar[tuple[str, str] | None] = None
    # A periodic job: a cron expression (5 fields, or 6 with seconds last), the attribs of
    # each run, what to do with slots missed while no scheduler ran ("latest", "all" or
    # "none"), and whether a run may start while the previous one has not finished.
    schedule: ClassVar[str | None] = None
    schedule_attribs: ClassVar[Mapping[str, Any] | None] = None
    schedule_catch_up: ClassVar[str] = "latest"
    schedule_overlap: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass without its own ``type`` is an abstract base for other jobs.
        if cls.__dict__.get("type"):
            if not isinstance(cls.type, str):
                raise ImproperlyConfigured(f"{cls.__qualname__}.type must be a str.")
            registry.register(cls)

    def __init__(self, jobman: Jobman | Mapping[str, Any] | None = None) -> None:
        # From attribs: a job to put in a chain or a batch, its row not saved yet.
        if not isinstance(jobman, Jobman):
            jobman = type(self)._new_row(jobman, None, None)
        self.jobman = jobman
        self.attribs: dict[str, Any] = jobman.attribs
        self.attempt: int = jobman.attempts
        self._log_lines: list[str] = []
        self._stops: stops.Looker | None = None
        self._progress_written: tuple[float, int | None, str] | None = None

    def handle(self) -> str | None:
        """Do the work. A returned string is stored as the row's ``completed_code``."""
        raise NotImplementedError(f"{type(self).__qualname__} must define handle().")

    def failed(self, exception: BaseException) -> None:
        """Called once when the job has failed for good. Override to clean up or alert."""

    def log(self, message: str) -> None:
        """Add a timestamped line to the row's ``logs``.

        Raises ``JobStopped`` when someone has asked this job to stop (``jobman_cancel``).
        """
        self._log_lines.append(notes.line(message, self.attempt))
        if self.stopping():
            raise stops.JobStopped(self.stop_reason)

    def progress(self, done: float, total: float | None = None, note: str = "") -> None:
        """Say how far the job has come: ``done`` of ``total``, or ``done`` per cent without
        ``total``, with a short ``note``. Written to the row's ``progress`` (0 to 100) and
        ``progress_note`` at most once a second; the last value goes out with the attempt's
        end.

        Raises ``JobStopped`` when someone has asked this job to stop, as ``log()`` does.
        """
        percent = _percent(done, total)
        if not isinstance(note, str):
            raise TypeError(f"progress note must be a str, found {type(note).__name__}")
        note = note[: Jobman._meta.get_field("progress_note").max_length]
        row = self.jobman
        row.progress, row.progress_note = percent, note
        row.progress_unwritten = True
        now = time.monotonic()
        written = self._progress_written
        if row.pk is not None and row.status == JobStatus.RUNNING:
            if written is not None and written[1:] == (percent, note):
                row.progress_unwritten = False
            elif written is None or now - written[0] >= PROGRESS_INTERVAL:
                Jobman.objects.filter(
                    pk=row.pk, status=JobStatus.RUNNING, attempts=row.attempts
                ).update(progress=percent, progress_note=note)
                self._progress_written = (now, percent, note)
                row.progress_unwritten = False
        if self.stopping():
            raise stops.JobStopped(self.stop_reason)

    def stopping(self) -> bool:
        """Whether someone has asked this job to stop (``jobman_cancel``, the admin): a
        long job looks now and then, tidies up and returns, and its row ends cancelled.
        Looked up at most once a second, and not in the attempt's first second."""
        if self._stops is None:
            if self.jobman.pk is None or self.jobman.status != JobStatus.RUNNING:
                return False
            try:
                connection = queues.get_connection(self.jobman.queue)
            except ValueError:
                return False
            self._stops = stops.Looker(connection, self.jobman.pk)
        return self._stops.look() is not None

    @property
    def stop_reason(self) -> str | None:
        """Who asked this job to stop, and when; None while no one has."""
        return self._stops.reason if self._stops is not None else None

    def unique_id(self) -> str | None:
        """Return an id to make this job unique among waiting jobs of its type.

        While a job of the same type and unique id waits or runs (or, with
        ``unique_until = "processing"``, until it starts), ``dispatch`` returns that row and
        pushes nothing. ``unique_for`` seconds after its dispatch, the old row no longer
        counts.
        """
        return None

    def overlap_key(self) -> str | None:
        """Return a key: two jobs with the same key never run at the same time.

        The second is given back to wait ``release_after`` seconds, without using a try.
        A lock left by a dead worker expires after ``expire_after`` seconds.
        """
        return None

    def fail(self, reason: str) -> NoReturn:
        """Fail the job now; no further attempt is made, whatever ``tries`` says."""
        raise JobFailed(reason)

    @property
    def collected_logs(self) -> str:
        return self.jobman.logs + "".join(self._log_lines)

    # Options, resolved against the settings.

    @classmethod
    def queue_name(cls) -> str:
        return cls.queue or str(conf.get("DEFAULT_QUEUE"))

    @classmethod
    def max_tries(cls) -> int:
        if cls.tries is not None:
            return int(cls.tries)
        if cls.retry_until is not None:
            return UNTIL_DEADLINE  # a deadline alone bounds the retries
        return int(conf.get("DEFAULT_TRIES"))

    @classmethod
    def attempt_timeout(cls) -> int:
        return int(cls.timeout if cls.timeout is not None else conf.get("DEFAULT_TIMEOUT"))

    @classmethod
    def backoff_for(cls, attempt: int) -> int:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        backoff = cls.backoff if cls.backoff is not None else conf.get("DEFAULT_BACKOFF")
        return backoffs.seconds(backoff, attempt)

    @classmethod
    def gives_up(cls, row: Jobman) -> str | None:
        """Say why no further attempt may follow the one that just failed, if one applies."""
        if cls.max_exceptions is not None and row.attempts >= cls.max_exceptions:
            return f"max_exceptions ({cls.max_exceptions}) reached"
        if cls.retry_until is not None:
            span = cls.retry_until
            deadline = row.created_at + (
                span if isinstance(span, timedelta) else timedelta(seconds=span)
            )
            if timezone.now() >= deadline:
                return f"retry_until passed ({deadline.isoformat(timespec='seconds')})"
        return None

    # Dispatch.

    @staticmethod
    def chain(jobs: Sequence[JobmanJob]) -> Chain:
        """Jobs that run one after the other; a failure cancels the rest.

        ``JobmanJob.chain([FetchJob({"url": u}), ParseJob({"url": u})]).dispatch()``
        """
        return Chain(list(jobs))

    @staticmethod
    def batch(
        jobs: Sequence[JobmanJob],
        *,
        name: str = "",
        then: JobmanJob | None = None,
        catch: JobmanJob | None = None,
        finally_: JobmanJob | None = None,
    ) -> Batch:
        """Jobs followed as one, with callback jobs for when they end.

        ``then`` runs when all completed, ``catch`` at the first failure, ``finally_``
        when all finished either way; each gets ``batch_id`` in its attribs.
        """
        callbacks = {"then": then, "catch": catch, "finally": finally_}
        return Batch(list(jobs), name, {k: v for k, v in callbacks.items() if v is not None})

    @classmethod
    def dispatch(
        cls,
        attribs: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        delay: Delay = None,
    ) -> Jobman:
        """Save a row for this job and push it to RQ when the current transaction commits."""
        row = cls._new_row(attribs, queue, delay)
        recorded = _saved_as_queued([row])
        unique_id = cls(row).unique_id()
        if unique_id is not None:
            existing = cls._insert_unique(row, str(unique_id)[:255])
            if existing is not None:
                return existing
        else:
            hotpath.insert(Jobman, router.db_for_write(Jobman, instance=row), [row])
        cls._after_insert([row], recorded)
        return row

    @classmethod
    def dispatch_scheduled(
        cls, attribs: Mapping[str, Any] | None, queue: str | None, schedule: str, slot: datetime
    ) -> Jobman:
        """Save the run of ``schedule`` for ``slot``, pushed when the transaction commits.

        Runs are unique per slot (the index on schedule and scheduled_for), not by
        ``unique_id()``. ``jobman.schedules`` calls this; dispatch a job yourself with
        ``dispatch()``.
        """
        row = cls._new_row(attribs, queue, None)
        row.schedule, row.scheduled_for = schedule, slot
        recorded = _saved_as_queued([row])
        hotpath.insert(Jobman, router.db_for_write(Jobman, instance=row), [row])
        cls._after_insert([row], recorded)
        return row

    @classmethod
    def _insert_unique(cls, row: Jobman, unique_key: str) -> Jobman | None:
        """Insert ``row`` unless a job of this type and unique id holds it; return that job.

        A partial unique index on (type, unique_key) decides, so two dispatches racing
        in separate transactions cannot both win.
        """
        row.unique_key = unique_key
        using = router.db_for_write(Jobman)
        for _ in range(2):
            try:
                with transaction.atomic(using=using):
                    hotpath.insert(Jobman, using, [row])
                return None
            except IntegrityError:
                existing = Jobman.objects.filter(type=cls.type, unique_key=unique_key).first()
                if existing is None:
                    continue  # it ended meanwhile
                expired = cls.unique_for is not None and timezone.now() >= (
                    existing.created_at + timedelta(seconds=cls.unique_for)
                )
                if not expired:
                    return existing
                Jobman.objects.release_uniqueness(existing.pk)
        raise RuntimeError(f"could not dispatch unique job {cls.type!r} {unique_key!r}")

    @classmethod
    def dispatch_many(
        cls,
        attribs_list: Iterable[Mapping[str, Any] | None],
        *,
        queue: str | None = None,
        delay: Delay = None,
    ) -> list[Jobman]:
        """Dispatch one job per attribs: batched INSERTs, and one Redis pipeline on commit."""
        if cls.unique_id is not JobmanJob.unique_id:
            # Each unique job decides alone whether it is new.
            with transaction.atomic(using=router.db_for_write(Jobman)):
                return [cls.dispatch(attribs, queue=queue, delay=delay) for attribs in attribs_list]
        rows = [cls._new_row(attribs, queue, delay) for attribs in attribs_list]
        if not rows:
            return []
        recorded = _saved_as_queued(rows)
        using = router.db_for_write(Jobman)
        with transaction.atomic(using=using):
            rows = hotpath.insert(Jobman, using, rows, INSERT_BATCH_SIZE)
        cls._after_insert(rows, recorded)
        return rows

    @classmethod
    def _new_row(cls, attribs: Mapping[str, Any] | None, queue: str | None, delay: Delay) -> Jobman:
        if not cls.__dict__.get("type"):
            raise ImproperlyConfigured(
                f'{cls.__qualname__} has no type of its own; set `type = "..."` to dispatch it.'
            )
        options.ensure_valid(cls)
        if attribs is None:
            attribs = {}
        if not isinstance(attribs, Mapping):
            raise TypeError(f"attribs must be a dict, found {type(attribs).__name__}")
        attribs = dict(attribs)
        ensure_json(attribs, max_bytes=conf.get("MAX_ATTRIBS_BYTES"))
        queue_name = queue or cls.queue_name()
        if queue_name not in queues.configured_queues():
            raise queues.unknown_queue_error(queue_name)
        now = timezone.now()
        defaults, positions, fresh = _row_layout()
        values = list(defaults)
        for position, field in fresh:
            values[position] = field.get_default()
        for position, value in zip(
            positions,
            (cls.type, queue_name, attribs, cls.max_tries(), _available_at(delay, now), now, now),
            strict=True,
        ):
            values[position] = value
        return Jobman(*values)  # type: ignore[misc]  # one value per concrete field, in order

    @classmethod
    def _after_insert(cls, rows: list[Jobman], recorded: bool) -> None:
        for row in rows:
            signals.job_dispatched.send(sender=cls, jobman=row)
        _push_on_commit(rows, recorded)


# The columns _new_row sets, in the order it passes them to _row_layout()'s positions.
_SET_BY_NEW_ROW = (
    "type",
    "queue",
    "attribs",
    "max_tries",
    "available_at",
    "created_at",
    "updated_at",
)


@cache
def _row_layout() -> tuple[tuple[Any, ...], tuple[int, ...], tuple[tuple[int, Any], ...]]:
    """Jobman's constructor arguments by position, read once rather than for every new row.

    Returns every column's default (None for those _new_row sets), the positions of the
    columns _new_row sets, and the (position, field) of any other column whose default is
    a callable, which each row calls for itself.
    """
    fields = Jobman._meta.concrete_fields
    names = [field.name for field in fields]
    own = set(_SET_BY_NEW_ROW)
    defaults = tuple(None if f.name in own else f.get_default() for f in fields)
    fresh = tuple(
        (position, f)
        for position, f in enumerate(fields)
        if f.name not in own and f.has_default() and callable(f.default)
    )
    return defaults, tuple(names.index(name) for name in _SET_BY_NEW_ROW), fresh


def _saved_as_queued(rows: list[Jobman]) -> bool:
    """Have ``rows``, to be pushed when the transaction commits, saved as ``queued`` already.

    The push then needs no UPDATE to say so: one INSERT and one Redis pipeline make a
    dispatch. Should the push fail, it puts them back to ``pending``; should the process
    die between COMMIT and push, ``jobman_requeue_unpushed --check-redis`` finds them
    queued but missing from Redis. While ``jobman.testing`` captures dispatches nothing is
    pushed, so they are saved ``pending``. Returns whether they are saved ``queued``.
    """
    if not queues.pushes_to_redis():
        return False
    now = timezone.now()
    for row in rows:
        row.status, row.pushed_at = JobStatus.QUEUED, now
    return True


def _push_on_commit(rows: list[Jobman], recorded: bool) -> None:
    transaction.on_commit(
        partial(queues.push, rows, recorded=recorded), using=router.db_for_write(Jobman)
    )


def _available_at(delay: Delay, now: datetime) -> datetime | None:
    """Turn a delay (seconds, timedelta or aware datetime) into the time a job may start."""
    if delay is None:
        return None
    latest = bounds.MAX_DURATION
    if isinstance(delay, datetime):
        if timezone.is_naive(delay):
            raise ValueError("delay must be an aware datetime (with tzinfo), found a naive one")
        if delay - now > latest:
            raise ValueError(f"delay must be at most {latest.days} days ahead, found {delay}")
        return delay
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        try:
            seconds = float(delay)
        except OverflowError:
            seconds = math.inf
    else:
        raise TypeError(
            f"delay must be seconds, a timedelta or an aware datetime, found {type(delay).__name__}"
        )
    if not seconds >= 0:  # also refuses nan
        raise ValueError(f"delay must not be negative, found {delay!r}")
    if seconds > latest.total_seconds():
        raise ValueError(f"delay must be at most {latest.days} days, found {delay!r}")
    return now + timedelta(seconds=seconds) if seconds else None


def _percent(done: Any, total: Any) -> int:
    """Per cent of ``done`` out of ``total`` (``done`` itself without ``total``), 0 to 100."""
    for name, value in (("done", done), ("total", total)):
        if value is None and name == "total":
            continue
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"progress {name} must be a number, found {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"progress {name} must be finite, found {value!r}")
    if total is not None and not total > 0:
        raise ValueError(f"progress total must be more than 0, found {total!r}")
    percent = float(100 * done / total if total is not None else done)
    return min(max(round(percent), 0), 100)


def _insert_together(rows: list[Jobman], **shared: Any) -> list[Jobman]:
    for row in rows:
        for name, value in shared.items():
            setattr(row, name, value)
    using = router.db_for_write(Jobman)
    with transaction.atomic(using=using):
        return hotpath.insert(Jobman, using, rows, INSERT_BATCH_SIZE)


class Chain:
    """Steps saved together; only the first is pushed, each next one when the last completes."""

    def __init__(self, jobs: list[JobmanJob]) -> None:
        if not jobs:
            raise ValueError("a chain needs at least one job")
        self.jobs = jobs

    def dispatch(self) -> list[Jobman]:
        chain_id = uuid.uuid4()
        rows = [job.jobman for job in self.jobs]
        for position, row in enumerate(rows):
            row.chain_position = position
        # Only the first step is pushed now; the others stay pending until their turn.
        recorded = _saved_as_queued(rows[:1])
        rows = _insert_together(rows, chain_id=chain_id)
        for job in self.jobs:
            signals.job_dispatched.send(sender=type(job), jobman=job.jobman)
        _push_on_commit(rows[:1], recorded)
        return rows


class Batch:
    """Jobs saved with a ``job_batches`` row that follows them."""

    def __init__(self, jobs: list[JobmanJob], name: str, callbacks: dict[str, JobmanJob]) -> None:
        if not jobs:
            raise ValueError("a batch needs at least one job")
        self.jobs, self.name, self.callbacks = jobs, name, callbacks

    def dispatch(self) -> JobBatch:
        specs = {
            which: {"type": job.type, "attribs": job.attribs, "queue": job.jobman.queue}
            for which, job in self.callbacks.items()
        }
        rows = [job.jobman for job in self.jobs]
        recorded = _saved_as_queued(rows)
        with transaction.atomic(using=router.db_for_write(Jobman)):
            batch = JobBatch.objects.create(
                name=self.name, total=len(self.jobs), pending=len(self.jobs), callbacks=specs
            )
            rows = _insert_together(rows, batch=batch)
        for job in self.jobs:
            signals.job_dispatched.send(sender=type(job), jobman=job.jobman)
        _push_on_commit(rows, recorded)
        return batch
