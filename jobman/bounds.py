"""What a valid id, count, duration and text value is, wherever input enters jobman.

Each parser takes the text a person typed (a command argument, a query parameter) and
returns the value or raises ``ValueError`` with a message naming what was expected. The
limits keep every value inside what the databases and ``datetime`` can hold, so a value
that passes never makes a later query or date computation fail.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

# Ids are 64-bit signed integers on every supported database (BigAutoField).
MAX_ID = 2**63 - 1
# Counts (limits, batch sizes) beyond this are no use and may overflow a LIMIT.
MAX_COUNT = 10**9
# Durations reach back at most this far: ``now - MAX_DURATION`` stays a valid datetime.
MAX_DURATION = timedelta(days=365 * 1000)

# Longest a job's timeout, a backoff step or a lock time may be: a year, in seconds.
MAX_WAIT = 365 * 24 * 3600
# Most attempts one job may make.
MAX_TRIES = 1_000_000

# Years a date filter may name: a day or a year either side of any date in them is still a
# valid datetime, in any time zone.
MIN_YEAR, MAX_YEAR = 2, 9998

# int() also takes "1_0", " 7 " and non-ASCII digits; a person's number is ASCII digits.
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_SECONDS = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")
# Longer digit strings are out of every range here; int() refuses over 4300 digits.
_MAX_DIGITS = 30


def whole_number(text: str, *, low: int, high: int, what: str = "") -> int:
    """Return ``text`` as an int from ``low`` to ``high``, or raise ValueError saying why.

    ``what`` (like "an id") names the value in the messages.
    """

    def refuse(expected: str, found: object) -> ValueError:
        return ValueError(
            f"expected {what} ({expected}), found {found}"
            if what
            else f"expected {expected}, found {found}"
        )

    if not _WHOLE_NUMBER.fullmatch(text):
        raise refuse("a whole number", quoted(text))
    digits = text.lstrip("-")
    if len(digits) > _MAX_DIGITS:
        shown = f"{text[:_MAX_DIGITS]}... ({len(digits)} digits)"
        raise refuse(f"{low} or more" if text.startswith("-") else f"at most {high}", shown)
    number = int(text)
    if number < low:
        raise refuse(f"{low} or more", number)
    if number > high:
        raise refuse(f"at most {high}", number)
    return number


def quoted(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters: input can be huge."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def is_whole(value: object, low: int, high: int) -> bool:
    """Whether ``value`` (a setting, a class option) is an int from ``low`` to ``high``;
    ``True`` is not one."""
    return type(value) is int and low <= value <= high


def row_id(text: str) -> int:
    """A database id: 1 to ``MAX_ID``."""
    return whole_number(text, low=1, high=MAX_ID, what="an id")


def is_row_id(value: object) -> bool:
    """Whether ``value`` (already an int, say from Redis) is a storable id."""
    return type(value) is int and 1 <= value <= MAX_ID


def count(text: str) -> int:
    """A count of things: 1 to ``MAX_COUNT``."""
    return whole_number(text, low=1, high=MAX_COUNT)


def duration(text: str, unit: str) -> timedelta:
    """A whole number of ``unit`` ("days", "hours"), 1 or more, at most ``MAX_DURATION``."""
    per_unit = timedelta(**{unit: 1})
    return whole_number(text, low=1, high=MAX_DURATION // per_unit) * per_unit


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (a decimal point allowed), at most ``MAX_DURATION``."""
    if not _SECONDS.fullmatch(text):
        raise ValueError(f"expected a number of seconds, found {text!r}")
    number = float(text)
    if number < 0:
        raise ValueError(f"expected 0 or more seconds, found {text!r}")
    limit = MAX_DURATION.total_seconds()
    if number > limit:
        raise ValueError(f"expected at most {limit:.0f} seconds, found {text}")
    return number


def calendar_date(year: str | None, month: str | None, day: str | None) -> date:
    """The date that date parts name (a missing month or day is the first), or ValueError."""

    def part(value: str | None, low: int, high: int, what: str) -> int:
        return low if value is None else whole_number(value, low=low, high=high, what=what)

    return date(
        part(year, MIN_YEAR, MAX_YEAR, "a year"),
        part(month, 1, 12, "a month"),
        part(day, 1, 31, "a day"),
    )


def text(value: str, what: str, *, max_length: int = 255) -> str:
    """A text value stored or matched in the database: no NUL, valid Unicode, bounded."""
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character: {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A command line that is not valid UTF-8 arrives with lone surrogates.
        raise ValueError(f"{what} is not valid UTF-8: {value!r}") from None
    if len(value) > max_length:
        raise ValueError(f"{what} is longer than {max_length} characters")
    return value
