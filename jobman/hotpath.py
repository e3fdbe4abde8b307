"""The two writes of every attempt, as plain SQL: starting it, and ending it.

They run once per job, in the worker, so they skip the ORM's query building: each is one
statement, prepared per database once, whose parameters Django's own fields adapt and
whose result Django's own converters read. The claim returns the row it started in the
same statement where the database can (``UPDATE ... RETURNING``).

Dispatched rows are inserted the same way: one ``INSERT ... RETURNING id`` per chunk of
rows, each value adapted by its field, in place of ``save()`` and ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import chain, repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction
from django.db.models import DateField, DateTimeField, Field, TimeField
from django.db.models.expressions import Col

from jobman import conf

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from jobman.models import Jobman, Move

Converter = Callable[[Any, Any, Any], Any]


class Table:
    """What it takes to read and write the ``jobmans`` table on one database."""

    def __init__(self, model: type[Jobman], using: str) -> None:
        self.model, self.using = model, using
        db = connections[using]
        quote = db.ops.quote_name
        self.fields: list[Field[Any, Any]] = list(model._meta.concrete_fields)
        self.by_name = {f.name: f for f in self.fields}
        self.table = quote(model._meta.db_table)
        self.columns = {f.name: quote(f.column or f.name) for f in self.fields}
        self.returning = ", ".join(self.columns[f.name] for f in self.fields)
        self.readers: list[tuple[Col, list[Converter]]] = []
        for f in self.fields:
            column = Col(model._meta.db_table, f)
            converters = db.ops.get_db_converters(column) + f.get_db_converters(db)
            self.readers.append((column, converters))
        self.can_return = bool(db.features.can_return_rows_from_bulk_insert)
        self.vendor = db.vendor
        # Each statement is built once: by the move it makes and the columns it writes.
        self.statements: dict[tuple[Any, ...], str] = {}

    @property
    def db(self) -> Any:
        """This thread's connection: Django gives every thread its own."""
        return connections[self.using]

    def async_commit(self) -> str:
        """With JOBMAN["ASYNC_COMMIT"] on PostgreSQL, a FROM clause that turns off
        synchronous_commit for the transaction of this statement alone, else nothing."""
        if self.vendor != "postgresql" or not conf.get("ASYNC_COMMIT"):
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
    model: type[Jobman], using: str, move: Move, pk: int, worker: str, now: datetime
) -> Jobman | bool | None:
    """Start an attempt of row ``pk`` with ``move`` (the claim): the row afterwards, None
    when it is in none of the move's source states or is not due yet.

    Where the database has no RETURNING, True says the row was claimed (read it next).
    """
    t = table(model, using)
    tail = t.async_commit()
    sql = t.statements.get((move, tail))
    if sql is None:
        c = t.columns
        sql = (
            f"UPDATE {t.table} SET {c['status']} = %s, {c['attempts']} = {c['attempts']} + 1, "
            f"{c['started_at']} = %s, {c['worker']} = %s, {c['updated_at']} = %s "
            f"{tail}WHERE {c['id']} = %s AND {_in_sources(t, move)} "
            f"AND ({c['available_at']} IS NULL OR {c['available_at']} <= %s)"
        )
        if t.can_return:
            sql += f" RETURNING {t.returning}"
        t.statements[(move, tail)] = sql
    stamp = t.prepare("started_at", now)
    params = [move.target, stamp, worker[:255], stamp, pk, *move.sources, stamp]
    with t.db.cursor() as cursor:
        cursor.execute(sql, params)
        if not t.can_return:
            return True if cursor.rowcount > 0 else None
        rows = cursor.fetchall()
    return t.instance(rows[0]) if rows else None


def finish(
    model: type[Jobman], using: str, move: Move, pk: int, attempts: int, changes: dict[str, Any]
) -> bool:
    """Write ``changes`` (the move's target status among them) to row ``pk`` if attempt
    ``attempts`` is still in one of ``move``'s source states; whether it was."""
    t = table(model, using)
    tail = t.async_commit()
    key = (move, tail, *changes)
    sql = t.statements.get(key)
    if sql is None:
        c = t.columns
        assignments = ", ".join(f"{c[name]} = %s" for name in changes)
        sql = t.statements[key] = (
            f"UPDATE {t.table} SET {assignments} {tail}"
            f"WHERE {c['id']} = %s AND {_in_sources(t, move)} AND {c['attempts']} = %s"
        )
    params = [t.prepare(name, value) for name, value in changes.items()]
    with t.db.cursor() as cursor:
        cursor.execute(sql, [*params, pk, *move.sources, attempts])
        return bool(cursor.rowcount > 0)


