"""The figures the dashboard shows, each from a bounded or index-backed query.

Counts per minute come from SQL (``GROUP BY`` a truncated timestamp, over the last hour's
rows only, found by index); runtime percentiles are computed in Python over at most
``RUNTIME_SAMPLE`` of the latest completions; batches are looked for among the latest
``BATCH_WINDOW`` only; Redis and worker figures come from ``readmodel.status()``;
schedules from ``schedules.summaries()``, one query per schedule for its last run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Subquery
from django.db.models.functions import TruncMinute
from django.utils import timezone

from jobman import ids, schedules
from jobman.dashboard import readmodel
from jobman.models import JobBatch, Jobman, JobStatus

# Minutes the throughput chart covers, the current one last.
MINUTES = 60
# Completions the runtime percentiles are computed from, the latest first.
RUNTIME_SAMPLE = 10_000
# Failures listed, the latest first.
LATEST_FAILURES = 10
# Batches listed: the unfinished ones, then those finished within the chart's window.
BATCHES_LISTED = 10
# Batches looked at for that list, the latest by id: job_batches is never pruned.
BATCH_WINDOW = 10_000


@dataclass(frozen=True)
class QueueFigures:
    name: str
    waiting: int | None  # jobs in the Redis list; None when Redis could not be asked
    scheduled: int | None  # jobs waiting for their time in RQ's scheduled registry
    oldest_wait: float | None  # seconds the oldest waiting job has waited
    redis_error: str | None
    jobs: dict[str, int]  # this queue's rows by status
    paused: bool | None = None  # None when Redis could not be asked


@dataclass(frozen=True)
class WorkerFigures:
    name: str
    state: str
    queues: list[str]
    rq_job_id: str | None
    jobman_id: int | None
    job_type: str | None
    progress: int | None = None  # per cent, from the job's own progress()


@dataclass(frozen=True)
class Minute:
    start: datetime
    completed: int
    failed: int


@dataclass(frozen=True)
class Runtime:
    type: str
    count: int  # completions measured
    p50: float  # seconds
    p95: float
    max: float


@dataclass(frozen=True)
class Failure:
    failed_job_id: int
    jobman_id: int
    type: str
    queue: str
    failed_at: datetime
    error: str


@dataclass(frozen=True)
class BatchFigures:
    id: int
    name: str
    state: str  # see batch_state()
    total: int
    pending: int  # jobs not finished yet
    failed: int
    progress: int  # per cent of the jobs finished
    created_at: datetime
    first_failed_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class ScheduleFigures:
    name: str
    type: str
    next_slot: datetime | None  # None: paused, or not fired (see ``problems``)
    paused_at: datetime | None
    problems: list[str]
    last_run_id: int | None  # the jobman row of its newest run
    last_run_status: str | None
    last_run_slot: datetime | None
    missed: int  # slots that passed without a run
    last_missed: datetime | None


@dataclass
class Figures:
    generated_at: datetime
    since: datetime  # start of the first minute of the chart
    minutes: list[Minute]
    completed: int  # in the chart's window
    failed: int  # jobs failed for good in the chart's window
    queues: list[QueueFigures]
    workers: list[WorkerFigures]
    runtimes: list[Runtime]
    runtime_sample: int  # completions the runtimes were computed from
    runtime_sample_capped: bool  # True when there were more than RUNTIME_SAMPLE
    jobs: dict[str, int]  # all rows by status
    latest_failures: list[Failure]
    batches: list[BatchFigures]
    redis_errors: list[str] = field(default_factory=list)
    schedules: list[ScheduleFigures] = field(default_factory=list)
    missed_runs: int = 0  # by every configured schedule, in all

    @property
    def failure_rate(self) -> float | None:
        """Share of the window's finished jobs that failed for good; None when none finished."""
        finished = self.completed + self.failed
        return self.failed / finished if finished else None

    @property
    def failure_rate_percent(self) -> str:
        rate = self.failure_rate
        return "-" if rate is None else f"{rate * 100:.1f} %"

    @property
    def waiting(self) -> int:
        return sum(queue.waiting or 0 for queue in self.queues)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_rate"] = self.failure_rate
        data["waiting"] = self.waiting
        return data


def collect(now: datetime | None = None) -> Figures:
    """Gather every figure of the dashboard."""
    now = now or timezone.now()
    since = now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES - 1)
    report = readmodel.status()
    minutes = per_minute(since)
    runtimes, sample, capped = runtimes_by_type(since)
    periodic = schedule_figures(now)
    return Figures(
        generated_at=now,
        since=since,
        minutes=minutes,
        completed=sum(minute.completed for minute in minutes),
        failed=sum(minute.failed for minute in minutes),
        queues=[
            QueueFigures(
                q.name, q.waiting, q.scheduled, q.oldest_wait, q.redis_error, q.jobs, q.paused
            )
            for q in report.queues
        ],
        workers=_workers(report.workers),
        runtimes=runtimes,
        runtime_sample=sample,
        runtime_sample_capped=capped,
        jobs={status: report.jobs.get(status, 0) for status in JobStatus.values},
        latest_failures=[
            Failure(info.id, info.jobman_id, info.type, info.queue, info.failed_at, info.error)
            for info in readmodel.failed_jobs(limit=LATEST_FAILURES)
        ],
        batches=recent_batches(since),
        redis_errors=report.redis_errors,
        schedules=periodic,
        missed_runs=sum(schedule.missed for schedule in periodic),
    )


