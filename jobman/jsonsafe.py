"""Check that a value stores as JSON on every supported database, naming the first bad part."""

from __future__ import annotations

import json
import math
from typing import Any

# Deeper structures are refused: json and the databases' JSON parsers recurse.
MAX_DEPTH = 100
# Python refuses to write an int of more digits than this as text (sys.int_info).
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS


def _path(name: str, keys: tuple[Any, ...]) -> str:
    return name + "".join(f"[{key!r}]" for key in keys)


def _text_problem(text: str) -> str | None:
    # PostgreSQL's jsonb refuses NUL characters, and no database stores lone surrogates.
    if "\x00" in text:
        return "contains a NUL character, which JSON columns cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"is not valid Unicode ({error.reason})"
    return None


def ensure_json(value: Any, name: str = "attribs", *, max_bytes: int | None = None) -> None:
    """Raise TypeError naming the key path of the first part of ``value`` that is not JSON,
    or ValueError when its JSON text is longer than ``max_bytes`` (UTF-8)."""
    _ensure_parts(value, name)
    if max_bytes is not None:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > max_bytes:
            raise ValueError(
                f"{name} takes {size:,} bytes as JSON, more than the {max_bytes:,} that "
                "JOBMAN['MAX_ATTRIBS_BYTES'] allows"
            )


def _ensure_parts(value: Any, name: str) -> None:
    # The key path is spelled out only for the message: most values have nothing to report.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, keys = stack.pop()
        if len(keys) > MAX_DEPTH:
            raise TypeError(f"{_path(name, keys)} is nested deeper than {MAX_DEPTH} levels")
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if abs(item) >= _INT_LIMIT:  # json.dumps would raise, naming no key
                raise TypeError(
                    f"{_path(name, keys)} is an int of more than {MAX_INT_DIGITS} digits, "
                    "which JSON cannot write"
                )
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise TypeError(f"{_path(name, keys)} is {item!r}, which JSON cannot represent")
        elif isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                raise TypeError(f"{_path(name, keys)} {problem}")
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"{_path(name, keys)} has the key {key!r} of type {type(key).__name__}; "
                        "JSON object keys must be strings"
                    )
                problem = _text_problem(key)
                if problem:
                    raise TypeError(f"a key of {_path(name, keys)} {problem}")
                stack.append((child, (*keys, key)))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*keys, index)) for index, child in enumerate(item))
        else:
            raise TypeError(
                f"{_path(name, keys)} is a {type(item).__name__}, which is not JSON serializable"
            )
