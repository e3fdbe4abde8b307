"""Gates an attempt passes before it runs: overlap locks and rate limits, kept in Redis."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from redis.lock import Lock

from jobman import conf, queues

if TYPE_CHECKING:
    from jobman.jobs import JobmanJob


class Held:
    """What an attempt holds while it runs; released when it ends."""

    def __init__(self, lock: Lock | None = None) -> None:
        self.lock = lock

    def release(self) -> None:
        if self.lock is not None and self.lock.owned():
            self.lock.release()


def gated(job_class: type[JobmanJob]) -> bool:
    """Whether the class uses a gate at all: most jobs skip this module entirely."""
    from jobman.jobs import JobmanJob

    return job_class.rate_limit is not None or job_class.overlap_key is not JobmanJob.overlap_key


def enter(job: JobmanJob) -> tuple[Held | None, int, str]:
    """Pass the job's gates. Returns what it holds, or (None, seconds to wait, why not)."""
    job_class = type(job)
    connection = queues.get_connection(job.jobman.queue)
    if job_class.rate_limit is not None:
        name, key = job_class.rate_limit
        count, period = conf.parse_rate(conf.get("RATE_LIMITS")[name]) or (1, 1)
        now = time.time()
        window = int(now // period)
        counter = f"jobman:rate:{name}:{key}:{window}"
        with connection.pipeline() as pipeline:
            pipeline.incr(counter)
            pipeline.expire(counter, period + 1)
            used = pipeline.execute()[0]
        if used > count:
            wait = max(1, int((window + 1) * period - now) + 1)
            return None, wait, f"rate limit {name!r} ({count} per {period} s) reached for {key!r}"
    overlap_key = job.overlap_key()
    if overlap_key is None:
        return Held(), 0, ""
    lock = connection.lock(
        f"jobman:overlap:{job_class.type}:{overlap_key}", timeout=job_class.expire_after
    )
    if not lock.acquire(blocking=False):
        return None, job_class.release_after, f"another job holds overlap key {overlap_key!r}"
    return Held(lock), 0, ""
