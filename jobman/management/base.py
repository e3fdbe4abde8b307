"""What jobman's commands share: help with examples, and a way to report problems."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, NoReturn

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)
from django.utils import timezone

from jobman.operations import Outcome, Result, Skipped
from jobman.words import duration, plural

__all__ = ["JobmanCommand", "duration", "ids", "plural", "unknown_ids", "when"]


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order; the description and examples keep their line breaks."""


class JobmanCommand(BaseCommand):
    """A command that runs one operation and reports it.

    By default it writes one line per job; with ``--verbosity 0``, one summary line. When
    it cannot do all it was asked, it exits 1 with a message on stderr naming what it could
    not do, after doing the rest.
    """

    examples: ClassVar[Sequence[str]] = ()

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        if self.examples:
            kwargs.setdefault(
                "epilog", "examples:\n" + "\n".join(f"  {example}" for example in self.examples)
            )
        return super().create_parser(prog_name, subcommand, **kwargs)

    def tell(self, verbosity: int, summary: str, lines: Iterable[str]) -> None:
        """One summary line with ``--verbosity 0``, else a line per thing done."""
        if verbosity == 0:
            self.stdout.write(summary)
        else:
            for line in lines:
                self.stdout.write(line)

    def tell_if_none(self, verbosity: int, result: Result[Any], message: str) -> None:
        """``message`` when the operation found nothing to act on; with ``--verbosity 0`` the
        summary's count of 0 says so already."""
        if verbosity and not (result.done or result.skipped or result.unknown or result.errors):
            self.stdout.write(message)

    def finish(
        self,
        result: Outcome[Any, Any],
        skipped: Callable[[Skipped], str],
        unpushed: Sequence[str] = (),
    ) -> None:
        """Write an operation's warnings; then, unless all was done, exit 1 naming what was
        not: its errors, ``unpushed`` lines, each skipped item (as ``skipped`` says it) and the
        unknown ids."""
        for warning in result.warnings:
            self.stderr.write(warning)
        problems = [*result.errors, *unpushed, *(skipped(item) for item in result.skipped)]
        if result.unknown:
            problems.append(unknown_ids(result.of, result.unknown))
        self.fail_if(problems)

    def fail_if(self, problems: Sequence[str]) -> None:
        if problems:
            self.fail(problems)

    def fail(self, problems: Sequence[str]) -> NoReturn:
        raise CommandError("\n".join(problems))


def ids(pks: Iterable[int | str], prefix: str = "") -> str:
    """``5, 7, 9``, or ``#5, #7, #9`` with ``prefix="#"``."""
    return ", ".join(f"{prefix}{pk}" for pk in pks)


def unknown_ids(what: str, pks: Sequence[int | str]) -> str:
    """``Unknown failed job id: 99`` or ``Unknown failed job ids: 98, 99``."""
    return f"Unknown {what} {'id' if len(pks) == 1 else 'ids'}: {ids(pks)}"


def when(moment: datetime | None) -> str:
    """A time as a person reads it, in the project's time zone."""
    if moment is None:
        return "-"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")
