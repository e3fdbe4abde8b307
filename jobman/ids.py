"""The id of a row's job in RQ, ``jobman-<row id>``: built and read here only."""

from __future__ import annotations

from jobman import bounds

PREFIX = "jobman-"


def rq_job_id(row_id: int) -> str:
    """The RQ job id of row ``row_id``: derived from the row, so a push is idempotent."""
    return f"{PREFIX}{row_id}"


def row_id(rq_job_id: str) -> int | None:
    """The row an RQ job id names; None for any other job, or an id no row can have."""
    if not rq_job_id.startswith(PREFIX):
        return None
    try:
        return bounds.row_id(rq_job_id.removeprefix(PREFIX))
    except ValueError:
        return None
