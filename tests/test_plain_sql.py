"""The plain-SQL helpers of the hot paths (clinic.db): what they read and write is what
the ORM reads and writes, on SQLite and on PostgreSQL alike."""

import datetime as dt
import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from django.db.models.functions import Now
from django.db.models.signals import post_save
from django.utils import timezone

from clinic.db import Columns, insert, insert_if, table
from clinic.models import Clinic
from scheduling.booking.models import Session
from scheduling.chart.models import VitalSigns

from .conftest import chart_through


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


def test_insert_writes_the_row_save_writes(iv_session, staff):
    nurse, start = staff["nurse"], iv_session.starts_at
    chart_through(iv_session, nurse=nurse, start=start, to=Session.Status.MONITORING)
    first, second = VitalSigns.objects.filter(session=iv_session).order_by("id")[:2]

    def reading(amends):
        return VitalSigns(
            session=iv_session, timepoint="after", measured_at=start, systolic=120,
            diastolic=80, heart_rate=70, spo2=98, respiratory_rate=14,
            temperature_c=Decimal("36.8"), recorded_by=nurse, recorded_at=start,
            amends=amends, amendment_reason="Cuff slipped",
        )  # fmt: skip

    ours, orms = reading(first), reading(second)
    insert(ours)
    orms.save()
    assert ours.pk and ours.pk != orms.pk and not ours._state.adding
    assert ours._state.db == "default"
    got, want = (VitalSigns.objects.get(pk=o.pk) for o in (ours, orms))
    assert got.amends_id == first.pk and want.amends_id == second.pk
    got.amends_id = want.amends_id  # (one reading corrects one reading)
    assert _values(got)[1:] == _values(want)[1:]  # all but the key


def test_insert_leaves_to_the_orm_a_model_that_is_listened_to(iv_session, staff):
    """A save signal's receiver, a history table or a model's own save() must still
    run: those instances are saved by the ORM."""
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    nurse, start = staff["nurse"], iv_session.starts_at
    post_save.connect(receiver, sender=VitalSigns)
    try:
        reading = VitalSigns(
            session=iv_session, timepoint="pre_dose", measured_at=start, systolic=120,
            diastolic=80, heart_rate=70, spo2=98, recorded_by=nurse, recorded_at=start,
        )  # fmt: skip
        insert(reading)
    finally:
        post_save.disconnect(receiver, sender=VitalSigns)
    assert heard == [(reading.pk, True)]

    session = Session(
        clinic=iv_session.clinic, course=iv_session.course, patient=iv_session.patient,
        phase=iv_session.phase, chair=iv_session.chair, number=99,
        starts_at=start + dt.timedelta(days=30), ends_at=start + dt.timedelta(days=30, hours=2),
    )  # fmt: skip
    insert(session)
    assert session.history.count() == 1  # django-simple-history's receiver ran


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_chart_write_locks_its_session_and_not_the_clinic_it_reads(iv_session, staff):
    """The lock reads the clinic in the same query (FOR UPDATE OF the session only):
    another session's charting at the same clinic is never held up by it."""
    from scheduling.chart.services import CARE, _locked

    seen = {}

    def other_connection():
        try:
            for name, model, pk in (("clinic", Clinic, iv_session.clinic_id),
                                    ("session", Session, iv_session.pk)):  # fmt: skip
                try:
                    with transaction.atomic():
                        model.objects.select_for_update(nowait=True).get(pk=pk)
                    seen[name] = "free"
                except DatabaseError:
                    seen[name] = "locked"
        finally:
            connection.close()

    with transaction.atomic():
        locked = _locked(
            iv_session, by=staff["nurse"], roles=CARE, doing="record vitals", related=("clinic",)
        )
        assert locked.clinic.alert_systolic_at == iv_session.clinic.alert_systolic_at
        thread = threading.Thread(target=other_connection)
        thread.start()
        thread.join(timeout=30)
    assert seen == {"clinic": "free", "session": "locked"}


def _reading(session, nurse, **values):
    start = session.starts_at
    fields = dict(
        session=session, timepoint="pre_dose", measured_at=start, systolic=120, diastolic=80,
        heart_rate=70, spo2=98, recorded_by=nurse, recorded_at=start,
    )  # fmt: skip
    return VitalSigns(**{**fields, **values})


def test_insert_writes_a_plain_reading_without_the_orms_save(iv_session, staff):
    with mock.patch.object(Model, "save_base", side_effect=AssertionError("the ORM saved")):
        reading = _reading(iv_session, staff["nurse"])
        insert(reading)
    assert VitalSigns.objects.filter(pk=reading.pk, systolic=120).exists()


