"""Plain SQL's one helper: a model's table, quoted for the database in use.

The few hot paths written in SQL rather than the ORM (README, Performance) name tables
through this, never by hand, so a renamed table or another database stays correct."""

from django.db import connection


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)
