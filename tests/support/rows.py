"""Rows in a chosen state, written straight to the tables, for tests of operations and commands."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from django.utils import timezone

from jobman.models import FailedJob, Jobman, JobStatus
from tests.support.helpers import ROOT

# RQ_QUEUES whose Redis does not answer: nothing listens on loopback port 1.
UNREACHABLE = {name: {"URL": "redis://127.0.0.1:1/0"} for name in ("default", "high", "low")}


def make_row(
    status: str = JobStatus.QUEUED,
    *,
    job_type: str = "test.hello",
    queue: str = "default",
    age: timedelta = timedelta(0),
    **fields: Any,
) -> Jobman:
    """A jobman row in ``status``, created ``age`` ago (its last change of state too)."""
    created = timezone.now() - age
    row = Jobman.objects.create(
        type=job_type, queue=queue, status=status, created_at=created, **fields
    )
    if age:
        Jobman.objects.filter(pk=row.pk).update(updated_at=created)
        row.updated_at = created
    return row


def make_failed(
    *,
    job_type: str = "test.always_fails",
    queue: str = "default",
    age: timedelta = timedelta(0),
    error: str = "ValueError: this job always fails",
    attempts: int = 2,
) -> FailedJob:
    """A failed row with its failed_jobs row, as the runner files a final failure."""
    failed_at = timezone.now() - age
    row = make_row(
        JobStatus.FAILED,
        job_type=job_type,
        queue=queue,
        age=age,
        attempts=attempts,
        max_tries=attempts,
        failed_at=failed_at,
        error_message=error,
        exception=f"Traceback (most recent call last):\n  ...\n{error.splitlines()[0]}",
    )
    return FailedJob.objects.create(
        jobman=row,
        connection="redis://127.0.0.1:6379/0",
        queue=queue,
        payload=row.payload(),
        exception=row.exception or "",
        failed_at=failed_at,
    )


def start_manage(*args: str) -> subprocess.Popen[str]:
    """Start a management command in a new process against the test settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args, "--settings", "tests.settings"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )
