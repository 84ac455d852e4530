"""Plain SQL's helpers: a model's table, and whole instances read from a plain query.

The few hot paths written in SQL rather than the ORM (docs/performance.md) name tables
and columns through these, never by hand, so a renamed table or column, an added field
or another database stays correct."""

import functools
from weakref import WeakKeyDictionary

from django.db import connection, connections
from django.db.models import Model
from django.db.models.signals import post_save, pre_save


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


class Columns:
    """A model's concrete columns under a table alias, for a plain query that reads
    whole instances, possibly several models side by side in one row.

    `sql` is the select list; `build(row, start)` makes the instance from the row's
    values at `start` on, converted by the database's and the fields' converters as the
    ORM's own reads convert them (times, decimals, JSON), then `Model.from_db`."""

    def __init__(self, model, alias: str):
        self.model, self.alias = model, alias
        self.fields = tuple(model._meta.concrete_fields)
        self.attnames = tuple(f.attname for f in self.fields)
        self.width = len(self.fields)
        self._converters = WeakKeyDictionary()  # per connection (they are per thread)

    @property
    def sql(self) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{q(f.column)}" for f in self.fields)

    def converters(self, conn) -> list:
        found = self._converters.get(conn)
        if found is None:
            found = []
            for i, field in enumerate(self.fields):
                col = field.get_col(self.alias)
                funcs = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
                if funcs:
                    found.append((i, funcs, col))
            self._converters[conn] = found
        return found

    def build(self, row, start: int = 0, using: str = "default"):
        conn = connections[using]
        values = list(row[start : start + self.width])
        for i, funcs, col in self.converters(conn):
            value = values[i]
            for func in funcs:
                value = func(value, col, conn)
            values[i] = value
        return self.model.from_db(using, self.attnames, values)


@functools.cache
def _insert_plan(model, alias: str, vendor: str):
    """The INSERT's target (table and columns), its RETURNING clause, its fields, and
    whether the ORM must write this model instead (a column the database computes or
    fills: generated, a database default)."""
    conn = connections[alias]
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    q = conn.ops.quote_name
    target = f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)})"
    orm_only = any(f.generated or f.has_db_default() or f.db_returning for f in fields)
    return target, f"RETURNING {q(pk.column)}", fields, orm_only


def _plain_insert(obj, using: str):
    """The connection, the INSERT's target and RETURNING clause, and `obj`'s values
    prepared as save() prepares them, or None for values when only the ORM may write it
    (see `insert`)."""
    conn = connections[using]
    model = type(obj)
    target, returning, fields, orm_only = _insert_plan(model, using, conn.vendor)
    if (
        orm_only
        or obj.pk is not None
        or model.save is not Model.save
        or not getattr(model._meta.pk, "db_returning", False)
        or not conn.features.can_return_columns_from_insert
        or pre_save.has_listeners(model)
        or post_save.has_listeners(model)
    ):
        return conn, target, returning, None
    obj._prepare_related_fields_for_save(operation_name="save")
    raw = [f.pre_save(obj, True) for f in fields]
    if any(hasattr(value, "resolve_expression") for value in raw):
        return conn, target, returning, None
    values = [f.get_db_prep_save(v, connection=conn) for f, v in zip(fields, raw, strict=True)]
    return conn, target, returning, values


def _written(obj, cursor, using: str) -> bool:
    row = cursor.fetchone()
    if row is None:
        return False
    (obj.pk,) = row
    obj._state.adding, obj._state.db = False, using
    return True


def insert(obj, using: str = "default") -> None:
    """Write a new instance as `obj.save()` would, in one plain INSERT ... RETURNING its
    key: related objects checked as save() checks them, each value prepared by its
    field (`pre_save`, `get_db_prep_save`) as the ORM prepares it. Only for a model with
    an automatic key, no `save` of its own, no save signal listening (no history, no
    receiver) and no column the database fills, and for plain values (no expression);
    anything else is saved by the ORM."""
    conn, target, returning, values = _plain_insert(obj, using)
    if values is None:
        obj.save(force_insert=True, using=using)
        return
    marks = ", ".join(["%s"] * len(values))
    with conn.cursor() as cursor:
        cursor.execute(f"{target} VALUES ({marks}) {returning}", values)
        _written(obj, cursor, using)


def insert_if(obj, source: str, params, using: str = "default") -> bool:
    """Write a new instance as `insert` does, only if the query `source` (its FROM and
    WHERE clauses, with `params`) finds a row: the test and the write are one statement,
    atomic with or without a transaction. One row at most, whatever `source` finds.
    Returns whether it wrote.

    Nothing is written when the test fails, nor for an instance `insert` would hand to
    the ORM (which cannot write on a condition): the caller then writes it its own way."""
    conn, target, returning, values = _plain_insert(obj, using)
    if values is None:
        return False
    marks = ", ".join(["%s"] * len(values))
    with conn.cursor() as cursor:
        cursor.execute(f"{target} SELECT {marks} {source} LIMIT 1 {returning}", [*values, *params])
        return _written(obj, cursor, using)