def _in_sources(t: Table, move: Move) -> str:
    """The condition that the row is in one of ``move``'s source states (as parameters)."""
    return f"{t.columns['status']} IN ({', '.join(['%s'] * len(move.sources))})"


class Insert:
    """A multi-row ``INSERT ... RETURNING`` of new rows into one table, on one database.

    Each column's value goes through its field's ``pre_save`` (for ``auto_now`` and its
    like) and ``get_db_prep_save``, as with ``bulk_create``, without the query compiler's
    work for every row; a value all the rows of a statement share (the very same object:
    a job type, a queue, a time stamp) is adapted once. On PostgreSQL many rows go as one
    array per column (``INSERT ... SELECT ... FROM UNNEST(...)``), as ``bulk_create`` sends
    them there, and a shared value as one parameter rather than an array of copies.
    ``plain`` is False for what only ``bulk_create`` handles: a primary key with a default,
    generated or database-default columns. Values must be values, not expressions.
    """

    def __init__(self, t: Table) -> None:
        self.t = t
        db = t.db  # read for what the database is; statements use the thread's connection
        pk = t.model._meta.pk
        assert pk is not None
        self.pk = pk
        self.fields = [f for f in t.fields if f is not pk]
        self.plain = not pk.has_default() and not any(
            f.generated or f.has_db_default() for f in self.fields
        )
        # The fields whose pre_save does more than read the attribute.
        self.pre_saved = [f for f in self.fields if _pre_save_writes(f)]
        self.read = attrgetter(*(f.attname for f in self.fields))
        # Each field's adaptation, and whether it leaves NULL as it is (most do: those
        # are not asked about NULL again).
        self.adapters = [
            (f.get_db_prep_save, f.get_db_prep_save(None, db) is None) for f in self.fields
        ]
        columns = ", ".join(t.columns[f.name] for f in self.fields)
        self.head = f"INSERT INTO {t.table} ({columns}) "
        self.row_values = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        self.tail = f" RETURNING {t.columns[pk.name]}"
        # Without a length, so that no value is cut: varchar[], not varchar(255)[].
        types = [(f.db_type(db) or "").split("(")[0] for f in self.fields]
        self.unnest_types: list[str] | None = None
        if (
            db.vendor == "postgresql"
            and all(types)
            and all(_unnestable(f, db) for f in self.fields)
        ):
            self.unnest_types = types
        self.pk_reader = t.readers[t.fields.index(pk)]

    def chunk_size(self, db: BaseDatabaseWrapper, rows: Sequence[Jobman], most: int | None) -> int:
        """Rows per statement: ``most`` at most, fewer where the database caps parameters."""
        size = max(db.ops.bulk_batch_size(self.fields, rows), 1)
        return min(most, size) if most else size

    def execute(self, db: BaseDatabaseWrapper, rows: Sequence[Jobman]) -> None:
        """Insert ``rows`` in one statement; give them their primary keys, in order."""
        values = []
        for row in rows:
            for field in self.pre_saved:
                field.pre_save(row, True)
            values.append(self.read(row))
        # Column by column: the adapted values, or the one value every row shares.
        columns: list[list[Any] | _Shared] = []
        for (adapt, keeps_null), given in zip(
            self.adapters, zip(*values, strict=True), strict=True
        ):
            first = given[0]
            if all(map(is_, given, repeat(first))):
                columns.append(_Shared(None if first is None and keeps_null else adapt(first, db)))
            else:
                columns.append([None if v is None and keeps_null else adapt(v, db) for v in given])
        if self.unnest_types and len(rows) > 1:
            sql, params = self._unnest(columns, len(rows))
        else:
            sql = f"{self.head}VALUES {', '.join([self.row_values] * len(rows))}{self.tail}"
            full = [c.repeated(len(rows)) if isinstance(c, _Shared) else c for c in columns]
            params = list(chain.from_iterable(zip(*full, strict=True)))
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        if len(returned) != len(rows):
            raise RuntimeError(f"an INSERT of {len(rows)} rows returned {len(returned)}")
        pk_column, converters = self.pk_reader
        attname, using = self.pk.attname, self.t.using
        for row, (pk,) in zip(rows, returned, strict=True):
            for convert in converters:
                pk = convert(pk, pk_column, db)
            setattr(row, attname, pk)
            row._state.adding = False
            row._state.db = using

    def _unnest(self, columns: list[list[Any] | _Shared], count: int) -> tuple[str, list[Any]]:
        """``INSERT ... SELECT ... FROM UNNEST(...)``: an array for each column whose values
        differ from row to row (at least one, which gives the count), a single parameter for
        each value all the rows share."""
        assert self.unnest_types is not None
        first = columns[0]
        if isinstance(first, _Shared) and all(isinstance(c, _Shared) for c in columns):
            columns = [first.repeated(count), *columns[1:]]
        selected, shared, arrays, names, per_row = [], [], [], [], []
        for position, (db_type, column) in enumerate(zip(self.unnest_types, columns, strict=True)):
            if isinstance(column, _Shared):
                selected.append(f"(%s)::{db_type}")
                shared.append(column.value)
            else:
                selected.append(f"u.c{position}")
                arrays.append(f"(%s)::{db_type}[]")
                names.append(f"c{position}")
                per_row.append(column)
        sql = (
            f"{self.head}SELECT {', '.join(selected)} "
            f"FROM UNNEST({', '.join(arrays)}) AS u({', '.join(names)}){self.tail}"
        )
        return sql, [*shared, *per_row]


class _Shared:
    """The adapted value of a column that every row of a statement shares."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def repeated(self, times: int) -> list[Any]:
        return [self.value] * times


def _unnestable(field: Field[Any, Any], db: BaseDatabaseWrapper) -> bool:
    """Whether ``field``'s values can go in an array of its type, as ``bulk_create`` asks."""
    stored = getattr(field, "target_field", field) if field.is_relation else field
    return not hasattr(field, "get_placeholder") and stored.get_internal_type() in db.data_types


def _pre_save_writes(field: Field[Any, Any]) -> bool:
    """Whether ``field.pre_save`` may give something else than the attribute's value."""
    if isinstance(field, DateField) and type(field).pre_save in (
        DateField.pre_save,
        DateTimeField.pre_save,
        TimeField.pre_save,
    ):
        return bool(field.auto_now or field.auto_now_add)
    return type(field).pre_save is not Field.pre_save


_inserts: dict[tuple[type, str], Insert] = {}


def insert(
    model: type[Jobman], using: str, rows: Sequence[Jobman], batch_size: int | None = None
) -> list[Jobman]:
    """Save new ``rows`` as ``bulk_create`` would, with one INSERT per chunk of rows.

    A chunk holds ``batch_size`` rows at most, fewer where the database caps the parameters
    of a statement; several chunks share one transaction. The rows get their primary keys,
    in order, and are marked saved. Where the database cannot return rows from an INSERT,
    ``bulk_create`` (``save()`` for one row) does it instead. Like ``bulk_create``, this
    sends no ``pre_save``/``post_save`` signals. Returns the rows.
    """
    rows = list(rows)
    if not rows:
        return rows
    key = (model, using)
    if key not in _inserts:
        _inserts[key] = Insert(table(model, using))
    ins = _inserts[key]
    if not (ins.t.can_return and ins.plain) or any(row.pk is not None for row in rows):
        if len(rows) == 1 and rows[0].pk is None:
            rows[0].save(force_insert=True, using=using)
            return rows
        return model._base_manager.using(using).bulk_create(rows, batch_size=batch_size)
    db = connections[using]
    size = ins.chunk_size(db, rows, batch_size) if len(rows) > 1 else 1
    if len(rows) <= size:
        with transaction.mark_for_rollback_on_error(using):
            ins.execute(db, rows)
        return rows
    with transaction.atomic(using=using, savepoint=False):
        for start in range(0, len(rows), size):
            ins.execute(db, rows[start : start + size])
    return rows
