"""The registry of job types: which JobmanJob subclass runs a row of a given ``type``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from jobman.jobs import JobmanJob

_types: dict[str, type[JobmanJob]] = {}


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type[JobmanJob]) -> None:
    """Register ``cls`` under its ``type``; two different classes may not share one."""
    existing = _types.get(cls.type)
    if existing is not None and _origin(existing) != _origin(cls):
        raise ImproperlyConfigured(
            f"Job type {cls.type!r} is used by both {_origin(existing)} and {_origin(cls)}; "
            "each JobmanJob subclass needs a unique type."
        )
    _types[cls.type] = cls


def unregister(job_type: str) -> None:
    _types.pop(job_type, None)


def find(job_type: str) -> type[JobmanJob] | None:
    return _types.get(job_type)


def all_types() -> dict[str, type[JobmanJob]]:
    return dict(_types)
