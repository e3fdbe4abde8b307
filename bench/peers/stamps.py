"""Reading when jobs ran from each system's own records: RQ's job hashes, or rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Max, Min, QuerySet


def _posix(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def rq_span(queue: Any) -> tuple[float, float]:
    """The finished jobs of ``queue``: RQ's ``started_at`` of the first, ``ended_at`` of the
    last. Read from the job hashes, so the jobs' payloads are never deserialized."""
    from rq.registry import FinishedJobRegistry
    from rq.utils import str_to_date

    ids = FinishedJobRegistry(queue=queue).get_job_ids()
    pipeline = queue.connection.pipeline()
    for job_id in ids:
        pipeline.hmget(queue.job_class.key_for(job_id), "started_at", "ended_at")
    stamps = pipeline.execute()
    if not stamps:
        raise RuntimeError(f"no finished jobs in queue {queue.name!r}")
    return (
        min(_posix(str_to_date(started)) for started, _ in stamps),
        max(_posix(str_to_date(ended)) for _, ended in stamps),
    )


def rows_span(rows: QuerySet[Any], started: str, ended: str) -> tuple[float, float]:
    """The earliest ``started`` and latest ``ended`` column of ``rows``."""
    span = rows.aggregate(first=Min(started), last=Max(ended))
    if span["first"] is None or span["last"] is None:
        raise RuntimeError(f"no {started}/{ended} stored in {rows.model._meta.db_table}")
    return _posix(span["first"]), _posix(span["last"])
