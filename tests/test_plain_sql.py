"""The plain-SQL helpers of the hot reads (clinic.db): what they read is what the ORM
reads, on SQLite and on PostgreSQL alike."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from clinic.db import Columns, table
from clinic.models import Clinic
from scheduling.models import Session


def _values(obj) -> list:
    return [getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields]


@pytest.mark.parametrize("model", [Clinic, Session, get_user_model()])
def test_columns_read_instances_as_the_orm_reads_them(model, iv_session, staff):
    """Every kind of column these models hold (times, dates, decimals, JSON, booleans,
    choices, keys) comes back converted exactly as the ORM converts it, two models side
    by side in one row."""
    Session.objects.filter(pk=iv_session.pk).update(
        patient_response="confirmed", responded_at=iv_session.starts_at - dt.timedelta(days=1)
    )
    pk = {Clinic: iv_session.clinic_id, Session: iv_session.pk}.get(model, staff["nurse"].pk)
    ours, other = Columns(model, "a"), Columns(Clinic, "b")
    q = connection.ops.quote_name
    sql = (
        f"SELECT {ours.sql}, {other.sql} FROM {table(model)} a, {table(Clinic)} b "
        f"WHERE a.{q(model._meta.pk.column)} = %s AND b.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk, iv_session.clinic_id])
        row = cursor.fetchone()
    read, clinic = ours.build(row), other.build(row, ours.width)
    expected = model.objects.get(pk=pk)
    assert _values(read) == _values(expected)
    assert [type(v) for v in _values(read)] == [type(v) for v in _values(expected)]
    assert _values(clinic) == _values(Clinic.objects.get(pk=iv_session.clinic_id))
    assert read._state.db == "default" and not read._state.adding


@pytest.mark.skipif(
    connection.vendor != "postgresql"
    or "prepare_threshold" not in connection.settings_dict["OPTIONS"],
    reason="PostgreSQL's prepared statements, on unless DATABASE_PREPARED=0",
)
@pytest.mark.django_db
def test_a_statement_a_connection_runs_often_is_prepared_once():
    """The settings turn prepared statements on (Django leaves them off): a query run a
    few times is parsed and planned once for the connection, not on every request."""
    for _ in range(6):
        list(Clinic.objects.filter(slug="no-such-clinic"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "clinic_clinic"' in sql and '"slug" = $1' in sql for sql in prepared)
