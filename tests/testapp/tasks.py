"""Django tasks for jobman's tests of its tasks backend (Django 6.0 and later only).

A worker imports this module when it resolves a row whose type is one of these tasks'
module paths; the signal receivers below then record, as Execution rows, what Django's
task signals said in the worker process.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from django.tasks import TaskContext, TaskResult, task
from django.tasks.signals import task_finished, task_started

from tests.testapp.models import Execution


@task
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="high")
def shout(text: str, *, times: int = 1) -> dict[str, Any]:
    return {"text": text.upper() * times, "parts": (text, times)}


@task(takes_context=True)
def note(context: TaskContext[Any, Any], tag: str) -> str:
    """Record a run, to prove whether (and how often) it ran."""
    Execution.objects.create(
        jobman_id=int(context.task_result.id), attempt=context.attempt, kind=tag, pid=os.getpid()
    )
    return tag


@task(backend="retrying")  # two tries, from the backend's OPTIONS
def always_fails(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True)  # one try: fails for good until a person retries it
def fails_until(context: TaskContext[Any, Any], succeed_on: int) -> dict[str, Any]:
    if context.attempt < succeed_on:
        raise RuntimeError(f"failure on attempt {context.attempt}")
    return {"attempt": context.attempt, "worker_ids": list(context.task_result.worker_ids)}


@task(takes_context=True, tries=3, backoff=0)  # type: ignore[call-overload]
def flaky(context: TaskContext[Any, Any], succeed_on: int) -> dict[str, Any]:
    """Options as @task arguments (Django 6.1 and later)."""
    result = context.task_result
    if context.attempt < succeed_on:
        raise RuntimeError(f"flaky failure on attempt {context.attempt}")
    return {
        "attempt": context.attempt,
        "result_id": result.id,
        "status": str(result.status),
        "worker_ids": list(result.worker_ids),
    }


@task
async def double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


@task
def returns_a_set() -> set[int]:
    return {1, 2}


@task(timeout=1)  # type: ignore[call-overload]
def sleeps(seconds: float) -> None:
    time.sleep(seconds)


def _record_signal(
    sender: Any, task_result: TaskResult[Any, Any], signal: Any, **kwargs: Any
) -> None:
    kind = "task_started" if signal is task_started else f"task_finished:{task_result.status}"
    Execution.objects.create(
        jobman_id=int(task_result.id), attempt=task_result.attempts, kind=kind, pid=os.getpid()
    )


task_started.connect(_record_signal, dispatch_uid="tests.record_task_started")
task_finished.connect(_record_signal, dispatch_uid="tests.record_task_finished")