def per_minute(since: datetime) -> list[Minute]:
    """Jobs completed, and jobs failed for good, in each minute from ``since``."""
    completed = _count_by_minute(Jobman.objects.all(), "completed_at", since)
    failed = _count_by_minute(Jobman.objects.failed(), "failed_at", since)
    starts = [since + timedelta(minutes=n) for n in range(MINUTES)]
    return [Minute(start, completed.get(start, 0), failed.get(start, 0)) for start in starts]


def _count_by_minute(
    rows: QuerySet[Jobman], field_name: str, since: datetime
) -> dict[datetime, int]:
    grouped = (
        rows.filter(**{f"{field_name}__gte": since})
        .annotate(minute=TruncMinute(field_name, tzinfo=UTC))
        .order_by()
        .values("minute")
        .annotate(n=Count("id"))
        .values_list("minute", "n")
    )
    return {minute.astimezone(UTC): n for minute, n in grouped}


def runtimes_by_type(since: datetime) -> tuple[list[Runtime], int, bool]:
    """p50, p95 and max of the last attempt's run time per type, from recent completions.

    Returns the runtimes, how many completions they come from, and whether there were
    more than ``RUNTIME_SAMPLE`` (then only the latest are used).
    """
    recent = (
        Jobman.objects.filter(completed_at__gte=since, started_at__isnull=False)
        .order_by("-completed_at")
        .values_list("type", "started_at", "completed_at")[: RUNTIME_SAMPLE + 1]
    )
    rows = list(recent)
    capped = len(rows) > RUNTIME_SAMPLE
    rows = rows[:RUNTIME_SAMPLE]
    seconds: defaultdict[str, list[float]] = defaultdict(list)
    for job_type, started, completed in rows:
        if started is not None and completed is not None and completed >= started:
            seconds[job_type].append((completed - started).total_seconds())
    runtimes = []
    for job_type, values in sorted(seconds.items()):
        values.sort()
        runtimes.append(
            Runtime(
                job_type, len(values), percentile(values, 50), percentile(values, 95), values[-1]
            )
        )
    return runtimes, len(rows), capped


def percentile(ordered: list[float], pct: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list."""
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


BATCH_STATES = {
    "running": "In progress",
    "completed": "Completed",
    "failed": "Finished with failures",
    "cancelled": "Cancelled",
}
# The job status whose badge colour each batch state borrows.
BATCH_STATE_COLOURS = {
    "running": "queued",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def batch_state(batch: JobBatch) -> str:
    """One word for where a batch stands; ``BATCH_STATES`` gives its label."""
    if batch.cancelled_at is not None:
        return "cancelled"
    if batch.finished_at is None:
        return "running"
    return "failed" if batch.failed else "completed"


def recent_batches(since: datetime) -> list[BatchFigures]:
    """Unfinished batches, newest first, then those finished since ``since``, latest first.

    One query, bounded: only the latest ``BATCH_WINDOW`` batches by id are looked at.
    """
    newest = JobBatch.objects.order_by("-pk").values("pk")[:1]
    found = (
        JobBatch.objects.filter(pk__gt=Subquery(newest) - BATCH_WINDOW)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
        .order_by(F("finished_at").desc(nulls_first=True), "-pk")
        .defer("callbacks")[:BATCHES_LISTED]
    )
    return [
        BatchFigures(
            id=batch.pk,
            name=batch.name,
            state=batch_state(batch),
            total=batch.total,
            pending=batch.pending,
            failed=batch.failed,
            progress=batch.progress,
            created_at=batch.created_at,
            first_failed_at=batch.first_failed_at,
            finished_at=batch.finished_at,
            cancelled_at=batch.cancelled_at,
        )
        for batch in found
    ]


def schedule_figures(now: datetime) -> list[ScheduleFigures]:
    """Each configured schedule: when next, how its newest run went, what it missed."""
    found = []
    for summary in schedules.summaries(now, runs=1):
        last = summary.last_runs[0] if summary.last_runs else None
        found.append(
            ScheduleFigures(
                name=summary.schedule.name,
                type=summary.schedule.job_type,
                next_slot=summary.next_slot,
                paused_at=summary.paused_at,
                problems=summary.problems,
                last_run_id=last.jobman_id if last is not None else None,
                last_run_status=last.status if last is not None else None,
                last_run_slot=last.slot if last is not None else None,
                missed=summary.missed,
                last_missed=summary.last_missed,
            )
        )
    return found


def _workers(workers: list[readmodel.WorkerInfo]) -> list[WorkerFigures]:
    """The workers, with the jobman row each one runs, found in one query."""
    running: dict[str, int] = {}
    for worker in workers:
        job_id = worker.current_job or ""
        row_id = ids.row_id(job_id)  # None for a record that names no row of ours
        if row_id is not None:
            running[job_id] = row_id
    found = (
        Jobman.objects.filter(pk__in=set(running.values())).values_list("pk", "type", "progress")
        if running
        else []
    )
    types = {pk: (job_type, progress) for pk, job_type, progress in found}
    figures = []
    for worker in workers:
        jobman_id = running.get(worker.current_job or "")
        figures.append(
            WorkerFigures(
                name=worker.name,
                state=worker.state,
                queues=list(worker.queues),
                rq_job_id=worker.current_job,
                jobman_id=jobman_id,
                job_type=types[jobman_id][0] if jobman_id in types else None,
                progress=types[jobman_id][1] if jobman_id in types else None,
            )
        )
    return figures
