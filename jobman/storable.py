"""Make text a job produced storable in every supported database column, visibly.

An attempt's footprint (its error, traceback, logs and completed code) comes from the
job's own code and may hold anything Python strings can: lone surrogates (a file name
that is not UTF-8, through ``os.fsdecode``), NUL characters, or megabytes. No database
stores a lone surrogate, PostgreSQL stores no NUL in text, and a CharField has a length.
The rules, applied before every write of an outcome:

- a character that UTF-8 cannot encode is written as its escape: ``\\udcff``;
- a NUL is written as the four characters ``\\x00``;
- text over its limit is cut, with a marker saying how much was cut.
"""

from __future__ import annotations


def storable(text: str) -> str:
    """Return ``text`` with unencodable characters and NULs replaced by visible escapes."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def cap_head(text: str, limit: int) -> str:
    """Keep the start of ``text``, storable: a message's first words say the most."""
    text = storable(text)
    if len(text) <= limit:
        return text
    marker = f"... [cut {len(text) - limit} characters]"
    return text[: max(limit - len(marker), 0)] + marker


def cap_tail(text: str, limit: int) -> str:
    """Keep the end of ``text``, storable: the latest log lines and a traceback's last frames."""
    text = storable(text)
    if len(text) <= limit:
        return text
    marker = f"[cut {len(text) - limit} earlier characters] ...\n"
    return marker + text[len(text) - max(limit - len(marker), 0) :]
