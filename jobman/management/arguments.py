"""Argument types for jobman's commands: each refuses a bad value with a message naming it.

argparse prefixes the message with the option (``argument --days: ...``) and exits 2.
"""

from __future__ import annotations

import argparse
from typing import Literal

from jobman import queues


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, found {number}")
    return number


def row_id(value: str) -> int:
    """A database id: a whole number of 1 or more."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an id (a whole number), found {value!r}"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected an id (1 or more), found {number}")
    return number


def row_id_or_all(value: str) -> int | Literal["all"]:
    if value == "all":
        return "all"
    try:
        return row_id(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected an id (a whole number of 1 or more) or 'all', found {value!r}"
        ) from None


def seconds(value: str) -> float:
    """A number of seconds, 0 or more."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, found {value!r}") from None
    if not number >= 0 or number == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, found {value!r}")
    return number


def queue_name(value: str) -> str:
    """A queue of ``RQ_QUEUES``."""
    if value not in queues.configured_queues():
        raise argparse.ArgumentTypeError(str(queues.unknown_queue_error(value)))
    return value