def test_insert_leaves_an_expression_or_a_models_own_save_to_the_orm(iv_session, staff):
    reading = _reading(iv_session, staff["nurse"], recorded_at=Now())
    insert(reading)  # a value the database computes: the ORM writes it
    written = VitalSigns.objects.get(pk=reading.pk)
    assert abs(written.recorded_at - timezone.now()) < dt.timedelta(minutes=1)

    with mock.patch.object(VitalSigns, "save", autospec=True) as own_save:
        insert(_reading(iv_session, staff["nurse"], timepoint="during"))
    own_save.assert_called_once()
    assert not VitalSigns.objects.filter(timepoint="during").exists()  # (the mock wrote none)

    unsaved_nurse = get_user_model()(username="not-saved-yet")
    with pytest.raises(ValueError, match="unsaved related object"):
        insert(_reading(iv_session, unsaved_nurse))  # as save() refuses it


def test_insert_if_writes_only_when_its_source_finds_a_row(iv_session, staff):
    source = f"FROM {table(Session)} s WHERE s.id = %s"
    with mock.patch.object(Model, "save_base", side_effect=AssertionError("the ORM saved")):
        found = _reading(iv_session, staff["nurse"])
        assert insert_if(found, source, [iv_session.pk]) is True
        missing = _reading(iv_session, staff["nurse"], timepoint="during")
        assert insert_if(missing, source, [iv_session.pk + 1000]) is False
    assert found.pk is not None and not found._state.adding
    assert missing.pk is None and missing._state.adding
    assert list(VitalSigns.objects.values_list("pk", "timepoint")) == [(found.pk, "pre_dose")]

    many = f"FROM {table(Session)} s WHERE s.course_id = %s"  # the course's 8 sessions
    assert Session.objects.filter(course_id=iv_session.course_id).count() > 1
    assert insert_if(_reading(iv_session, staff["nurse"]), many, [iv_session.course_id])
    assert VitalSigns.objects.count() == 2  # one row, whatever the source finds


def test_insert_if_writes_nothing_the_orm_would_have_to_write(iv_session, staff):
    """A model insert() hands to the ORM cannot be written on a condition: nothing is
    written and the caller is told, to write it its own way."""
    source = f"FROM {table(Session)} s WHERE s.id = %s"

    def receiver(**kwargs):
        pass

    post_save.connect(receiver, sender=VitalSigns)
    try:
        assert insert_if(_reading(iv_session, staff["nurse"]), source, [iv_session.pk]) is False
    finally:
        post_save.disconnect(receiver, sender=VitalSigns)
    reading = _reading(iv_session, staff["nurse"], recorded_at=Now())
    assert insert_if(reading, source, [iv_session.pk]) is False
    assert not VitalSigns.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_reading_waits_for_a_discharge_in_progress_and_is_then_refused(iv_session, staff):
    """The one-statement write locks the session as the lock does: a reading sent while
    another transaction discharges the session waits for it, sees the discharge, writes
    nothing and is refused by name."""
    from django.core.exceptions import ValidationError

    from scheduling.chart.services import vitals_record

    from .conftest import NORMAL_VITALS

    nurse, start = staff["nurse"], iv_session.starts_at
    chart_through(iv_session, nurse=nurse, start=start, to=Session.Status.MONITORING)
    before = VitalSigns.objects.count()
    outcome = {}

    def reading():
        try:
            vitals_record(
                session=Session(pk=iv_session.pk), by=nurse, timepoint="after",
                now=start + dt.timedelta(minutes=80), **NORMAL_VITALS,
            )  # fmt: skip
            outcome["written"] = True
        except ValidationError as exc:
            outcome["refused"] = exc.message_dict
        finally:
            connection.close()

    thread = threading.Thread(target=reading)
    with transaction.atomic():
        Session.objects.select_for_update().get(pk=iv_session.pk)
        thread.start()
        with connection.cursor() as cursor:
            for _ in range(200):  # until the reading waits on the session's row
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # (one a transaction)
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s",
                    ["INSERT INTO%scheduling_vitalsigns%"],
                )
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.05)
            else:
                pytest.fail("the reading never waited for the session's lock")
        Session.objects.filter(pk=iv_session.pk).update(status=Session.Status.DISCHARGED)
    thread.join(timeout=30)
    assert outcome == {"refused": {"status": ["Vitals are not recorded for a discharged session."]}}
    assert VitalSigns.objects.count() == before
