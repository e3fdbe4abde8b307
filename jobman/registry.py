"""The registry of job types: which JobmanJob subclass runs a row of a given ``type``."""

from __future__ import annotations

from collections.abc import Callable
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
    found = _types.get(job_type)
    if found is None:
        for resolver in _resolvers:
            found = resolver(job_type)
            if found is not None:
                break
    return found


def all_types() -> dict[str, type[JobmanJob]]:
    return dict(_types)


# Resolvers: for types no JobmanJob subclass is registered under.
#
# ``find`` asks each resolver, in the order they were added, for a type it has no class
# for; the first job class returned wins. A resolver returns None for a type it does not
# know, and must not raise. jobman.tasks adds one that resolves a Django task's module path.

Resolver = Callable[[str], "type[JobmanJob] | None"]

_resolvers: list[Resolver] = []


def register_resolver(resolver: Resolver) -> None:
    """Let ``find`` ask ``resolver`` for types no class is registered under (once each)."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)
