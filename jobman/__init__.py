"""django-jobman: a durable, inspectable database row for every background job, run by RQ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobman.backoff import exponential, jittered

if TYPE_CHECKING:
    from jobman.jobs import JobFailed, JobmanJob
    from jobman.models import FailedJob, Jobman, JobStatus

__all__ = [
    "FailedJob",
    "JobFailed",
    "JobStatus",
    "Jobman",
    "JobmanJob",
    "exponential",
    "jittered",
]

_LAZY = {
    "JobmanJob": "jobman.jobs",
    "JobFailed": "jobman.jobs",
    "Jobman": "jobman.models",
    "FailedJob": "jobman.models",
    "JobStatus": "jobman.models",
}


def __getattr__(name: str) -> Any:
    # Models can only be imported once Django's app registry is ready, so they load on use.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jobman' has no attribute {name!r}")
