"""The arguments of jobman's commands: their types, and those several commands take.

Each type refuses a bad value with a message naming it. The limits live in ``jobman.bounds``;
the types wrap them for argparse, which prefixes the message with the option
(``argument --days: ...``) and exits 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from jobman import bounds, queues

T = TypeVar("T")


def _argument_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    def check(value: str) -> T:
        try:
            return parse(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    check.__name__ = parse.__name__  # argparse names the type in some messages
    return check


positive_int = _argument_type(bounds.count)
row_id = _argument_type(bounds.row_id)
seconds = _argument_type(bounds.seconds)


def _days(value: str) -> int:
    return bounds.duration(value, "days").days


def _hours(value: str) -> int:
    return int(bounds.duration(value, "hours").total_seconds() // 3600)


days = _argument_type(_days)
hours = _argument_type(_hours)


def _text(value: str) -> str:
    return bounds.text(value, "the value")


text = _argument_type(_text)


def row_id_or_all(value: str) -> int | Literal["all"]:
    if value == "all":
        return "all"
    try:
        return bounds.row_id(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an id (a whole number of 1 or more) or 'all', found {value!r}"
        ) from None


def worker_class(value: str) -> type[Any]:
    """'fork', 'simple' or the dotted path of an RQ worker class."""
    from jobman.worker import resolve_worker_class  # the worker loads RQ's worker machinery

    try:
        return resolve_worker_class(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def queue_name(value: str) -> str:
    """A queue of ``RQ_QUEUES``."""
    if value not in queues.configured_queues():
        raise argparse.ArgumentTypeError(str(queues.unknown_queue_error(value)))
    return value


# Arguments more than one command takes, stated once so that they parse and read alike.


def ids(
    parser: argparse.ArgumentParser,
    dest: str,
    help: str,
    type: Callable[[str], object] = row_id,
    metavar: str = "ID",
) -> None:
    """The ids (or names) a command acts on: one or more, each shown as ``metavar`` in the
    usage line."""
    parser.add_argument(dest, nargs="+", type=type, metavar=metavar, help=help)


def job_filters(parser: argparse.ArgumentParser, only: str = "Only jobs") -> None:
    """``--type`` (into ``job_type``) and ``--queue``: ``only`` of this type, of this queue."""
    parser.add_argument(
        "--type", dest="job_type", metavar="TYPE", type=text, help=f"{only} of this type."
    )
    parser.add_argument("--queue", type=queue_name, help=f"{only} of this queue.")


def limit(parser: argparse.ArgumentParser, help: str) -> None:
    """``--limit``: at most this many; unlimited when not given."""
    parser.add_argument("--limit", type=positive_int, help=help)


def flag(parser: argparse.ArgumentParser, name: str, help: str, dest: str | None = None) -> None:
    """An option that is off unless given, such as ``--dry-run``."""
    parser.add_argument(name, action="store_true", dest=dest, help=help)
