"""The one shape every operation on named rows or schedules returns: what it did, what it
left alone and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

D = TypeVar("D")
# What an outcome names its things by: rows by id, schedules by name.
K = TypeVar("K", int, str)


class Pushing(Protocol):
    """An entry of an operation that pushes to Redis: retry and requeue."""

    @property
    def pushed(self) -> bool: ...


P = TypeVar("P", bound=Pushing)


@dataclass(frozen=True)
class Skipped:
    """Something an operation was asked to act on and left alone, and why.

    ``id`` is an id (or the name) of what the result's ``of`` names.
    """

    id: int | str
    reason: str


@dataclass
class Outcome(Generic[D, K]):
    """What an operation did; ``Result`` and ``NamedResult`` say what it names things by.

    ``of`` names what the ids are ids of (``"jobman"``, ``"failed job"``, ``"batch"``,
    ``"schedule"``).
    ``done`` holds one entry per thing acted on; ``unpushed`` those of them Redis could not
    take, which wait as ``pending`` for ``requeue_unpushed``. ``skipped`` were left alone,
    each with the reason; ``unknown`` are ids (or names) of nothing. ``errors`` say what
    could not be done or checked at all; ``warnings`` what went wrong without undoing what
    was asked (a cancel that Redis could not be told of: workers skip the row all the same).
    """

    of: str
    done: list[D] = field(default_factory=list)
    unpushed: list[D] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unknown: list[K] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when everything asked was done."""
        return not (self.skipped or self.unknown or self.unpushed or self.errors)


@dataclass
class Result(Outcome[D, int]):
    """What an operation on rows did: its ids are row ids."""


@dataclass
class NamedResult(Outcome[D, str]):
    """What an operation on schedules did: its ids are their names."""


def pushed(result: Result[P]) -> list[P]:
    """The entries of ``done`` that Redis took (none on a dry run)."""
    return [entry for entry in result.done if entry.pushed]
