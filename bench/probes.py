"""Count what one attempt costs: SQL statements, database connects, Redis round trips.

``install(path)`` makes this process (and every process it forks later, such as RQ's
work-horses) append one line per event to ``path``: ``pid, kind, detail``. Lines are
written with a single ``os.write`` on an ``O_APPEND`` descriptor, so events of a horse
that leaves through ``os._exit`` are never lost and processes never interleave a line.

Kinds: ``sql`` (the statement template), ``db-connect``, ``db-commit``, ``redis`` (one
round trip; the detail lists the commands, several for a pipeline), ``redis-connect``.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_fd: int | None = None


def _emit(kind: str, detail: str) -> None:
    if _fd is None:
        return
    detail = detail.replace("\t", " ").replace("\n", " ")
    os.write(_fd, f"{os.getpid()}\t{kind}\t{detail}\n".encode())


def _command_names(packed: Any) -> list[str]:
    """The command names in a RESP-packed request (one, or several for a pipeline)."""
    if isinstance(packed, list | tuple):
        data = b"".join(bytes(part) for part in packed)
    else:
        data = bytes(packed)
    names = []
    pos = 0
    try:
        while pos < len(data) and data[pos : pos + 1] == b"*":
            end = data.index(b"\r\n", pos)
            count = int(data[pos + 1 : end])
            pos = end + 2
            for index in range(count):
                end = data.index(b"\r\n", pos)
                length = int(data[pos + 1 : end])
                value = data[end + 2 : end + 2 + length]
                if index == 0:
                    names.append(value.decode("ascii", "replace").upper())
                pos = end + 2 + length + 2
    except ValueError:
        names.append("?")
    return names


def _install_redis() -> None:
    from redis.connection import AbstractConnection

    send: Callable[..., Any] = AbstractConnection.send_packed_command
    connect: Callable[..., Any] = AbstractConnection.connect

    def counted_send(self: Any, command: Any, check_health: bool = True) -> Any:
        _emit("redis", " ".join(_command_names(command)))
        return send(self, command, check_health)

    def counted_connect(self: Any) -> Any:
        had = getattr(self, "_sock", None) is not None
        result = connect(self)
        if not had:
            _emit("redis-connect", "")
        return result

    AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    AbstractConnection.connect = counted_connect  # type: ignore[method-assign]


def _install_django() -> None:
    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    connect: Callable[..., Any] = BaseDatabaseWrapper.connect
    commit: Callable[..., Any] = BaseDatabaseWrapper._commit

    def counted_connect(self: Any) -> Any:
        _emit("db-connect", self.alias)
        return connect(self)

    def counted_commit(self: Any) -> Any:
        _emit("db-commit", self.alias)
        return commit(self)

    BaseDatabaseWrapper.connect = counted_connect  # type: ignore[method-assign]
    BaseDatabaseWrapper._commit = counted_commit  # type: ignore[method-assign]

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        _emit("sql", sql)
        return execute(sql, params, many, context)

    for connection in connections.all():
        connection.execute_wrappers.append(wrapper)


_installed = False


def install_patches() -> None:
    """Patch redis-py and Django to report events; nothing is written until ``start()``."""
    global _installed
    if not _installed:
        _install_redis()
        _install_django()
        _installed = True


def start(path: str) -> None:
    """Write the events of this process and its future children to ``path``."""
    global _fd
    stop()
    _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def stop() -> None:
    global _fd
    if _fd is not None:
        os.close(_fd)
        _fd = None


def install(path: str) -> None:
    """Patch, and start recording to ``path`` at once."""
    install_patches()
    start(path)


# Reading the events back.

_SPACES = re.compile(r"\s+")
_QUOTED = re.compile(r'"([a-z_]+)"')


def short_sql(sql: str) -> str:
    """A statement template, trimmed for a table: quotes and column lists dropped."""
    text = _QUOTED.sub(r"\1", _SPACES.sub(" ", sql)).strip()
    verb = text.split(" ", 1)[0].upper()
    if verb == "SELECT":
        match = re.search(r" FROM (\S+)(.*)", text)
        if match:
            where = re.search(r" WHERE (.*?)( ORDER BY| LIMIT|$)", match.group(2))
            return f"SELECT ... FROM {match.group(1)}" + (
                f" WHERE {_cut(where.group(1))}" if where else ""
            )
    if verb == "UPDATE":
        match = re.match(r"UPDATE (\S+) SET (.*?) WHERE (.*)", text)
        if match:
            columns = [part.split(" = ")[0].split(".")[-1] for part in match.group(2).split(", ")]
            return f"UPDATE {match.group(1)} SET {','.join(columns)} WHERE {_cut(match.group(3))}"
    if verb == "INSERT":
        match = re.match(r"INSERT INTO (\S+)", text)
        if match:
            return f"INSERT INTO {match.group(1)}"
    return _cut(text)


def _cut(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Tally:
    """Events of one run, split into the worker process and its work-horses."""

    kinds: Counter[str] = field(default_factory=Counter)
    sql: Counter[str] = field(default_factory=Counter)
    redis: Counter[str] = field(default_factory=Counter)

    def scaled(self, factor: float) -> dict[str, Any]:
        return {
            "kinds": {k: round(v * factor, 2) for k, v in sorted(self.kinds.items())},
            "sql": {k: round(v * factor, 2) for k, v in self.sql.most_common()},
            "redis": {k: round(v * factor, 2) for k, v in self.redis.most_common()},
        }


def read_events(path: str) -> Iterable[tuple[int, str, str]]:
    try:
        with open(path, encoding="utf-8") as events:
            for line in events:
                pid, kind, detail = line.rstrip("\n").split("\t", 2)
                yield int(pid), kind, detail
    except FileNotFoundError:
        return


def tally(path: str, parent_pids: set[int]) -> dict[str, Tally]:
    """Count the events of ``path`` by role: ``worker`` (``parent_pids``) and ``horse``."""
    roles: dict[str, Tally] = {"worker": Tally(), "horse": Tally()}
    for pid, kind, detail in read_events(path):
        role = roles["worker" if pid in parent_pids else "horse"]
        role.kinds[kind] += 1
        if kind == "sql":
            role.sql[short_sql(detail)] += 1
        elif kind == "redis":
            role.redis[detail] += 1
    return roles


def difference(big: dict[str, Tally], small: dict[str, Tally], jobs: int) -> dict[str, Any]:
    """Per-job counts: (events of the bigger run - the smaller run) / the extra jobs."""
    result: dict[str, Any] = {}
    for role in big:
        diff = Tally(
            kinds=Counter({k: big[role].kinds[k] - small[role].kinds[k] for k in big[role].kinds}),
            sql=Counter({k: big[role].sql[k] - small[role].sql[k] for k in big[role].sql}),
            redis=Counter({k: big[role].redis[k] - small[role].redis[k] for k in big[role].redis}),
        )
        for counter in (diff.kinds, diff.sql, diff.redis):
            for key in [k for k, v in counter.items() if v == 0]:
                del counter[key]
        result[role] = diff.scaled(1 / jobs)
    return result
