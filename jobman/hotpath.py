"""The two writes of every attempt, as plain SQL: starting it, and ending it.

They run once per job, in the worker, so they skip the ORM's query building: each is one
statement, prepared per database once, whose parameters Django's own fields adapt and
whose result Django's own converters read. The claim returns the row it started in the
same statement where the database can (``UPDATE ... RETURNING``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.models import Field
from django.db.models.expressions import Col

from jobman import conf

if TYPE_CHECKING:
    from jobman.models import Jobman

Converter = Callable[[Any, Any, Any], Any]


class Table:
    """What it takes to read and write the ``jobmans`` table on one database."""

    def __init__(self, model: type[Jobman], using: str) -> None:
        self.model, self.using = model, using
        self.db = connections[using]
        quote = self.db.ops.quote_name
        self.fields: list[Field[Any, Any]] = list(model._meta.concrete_fields)
        self.by_name = {f.name: f for f in self.fields}
        self.table = quote(model._meta.db_table)
        self.columns = {f.name: quote(f.column or f.name) for f in self.fields}
        self.returning = ", ".join(self.columns[f.name] for f in self.fields)
        self.readers: list[tuple[Col, list[Converter]]] = []
        for f in self.fields:
            column = Col(model._meta.db_table, f)
            converters = self.db.ops.get_db_converters(column) + f.get_db_converters(self.db)
            self.readers.append((column, converters))
        self.can_return = bool(self.db.features.can_return_rows_from_bulk_insert)

    def async_commit(self) -> str:
        """With JOBMAN["ASYNC_COMMIT"] on PostgreSQL, a FROM clause that turns off
        synchronous_commit for the transaction of this statement alone, else nothing."""
        if self.db.vendor != "postgresql" or not conf.get("ASYNC_COMMIT"):
            return ""
        return "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS jobman_async "

    def prepare(self, name: str, value: Any) -> Any:
        return self.by_name[name].get_db_prep_save(value, self.db)

    def instance(self, values: Sequence[Any]) -> Jobman:
        """A Jobman from one returned row, converted as a query would convert it."""
        converted = []
        for value, (column, converters) in zip(values, self.readers, strict=True):
            for convert in converters:
                value = convert(value, column, self.db)
            converted.append(value)
        return self.model.from_db(self.using, [f.attname for f in self.fields], converted)


_tables: dict[tuple[type, str], Table] = {}


def table(model: type[Jobman], using: str) -> Table:
    key = (model, using)
    if key not in _tables:
        _tables[key] = Table(model, using)
    return _tables[key]


def claim(
    model: type[Jobman], using: str, pk: int, worker: str, now: datetime, claimable: Sequence[str]
) -> Jobman | bool | None:
    """Start an attempt of row ``pk``: the row afterwards, None when it is not claimable.

    Where the database has no RETURNING, True says the row was claimed (read it next).
    """
    t = table(model, using)
    c = t.columns
    placeholders = ", ".join(["%s"] * len(claimable))
    sql = (
        f"UPDATE {t.table} SET {c['status']} = %s, {c['attempts']} = {c['attempts']} + 1, "
        f"{c['started_at']} = %s, {c['worker']} = %s, {c['updated_at']} = %s {t.async_commit()}"
        f"WHERE {c['id']} = %s AND {c['status']} IN ({placeholders}) "
        f"AND ({c['available_at']} IS NULL OR {c['available_at']} <= %s)"
    )
    stamp = t.prepare("started_at", now)
    params = ["running", stamp, worker[:255], stamp, pk, *claimable, stamp]
    with t.db.cursor() as cursor:
        if not t.can_return:
            cursor.execute(sql, params)
            return True if cursor.rowcount > 0 else None
        cursor.execute(f"{sql} RETURNING {t.returning}", params)
        rows = cursor.fetchall()
    return t.instance(rows[0]) if rows else None


def finish(
    model: type[Jobman], using: str, pk: int, attempts: int, changes: dict[str, Any]
) -> bool:
    """Write ``changes`` to row ``pk`` if attempt ``attempts`` still runs; whether it did."""
    t = table(model, using)
    c = t.columns
    assignments = ", ".join(f"{c[name]} = %s" for name in changes)
    sql = (
        f"UPDATE {t.table} SET {assignments} {t.async_commit()}"
        f"WHERE {c['id']} = %s AND {c['status']} = %s AND {c['attempts']} = %s"
    )
    params = [t.prepare(name, value) for name, value in changes.items()]
    with t.db.cursor() as cursor:
        cursor.execute(sql, [*params, pk, "running", attempts])
        return bool(cursor.rowcount > 0)
