"""Check that a value stores as JSON on every supported database, naming the first bad part."""

from __future__ import annotations

import math
from typing import Any

# Deeper structures are refused: json and the databases' JSON parsers recurse.
MAX_DEPTH = 100


def _path(name: str, keys: tuple[Any, ...]) -> str:
    return name + "".join(f"[{key!r}]" for key in keys)


def _check_text(text: str, where: str) -> None:
    # PostgreSQL's jsonb refuses NUL characters, and no database stores lone surrogates.
    if "\x00" in text:
        raise TypeError(f"{where} contains a NUL character, which JSON columns cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise TypeError(f"{where} is not valid Unicode ({error.reason})") from None


def ensure_json(value: Any, name: str = "attribs") -> None:
    """Raise TypeError naming the key path of the first part of ``value`` that is not JSON."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, keys = stack.pop()
        where = _path(name, keys)
        if len(keys) > MAX_DEPTH:
            raise TypeError(f"{where} is nested deeper than {MAX_DEPTH} levels")
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise TypeError(f"{where} is {item!r}, which JSON cannot represent")
        elif isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"{where} has the key {key!r} of type {type(key).__name__}; "
                        "JSON object keys must be strings"
                    )
                _check_text(key, f"a key of {where}")
                stack.append((child, (*keys, key)))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*keys, index)) for index, child in enumerate(item))
        else:
            raise TypeError(f"{where} is a {type(item).__name__}, which is not JSON serializable")
