"""Pause and resume schedules: a paused schedule fires nothing, and misses nothing, until
it is resumed; then it fires from its next slot on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.utils import timezone

from jobman import bounds, schedules
from jobman.models import JobSchedule
from jobman.operations.results import NamedResult, Skipped
from jobman.operations.rows import unique

D = TypeVar("D")

# What a schedule's name may be, as ``schedules.problems`` checks it.
NAME_RULE = "1 to 255 characters, without NUL"


@dataclass(frozen=True)
class PausedSchedule:
    name: str
    paused_at: datetime


@dataclass(frozen=True)
class ResumedSchedule:
    name: str
    paused_at: datetime  # since when it had been paused


def pause_schedules(names: Iterable[str]) -> NamedResult[PausedSchedule]:
    """Pause the schedules ``names``, from the next look of each scheduler on.

    A name no schedule has is in ``unknown``; one already paused is skipped, saying since
    when. A schedule no scheduler has seen yet gets its state row, as
    ``schedules.ensure_states`` gives it, so that it starts paused.
    """
    return _switch(names, timezone.now(), PausedSchedule)


def resume_schedules(names: Iterable[str]) -> NamedResult[ResumedSchedule]:
    """Resume the paused schedules ``names``: each fires again from its next slot; the
    slots that passed while it was paused are neither fired nor counted as missed.

    A name no schedule has is in ``unknown``; one that is not paused is skipped.
    """
    return _switch(names, None, ResumedSchedule)


def _switch(
    names: Iterable[str], to: datetime | None, entry: Callable[[str, datetime], D]
) -> NamedResult[D]:
    """Move each schedule of ``names`` from running to paused at ``to``, or from paused to
    running when ``to`` is None, with a conditional UPDATE; ``entry`` (its name, when it
    was paused) says each one moved. One already where it is asked to go is skipped."""
    result: NamedResult[D] = NamedResult("schedule")
    for name, paused_at in _states(names, result):
        when = to or paused_at
        if when is None or (paused_at is not None and to is not None):
            result.skipped.append(Skipped(name, _already(name, paused_at)))
        elif JobSchedule.objects.filter(name=name, paused_at=paused_at).update(paused_at=to):
            result.done.append(entry(name, when))
        else:
            moved = "resumed" if to is None else "paused"
            result.skipped.append(Skipped(name, f"schedule {name!r} was {moved} meanwhile"))
    return result


def _already(name: str, paused_at: datetime | None) -> str:
    if paused_at is None:
        return f"schedule {name!r} is not paused"
    return f"schedule {name!r} is paused since {paused_at.isoformat(timespec='seconds')}"


def _states(names: Iterable[str], result: NamedResult[Any]) -> list[tuple[str, datetime | None]]:
    """Each configured schedule of ``names`` with when it was paused (None: it runs).

    A name that cannot be a schedule's is skipped, saying so; one no schedule has is in
    ``unknown``; a configured schedule that has no state row (it has problems, which
    ``manage.py check`` names, and is never fired) is skipped with its problems.
    """
    configured = {schedule.name: schedule for schedule in schedules.configured()}
    schedules.ensure_states()
    storable = [name for name in configured if _is_name(name)]
    paused = dict(JobSchedule.objects.filter(name__in=storable).values_list("name", "paused_at"))
    found = []
    for name in unique(names):
        if not _is_name(name):
            refused = f"{bounds.quoted(name)} is not a schedule's name ({NAME_RULE})"
            result.skipped.append(Skipped(name, refused))
        elif name not in configured:
            result.unknown.append(name)
        elif name not in paused:
            wrong = " ".join(schedules.problems(configured[name]))
            result.skipped.append(Skipped(name, f"{wrong} It is never fired"))
        else:
            found.append((name, paused[name]))
    return found


def _is_name(name: str) -> bool:
    if not name:
        return False
    try:
        bounds.text(name, "a schedule's name")
    except ValueError:
        return False
    return True
