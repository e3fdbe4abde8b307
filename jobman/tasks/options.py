"""jobman's per-task options (tries, backoff, timeout): their names in a backend's
``OPTIONS``, and what each may hold. Imports no models, as the backend must not."""

from __future__ import annotations

from typing import Any

from django.tasks import task_backends

from jobman import backoff, bounds, conf

# Per-task options, each with the key that sets its default in a backend's OPTIONS.
OPTIONS = {"tries": "TRIES", "backoff": "BACKOFF", "timeout": "TIMEOUT"}


def option_problem(name: str, value: Any) -> str | None:
    """Say what is wrong with ``value`` for task option ``name``; None when it is fine.

    The bounds are those of a job class's options (see ``jobman.options``).
    """
    if value is None:
        return None
    if name == "backoff":
        if conf.valid_backoff(value):
            return None
        return f"must be {backoff.EXPECTED}, found {value!r}"
    high = bounds.MAX_TRIES if name == "tries" else bounds.MAX_WAIT
    if bounds.is_whole(value, 1, high):
        return None
    return f"must be an int from 1 to {high:,}, found {value!r}"


def backend_default(alias: str, name: str) -> Any:
    """The default that TASKS backend ``alias`` sets for option ``name``, or None."""
    if alias not in task_backends.settings:
        return None
    return task_backends[alias].options.get(OPTIONS[name])
