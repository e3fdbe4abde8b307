"""The one shape every operation on named rows returns: what it did, what it left alone and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

D = TypeVar("D")


class Pushing(Protocol):
    """An entry of an operation that pushes to Redis: retry and requeue."""

    @property
    def pushed(self) -> bool: ...


P = TypeVar("P", bound=Pushing)


@dataclass(frozen=True)
class Skipped:
    """Something an operation was asked to act on and left alone, and why.

    ``id`` is an id of what the result's ``of`` names.
    """

    id: int
    reason: str


@dataclass
class Result(Generic[D]):
    """What an operation did.

    ``of`` names what the ids are ids of (``"jobman"``, ``"failed job"``, ``"batch"``).
    ``done`` holds one entry per thing acted on; ``unpushed`` those of them Redis could not
    take, which wait as ``pending`` for ``requeue_unpushed``. ``skipped`` were left alone,
    each with the reason; ``unknown`` are ids of nothing. ``errors`` say what could not be
    done or checked at all; ``warnings`` what went wrong without undoing what was asked (a
    cancel that Redis could not be told of: workers skip the row all the same).
    """

    of: str
    done: list[D] = field(default_factory=list)
    unpushed: list[D] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when everything asked was done."""
        return not (self.skipped or self.unknown or self.unpushed or self.errors)


def pushed(result: Result[P]) -> list[P]:
    """The entries of ``done`` that Redis took (none on a dry run)."""
    return [entry for entry in result.done if entry.pushed]
