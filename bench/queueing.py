"""The jobs a measurement works on: the databases they live in, reset between runs, and
how they are put in the queue (by bare RQ or by jobman) and checked once run."""

from __future__ import annotations

import os

from bench.common import QUEUE


class Services:
    """The Django database and the bench's Redis database, reset between runs."""

    def __init__(self) -> None:
        from django.conf import settings
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        from bench.services import RedisHandle

        self.redis = Redis.from_url(settings.REDIS_URL)
        self.handle = RedisHandle(
            url=settings.REDIS_URL, owner=os.environ["JOBMAN_BENCH_REDIS_OWNER"]
        )
        self.rq_queue = Queue(QUEUE, connection=self.redis, serializer=JSONSerializer)
        self.keep_below = 0  # rows with a smaller id are the historical fill: kept

    def reset(self) -> None:
        from django.db import connection

        self.handle.clear()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                if self.keep_below:
                    cursor.execute(
                        "DELETE FROM failed_jobs WHERE jobman_id > %s", [self.keep_below]
                    )
                    cursor.execute("DELETE FROM jobmans WHERE id > %s", [self.keep_below])
                    cursor.execute("VACUUM jobmans")
                else:
                    cursor.execute("TRUNCATE failed_jobs, jobmans RESTART IDENTITY")
            else:
                cursor.execute("DELETE FROM failed_jobs WHERE jobman_id > %s", [self.keep_below])
                cursor.execute("DELETE FROM jobmans WHERE id > %s", [self.keep_below])
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()


def enqueue(
    services: Services,
    system: str,
    jobs: int,
    failing: bool = False,
    samples: dict[int, str] | None = None,
) -> None:
    """Put ``jobs`` no-op (or failing) jobs in the queue; ``samples``: job number -> RSS file."""
    from bench import tasks
    from bench.benchapp.jobs import FailingJob, NoopJob

    samples = samples or {}
    chunk = 5000
    for first in range(1, jobs + 1, chunk):
        numbers = range(first, min(first + chunk, jobs + 1))
        if system == "rq":
            function = tasks.fail if failing else tasks.noop
            datas = [
                services.rq_queue.prepare_data(function, args=(samples[n],) if n in samples else ())
                for n in numbers
            ]
            services.rq_queue.enqueue_many(datas)
        else:
            job_class = FailingJob if failing else NoopJob
            job_class.dispatch_many(
                [{"rss_to": samples[n]} if n in samples else {} for n in numbers]
            )


def dispatch_one_by_one(services: Services, system: str, jobs: int) -> None:
    """``jobs`` no-op jobs, one call each: ``Queue.enqueue`` or ``NoopJob.dispatch``."""
    from bench import tasks
    from bench.benchapp.jobs import NoopJob

    if system == "rq":
        for _ in range(jobs):
            services.rq_queue.enqueue(tasks.noop)
    else:
        for _ in range(jobs):
            NoopJob.dispatch({})


def dispatch_in_bulk(services: Services, system: str, jobs: int) -> None:
    """``jobs`` no-op jobs in one call: ``Queue.enqueue_many`` or ``NoopJob.dispatch_many``."""
    from bench import tasks
    from bench.benchapp.jobs import NoopJob

    if system == "rq":
        services.rq_queue.enqueue_many(
            [services.rq_queue.prepare_data(tasks.noop) for _ in range(jobs)]
        )
    else:
        NoopJob.dispatch_many([{} for _ in range(jobs)])


def check_drained(services: Services, system: str, jobs: int, failing: bool) -> None:
    """Fail loudly unless every job ran to the expected end."""
    if system == "rq":
        registry = (
            services.rq_queue.failed_job_registry
            if failing
            else services.rq_queue.finished_job_registry
        )
        done, left = registry.get_job_count(cleanup=False), services.rq_queue.count
    else:
        from jobman.models import Jobman, JobStatus

        status = JobStatus.FAILED if failing else JobStatus.COMPLETED
        rows = Jobman.objects.filter(id__gt=services.keep_below)
        done, left = rows.filter(status=status).count(), rows.exclude(status=status).count()
    if done != jobs or left:
        raise RuntimeError(
            f"{system}: expected {jobs} {'failed' if failing else 'finished'} jobs, "
            f"found {done} (and {left} not done)"
        )
